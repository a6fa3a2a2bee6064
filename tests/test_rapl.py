"""RAPL (``/sys/class/powercap``) as a CPU and RAM source, on a fake sysfs tree: zones, wrap, duplicates, faults."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import pynvml
import pytest
from fake_nvml import FakeNvml
from fake_powercap import DRAM_RANGE_UJ, PACKAGE_RANGE_UJ, FakePowercap, build_powercap

import tracker
from tracker.config import resolve
from tracker.errors import MeasurementError
from tracker.measure import hardware
from tracker.measure.hardware import Machine
from tracker.measure.sources import chains, rapl
from tracker.measure.sources.base import Component, Usage
from tracker.measure.sources.chains import build_chains
from tracker.measure.sources.cpu_model import CpuModel, load_fraction
from tracker.measure.sources.nvml import NvmlSource
from tracker.measure.sources.rapl import RaplSource

USAGE = Usage(dt=1.0, cpu_util=0.5)
#: Two sockets of a CPU that is in the embedded TDP table (so no "unknown CPU" warning from the model).
MACHINE = Machine(
    host="node-1",
    cpu_brand="Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
    sockets=2,
    physical_cores=40,
    logical_cpus=80,
    memory_bytes=64 * 2**30,
    virtualised=False,
)


def model_joules() -> float:
    """What the TDP model gives for one tick of ``USAGE`` on ``MACHINE``."""
    joules = CpuModel(MACHINE).energy(USAGE)
    assert joules > 0
    return joules


#: every zone that must never be counted as package energy
NOT_PACKAGES = ("intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:1:0", "intel-rapl:1:1", "intel-rapl:2")


@pytest.fixture
def tree(tmp_path: Path) -> FakePowercap:
    return build_powercap(tmp_path / "sys")


def started(component: Component, root: Path) -> RaplSource:
    source = RaplSource(component, root)
    source.start()
    return source


def deny_energy_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a non-root user gets since CVE-2020-8694 (root reads through chmod, so the read is patched)."""
    real = rapl._read_int

    def read_int(path: Path) -> int:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(rapl, "_read_int", read_int)


def test_fake_tree_has_the_kernel_layout(tree: FakePowercap) -> None:
    entries = sorted(p.name for p in tree.root.iterdir())
    assert "intel-rapl" in entries and "intel-rapl-mmio" in entries  # control types, no "name" file
    assert [tree.name(z) for z in ("intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2")] == [
        "package-0",
        "core",
        "uncore",
        "dram",
    ]
    assert tree.name("intel-rapl:2") == "psys"
    assert tree.name("intel-rapl-mmio:0") == "package-0"
    assert (tree.root / "intel-rapl:0:2").resolve() == (tree.root / "intel-rapl:0" / "intel-rapl:0:2").resolve()
    assert tree.add("intel-rapl:0:2", DRAM_RANGE_UJ) == tree.get("intel-rapl:0:2")  # a full turn: same value


def test_cpu_is_both_packages_and_ram_both_dram_zones(tree: FakePowercap) -> None:
    cpu = started(Component.CPU, tree.root)
    ram = started(Component.RAM, tree.root)
    assert (cpu.name, ram.name) == ("rapl", "rapl-dram")
    assert cpu.devices() == ["package-0", "package-1"]
    assert ram.devices() == ["package-0/dram", "package-1/dram"]

    tree.add("intel-rapl:0", 3_000_000)
    tree.add("intel-rapl:1", 1_500_000)
    tree.add("intel-rapl:0:2", 400_000)
    tree.add("intel-rapl:1:2", 250_000)
    for zone in (*NOT_PACKAGES, "intel-rapl-mmio:0"):  # platform, sub-zones and the MMIO view move too
        tree.add(zone, 7_777_777)

    assert cpu.energy(USAGE) == pytest.approx(4.5, rel=1e-12)
    assert ram.energy(USAGE) == pytest.approx(0.65, rel=1e-12)
    assert cpu.energy(USAGE) == 0.0  # deltas, not totals
    assert ram.energy(USAGE) == 0.0


def test_counter_wrap_between_two_reads(tree: FakePowercap) -> None:
    tree.set("intel-rapl:0", PACKAGE_RANGE_UJ - 250_000)
    tree.set("intel-rapl:1:2", DRAM_RANGE_UJ - 100)  # each zone wraps at its own range
    cpu = started(Component.CPU, tree.root)
    ram = started(Component.RAM, tree.root)

    tree.set("intel-rapl:0", 125_000)
    tree.set("intel-rapl:1:2", 50)

    assert cpu.energy(USAGE) == pytest.approx((250_000 + 125_000) / 1e6, rel=1e-12)
    assert ram.energy(USAGE) == pytest.approx((100 + 50) / 1e6, rel=1e-12)
    tree.add("intel-rapl:0", 1_000)
    assert cpu.energy(USAGE) == pytest.approx(0.001, rel=1e-12)  # and counting goes on from the new value


def test_msr_and_mmio_views_of_a_package_are_read_once_msr_first(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1)
    cpu = started(Component.CPU, tree.root)
    assert cpu.devices() == ["package-0"]
    assert [zone.path.name for zone in cpu.zones] == ["intel-rapl:0"]

    tree.add("intel-rapl:0", 2_000_000)
    tree.add("intel-rapl-mmio:0", 2_000_000)  # the same joules seen through the other interface

    assert cpu.energy(USAGE) == pytest.approx(2.0, rel=1e-12)


def test_mmio_package_alone_is_used(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1, psys=False)
    for zone in ("intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2"):
        (tree.root / zone).unlink()  # a kernel with only the MMIO interface (intel_rapl_msr not loaded)
    cpu = started(Component.CPU, tree.root)
    assert [zone.path.name for zone in cpu.zones] == ["intel-rapl-mmio:0"]
    tree.add("intel-rapl-mmio:0", 1_250_000)
    assert cpu.energy(USAGE) == pytest.approx(1.25, rel=1e-12)


def test_a_package_name_repeated_per_die_is_counted_once(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", package_names=["package-0", "package-0"], mmio=False)
    cpu = started(Component.CPU, tree.root)
    ram = started(Component.RAM, tree.root)
    assert cpu.devices() == ["package-0"]
    assert ram.devices() == ["package-0/dram"]

    for zone in ("intel-rapl:0", "intel-rapl:1"):
        tree.add(zone, 2_000_000)
    for zone in ("intel-rapl:0:2", "intel-rapl:1:2"):
        tree.add(zone, 300_000)

    assert cpu.energy(USAGE) == pytest.approx(2.0, rel=1e-12)
    assert ram.energy(USAGE) == pytest.approx(0.3, rel=1e-12)


def test_unreadable_counters_fail_at_start_with_the_fix(tree: FakePowercap, monkeypatch: pytest.MonkeyPatch) -> None:
    deny_energy_reads(monkeypatch)
    for component in (Component.CPU, Component.RAM):
        with pytest.raises(MeasurementError) as info:
            RaplSource(component, tree.root).start()
        message = str(info.value)
        assert "chmod" in message and "CVE-2020-8694" in message
        assert str(tree.root) in message


def test_unreadable_counters_fall_back_to_the_models_with_a_note_and_a_warning(
    tree: FakePowercap, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    deny_energy_reads(monkeypatch)
    caplog.set_level(logging.DEBUG, logger="tracker")
    chains = build_chains(resolve({}), MACHINE, powercap_root=tree.root)
    cpu, ram = chains[Component.CPU], chains[Component.RAM]
    cpu.start()
    ram.start()

    assert cpu.active.name == "tdp-model" and cpu.method == "tdp-model"
    assert ram.active.name == "ram-model" and ram.method == "ram-model"
    assert cpu.energy(USAGE) == pytest.approx(model_joules())
    [(when, note)] = cpu.notes
    assert when == -math.inf  # a detection note: every run on this meter reports it
    assert "chmod" in note and "CVE-2020-8694" in note and note.startswith("cpu: rapl unavailable")
    assert any("chmod" in text for _, text in ram.notes)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(text.startswith("cpu: rapl unavailable") and "CVE-2020-8694" in text for text in warnings)


def test_counter_unreadable_mid_run_moves_to_the_model(tree: FakePowercap, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = build_chains(resolve({}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    assert chain.method == "rapl"
    tree.add("intel-rapl:0", 1_000_000)
    assert chain.energy(USAGE) == pytest.approx(1.0, rel=1e-12)

    deny_energy_reads(monkeypatch)
    joules = chain.energy(USAGE)

    assert joules == pytest.approx(model_joules())
    assert chain.active.name == "tdp-model"
    assert chain.method == "rapl>tdp-model"
    [(when, note)] = chain.notes
    assert when > -math.inf  # made during the run, reported by the runs that saw it
    assert "rapl failed during the run" in note and "chmod" in note
    assert chain.energy(USAGE) == pytest.approx(model_joules())  # stays on the model, no new note
    assert len(chain.notes) == 1


@pytest.mark.parametrize("damage", ["removed", "garbage"])
def test_a_counter_that_breaks_raises_measurement_error(tree: FakePowercap, damage: str) -> None:
    cpu = started(Component.CPU, tree.root)
    counter = tree.path("intel-rapl:1") / "energy_uj"
    if damage == "removed":
        counter.unlink()  # the driver was unloaded
    else:
        counter.write_text("not a number\n")
    with pytest.raises(MeasurementError, match="RAPL read failed"):
        cpu.energy(USAGE)


def test_no_powercap_at_all_fails_at_start(tmp_path: Path) -> None:
    for component in (Component.CPU, Component.RAM):
        with pytest.raises(MeasurementError, match=f"no RAPL {component.value} zones"):
            RaplSource(component, tmp_path / "no-such-dir").start()


def test_packages_without_dram_zones_leave_ram_to_the_model(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", dram=False)
    assert started(Component.CPU, tree.root).devices() == ["package-0", "package-1"]
    with pytest.raises(MeasurementError, match="no RAPL ram zones"):
        RaplSource(Component.RAM, tree.root).start()
    chain = build_chains(resolve({}), MACHINE, powercap_root=tree.root)[Component.RAM]
    chain.start()
    assert chain.method == "ram-model"
    assert chain.notes == []  # absent hardware is not a fault worth a note


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the sampler did not tick"
        time.sleep(0.002)


def test_end_to_end_run_reports_exactly_the_rapl_joules(
    tree: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tree.root)
    # no GPU, whatever machine runs the tests
    no_driver = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    monkeypatch.setattr(chains, "_nvml_source", lambda: NvmlSource(nvml=no_driver, environ={}))
    package_uj = {"intel-rapl:0": 3_000_000, "intel-rapl:1": 1_500_000}
    dram_uj = {"intel-rapl:0:2": 400_000, "intel-rapl:1:2": 250_000}

    with tracker.track(project="p", store=str(tmp_path / "r.db"), interval=0.05) as run:
        meter = run.meter

        def last_tick() -> float:
            with meter.lock:
                return meter.timeline.t[-1]

        # The timeline is interpolated inside a tick, so the joules must fall in a tick that lies wholly inside
        # the run: after a sample taken after the start, and seen by a sample taken before the end.
        wait_for(lambda: last_tick() > run.t0)
        for zone, uj in {**package_uj, **dram_uj}.items():
            tree.add(zone, uj)
        tree.add("intel-rapl:2", 99_000_000)  # psys: never counted
        written = time.perf_counter()
        wait_for(lambda: last_tick() > written)  # that sample read the clock, then the new counters

    assert run.status == "completed"
    assert run.cpu_method == "rapl"
    assert run.ram_method == "rapl-dram"
    assert run.gpu_method == "none"
    assert run.cpu_energy_kwh == pytest.approx(sum(package_uj.values()) / 1e6 / 3.6e6, rel=1e-12)
    assert run.ram_energy_kwh == pytest.approx(sum(dram_uj.values()) / 1e6 / 3.6e6, rel=1e-12)
    assert run.gpu_energy_kwh == 0.0
    assert not [note for note in run.notes if "rapl" in note]
    stored = tracker.load_runs(str(tmp_path / "r.db")).iloc[0]
    assert stored["cpu_method"] == "rapl"
    assert stored["cpu_energy_kwh"] == pytest.approx(run.cpu_energy_kwh, rel=1e-12)


# -- a configured TDP (cpu_tdp) ----------------------------------------------------------------------------------


def test_a_configured_tdp_replaces_rapl_and_the_tables_tdp(tree: FakePowercap) -> None:
    """cpu_tdp: the TDP model with that TDP per socket, even where RAPL could measure; a note says so."""
    chain = build_chains(resolve({"cpu_tdp": 95}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    assert chain.method == "tdp-model" and chain.used == ["tdp-model"]  # RAPL was never tried
    assert isinstance(chain.active, CpuModel) and chain.active.tdp_total == 2 * 95.0  # the table says 150 W
    assert chain.energy(USAGE) == pytest.approx(2 * 95.0 * load_fraction(USAGE.cpu_util) * USAGE.dt)
    [(when, note)] = chain.notes
    assert when == -math.inf and "95 W per socket from configuration (cpu_tdp)" in note


def test_a_constant_cpu_power_wins_over_a_configured_tdp(tree: FakePowercap) -> None:
    chain = build_chains(resolve({"cpu_tdp": 95, "cpu_watts": 10}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    assert chain.method == "constant" and chain.energy(USAGE) == 10.0
    assert chain.notes == []


def test_runs_with_another_tdp_do_not_share_a_meter() -> None:
    assert resolve({"cpu_tdp": 95}).measurement_key() != resolve({"cpu_tdp": 65}).measurement_key()
    assert resolve({"cpu_tdp": 95}).measurement_key() != resolve({}).measurement_key()


def test_a_run_with_a_configured_tdp_is_modelled_with_it(
    tree: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tree.root)
    monkeypatch.setattr(hardware, "detect", functools.lru_cache(maxsize=None)(lambda: MACHINE))  # as the real one
    no_driver = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    monkeypatch.setattr(chains, "_nvml_source", lambda: NvmlSource(nvml=no_driver, environ={}))
    with tracker.track(project="p", store=str(tmp_path / "r.db"), interval=0.05, cpu_tdp=95) as run:
        model = run.meter.chains[Component.CPU].active
        tree.add("intel-rapl:0", 10**12)  # RAPL's joules: not counted
    assert isinstance(model, CpuModel) and model.tdp_total == 190.0
    assert run.cpu_method == "tdp-model"
    assert any("TDP 95 W per socket from configuration" in note for note in run.notes)
    joules = run.cpu_energy_kwh * 3.6e6
    assert 0 < joules <= 190.0 * 1.02 * run.duration_s * 1.01  # at most the TDP's curve at full load
