"""RAM power from a model: watts per GB of memory.

0.3725 W/GB is the Green Algorithms tool's ``memoryPower`` (referenceValues.csv, CC BY 4.0, 2022), from
measurements of DDR3/DDR4 DIMMs. In machine mode it applies to installed memory (DRAM refreshes whether or not
it is used); in process mode the meter scales it by the process tree's share of memory (its RSS).
"""

from __future__ import annotations

from tracker.measure.sources.base import Component, Method, PowerSource, Usage

#: Green Algorithms referenceValues.csv, memoryPower (W per GB; applied per GiB, the unit DIMMs are sold in).
W_PER_GB = 0.3725


class RamModel(PowerSource):
    """Modelled RAM power: ``installed GB x 0.3725 W/GB``."""

    component = Component.RAM
    name = "ram-model"
    method = Method.MODELLED
    deferrable = True

    def __init__(self, memory_bytes: int, w_per_gb: float = W_PER_GB) -> None:
        self.gigabytes = memory_bytes / 2**30
        self.watts = self.gigabytes * w_per_gb
        self.w_per_gb = w_per_gb

    def energy(self, usage: Usage) -> float:
        return self.watts * usage.dt

    def describe(self) -> str:
        return f"RAM model, {self.gigabytes:.1f} GiB x {self.w_per_gb} W/GB (modelled)"
