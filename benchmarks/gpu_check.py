"""Check the NVML source on a real NVIDIA GPU and print what was seen (recorded in docs/hardware-checks.md).

Run on a machine with a GPU: ``PYTHONPATH=. python benchmarks/gpu_check.py``. It needs PyTorch only for the load.
1. what the driver and NVML report per device (energy counter? power? limit?);
2. ``tracker detect`` and a tracked idle period and a tracked matmul load;
3. the energy counter against power integration for the same load (two sources sampled side by side);
4. ``CUDA_VISIBLE_DEVICES`` by UUID and empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def nvml_inventory() -> None:
    import pynvml

    section("NVML inventory")
    print("driver dir /proc/driver/nvidia exists:", os.path.exists("/proc/driver/nvidia"))
    pynvml.nvmlInit()
    print("driver", pynvml.nvmlSystemGetDriverVersion(), "NVML", pynvml.nvmlSystemGetNVMLVersion())
    for i in range(pynvml.nvmlDeviceGetCount()):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        row = {"index": i, "name": pynvml.nvmlDeviceGetName(h), "uuid": pynvml.nvmlDeviceGetUUID(h)}
        for key, call in (
            ("energy_mj", pynvml.nvmlDeviceGetTotalEnergyConsumption),
            ("power_mw", pynvml.nvmlDeviceGetPowerUsage),
            ("limit_mw", pynvml.nvmlDeviceGetPowerManagementLimit),
        ):
            try:
                row[key] = call(h)
            except pynvml.NVMLError as exc:
                row[key] = f"error {exc.value}: {exc}"
        print(json.dumps(row))
    pynvml.nvmlShutdown()


class PowerOnly(SimpleNamespace):
    """The real pynvml, except that the energy counter answers NOT_SUPPORTED (forces power integration)."""

    def __getattr__(self, name: str):
        import pynvml

        if name == "nvmlDeviceGetTotalEnergyConsumption":

            def unsupported(handle):
                raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

            return unsupported
        return getattr(pynvml, name)


def load(seconds: float) -> int:
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
        n += 20
    return n


def tracked() -> None:
    import tracker
    from tracker.measure.sources.base import Usage
    from tracker.measure.sources.nvml import NvmlSource

    section("tracker detect")
    subprocess.run([sys.executable, "-m", "tracker", "detect"], check=False)

    section("idle 5 s, then bf16 matmul 15 s, energy counter vs power integration side by side")
    power_source = NvmlSource(nvml=PowerOnly())
    power_source.start()
    print("power-only source:", power_source.describe())
    totals = {"power_j": 0.0}
    stop = threading.Event()

    def poll() -> None:
        last = time.perf_counter()
        while not stop.wait(0.1):
            now = time.perf_counter()
            totals["power_j"] += power_source.energy(Usage(dt=now - last, cpu_util=0.0))
            last = now

    store = "/tmp/gpu-check.db"
    with tracker.track(project="gpu-check", experiment="idle", store=store, interval=0.5) as idle:
        time.sleep(5)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    with tracker.track(project="gpu-check", experiment="matmul", store=store, interval=0.5) as busy:
        steps = load(15)
    stop.set()
    thread.join()
    for run in (idle, busy):
        print(
            json.dumps(
                {
                    "experiment": run.experiment,
                    "duration_s": round(run.duration_s, 3),
                    "gpu_method": run.gpu_method,
                    "gpu_model": run.gpu_model,
                    "gpu_energy_j": round(run.gpu_energy_kwh * 3.6e6, 1),
                    "gpu_power_w": round(run.gpu_power_w, 1),
                    "cpu_method": run.cpu_method,
                    "notes": run.notes,
                }
            )
        )
    print("matmul steps", steps)
    print(
        f"same load, power integrated at 10 Hz: {totals['power_j']:.1f} J vs energy counter "
        f"{busy.gpu_energy_kwh * 3.6e6:.1f} J (power polling spans slightly different instants)"
    )


def visible_devices() -> None:
    import pynvml

    from tracker.errors import MeasurementError
    from tracker.measure.sources.nvml import NvmlSource

    section("CUDA_VISIBLE_DEVICES")
    pynvml.nvmlInit()
    uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(0))
    pynvml.nvmlShutdown()
    for value in (uuid[:12], "0", "", "-1"):
        source = NvmlSource(environ={"CUDA_VISIBLE_DEVICES": value})
        try:
            source.start()
            print(repr(value), "->", source.devices())
            source.close()
        except MeasurementError as exc:
            print(repr(value), "->", f"MeasurementError: {exc}")


if __name__ == "__main__":
    nvml_inventory()
    tracked()
    visible_devices()
