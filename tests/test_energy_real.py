"""A real CPU-busy loop, measured on this machine: the recorded energy must equal the model's power x time.

The utilisation is measured independently here (from /proc/stat via psutil, before and after), so the check
covers the sampler, the timeline and the integration, not only the formula.
"""

from __future__ import annotations

import time

import psutil
import pytest

import tracker
from tracker.measure import hardware
from tracker.measure.sources.cpu_model import CpuModel
from tracker.measure.sources.ram import RamModel
from tracker.measure.sources.vcpu_model import VcpuModel
from tracker.measure.usage import machine_cpu_seconds


@pytest.mark.slow
def test_busy_loop_energy_matches_model_power_times_time(store_path: str) -> None:
    machine = hardware.detect()
    model = VcpuModel(machine) if machine.virtualised else CpuModel(machine)  # what a run uses here
    busy0, total0 = machine_cpu_seconds()
    with tracker.track(project="busy", store=store_path, interval=0.2) as run:
        deadline = time.perf_counter() + 3.0
        x = 0
        while time.perf_counter() < deadline:
            x += 1
    busy1, total1 = machine_cpu_seconds()
    util = (busy1 - busy0) / (total1 - total0)
    assert util > 0.3  # the loop kept (at least) one of the CPUs busy
    expected_cpu_j = model.power(util) * run.duration_s
    assert run.cpu_energy_kwh * 3.6e6 == pytest.approx(expected_cpu_j, rel=0.10)
    expected_ram_j = RamModel(psutil.virtual_memory().total).watts * run.duration_s
    assert run.ram_energy_kwh * 3.6e6 == pytest.approx(expected_ram_j, rel=0.01)
    # and a run that sleeps draws what the model gives for the machine's utilisation meanwhile (whatever else runs
    # on it: the check holds under a neighbour's load too), so the busy run draws more by what the model says
    busy0, total0 = machine_cpu_seconds()
    with tracker.track(project="idle", store=store_path, interval=0.2) as idle:
        time.sleep(3.0)
    busy1, total1 = machine_cpu_seconds()
    idle_util = (busy1 - busy0) / (total1 - total0)
    assert idle.cpu_energy_kwh * 3.6e6 == pytest.approx(model.power(idle_util) * idle.duration_s, rel=0.10)
    difference = model.power(util) - model.power(idle_util)
    assert run.cpu_power_w - idle.cpu_power_w == pytest.approx(difference, abs=0.1 * model.power(util))
