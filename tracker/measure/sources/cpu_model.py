"""CPU power from a model: the CPU's TDP (embedded table) times a utilisation curve, per socket.

The curve is the SPECpower-derived profile published by Teads (B. Davy, "Building an AWS EC2 Carbon Emissions
Dataset", 2021) and used by Boavizta and Cloud Carbon Footprint's successors: at 0 %, 10 %, 50 % and 100 %
load a CPU draws 12 %, 32 %, 75 % and 102 % of its TDP; between those points we interpolate linearly.
Unknown CPUs fall back to 12 W per physical core (Green Algorithms' "Any" CPU, 2022; see
``tracker/data/PROVENANCE.md``) and a warning that says how to set the real value.
"""

from __future__ import annotations

import bisect
import logging

from tracker.measure import cpu_table
from tracker.measure.hardware import Machine
from tracker.measure.sources.base import Component, Method, PowerSource, Usage

logger = logging.getLogger(__name__)

#: (utilisation, fraction of TDP): Teads / SPECpower_ssj2008 profile, 2021.
LOAD_CURVE: tuple[tuple[float, float], ...] = ((0.0, 0.12), (0.10, 0.32), (0.50, 0.75), (1.00, 1.02))
#: Green Algorithms tool, TDP_cpu.csv row "Any": 12.0 W per core (CC BY 4.0, data/latest, 2022).
DEFAULT_W_PER_CORE = 12.0
_XS = [x for x, _ in LOAD_CURVE]


def load_fraction(util: float) -> float:
    """Fraction of TDP drawn at a utilisation in [0, 1], by linear interpolation on :data:`LOAD_CURVE`."""
    util = min(1.0, max(0.0, util))
    i = max(1, bisect.bisect_left(_XS, util))
    (x0, y0), (x1, y1) = LOAD_CURVE[i - 1], LOAD_CURVE[i]
    return y0 + (y1 - y0) * (util - x0) / (x1 - x0)


class CpuModel(PowerSource):
    """Modelled CPU power: ``sockets x TDP x load_fraction(machine utilisation)``."""

    component = Component.CPU
    name = "tdp-model"
    method = Method.MODELLED
    deferrable = True

    def __init__(self, machine: Machine, tdp_w: float | None = None) -> None:
        self.machine = machine
        spec = cpu_table.lookup(machine.cpu_brand) if tdp_w is None else None
        if tdp_w is not None:
            self.tdp_per_socket = tdp_w
            self.basis = f"TDP {tdp_w:g} W given"
        elif spec is not None:
            self.tdp_per_socket = spec.tdp_w
            self.basis = f"{spec.name}: TDP {spec.tdp_w:g} W ({spec.source})"
        else:
            total = DEFAULT_W_PER_CORE * machine.physical_cores
            self.tdp_per_socket = total / machine.sockets
            self.basis = (
                f"unknown CPU {machine.cpu_brand!r}: default {DEFAULT_W_PER_CORE:g} W x "
                f"{machine.physical_cores} cores (Green Algorithms)"
            )
            logger.warning(
                "CPU %r is not in the embedded TDP table; modelling it at %g W per core (%g W). Set its TDP with "
                "cpu_tdp=... (or TRACKER_CPU_TDP), or a constant power with cpu_watts=..., to replace the guess.",
                machine.cpu_brand,
                DEFAULT_W_PER_CORE,
                total,
            )
        self.tdp_total = self.tdp_per_socket * machine.sockets

    def power(self, util: float) -> float:
        """Watts drawn by all sockets at a machine utilisation in [0, 1]."""
        return self.tdp_total * load_fraction(util)

    def energy(self, usage: Usage) -> float:
        return self.tdp_total * load_fraction(usage.cpu_util) * usage.dt  # power() inlined: a per-tick call

    def devices(self) -> list[str]:
        return [self.machine.cpu_brand] * self.machine.sockets

    def describe(self) -> str:
        return f"TDP model, {self.machine.sockets} socket(s), {self.basis} (modelled)"
