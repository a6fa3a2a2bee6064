"""GPU energy from NVIDIA NVML (the ``pynvml`` module of the nvidia-ml-py package).

Per device, the cumulative energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta and newer) is
preferred; where NVML answers "not supported" or "no permission" the device's power (``nvmlDeviceGetPowerUsage``,
mW) is integrated over time instead (trapezoids between ticks). Only the GPUs named by ``CUDA_VISIBLE_DEVICES``
are counted (indexes or UUIDs, in NVML's PCI-bus order). No library, no driver or no device means no GPU
component, never an error.

Per process (``per_process=True``, process mode: the tick's ``Usage.pids`` name the tracked processes): each
GPU's energy is multiplied by the tracked processes' share of its SM utilisation samples
(``nvmlDeviceGetProcessUtilization``, since the last sample seen), or, where that call is not supported, of
their accounted GPU time (``nvmlDeviceGetAccountingStats``, when accounting mode is on); a tick without samples
is split between the compute processes running on it (``nvmlDeviceGetComputeRunningProcesses``), and a GPU no
process uses counts 0. Where neither call works, or NVML reports the process ids of another PID namespace (a
container), the whole GPU is counted, with a note.

MIG: a ``MIG-…`` entry of ``CUDA_VISIBLE_DEVICES`` names one MIG instance. NVML measures no instance, only its
parent GPU, so an instance is charged the parent's energy times its compute slices over the GPU's slices (a
model, labelled ``nvml-mig-share``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Set
from types import ModuleType
from typing import Any

from tracker.errors import MeasurementError
from tracker.measure.sources.base import Component, Method, PowerSource, Usage

logger = logging.getLogger(__name__)

#: NVML return codes (nvml.h) that mean "this call will never work here", not "something broke".
NOT_SUPPORTED = 3
NO_PERMISSION = 4
NOT_FOUND = 6  # nvmlDeviceGetProcessUtilization: no sample newer than the timestamp; an empty MIG index
MIG_ENABLE = 1  # NVML_DEVICE_MIG_ENABLE
#: GPU instance profiles (NVML_GPU_INSTANCE_PROFILE_7_SLICE, _8_SLICE, _6_SLICE, _4_SLICE): the largest one a GPU
#: supports spans the whole GPU, so its sliceCount is the GPU's number of slices
_WHOLE_GPU_PROFILES = (0x5, 0x4, 0x6, 0x3)
#: Linux paths of which at least one exists wherever NVML can work: the driver's proc folder (hosts), its
#: control device (containers given a GPU, gVisor's nvproxy) and WSL2's GPU paravirtualisation device.
DRIVER_SIGNS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")
_COUNTER_RANGE = 2**64  # nvmlDeviceGetTotalEnergyConsumption returns an unsigned long long (mJ)
_MAX_PLAUSIBLE_W = 10_000.0  # a jump beyond this per device is a counter reset, not energy


def _code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_selection(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str] | None:
    """Parse ``CUDA_VISIBLE_DEVICES``: ``None`` = all devices; else the listed indexes/UUIDs, in order.

    Like CUDA, parsing stops at the first entry that is not a valid index or UUID (so ``-1`` hides all GPUs).
    """
    env = os.environ if environ is None else environ
    raw = env.get("CUDA_VISIBLE_DEVICES")
    if raw is None:
        return None
    picked: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if item.isdigit() or item.startswith(("GPU-", "MIG-")):
            picked.append(item)
        else:
            break
    return picked


class GpuDevice:
    """One GPU and how it is read: ``energy`` (counter) or ``power`` (integrated).

    A plain class (its reading moves on), not a dataclass: building one costs ~1 ms at the first run's start.
    """

    __slots__ = ("attrib", "busy", "handle", "index", "last", "mig", "mode", "name", "seen", "share", "uuid")

    def __init__(self, index: int, handle: Any, name: str, uuid: str, mode: str = "energy", last: int = 0) -> None:
        self.index = index
        self.handle = handle  # the GPU's handle (a MIG instance's parent GPU: NVML measures no instance)
        self.name = name
        self.uuid = uuid
        self.mode = mode
        self.last = last  # mJ for the counter (an exact uint64), mW for power
        self.share = 1.0  # a MIG instance's fixed share of its GPU (compute slices / the GPU's slices)
        self.mig = ""  # a MIG instance: "2 of 7 compute slices"
        self.attrib = ""  # per-process attribution: "samples", "accounting", or "" (the whole GPU)
        self.seen = 0  # the newest utilisation sample's timestamp (us) already counted
        self.busy: dict[int, int] = {}  # accounting: per pid, GPU utilisation (%) x time (ms) so far

    def __repr__(self) -> str:
        return f"GpuDevice({self.index}, {self.name!r}, {self.uuid!r}, mode={self.mode!r})"


def _import_nvml() -> ModuleType:
    import pynvml  # provided by nvidia-ml-py; imported lazily because it is only needed with a GPU

    return pynvml


class NvmlSource(PowerSource):
    """All visible NVIDIA GPUs, each read by its best NVML call."""

    component = Component.GPU
    method = Method.MEASURED

    def __init__(
        self, nvml: ModuleType | None = None, environ: dict[str, str] | None = None, *, per_process: bool = False
    ) -> None:
        self._nvml = nvml
        self._environ = environ
        self.per_process = per_process
        self.gpus: list[GpuDevice] = []
        self.name = "nvml"
        #: (perf_counter time, text): the source chain hands over its own list, so that notes reach the record
        self.notes: list[tuple[float, str]] = []
        self._started = False
        #: narrows the visible GPUs to this rank's share in a multi-rank job (``tracker.measure.job``); may raise
        self.pick: Callable[[list[GpuDevice]], list[GpuDevice]] | None = None

    # -- set-up ----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._nvml is None and sys.platform.startswith("linux") and not any(map(os.path.exists, DRIVER_SIGNS)):
            # no sign of an NVIDIA driver: skip importing pynvml and dlopen-ing libnvidia-ml (~13 ms at start-up)
            raise MeasurementError(f"no NVIDIA driver (none of {', '.join(DRIVER_SIGNS)} exists)")
        try:
            nvml = self._nvml or _import_nvml()
            nvml.nvmlInit()
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, ...
            raise MeasurementError(f"NVML not available: {exc}") from exc
        self._nvml = nvml
        try:
            try:
                devices = self._select(nvml)
            except Exception as exc:
                raise MeasurementError(f"NVML could not list GPUs: {exc}") from exc
            if not devices:
                raise MeasurementError("no visible NVIDIA GPU")
            if self.pick is not None:
                devices = self.pick(devices)
            for device in devices:
                self._choose_mode(nvml, device)
                if self.per_process and not device.mig:
                    self._choose_attribution(nvml, device)
        except MeasurementError:
            with contextlib.suppress(Exception):  # leave NVML as we found it
                nvml.nvmlShutdown()
            raise
        self.gpus = devices
        self._started = True
        labels = {
            "nvml-mig-share" if d.mig else "nvml-process-share" if d.attrib else f"nvml-{d.mode}" for d in devices
        }
        self.name = "+".join(sorted(labels))

    def _select(self, nvml: ModuleType) -> list[GpuDevice]:
        count = int(nvml.nvmlDeviceGetCount())
        all_devices = []
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(nvml.nvmlDeviceGetName(handle))
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            all_devices.append(GpuDevice(index, handle, name, uuid))
        selection = visible_selection(self._environ)
        if selection is None:
            return all_devices
        chosen: list[GpuDevice] = []
        for item in selection:
            if item.isdigit():
                match = [d for d in all_devices if d.index == int(item)]
            elif item.startswith("MIG-"):
                match = self._mig_instances(nvml, all_devices, item)
            else:
                match = [d for d in all_devices if d.uuid.startswith(item)]
            if len(match) != 1:
                break  # CUDA stops at the first entry it cannot resolve
            if all(c.uuid != match[0].uuid for c in chosen):
                chosen.append(match[0])
        return chosen

    def _mig_instances(self, nvml: ModuleType, gpus: list[GpuDevice], item: str) -> list[GpuDevice]:
        """The MIG instance ``item`` (a ``MIG-<uuid>`` prefix) names, as a device charged its share of its GPU."""
        found = []
        for gpu in gpus:
            try:
                if nvml.nvmlDeviceGetMigMode(gpu.handle)[0] != MIG_ENABLE:
                    continue
                count = int(nvml.nvmlDeviceGetMaxMigDeviceCount(gpu.handle))
            except Exception:  # NOT_SUPPORTED: a GPU older than Ampere has no MIG
                continue
            for index in range(count):
                try:
                    mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(gpu.handle, index)
                except Exception:  # NOT_FOUND: no instance at this index
                    continue
                uuid = _text(nvml.nvmlDeviceGetUUID(mig))
                if not uuid.startswith(item):
                    continue
                slices = int(nvml.nvmlDeviceGetAttributes(mig).computeInstanceSliceCount)
                total = _gpu_slices(nvml, gpu.handle)
                device = GpuDevice(gpu.index, gpu.handle, _text(nvml.nvmlDeviceGetName(mig)), uuid)
                device.share = slices / total
                device.mig = f"{slices} of {total} compute slices of GPU {gpu.index} ({gpu.name})"
                found.append(device)
        return found

    def _choose_attribution(self, nvml: ModuleType, device: GpuDevice) -> None:
        """How this GPU's energy is shared between processes: utilisation samples, accounting, or not at all."""
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(device.handle, 0)
            device.seen = max((int(s.timeStamp) for s in samples), default=0)  # what came before is not ours
            device.attrib = "samples"
            return
        except Exception as exc:
            if _code(exc) == NOT_FOUND:  # supported; no process used the GPU lately
                device.attrib = "samples"
                return
            reason = f"nvmlDeviceGetProcessUtilization: {exc}"
        try:
            if nvml.nvmlDeviceGetAccountingMode(device.handle) == 1:  # NVML_FEATURE_ENABLED
                self._accounted(nvml, device)  # the baseline: GPU time used before the run is not the run's
                device.attrib = "accounting"
                return
            reason += "; accounting mode is off (nvidia-smi --accounting-mode=1 turns it on)"
        except Exception as exc:
            reason += f"; nvmlDeviceGetAccountingStats: {exc}"
        self._whole(device, reason)

    def _whole(self, device: GpuDevice, reason: str) -> None:
        device.attrib = ""
        when = time.perf_counter() if self._started else -math.inf
        text = f"gpu: GPU {device.index} ({device.name}) counted whole, no per-process share: {reason}"
        self.notes.append((when, text))

    def _accounted(self, nvml: ModuleType, device: GpuDevice) -> dict[int, int]:
        """Each accounted pid's GPU time since the last call (utilisation % x ms), and the new totals kept."""
        moved = {}
        for pid in nvml.nvmlDeviceGetAccountingPids(device.handle):
            try:
                stats = nvml.nvmlDeviceGetAccountingStats(device.handle, pid)
            except Exception:  # NOT_FOUND: the pid left the accounting buffer between the two calls
                continue
            busy = int(stats.gpuUtilization) * int(stats.time)
            moved[pid] = max(0, busy - device.busy.get(pid, 0))
            device.busy[pid] = busy
        for gone in device.busy.keys() - moved.keys():  # bounded by NVML's accounting buffer
            del device.busy[gone]
        return moved

    def _process_share(self, nvml: ModuleType, device: GpuDevice, pids: Set[int]) -> float:
        """The tracked processes' share of this GPU over the tick (1.0 after a fault: the whole GPU)."""
        ours = total = 0
        try:
            if device.attrib == "samples":
                try:
                    samples = nvml.nvmlDeviceGetProcessUtilization(device.handle, device.seen)
                except Exception as exc:
                    if _code(exc) != NOT_FOUND:
                        raise
                    samples = []
                reported = set()
                for sample in samples:
                    stamp, pid, sm = int(sample.timeStamp), int(sample.pid), int(sample.smUtil)
                    device.seen = max(device.seen, stamp)
                    reported.add(pid)
                    total += sm
                    if pid in pids:
                        ours += sm
            else:
                moved = self._accounted(nvml, device)
                reported = {pid for pid, busy in moved.items() if busy}
                total = sum(moved.values())
                ours = sum(busy for pid, busy in moved.items() if pid in pids)
            if total <= 0:  # nothing ran a kernel: the processes holding a context share its (idle) power
                reported = {int(p.pid) for p in nvml.nvmlDeviceGetComputeRunningProcesses(device.handle)}
                if not reported:
                    return 0.0
                ours, total = len(reported & pids), len(reported)
        except Exception as exc:
            self._whole(device, f"per-process figures failed: {exc}")
            return 1.0
        if not ours and not any(os.path.exists(f"/proc/{pid}") for pid in reported):
            self._whole(device, "NVML reports process ids of another PID namespace (a container)")
            return 1.0
        return ours / total

    def _choose_mode(self, nvml: ModuleType, device: GpuDevice) -> None:
        try:
            device.last = int(nvml.nvmlDeviceGetTotalEnergyConsumption(device.handle))
            device.mode = "energy"
            return
        except Exception as exc:
            if _code(exc) not in (NOT_SUPPORTED, NO_PERMISSION):
                logger.debug("GPU %d energy counter failed (%s); trying power", device.index, exc)
        try:
            device.last = int(nvml.nvmlDeviceGetPowerUsage(device.handle))
            device.mode = "power"
        except Exception as exc:
            raise MeasurementError(f"GPU {device.index} ({device.name}): neither energy nor power: {exc}") from exc

    # -- sampling --------------------------------------------------------------------------------------
    def energy(self, usage: Usage) -> float:
        nvml = self._nvml
        assert nvml is not None
        pids = usage.pids
        total = 0.0
        for device in self.gpus:
            try:
                if device.mode == "energy":
                    now = int(nvml.nvmlDeviceGetTotalEnergyConsumption(device.handle))
                    delta = now - device.last  # integers: a float cannot step by 1 mJ near 2**64
                    if delta < 0:
                        wrapped = _COUNTER_RANGE - device.last + now
                        delta = wrapped if wrapped <= _MAX_PLAUSIBLE_W * 1000 * max(usage.dt, 1.0) else 0
                    device.last = now
                    joules = delta / 1000.0
                else:
                    now = int(nvml.nvmlDeviceGetPowerUsage(device.handle))
                    joules = (device.last + now) / 2 / 1000.0 * usage.dt
                    device.last = now
            except Exception as exc:
                raise MeasurementError(f"GPU {device.index} ({device.name}) read failed: {exc}") from exc
            if device.mig:
                joules *= device.share
            elif device.attrib and pids is not None:
                joules *= self._process_share(nvml, device, pids)
            total += joules
        return total

    def close(self) -> None:
        if self._nvml is not None and self.gpus:
            try:
                self._nvml.nvmlShutdown()
            except Exception as exc:  # shutting down a lost GPU must not break the run
                logger.debug("nvmlShutdown failed: %s", exc)
        self.gpus = []

    def devices(self) -> list[str]:
        return [d.name for d in self.gpus]

    def describe(self) -> str:
        parts = []
        for d in self.gpus:
            how = "energy counter" if d.mode == "energy" else "power"
            if d.mig:
                parts.append(f"MIG {d.uuid} ({d.mig}) via the GPU's {how} x its share")
            else:
                share = {"samples": ", per-process share", "accounting": ", per-process share (accounting)"}
                parts.append(f"GPU {d.index} {d.name} via {how}{share.get(d.attrib, '')}")
        return f"NVML: {'; '.join(parts)} (measured)"

    def inputs(self) -> str | None:
        """The models on top of the measurement: MIG shares and per-process shares, for the record's notes."""
        said = []
        for d in self.gpus:
            if d.mig:
                said.append(
                    f"MIG instance {d.uuid}: {d.mig}, charged that share of the GPU's energy "
                    f"(x {d.share:.4g}; a model: NVML measures the GPU, not its instances)"
                )
            elif d.attrib == "samples":
                said.append(
                    f"GPU {d.index}: energy x the tracked processes' share of its SM utilisation samples "
                    "(nvmlDeviceGetProcessUtilization); idle ticks split between the processes holding a context"
                )
            elif d.attrib == "accounting":
                said.append(
                    f"GPU {d.index}: energy x the tracked processes' share of accounted GPU time "
                    "(nvmlDeviceGetAccountingStats: utilisation x time); idle ticks split between the processes "
                    "holding a context"
                )
        return "; ".join(said) or None


def _gpu_slices(nvml: ModuleType, handle: Any) -> int:
    """How many compute slices the GPU has: the slice count of the largest GPU instance profile it supports."""
    slices = 0
    for profile in _WHOLE_GPU_PROFILES:
        try:
            slices = max(slices, int(nvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, profile).sliceCount))
        except Exception:  # NOT_SUPPORTED: a profile this GPU does not have
            continue
    if slices <= 0:
        raise MeasurementError("NVML gives no GPU instance profile for a GPU in MIG mode")
    return slices
