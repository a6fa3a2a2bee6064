"""CPU power of a virtual machine: per vCPU, not per host socket.

``vCPUs x (min + utilisation x (max - min))`` watts, with min and max per vCPU from Cloud Carbon Footprint's
coefficients for the CPU's microarchitecture (:mod:`tracker.measure.vcpu_table`). A VM's brand string often
names no model ("Intel(R) Xeon(R) Processor"), and a host socket's TDP charged to a 2-vCPU slice over-counts
many times (a 61 W socket for a VM whose 2 vCPUs draw 1.3 to 8 W by CCF).

The instance type names the platform CPU. Configured (``instance_type=``), it is used from the start; otherwise
the cloud metadata service is asked in the background (:mod:`tracker.measure.instance`) and the model, built
before the answer is in so that no run's start waits for it, switches its coefficients once when it arrives:
at the first tick after, where :meth:`VcpuModel.energy` looks (an attribute read a tick once settled).
"""

from __future__ import annotations

from collections.abc import Callable

from tracker.measure import vcpu_table
from tracker.measure.hardware import Machine
from tracker.measure.instance import InstanceHandle, InstanceType
from tracker.measure.sources.base import Component, Method, PowerSource, Usage


class VcpuModel(PowerSource):
    """Modelled CPU power of a VM: ``vcpus x (min + util x (max - min))``, CCF's linear per-vCPU model."""

    component = Component.CPU
    name = "vcpu-model"
    method = Method.MODELLED
    deferrable = True

    def __init__(
        self,
        machine: Machine,
        provider: str | None = None,
        instance_type: str | None = None,
        detected: InstanceHandle | None = None,
    ) -> None:
        """``instance_type``: the configured one (it wins); else ``detected``, the metadata's answer to come."""
        self.machine = machine
        self.vcpus = machine.logical_cpus
        self.provider = provider
        self.instance = InstanceType(instance_type, provider, "configuration") if instance_type else None
        #: the answer still awaited (None once settled): what energy() looks at each tick
        self._pending = None if instance_type else detected
        #: set by the source chain once it uses this model: re-states the record's inputs note after a switch
        self.inputs_changed: Callable[[str], None] | None = None
        self._use(vcpu_table.spec(machine.cpu_brand, provider, instance_type))

    def _use(self, spec: vcpu_table.VcpuSpec) -> None:
        self.spec = spec
        self._idle = self.vcpus * spec.min_w
        self._span = self.vcpus * (spec.max_w - spec.min_w)

    def start(self) -> None:
        if self._pending is not None:  # already answered (an earlier meter asked): no switch in the record
            self._settle()

    def settle(self, wait: bool = False) -> None:
        """Take the metadata's answer if it is in (``wait``: wait for it, bounded: ``tracker detect``)."""
        if self._pending is not None:
            if wait:
                self._pending.result()
            self._settle()

    def _settle(self) -> None:
        pending = self._pending
        assert pending is not None
        answer = pending.peek()
        if answer is None:  # still asking
            return
        self._pending = None
        if answer.name is None:
            return
        before = self.inputs()
        self.instance = answer
        self._use(vcpu_table.spec(self.machine.cpu_brand, answer.provider, answer.name))
        if self.inputs_changed is not None:
            self.inputs_changed(f"{answer.describe()}: coefficients switched; until then: {before}")

    def power(self, util: float) -> float:
        """Watts drawn by the VM's vCPUs at a machine utilisation in [0, 1]."""
        return self._idle + self._span * min(1.0, max(0.0, util))

    def energy(self, usage: Usage) -> float:
        if self._pending is not None:
            self._settle()
        return (self._idle + self._span * min(1.0, max(0.0, usage.cpu_util))) * usage.dt

    def devices(self) -> list[str]:
        return [self.machine.cpu_brand]

    def inputs(self) -> str:
        spec = self.spec
        text = f"{self.vcpus} vCPU x ({spec.min_w:.3f} + utilisation x {spec.max_w - spec.min_w:.3f}) W; {spec.basis}"
        return text if self.instance is None else f"{text}; {self.instance.describe()}"

    def describe(self) -> str:
        spec = self.spec
        text = f"vCPU model, {self.vcpus} vCPU x {spec.min_w:.2f}-{spec.max_w:.2f} W: {spec.basis} (modelled)"
        return text if self.instance is None else f"{text}; {self.instance.describe()}"
