"""GPU energy from NVIDIA NVML (the ``pynvml`` module of the nvidia-ml-py package).

Per device, the cumulative energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ, Volta and newer) is
preferred; where NVML answers "not supported" or "no permission" the device's power (``nvmlDeviceGetPowerUsage``,
mW) is integrated over time instead (trapezoids between ticks). Only the GPUs named by ``CUDA_VISIBLE_DEVICES``
are counted (indexes or UUIDs, in NVML's PCI-bus order). No library, no driver or no device means no GPU
component, never an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from tracker.errors import MeasurementError
from tracker.measure.sources.base import Component, Method, PowerSource, Usage

logger = logging.getLogger(__name__)

#: NVML return codes (nvml.h) that mean "this call will never work here", not "something broke".
NOT_SUPPORTED = 3
NO_PERMISSION = 4
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

    __slots__ = ("handle", "index", "last", "mode", "name", "uuid")

    def __init__(self, index: int, handle: Any, name: str, uuid: str, mode: str = "energy", last: int = 0) -> None:
        self.index = index
        self.handle = handle
        self.name = name
        self.uuid = uuid
        self.mode = mode
        self.last = last  # mJ for the counter (an exact uint64), mW for power

    def __repr__(self) -> str:
        return f"GpuDevice({self.index}, {self.name!r}, {self.uuid!r}, mode={self.mode!r})"


def _import_nvml() -> ModuleType:
    import pynvml  # provided by nvidia-ml-py; imported lazily because it is only needed with a GPU

    return pynvml


class NvmlSource(PowerSource):
    """All visible NVIDIA GPUs, each read by its best NVML call."""

    component = Component.GPU
    method = Method.MEASURED

    def __init__(self, nvml: ModuleType | None = None, environ: dict[str, str] | None = None) -> None:
        self._nvml = nvml
        self._environ = environ
        self.gpus: list[GpuDevice] = []
        self.name = "nvml"
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
        except MeasurementError:
            with contextlib.suppress(Exception):  # leave NVML as we found it
                nvml.nvmlShutdown()
            raise
        self.gpus = devices
        modes = sorted({d.mode for d in devices})
        self.name = "+".join(f"nvml-{m}" for m in modes)

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
                logger.warning("CUDA_VISIBLE_DEVICES names MIG instance %s: MIG energy is not metered", item)
                match = []
            else:
                match = [d for d in all_devices if d.uuid.startswith(item)]
            if len(match) != 1:
                break  # CUDA stops at the first entry it cannot resolve
            if match[0] not in chosen:
                chosen.append(match[0])
        return chosen

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
                    total += delta / 1000.0
                else:
                    now = int(nvml.nvmlDeviceGetPowerUsage(device.handle))
                    total += (device.last + now) / 2 / 1000.0 * usage.dt
                    device.last = now
            except Exception as exc:
                raise MeasurementError(f"GPU {device.index} ({device.name}) read failed: {exc}") from exc
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
        parts = [
            f"GPU {d.index} {d.name} via {'energy counter' if d.mode == 'energy' else 'power'}" for d in self.gpus
        ]
        return f"NVML: {'; '.join(parts)} (measured)"
