"""CPU power of a virtual machine: per vCPU, not per host socket.

``vCPUs x (min + utilisation x (max - min))`` watts, with min and max per vCPU from Cloud Carbon Footprint's
coefficients for the CPU's microarchitecture (:mod:`tracker.measure.vcpu_table`). A VM's brand string often
names no model ("Intel(R) Xeon(R) Processor"), and a host socket's TDP charged to a 2-vCPU slice over-counts
many times (a 61 W socket for a VM whose 2 vCPUs draw 1.3 to 8 W by CCF).
"""

from __future__ import annotations

from tracker.measure import vcpu_table
from tracker.measure.hardware import Machine
from tracker.measure.sources.base import Component, Method, PowerSource, Usage


class VcpuModel(PowerSource):
    """Modelled CPU power of a VM: ``vcpus x (min + util x (max - min))``, CCF's linear per-vCPU model."""

    component = Component.CPU
    name = "vcpu-model"
    method = Method.MODELLED
    deferrable = True

    def __init__(self, machine: Machine, provider: str | None = None, instance_type: str | None = None) -> None:
        self.machine = machine
        self.vcpus = machine.logical_cpus
        self.spec = vcpu_table.spec(machine.cpu_brand, provider, instance_type)
        self._idle = self.vcpus * self.spec.min_w
        self._span = self.vcpus * (self.spec.max_w - self.spec.min_w)

    def power(self, util: float) -> float:
        """Watts drawn by the VM's vCPUs at a machine utilisation in [0, 1]."""
        return self._idle + self._span * min(1.0, max(0.0, util))

    def energy(self, usage: Usage) -> float:
        return (self._idle + self._span * min(1.0, max(0.0, usage.cpu_util))) * usage.dt

    def devices(self) -> list[str]:
        return [self.machine.cpu_brand]

    def inputs(self) -> str:
        spec = self.spec
        return f"{self.vcpus} vCPU x ({spec.min_w:.3f} + utilisation x {spec.max_w - spec.min_w:.3f}) W; {spec.basis}"

    def describe(self) -> str:
        spec = self.spec
        return (
            f"vCPU model, {self.vcpus} vCPU x {spec.min_w:.2f}-{spec.max_w:.2f} W: {spec.basis} (modelled)"
        )
