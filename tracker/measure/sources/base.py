"""The contract every power source keeps, and the null source used when a component is absent."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import NamedTuple


class Component(str, Enum):
    CPU = "cpu"
    GPU = "gpu"
    RAM = "ram"


class Method(str, Enum):
    """How a number was obtained; carried into every record."""

    MEASURED = "measured"  # a hardware energy counter or power sensor
    MODELLED = "modelled"  # a model (TDP x utilisation curve, W per GB)
    CONSTANT = "constant"  # a value the user forced
    NONE = "none"  # the component is absent


class Usage(NamedTuple):
    """What the usage probe saw over one tick; power models and attribution read it.

    ``cpu_util`` is the whole machine's busy fraction (0..1). ``cpu_share`` and ``ram_share`` are the tracked
    processes' share of the machine's busy CPU time and of installed memory (both 1.0 in machine mode).
    ``pids``: the tracked processes (process mode; a cgroup's members in cgroup mode), for sources that can share
    a device between processes (NVML); ``None`` in machine mode.
    """

    dt: float
    cpu_util: float
    cpu_share: float = 1.0
    ram_share: float = 1.0
    pids: frozenset[int] | None = None


class PowerSource(ABC):
    """One way of measuring one component.

    ``start()`` takes the baseline and raises :class:`~tracker.errors.MeasurementError` when the source cannot
    work here; ``energy()`` returns the joules of the *whole machine's* component since the previous call
    (attribution to a process is applied by the meter, not here) and raises ``MeasurementError`` on a fault.
    """

    component: Component
    name: str
    method: Method
    #: whether the meter scales this source by the process share in process mode
    attributable: bool = True
    #: whether ``energy()`` depends only on the ``Usage`` it is given (a model, a constant, nothing), so that the
    #: meter may compute it after the tick, in a batch (see ``Meter.tick``); a hardware counter must be read now
    deferrable: bool = False

    def start(self) -> None:  # noqa: B027 - optional hook
        """Take the baseline reading."""

    @abstractmethod
    def energy(self, usage: Usage) -> float:
        """Joules used since the previous call."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (NVML, files)."""

    def devices(self) -> list[str]:
        """Human-readable names of the devices this source covers (for the record and ``tracker detect``)."""
        return []

    def describe(self) -> str:
        return f"{self.name} ({self.method.value})"

    def inputs(self) -> str | None:
        """What a model's figure rests on, for the record's notes (``None``: the method column says enough)."""
        return None


class NullSource(PowerSource):
    """A component that is not there (no GPU): zero joules, and a record that says "none"."""

    method = Method.NONE
    name = "none"
    deferrable = True

    def __init__(self, component: Component, reason: str = "not present") -> None:
        self.component = component
        self.reason = reason

    def energy(self, usage: Usage) -> float:
        return 0.0

    def describe(self) -> str:
        return f"none ({self.reason})"


class ConstantPower(PowerSource):
    """A power the user forced (``cpu_watts=`` etc.), integrated over time and never scaled."""

    method = Method.CONSTANT
    name = "constant"
    attributable = False
    deferrable = True

    def __init__(self, component: Component, watts: float) -> None:
        self.component = component
        self.watts = watts

    def energy(self, usage: Usage) -> float:
        return self.watts * usage.dt

    def describe(self) -> str:
        return f"constant {self.watts:g} W (set by the user)"


class CountedElsewhere(NullSource):
    """A host-level component that another rank of the node counts: zero joules, and a name that says so."""

    name = "by-local-rank-0"

    def __init__(self, component: Component, node: str) -> None:
        super().__init__(component, f"counted by local rank 0 on {node}")

    def describe(self) -> str:
        return f"0 W here ({self.reason})"
