"""What each component is measured with here, what better source this machine has, and the command that fixes it.

``tracker doctor`` asks this module. It does not detect anything by hand: it starts the same source chains a run
would (:func:`tracker.measure.sources.chains.build_chains`) and reads what each chain chose and why its better
candidates failed (``SourceChain.skipped``): RAPL counters readable by root only (CVE-2020-8694), no RAPL driver
loaded, no NVIDIA driver or no ``pynvml``. The only look of its own is at the PCI bus, to tell "no GPU here" from
"a GPU nobody can read".

A :class:`Finding` per component says what is used; each :class:`Advice` in it a better source, why it is not
used, the exact fix and the expected gain. Advice that ``counts`` means the component is not at its best source
on this machine; a hint (a value you forced, a GPU tracker cannot read yet) does not.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
from pathlib import Path
from typing import NamedTuple

from tracker.config import Config
from tracker.errors import MeasurementError
from tracker.measure.hardware import Machine
from tracker.measure.sources.base import Component, Method, PowerSource
from tracker.measure.sources.chains import Factory, SourceChain, build_chains, permission_denied

logger = logging.getLogger(__name__)

PCI_ROOT = Path("/sys/bus/pci/devices")
#: PCI vendor ids of GPU makers, and the display-controller class (0x03xxxx: VGA, 3D, display)
NVIDIA, AMD = "0x10de", "0x1002"
_DISPLAY_CLASS = "0x03"
#: the udev rule that keeps RAPL counters readable after a reboot (powercap zones are devices of that subsystem)
UDEV_RULE = 'SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chmod o+r /sys%p/energy_uj"'
UDEV_FILE = "/etc/udev/rules.d/99-tracker-powercap.rules"
#: the settings that force a component's value: the user's choice, never advice that counts against it
FORCED = {Component.CPU: ("cpu_watts", "cpu_tdp"), Component.GPU: ("gpu_watts",), Component.RAM: ("ram_watts",)}


class Advice(NamedTuple):
    """A better source than the one in use: why it is not used, the commands that fix it, what is gained."""

    better: str
    why: str
    fix: tuple[str, ...]
    gain: str
    counts: bool = True  # False: a hint (a choice of yours, or nothing to fix here)


class Finding(NamedTuple):
    """One component (or the location): what is used now, and the advice, if any."""

    subject: str
    used: str
    method: str
    advice: tuple[Advice, ...] = ()

    @property
    def at_best(self) -> bool:
        return not any(a.counts for a in self.advice)


def pci_gpus(root: Path | None = None) -> dict[str, int]:
    """Display controllers on the PCI bus by vendor id (``{"0x10de": 2}``); empty when sysfs says nothing.

    ``root`` defaults to :data:`PCI_ROOT`, read at call time (tests point it at a fake tree)."""
    found: dict[str, int] = {}
    try:
        devices = list((root or PCI_ROOT).iterdir())
    except OSError:
        return found
    for device in devices:
        try:
            kind = (device / "class").read_text().strip().lower()
            vendor = (device / "vendor").read_text().strip().lower()
        except OSError:
            continue
        if kind.startswith(_DISPLAY_CLASS):
            found[vendor] = found.get(vendor, 0) + 1
    return found


def components(
    config: Config,
    machine: Machine,
    *,
    powercap_root: Path | None = None,
    nvml_factory: Factory | None = None,
    pci_root: Path | None = None,
) -> list[Finding]:
    """A finding per component (CPU, GPU, RAM), from the chains a run with ``config`` would start here."""
    free = dataclasses.replace(config, cpu_watts=None, cpu_tdp=None, gpu_watts=None, ram_watts=None)
    chains = build_chains(config, machine, powercap_root=powercap_root, nvml_factory=nvml_factory)
    # what the machine offers without the values you forced: only worth starting when something is forced
    offered = chains
    if free != config:
        offered = build_chains(free, machine, powercap_root=powercap_root, nvml_factory=nvml_factory)
    started = [*chains.values(), *(offered.values() if offered is not chains else ())]
    try:
        for chain in started:
            chain.start()
        chains[Component.CPU].settle(wait=True)  # the instance type a VM's model may still be asking (bounded)
        return [
            _cpu(chains[Component.CPU], offered[Component.CPU], config, machine),
            _gpu(chains[Component.GPU], offered[Component.GPU], config, pci_gpus(pci_root)),
            _ram(chains[Component.RAM], offered[Component.RAM], config),
        ]
    finally:
        for chain in started:
            chain.close()


def _finding(chain: SourceChain, advice: list[Advice]) -> Finding:
    return Finding(chain.component.value, chain.active.describe(), chain.method, tuple(advice))


def _skipped(chain: SourceChain, prefix: str) -> tuple[PowerSource, MeasurementError] | None:
    """The first candidate named ``prefix…`` that failed at start, and its error."""
    return next(((s, e) for s, e in chain.skipped if s.name.startswith(prefix)), None)


def _forced(component: Component, config: Config, chain: SourceChain, offered: SourceChain) -> list[Advice]:
    """A value you forced is your choice: a hint when the machine could measure instead."""
    keys = [key for key in FORCED[component] if getattr(config, key) is not None]
    if not keys or offered.active.method is not Method.MEASURED:
        return []
    settings = " and ".join(keys)
    return [
        Advice(
            offered.active.describe(),
            f"{settings} is set: your value replaces the measurement",
            (f"remove {settings} from your configuration (argument, TRACKER_{keys[0].upper()}, or pyproject.toml)",),
            "measured instead of your figure",
            counts=False,
        )
    ]


def rapl_fix(root: Path) -> tuple[str, ...]:
    """The commands that make RAPL counters readable: now, and after every reboot; and what it costs."""
    return (
        f"sudo chmod o+r {root}/intel-rapl*:*/energy_uj",
        f"echo '{UDEV_RULE}' | sudo tee {UDEV_FILE}  # keeps it after a reboot",
        "(or run the job as root; o+r lets every local user read the counters again, the side channel "
        "CVE-2020-8694 closed: on a shared machine grant a group instead, chgrp GROUP + chmod g+r)",
    )


def _rapl_denied(chain: SourceChain, what: str) -> list[Advice]:
    failed = _skipped(chain, "rapl")
    if failed is None or not permission_denied(failed[1]):
        return []
    source, _exc = failed
    root = Path(getattr(source, "root", "/sys/class/powercap"))
    return [
        Advice(
            f"RAPL {what} counters in {root} (measured)",
            "energy_uj is readable by root only (CVE-2020-8694)",
            rapl_fix(root),
            f"{what} energy measured instead of modelled",
        )
    ]


def _cpu(chain: SourceChain, offered: SourceChain, config: Config, machine: Machine) -> Finding:
    if chain.active.method is Method.MEASURED:
        return _finding(chain, [])
    if chain.active.method is Method.CONSTANT or config.cpu_tdp is not None:
        return _finding(chain, _forced(Component.CPU, config, chain, offered))
    advice = _rapl_denied(chain, "CPU package")
    failed = _skipped(chain, "rapl")
    active = chain.active
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")  # where RAPL exists
    if not advice and failed is not None and "no RAPL" in str(failed[1]) and not machine.virtualised and x86:
        advice.append(
            Advice(
                "RAPL CPU package counters (measured)",
                f"no RAPL zones: the kernel's powercap driver is not loaded ({failed[1]})",
                ("sudo modprobe intel_rapl_msr  # Intel, and AMD Zen on Linux 5.8 or later",),
                "CPU energy measured instead of modelled",
            )
        )
    if active.name == "vcpu-model":
        advice.extend(_instance_type(active, config))
    elif active.name == "tdp-model" and str(getattr(active, "basis", "")).startswith("unknown CPU"):
        advice.append(
            Advice(
                "the TDP model with your CPU's own TDP",
                f"{machine.cpu_brand!r} is not in the embedded TDP table: 12 W per core is assumed",
                ("cpu_tdp=<your CPU's TDP in watts, from its datasheet>  (or TRACKER_CPU_TDP=...)",),
                "your CPU's maximum instead of a generic per-core figure",
            )
        )
    return _finding(chain, advice)


def _instance_type(source: PowerSource, config: Config) -> list[Advice]:
    """On a VM, the instance type names the platform CPU: CCF's coefficients for it, not a vendor's average."""
    basis = str(getattr(getattr(source, "spec", None), "basis", ""))
    known = getattr(source, "instance", None)  # configured, or from the cloud metadata (tracker.measure.instance)
    name = known.name if known is not None else config.instance_type
    if name and "is not in CCF's tables" not in basis:
        return []
    why = (
        f"instance type {name!r} ({known.source if known is not None else 'configuration'}) is not in CCF's tables"
        if name
        else "a virtual machine with no instance type configured, and none from the cloud metadata service"
    )
    return [
        Advice(
            "the vCPU model for your instance type's platform CPU",
            f"{why}; the model rests on: {basis}",
            ("instance_type=<your instance type, e.g. m5.large or e2-standard-2>  (or TRACKER_INSTANCE_TYPE=...)",),
            "the platform CPU's per-vCPU watts instead of an estimate from the CPU's name",
        )
    ]


def _gpu(chain: SourceChain, offered: SourceChain, config: Config, pci: dict[str, int]) -> Finding:
    if chain.active.method is Method.CONSTANT:
        return _finding(chain, _forced(Component.GPU, config, chain, offered))
    advice: list[Advice] = []
    if pci.get(AMD):
        advice.append(
            Advice(
                "none yet",
                f"{pci[AMD]} AMD GPU(s) on the PCI bus: tracker does not read AMD GPUs yet, they are not counted",
                ("gpu_watts=<their average power in watts>  (a constant, if you know it)",),
                "their energy counted at all",
                counts=False,
            )
        )
    if chain.active.method is Method.MEASURED:
        return _finding(chain, advice)
    failed = _skipped(chain, "nvml")
    reason = str(failed[1]) if failed is not None else ""
    nvidia = pci.get(NVIDIA, 0)
    if "no visible NVIDIA GPU" in reason:  # CUDA_VISIBLE_DEVICES hides them: the job's own choice
        return _finding(chain, advice)
    if "No module named" in reason:
        advice.append(
            Advice(
                "NVML (measured)",
                "the NVIDIA driver is here but the pynvml module is not installed",
                ("pip install nvidia-ml-py",),
                "GPU energy measured instead of not counted",
            )
        )
    elif reason.startswith("no NVIDIA driver") and nvidia:
        advice.append(
            Advice(
                "NVML (measured)",
                f"{nvidia} NVIDIA GPU(s) on the PCI bus but no NVIDIA driver ({reason})",
                (
                    "sudo ubuntu-drivers install  # Ubuntu; elsewhere your distribution's nvidia-driver package",
                    "nvidia-smi  # then check that the driver sees the GPU",
                ),
                "GPU energy measured instead of not counted",
            )
        )
    elif reason and not reason.startswith("no NVIDIA driver"):
        advice.append(
            Advice(
                "NVML (measured)",
                reason,
                (
                    "nvidia-smi  # shows whether the driver and its library (libnvidia-ml.so.1) work",
                    "sudo modprobe nvidia  # the kernel module; in a container: docker run --gpus all (NVIDIA "
                    "Container Toolkit)",
                ),
                "GPU energy measured instead of not counted",
            )
        )
    return _finding(chain, advice)


def _ram(chain: SourceChain, offered: SourceChain, config: Config) -> Finding:
    if chain.active.method is Method.MEASURED:
        return _finding(chain, [])
    if chain.active.method is Method.CONSTANT:
        return _finding(chain, _forced(Component.RAM, config, chain, offered))
    return _finding(chain, _rapl_denied(chain, "DRAM"))
