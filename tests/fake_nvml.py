"""A stand-in for the ``pynvml`` module (nvidia-ml-py) that behaves like NVML on a machine with fake GPUs.

Faults are the real exceptions: ``pynvml.NVMLError(code)`` whose ``__new__`` maps the code to its generated
subclass (``NVMLError_NotSupported``, ``NVMLError_NoPermission``, ``NVMLError_LibraryNotFound``,
``NVMLError_GpuIsLost``...), with the code in ``.value``, exactly as ``pynvml._nvmlCheckReturn`` raises them.
Return values have the real types: ``int`` for counts, milliwatts and the ``unsigned long long`` millijoule
counter (which wraps at 2**64), ``str`` for names and UUIDs (pynvml decodes C strings), an opaque handle
object per device. Device calls before ``nvmlInit`` (or after the matching ``nvmlShutdown``) fail with
``NVML_ERROR_UNINITIALIZED`` as the real library does. Every call is appended to ``calls``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pynvml

COUNTER_RANGE = 2**64


@dataclass
class FakeGpu:
    """One device. ``energy_error``/``power_error``: an NVML code that call returns instead of a value."""

    name: str = "NVIDIA A100-SXM4-40GB"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    energy_mj: int = 0
    power_mw: int = 100_000
    energy_error: int | None = None
    power_error: int | None = None
    lost: bool = False


class FakeHandle:
    """What ``nvmlDeviceGetHandleByIndex`` returns: opaque to the caller (the real one is a ctypes pointer)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<FakeHandle {self.index}>"


def error(code: int) -> pynvml.NVMLError:
    """The exception pynvml raises for ``code`` (an instance of the code's own subclass)."""
    return pynvml.NVMLError(code)


class FakeNvml:
    """Use in place of the module: ``NvmlSource(nvml=FakeNvml([FakeGpu(...)]), environ={...})``."""

    NVMLError = pynvml.NVMLError

    def __init__(self, gpus: list[FakeGpu] | None = None, *, init_error: int | None = None) -> None:
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.refcount = 0  # nvmlInit calls not yet matched by nvmlShutdown
        self.calls: list[tuple[Any, ...]] = []

    # -- test controls ---------------------------------------------------------------------------------------
    def set_energy(self, index: int, mj: int) -> None:
        if not 0 <= mj < COUNTER_RANGE:
            raise ValueError("the counter is an unsigned 64-bit integer")
        self.gpus[index].energy_mj = mj

    def add_energy(self, index: int, mj: int) -> int:
        """Let ``mj`` millijoules flow through a GPU; the counter wraps at 2**64 like a C unsigned long long."""
        gpu = self.gpus[index]
        gpu.energy_mj = (gpu.energy_mj + mj) % COUNTER_RANGE
        return gpu.energy_mj

    def set_power(self, index: int, mw: int) -> None:
        self.gpus[index].power_mw = mw

    def called(self, function: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == function]

    # -- the pynvml API ---------------------------------------------------------------------------------------
    def _check_init(self) -> None:
        if self.refcount <= 0:
            raise error(pynvml.NVML_ERROR_UNINITIALIZED)

    def _gpu(self, handle: Any) -> FakeGpu:
        self._check_init()
        if not isinstance(handle, FakeHandle) or not 0 <= handle.index < len(self.gpus):
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[handle.index]
        if gpu.lost:
            raise error(pynvml.NVML_ERROR_GPU_IS_LOST)
        return gpu

    def nvmlInit(self) -> None:
        self.calls.append(("nvmlInit",))
        if self.init_error is not None:
            raise error(self.init_error)
        self.refcount += 1

    def nvmlShutdown(self) -> None:
        self.calls.append(("nvmlShutdown",))
        self._check_init()
        self.refcount -= 1

    def nvmlDeviceGetCount(self) -> int:
        self.calls.append(("nvmlDeviceGetCount",))
        self._check_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self.calls.append(("nvmlDeviceGetHandleByIndex", index))
        self._check_init()
        if not 0 <= index < len(self.gpus):
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if self.gpus[index].lost:
            raise error(pynvml.NVML_ERROR_GPU_IS_LOST)
        return FakeHandle(index)

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:
        self.calls.append(("nvmlDeviceGetName", handle.index))
        return self._gpu(handle).name

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:
        self.calls.append(("nvmlDeviceGetUUID", handle.index))
        return self._gpu(handle).uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeHandle) -> int:
        self.calls.append(("nvmlDeviceGetTotalEnergyConsumption", handle.index))
        gpu = self._gpu(handle)
        if gpu.energy_error is not None:
            raise error(gpu.energy_error)
        return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        self.calls.append(("nvmlDeviceGetPowerUsage", handle.index))
        gpu = self._gpu(handle)
        if gpu.power_error is not None:
            raise error(gpu.power_error)
        return gpu.power_mw
