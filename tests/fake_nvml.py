"""A stand-in for the ``pynvml`` module (nvidia-ml-py) that behaves like NVML on a machine with fake GPUs.

Faults are the real exceptions: ``pynvml.NVMLError(code)`` whose ``__new__`` maps the code to its generated
subclass (``NVMLError_NotSupported``, ``NVMLError_NoPermission``, ``NVMLError_LibraryNotFound``,
``NVMLError_GpuIsLost``...), with the code in ``.value``, exactly as ``pynvml._nvmlCheckReturn`` raises them.
Return values have the real types: ``int`` for counts, milliwatts and the ``unsigned long long`` millijoule
counter (which wraps at 2**64), ``str`` for names and UUIDs (pynvml decodes C strings), an opaque handle
object per device. Device calls before ``nvmlInit`` (or after the matching ``nvmlShutdown``) fail with
``NVML_ERROR_UNINITIALIZED`` as the real library does. Every call is appended to ``calls``.

Per-process and MIG calls return pynvml's own ctypes structures (``c_nvmlProcessUtilizationSample_t``,
``c_nvmlAccountingStats_t``, ``c_nvmlDeviceAttributes``, ``c_nvmlGpuInstanceProfileInfo_v2_t``) or, for the
running processes, the "friendly object" pynvml builds from ``c_nvmlProcessInfo_v3_t``, and fail as the NVML API
reference says: ``nvmlDeviceGetProcessUtilization`` raises NOT_FOUND when no sample is newer than the timestamp
given, NOT_SUPPORTED before Maxwell and in MIG mode; ``nvmlDeviceGetMigMode`` raises NOT_SUPPORTED before Ampere;
``nvmlDeviceGetMigDeviceHandleByIndex`` raises NOT_FOUND for an index with no instance; ``nvmlDeviceGetAttributes``
works on MIG device handles only; power and energy calls on a MIG handle raise NOT_SUPPORTED (the parent GPU is
measured, not the instance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    #: compute processes holding a context on the GPU: pid -> used memory in bytes (None: not available)
    processes: dict[int, int | None] = field(default_factory=dict)
    #: the driver's buffer of per-process utilisation samples: (pid, CPU timestamp in us, SM %, memory %)
    samples: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: an NVML code nvmlDeviceGetProcessUtilization returns (e.g. NOT_SUPPORTED on a pre-Maxwell card)
    utilization_error: int | None = None
    #: accounting mode (nvmlDeviceGetAccountingMode) and its per-pid statistics: pid -> (GPU util %, time ms)
    accounting_mode: int = 0
    accounting: dict[int, tuple[int, int]] = field(default_factory=dict)
    accounting_error: int | None = None
    #: MIG: None = not supported (pre-Ampere); else the current mode (0 off, 1 on) and the instances
    mig_mode: int | None = None
    mig: list[FakeMig | None] = field(default_factory=list)  # by MIG device index; None: an empty index
    slices: int = 7  # the GPU's compute slices (the largest GPU instance profile's sliceCount)


@dataclass
class FakeMig:
    """One MIG device (a compute instance inside a GPU instance)."""

    uuid: str = "MIG-00000000-0000-0000-0000-000000000000"
    gpu_slices: int = 1  # gpuInstanceSliceCount
    compute_slices: int = 1  # computeInstanceSliceCount
    multiprocessors: int = 14


class FakeHandle:
    """What ``nvmlDeviceGetHandleByIndex`` returns: opaque to the caller (the real one is a ctypes pointer)."""

    __slots__ = ("index", "mig")

    def __init__(self, index: int, mig: int | None = None) -> None:
        self.index = index
        self.mig = mig  # the MIG device index under GPU ``index``; None for a GPU handle

    def __repr__(self) -> str:
        return f"<FakeHandle {self.index}{'' if self.mig is None else f' MIG {self.mig}'}>"


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

    def sample(self, index: int, pid: int, stamp_us: int, sm: int, mem: int = 0) -> None:
        """The driver records a utilisation sample of process ``pid`` (only processes with non-zero use are)."""
        self.gpus[index].samples.append((pid, stamp_us, sm, mem))

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

    def _mig(self, handle: FakeHandle) -> FakeMig:
        gpu = self._gpu(handle)
        if handle.mig is None or not gpu.mig_mode or not 0 <= handle.mig < len(gpu.mig) or gpu.mig[handle.mig] is None:
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.mig[handle.mig]  # type: ignore[return-value]

    def _not_on_mig(self, handle: FakeHandle) -> FakeGpu:
        gpu = self._gpu(handle)
        if handle.mig is not None:
            self._mig(handle)
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpu

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:
        self.calls.append(("nvmlDeviceGetName", handle.index))
        gpu = self._gpu(handle)
        if handle.mig is not None:
            mig = self._mig(handle)
            return f"{gpu.name} MIG {mig.compute_slices}g"
        return gpu.name

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:
        self.calls.append(("nvmlDeviceGetUUID", handle.index))
        return self._mig(handle).uuid if handle.mig is not None else self._gpu(handle).uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeHandle) -> int:
        self.calls.append(("nvmlDeviceGetTotalEnergyConsumption", handle.index))
        gpu = self._not_on_mig(handle)
        if gpu.energy_error is not None:
            raise error(gpu.energy_error)
        return gpu.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        self.calls.append(("nvmlDeviceGetPowerUsage", handle.index))
        gpu = self._not_on_mig(handle)
        if gpu.power_error is not None:
            raise error(gpu.power_error)
        return gpu.power_mw

    # -- per process ------------------------------------------------------------------------------------------
    def nvmlDeviceGetProcessUtilization(self, handle: FakeHandle, timeStamp: int) -> list[Any]:
        self.calls.append(("nvmlDeviceGetProcessUtilization", handle.index, timeStamp))
        gpu = self._gpu(handle)
        if gpu.utilization_error is not None:
            raise error(gpu.utilization_error)
        if gpu.mig_mode or handle.mig is not None:
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        newer = [s for s in gpu.samples if s[1] > timeStamp]
        if not newer:
            raise error(pynvml.NVML_ERROR_NOT_FOUND)
        out = []
        for pid, stamp, sm, mem in newer:
            sample = pynvml.c_nvmlProcessUtilizationSample_t()
            sample.pid, sample.timeStamp, sample.smUtil, sample.memUtil = pid, stamp, sm, mem
            out.append(sample)
        return out

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeHandle) -> list[Any]:
        self.calls.append(("nvmlDeviceGetComputeRunningProcesses", handle.index))
        gpu = self._gpu(handle)
        out = []
        for pid, memory in gpu.processes.items():
            info = pynvml.c_nvmlProcessInfo_v3_t()
            info.pid, info.usedGpuMemory = pid, 0 if memory is None else memory
            obj = pynvml.nvmlStructToFriendlyObject(info)
            if memory is None:
                obj.usedGpuMemory = None
            out.append(obj)
        return out

    def nvmlDeviceGetAccountingMode(self, handle: FakeHandle) -> int:
        self.calls.append(("nvmlDeviceGetAccountingMode", handle.index))
        gpu = self._not_on_mig(handle)
        if gpu.accounting_error is not None:
            raise error(gpu.accounting_error)
        return gpu.accounting_mode

    def nvmlDeviceGetAccountingPids(self, handle: FakeHandle) -> list[int]:
        self.calls.append(("nvmlDeviceGetAccountingPids", handle.index))
        gpu = self._not_on_mig(handle)
        if gpu.accounting_error is not None:
            raise error(gpu.accounting_error)
        if not gpu.accounting_mode:
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return list(gpu.accounting)

    def nvmlDeviceGetAccountingStats(self, handle: FakeHandle, pid: int) -> Any:
        self.calls.append(("nvmlDeviceGetAccountingStats", handle.index, pid))
        gpu = self._not_on_mig(handle)
        if gpu.accounting_error is not None:
            raise error(gpu.accounting_error)
        if not gpu.accounting_mode:
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if pid not in gpu.accounting:
            raise error(pynvml.NVML_ERROR_NOT_FOUND)
        stats = pynvml.c_nvmlAccountingStats_t()
        stats.gpuUtilization, stats.time = gpu.accounting[pid]
        stats.isRunning = 1
        return stats

    # -- MIG --------------------------------------------------------------------------------------------------
    def nvmlDeviceGetMigMode(self, handle: FakeHandle) -> list[int]:
        self.calls.append(("nvmlDeviceGetMigMode", handle.index))
        gpu = self._not_on_mig(handle)
        if gpu.mig_mode is None:
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return [gpu.mig_mode, gpu.mig_mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeHandle) -> int:
        self.calls.append(("nvmlDeviceGetMaxMigDeviceCount", handle.index))
        gpu = self._not_on_mig(handle)
        return gpu.slices if gpu.mig_mode else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeHandle, index: int) -> FakeHandle:
        self.calls.append(("nvmlDeviceGetMigDeviceHandleByIndex", handle.index, index))
        gpu = self._not_on_mig(handle)
        if not gpu.mig_mode:
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if not 0 <= index < gpu.slices:
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if index >= len(gpu.mig) or gpu.mig[index] is None:
            raise error(pynvml.NVML_ERROR_NOT_FOUND)
        return FakeHandle(handle.index, index)

    def nvmlDeviceGetAttributes(self, handle: FakeHandle) -> Any:
        self.calls.append(("nvmlDeviceGetAttributes", handle.index))
        if handle.mig is None:
            self._gpu(handle)
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)  # "currently only supports MIG device handles"
        mig = self._mig(handle)
        attributes = pynvml.c_nvmlDeviceAttributes()
        attributes.gpuInstanceSliceCount = mig.gpu_slices
        attributes.computeInstanceSliceCount = mig.compute_slices
        attributes.multiprocessorCount = mig.multiprocessors
        return attributes

    def nvmlDeviceGetGpuInstanceProfileInfo(self, handle: FakeHandle, profile: int, version: int = 2) -> Any:
        self.calls.append(("nvmlDeviceGetGpuInstanceProfileInfo", handle.index, profile))
        gpu = self._not_on_mig(handle)
        slices = {0x0: 1, 0x1: 2, 0x2: 3, 0x3: 4, 0x4: 7, 0x5: 8, 0x6: 6}.get(profile)
        if slices is None:
            raise error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        if gpu.mig_mode is None or slices > gpu.slices:
            raise error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        info = pynvml.c_nvmlGpuInstanceProfileInfo_v2_t()
        info.id, info.sliceCount = profile, slices
        return info
