"""Pick the best source per component, log the choice once, and fall back when a source fails mid-run.

Preference: a forced value (``cpu_watts=`` ...) > a configured TDP for the CPU model (``cpu_tdp=``) > a hardware
counter (RAPL, NVML) > a model. A source that fails at start or later is replaced by the next one; the chain
keeps a note of why, for the record.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tracker.config import Config
from tracker.errors import MeasurementError
from tracker.measure.hardware import Machine
from tracker.measure.job import JobInfo
from tracker.measure.sources import rapl
from tracker.measure.sources.base import (
    Component,
    ConstantPower,
    CountedElsewhere,
    NullSource,
    PowerSource,
    Usage,
)
from tracker.measure.sources.cpu_model import CpuModel
from tracker.measure.sources.ram import RamModel
from tracker.measure.sources.rapl import RaplSource

logger = logging.getLogger(__name__)
_logged: set[str] = set()

Factory = Callable[[], PowerSource]
T = TypeVar("T")


def log_once(level: int, message: str) -> None:
    """Log a message the first time it is seen in this process (choices and faults repeat every run)."""
    if message not in _logged:
        _logged.add(message)
        logger.log(level, message)


def permission_denied(exc: MeasurementError) -> bool:
    """Whether a source failed only for want of read access (RAPL since CVE-2020-8694): the user can fix it."""
    return "readable by root" in str(exc)


class SourceChain:
    """The candidate sources of one component, in order of preference, and the one in use."""

    def __init__(self, component: Component, factories: list[Factory]) -> None:
        self.component = component
        self._factories = list(factories)
        self.active: PowerSource = NullSource(component, "not started")
        #: (perf_counter time, text); notes made at detection carry -inf so that every run reports them
        self.notes: list[tuple[float, str]] = []
        self.used: list[str] = []
        #: the candidates that failed at start, and why (``tracker doctor`` turns them into fixes)
        self.skipped: list[tuple[PowerSource, MeasurementError]] = []
        self._started = False

    def start(self) -> None:
        while self._factories:
            source = self._factories.pop(0)()
            if isinstance(getattr(source, "notes", None), list):  # RAPL, NVML, hwmon: their notes go to the record
                source.notes = self.notes
            try:
                source.start()
            except MeasurementError as exc:
                self.skipped.append((source, exc))
                message = f"{self.component.value}: {source.name} unavailable: {exc}"
                if permission_denied(exc):  # fixable by the user: say so in the log and the record
                    self.notes.append((time.perf_counter() if self._started else -math.inf, message))
                    log_once(logging.WARNING, message)
                else:  # simply absent here (no RAPL, no GPU): the method column says what was used
                    log_once(logging.DEBUG, message)
                continue
            self._use(source)
            break
        else:
            self._use(NullSource(self.component))
        self._started = True

    def _use(self, source: PowerSource) -> None:
        self.active = source
        self.used.append(source.name)
        log_once(logging.INFO, f"{self.component.value} power: {source.describe()}")
        inputs = source.inputs()
        if inputs:  # a model's inputs go into every record that uses it
            when = time.perf_counter() if self._started else -math.inf
            self.notes.append((when, f"{self.component.value}: {source.name}: {inputs}"))
            if hasattr(source, "inputs_changed"):  # a model that learns an input later (the VM's instance type)
                at = len(self.notes) - 1
                source.inputs_changed = lambda why: self._restate(source, at, why)

    def _restate(self, source: PowerSource, at: int, why: str) -> None:
        """A model's inputs changed mid-run: the inputs note says the new ones (runs that start from now on see
        only those), and a note at this moment says why and what held before (for the runs going on)."""
        prefix = f"{self.component.value}: {source.name}: "
        when, _before = self.notes[at]
        self.notes[at] = (when, prefix + (source.inputs() or ""))
        self.notes.append((time.perf_counter(), prefix + why))
        log_once(logging.INFO, f"{self.component.value} power: {source.describe()}")

    def settle(self, wait: bool = False) -> None:
        """Let the source in use take inputs it learns in the background (``wait``: bounded; the CLI's report)."""
        settle = getattr(self.active, "settle", None)
        if settle is not None:
            settle(wait)

    def energy(self, usage: Usage) -> float:
        """Joules since the last call, from the active source or, after a fault, from the next one."""
        try:
            return self.active.energy(usage)
        except MeasurementError as exc:
            failed = self.active.name
            self.notes.append(
                (time.perf_counter(), f"{self.component.value}: {failed} failed during the run, moved on: {exc}")
            )
            log_once(logging.WARNING, f"{self.component.value}: {failed} failed ({exc}); using the next source")
            self.active.close()
            self.start()
            try:
                return self.active.energy(usage)
            except MeasurementError:
                return 0.0

    def rebase(self, usage: Usage) -> None:
        """Move the active source on to now after an idle gap, its energy thrown away (``Meter.rebase``).

        A counter is read afresh without the checks of a tick (a gap of hours is not a long tick); other sources
        are simply read, as a tick.
        """
        if isinstance(self.active, RaplSource):
            try:
                self.active.rebase()
                return
            except MeasurementError:
                pass  # the tick's path notes the fault and moves on
        self.energy(usage)

    @property
    def method(self) -> str:
        """How the component was measured: ``"rapl"``, ``"tdp-model"``; ``"rapl>tdp-model"`` after a fallback."""
        return ">".join(self.used) if self.used else "none"

    def close(self) -> None:
        self.active.close()


def build_chains(
    config: Config,
    machine: Machine,
    *,
    powercap_root: Path | None = None,
    nvml_factory: Factory | None = None,
    job: JobInfo | None = None,
    allowed_gpus: tuple[str, ...] | None = None,
    drm_root: Path | None = None,
) -> dict[Component, SourceChain]:
    """One chain per component for this configuration (sources are not started yet).

    ``powercap_root`` defaults to ``TRACKER_POWERCAP_ROOT`` or :data:`tracker.measure.sources.rapl.DEFAULT_ROOT`,
    read at call time (containers mount the host's tree elsewhere; tests point it at a fake sysfs tree).
    ``job``: this process's place in a multi-rank job; host-level components are then counted once per node
    (``tracker.measure.job``, ``docs/jobs.md``). ``allowed_gpus``: the indexes of a SLURM job's GPUs (cgroup
    mode), which bound the GPUs counted (:func:`allocated_gpus`). ``drm_root``: where AMD GPUs' DRM cards are
    (tests: a fake sysfs).
    """
    root = powercap_root or rapl.powercap_root()

    def forced(component: Component, watts: float | None, rest: list[Factory]) -> list[Factory]:
        if watts is not None:
            return [lambda: ConstantPower(component, watts)]
        return rest

    cpu_tdp = config.cpu_tdp if config.cpu_watts is None else None  # a constant says more than a maximum
    cpu_sources: list[Factory] = [lambda: RaplSource(Component.CPU, root), _cpu_model(config, machine)]
    if cpu_tdp is not None:  # the user's TDP (CodeCarbon's force_cpu_power), used even where RAPL could measure
        cpu_sources = [lambda: CpuModel(machine, cpu_tdp)]
    cpu = forced(Component.CPU, config.cpu_watts, cpu_sources)
    psys_in_cpu = config.cpu_watts is None and cpu_tdp is None  # RAPL psys, where alone, holds RAM: then 0 J for RAM
    nvml = nvml_factory or _nvml_source
    if allowed_gpus is not None:
        nvml = _allocated(nvml, allowed_gpus)
    if config.mode != "machine":  # process (and cgroup) mode: each GPU shared by process where NVML can tell
        nvml = _per_process(nvml)
    gpu = forced(Component.GPU, config.gpu_watts, [nvml, _amdgpu_source(drm_root)])
    ram = forced(
        Component.RAM,
        config.ram_watts,
        [lambda: RaplSource(Component.RAM, root, psys_in_cpu=psys_in_cpu), lambda: RamModel(machine.memory_bytes)],
    )
    if job is not None:  # several ranks on a node: count each joule of the node once
        node = job.node
        if not job.counts_host(config.mode):
            cpu = [lambda: CountedElsewhere(Component.CPU, node)]
            cpu_tdp = None
            ram = [lambda: CountedElsewhere(Component.RAM, node)]
        if job.gpu_positions() is not None:
            if config.gpu_watts is None:
                gpu = [_picking(factory, job) for factory in gpu]
            elif not job.leader:  # a forced GPU power of GPUs every rank sees: local rank 0 counts it
                gpu = [lambda: CountedElsewhere(Component.GPU, node)]
    built = {
        Component.CPU: SourceChain(Component.CPU, cpu),
        Component.GPU: SourceChain(Component.GPU, gpu),
        Component.RAM: SourceChain(Component.RAM, ram),
    }
    if cpu_tdp is not None:  # "tdp-model" alone would not tell the configured TDP from the table's: every record says
        note = f"cpu: TDP model with TDP {cpu_tdp:g} W per socket from configuration (cpu_tdp)"
        built[Component.CPU].notes.append((-math.inf, note))
    return built


def _cpu_model(config: Config, machine: Machine) -> Factory:
    """The CPU model where no counter can be read: per vCPU on a virtual machine (or when the instance type is
    given), else the socket's TDP. A VM's brand string rarely names a model, and a host socket's TDP charged to
    a few vCPUs over-counts many times (``tracker.measure.sources.vcpu_model``). Unless configured, the instance
    type is asked of the cloud metadata service (``tracker.measure.instance``) when this model is first tried."""
    if machine.virtualised or config.instance_type:

        def vcpu_model() -> PowerSource:  # the metadata is asked only when RAPL failed and this model is tried
            from tracker.measure import instance
            from tracker.measure.sources.vcpu_model import VcpuModel

            return VcpuModel(machine, config.cloud_provider, config.instance_type, instance.start(config))

        return vcpu_model
    return lambda: CpuModel(machine)


def _nvml_source() -> PowerSource:
    """NVML's source, its module imported only when a GPU is looked for (most runs of most machines: none)."""
    from tracker.measure.sources.nvml import NvmlSource

    return NvmlSource()


def _amdgpu_source(root: Path | None) -> Factory:
    """AMD GPUs through the amdgpu driver's hwmon files (after NVML: a node has one vendor's GPUs)."""

    def make() -> PowerSource:
        from tracker.measure.sources.amdgpu import AmdGpuSource

        return AmdGpuSource(root)

    return make


def _per_process(factory: Factory) -> Factory:
    """A GPU factory whose source shares each GPU between processes (``Usage.pids``) where it can."""

    def make() -> PowerSource:
        source = factory()
        if hasattr(source, "per_process"):
            source.per_process = True  # type: ignore[attr-defined]
        return source

    return make


def _picking(factory: Factory, job: JobInfo) -> Factory:
    """An NVML factory whose source keeps only this rank's share of the GPUs the node's ranks all see."""

    def make() -> PowerSource:
        source = factory()
        if hasattr(source, "pick"):  # NVML, amdgpu
            first = source.pick  # a SLURM allocation's bound (cgroup mode) comes before the ranks' split
            source.pick = job.pick_gpus if first is None else lambda devices: job.pick_gpus(first(devices))
        return source

    return make


def allocated_gpus(devices: list[T], allowed: tuple[str, ...], index: Callable[[T], int]) -> list[T]:
    """The GPUs of a SLURM job's allocation (``SLURM_JOB_GPUS``: indexes on the node) among ``devices``.

    Only where the job sees more GPUs than it was given (no device constraint, ``CUDA_VISIBLE_DEVICES`` unset):
    with ``ConstrainDevices`` the job sees its own GPUs alone, renumbered from 0, and all of them are its own.
    """
    wanted = {int(g) for g in allowed if g.isdigit()}
    if len(devices) <= len(allowed) or len(wanted) != len(allowed):
        return devices
    return [d for d in devices if index(d) in wanted]


def _allocated(factory: Factory, allowed: tuple[str, ...]) -> Factory:
    """An NVML factory whose source counts only a SLURM job's allocated GPUs."""

    def make() -> PowerSource:
        from tracker.measure.sources.nvml import NvmlSource

        source = factory()
        if isinstance(source, NvmlSource) and source.pick is None:
            source.pick = lambda devices: allocated_gpus(devices, allowed, lambda d: d.index)
        return source

    return make
