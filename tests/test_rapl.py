"""RAPL (``/sys/class/powercap``) as a CPU and RAM source, on a fake sysfs tree: zones, wrap, duplicates, faults."""

from __future__ import annotations

import errno
import functools
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import pynvml
import pytest
from fake_nvml import FakeNvml
from fake_powercap import (
    DRAM_RANGE_UJ,
    PACKAGE_RANGE_UJ,
    FakePowercap,
    build_powercap,
    build_vm_exporter_tree,
    deny_energy_reads,
)

import tracker
from tracker.config import resolve
from tracker.errors import ConfigError, MeasurementError
from tracker.measure import hardware
from tracker.measure.hardware import Machine
from tracker.measure.sources import chains, rapl
from tracker.measure.sources.base import Component, Usage
from tracker.measure.sources.chains import build_chains
from tracker.measure.sources.cpu_model import CpuModel, load_fraction
from tracker.measure.sources.nvml import NvmlSource
from tracker.measure.sources.rapl import FAIL_LIMIT, MIRROR_TICKS, RaplSource

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


# -- RAPL as the kernel lays it out (issue 13, point 6) ----------------------------------------------------------


def tick(source: RaplSource, dt: float = 1.0) -> float:
    return source.energy(Usage(dt=dt, cpu_util=0.5))


def notes_of(source: RaplSource) -> list[str]:
    return [text for _, text in source.notes]


def test_zones_are_numbered_in_hex_twelve_sockets_read_as_twelve(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=12, mmio=False)
    assert tree.name("intel-rapl:a") == "package-10" and tree.name("intel-rapl:b:2") == "dram"
    assert tree.name("intel-rapl:c") == "psys"  # the zone after the packages
    cpu = started(Component.CPU, tree.root)
    ram = started(Component.RAM, tree.root)
    assert cpu.devices() == [f"package-{i}" for i in range(12)]  # in the kernel's order, not the text's
    assert ram.devices() == [f"package-{i}/dram" for i in range(12)]

    for i in range(12):
        tree.add(f"intel-rapl:{i:x}", 1_000_000 * (i + 1))
        tree.add(f"intel-rapl:{i:x}:2", 100_000)
    tree.add("intel-rapl:c", 10**9)  # psys: never with the packages

    assert tick(cpu) == pytest.approx(sum(range(1, 13)), rel=1e-12)  # 78 J; packages 10 and 11 included
    assert tick(ram) == pytest.approx(1.2, rel=1e-12)
    assert cpu.notes == [] and ram.notes == []


@pytest.mark.parametrize(
    ("packages", "dies"),
    [(1, 2), (2, 2), (1, 8)],  # Intel's package-0-die-0/-1; two such sockets; AMD's eight per-CCD zones
)
def test_zones_that_mirror_one_socket_counter_are_counted_once_with_a_note(
    tmp_path: Path, packages: int, dies: int
) -> None:
    tree = build_powercap(tmp_path / "sys", packages=packages, dies=dies, mirrored=True, psys=False, mmio=False)
    assert tree.get("intel-rapl:1") == tree.get("intel-rapl:0")
    chains = build_chains(resolve({}), MACHINE, powercap_root=tree.root)
    cpu, ram = chains[Component.CPU], chains[Component.RAM]
    cpu.start()
    ram.start()
    assert len(cpu.active.devices()) == packages * dies  # not known yet: told apart by their readings
    sockets = [f"intel-rapl:{p * dies:x}" for p in range(packages)]

    for n in range(1, MIRROR_TICKS + 2):
        for p, zone in enumerate(sockets):
            tree.add(zone, (p + 1) * 2_000_000 + n)  # every die of the socket shows it
            tree.add(zone + ":2", 300_000)
        # counted once from the first tick on, before the mirrors are confirmed
        assert cpu.energy(USAGE) == pytest.approx(sum((p + 1) * 2 + n / 1e6 for p in range(packages)), rel=1e-9)
        assert ram.energy(USAGE) == pytest.approx(0.3 * packages, rel=1e-9)

    assert cpu.active.devices() == [f"package-{p}-die-0" for p in range(packages)]
    assert cpu.method == "rapl" and ram.method == "rapl-dram"
    mirror_notes = [(when, text) for when, text in cpu.notes if "show one counter" in text]
    assert len(mirror_notes) == packages
    when, text = mirror_notes[0]
    assert when == -math.inf  # a fact about the machine: every run on this meter reports it
    assert "package-0-die-0, package-0-die-1" in text and "counted once" in text
    assert any("package-0-die-0/dram, package-0-die-1/dram" in text for _, text in ram.notes)


def test_dies_with_their_own_counters_are_each_counted_even_when_their_readings_start_equal(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1, dies=2, psys=False, mmio=False, dram=False)
    tree.set("intel-rapl:1", tree.get("intel-rapl:0"))  # equal at the baseline by chance
    cpu = started(Component.CPU, tree.root)
    joules = []
    for step_0, step_1 in [(1_000_000, 1_000_000), (500_000, 500_000), (2_000_000, 3_000_000), (1, 2)]:
        tree.add("intel-rapl:0", step_0)
        tree.add("intel-rapl:1", step_1)
        joules.append(tick(cpu))
    # equal moves keep die 1 held back; the first unequal reading gives its energy back in that tick
    assert joules == pytest.approx([1.0, 0.5, 2.0 + 3.0 + 1.5, 0.000003], rel=1e-9)
    assert cpu.devices() == ["package-0-die-0", "package-0-die-1"]
    assert not any("show one counter" in text for text in notes_of(cpu))


def test_mirror_candidates_are_never_confirmed_by_ticks_in_which_nothing_moved(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1, dies=2, mirrored=True, psys=False, mmio=False)
    cpu = started(Component.CPU, tree.root)
    for _ in range(2 * MIRROR_TICKS):
        assert tick(cpu) == 0.0
    assert len(cpu.devices()) == 2 and notes_of(cpu) == []


def deny_reads_of(monkeypatch: pytest.MonkeyPatch, zone_ids: set[str], error: Callable[[Path], OSError]) -> list[str]:
    """Make reads of those zones' ``energy_uj`` raise ``error``; returns the list of zone ids whose read failed."""
    real = rapl._read_int
    failed: list[str] = []

    def read_int(path: Path) -> int:
        if path.name == "energy_uj" and path.parent.name in zone_ids:
            failed.append(path.parent.name)
            raise error(path)
        return real(path)

    monkeypatch.setattr(rapl, "_read_int", read_int)
    return failed


def test_the_mmio_copy_is_read_when_the_msr_copy_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1)
    deny_reads_of(monkeypatch, {"intel-rapl:0"}, lambda path: PermissionError(13, "Permission denied", str(path)))
    chain = build_chains(resolve({}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    assert chain.method == "rapl"
    assert [zone.path.name for zone in chain.active.zones] == ["intel-rapl-mmio:0"]
    assert chain.active.devices() == ["package-0"]
    [(when, note)] = chain.notes
    assert when == -math.inf and "intel-rapl:0" in note and "read through intel-rapl-mmio:0" in note
    tree.add("intel-rapl:0", 2_000_000)
    tree.add("intel-rapl-mmio:0", 2_000_000)  # one package's joules, seen through both interfaces
    assert chain.energy(USAGE) == pytest.approx(2.0, rel=1e-12)


def test_psys_alone_is_the_hosts_figure_labelled_and_ram_is_inside_it(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=0, psys=True, mmio=False)
    assert tree.name("intel-rapl:0") == "psys"
    chains = build_chains(resolve({}), MACHINE, powercap_root=tree.root)
    cpu, ram = chains[Component.CPU], chains[Component.RAM]
    cpu.start()
    ram.start()
    assert cpu.method == "rapl-psys" and cpu.active.devices() == ["psys"]
    assert ram.method == "in-psys" and "psys" in ram.active.describe()
    assert "whole platform" in cpu.active.describe()
    assert any(when == -math.inf and "only psys" in text for when, text in cpu.notes)
    tree.add("intel-rapl:0", 7_000_000)
    assert cpu.energy(USAGE) == pytest.approx(7.0, rel=1e-12)
    assert ram.energy(USAGE) == 0.0  # counted once, in psys

    # where the CPU is not read from RAPL, psys holds nothing that is counted: RAM goes to its model
    for settings in ({"cpu_watts": 10}, {"cpu_tdp": 95}):
        ram = build_chains(resolve(settings), MACHINE, powercap_root=tree.root)[Component.RAM]
        ram.start()
        assert ram.method == "ram-model"


def test_packages_and_psys_never_add_up(tree: FakePowercap) -> None:
    cpu = started(Component.CPU, tree.root)
    ram = started(Component.RAM, tree.root)
    assert cpu.name == "rapl" and "psys" not in cpu.devices() and ram.name == "rapl-dram"


def test_the_powercap_root_comes_from_the_environment_when_the_sources_are_built(
    tree: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tracker")
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "no-such-powercap")
    monkeypatch.setenv("TRACKER_POWERCAP_ROOT", str(tree.root))  # set after tracker was imported
    config = resolve({})
    assert not caplog.records  # not taken for an unknown setting
    chain = build_chains(config, MACHINE)[Component.CPU]
    chain.start()
    assert chain.method == "rapl" and chain.active.root == tree.root

    monkeypatch.setenv("TRACKER_POWERCAP_ROOT", str(tmp_path / "typo"))
    with pytest.raises(ConfigError) as info:
        build_chains(config, MACHINE)
    assert info.value.key == "TRACKER_POWERCAP_ROOT" and info.value.value == str(tmp_path / "typo")

    monkeypatch.delenv("TRACKER_POWERCAP_ROOT")
    chain = build_chains(config, MACHINE)[Component.CPU]
    chain.start()
    assert chain.method == "tdp-model"  # the default root, read at call time


@pytest.mark.parametrize("where", ["devices", "control type"])
def test_nested_layouts_read_as_the_flat_one(tmp_path: Path, where: str) -> None:
    """/sys/devices/virtual/powercap (control types, zones nested in packages), or one control type's folder."""
    tree = build_powercap(tmp_path / "sys", packages=12)
    assert tree.devices is not None
    root = tree.devices if where == "devices" else tree.devices / "intel-rapl"
    nested = [path.name for path in root.iterdir() if ":" in path.name]
    assert nested == [] if where == "devices" else len(nested) == 13  # top-level zones only, sub-zones inside
    flat_cpu, flat_ram = started(Component.CPU, tree.root), started(Component.RAM, tree.root)
    cpu, ram = started(Component.CPU, root), started(Component.RAM, root)
    assert cpu.devices() == flat_cpu.devices() and len(cpu.devices()) == 12
    assert ram.devices() == flat_ram.devices()
    tree.add("intel-rapl:b", 4_000_000)
    tree.add("intel-rapl:b:2", 500_000)
    assert tick(cpu) == pytest.approx(4.0, rel=1e-12) and tick(ram) == pytest.approx(0.5, rel=1e-12)


def test_a_vm_exporters_tree_without_name_files_is_read(tmp_path: Path) -> None:
    tree = build_vm_exporter_tree(tmp_path)
    chains = build_chains(resolve({}), MACHINE, powercap_root=tree.root)
    cpu, ram = chains[Component.CPU], chains[Component.RAM]
    cpu.start()
    ram.start()
    assert cpu.method == "rapl" and cpu.active.devices() == ["intel-rapl:0"]
    assert any("without a name file" in text for _, text in cpu.notes)
    assert ram.method == "ram-model"  # the empty intel-rapl:0:0 says nothing about memory
    tree.add("intel-rapl:0", 3_500_000)
    assert cpu.energy(USAGE) == pytest.approx(3.5, rel=1e-12)

    tree.write_raw("intel-rapl:0", "")  # read while the exporter rewrites the file
    assert cpu.energy(USAGE) == 0.0 and cpu.method == "rapl"
    tree.write_raw("intel-rapl:0", str(5_000_000 + 3_500_000 + 1_250_000))
    assert cpu.energy(USAGE) == pytest.approx(1.25, rel=1e-12)  # the missed tick's energy, at the next read


def test_readings_above_the_range_are_clamped_never_negative_joules(tmp_path: Path) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1, psys=False, mmio=False)
    top = PACKAGE_RANGE_UJ
    tree.write_raw("intel-rapl:0", f"{top + 5_000_000}\n")  # above max_energy_range_uj from the start
    cpu = started(Component.CPU, tree.root)
    tree.set("intel-rapl:0", 1_000)  # after a wrap
    assert tick(cpu) == pytest.approx(0.001, rel=1e-9)  # from the range's top, not from above it: not negative
    tree.set("intel-rapl:0", top - 1_000)
    assert tick(cpu) == pytest.approx((top - 2_000) / 1e6, rel=1e-12)
    tree.write_raw("intel-rapl:0", f"{top + 10**9}\n")
    assert tick(cpu) == pytest.approx(0.001, rel=1e-9)  # up to the top only
    tree.write_raw("intel-rapl:0", "-5\n")
    assert tick(cpu) == 0.0  # the top wraps to 0: nothing more
    [note] = [text for text in notes_of(cpu) if "clamped" in text]
    assert "2 readings" in note and str(top) in note  # one note, counting (the baseline is clamped silently)


def test_a_tick_long_enough_to_wrap_more_than_once_is_flagged_but_an_idle_gap_is_not(tree: FakePowercap) -> None:
    chain = build_chains(resolve({}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    tree.add("intel-rapl:0", 100_000_000)  # 100 W over a 1 s tick: package-0 wraps every 2,621 s at that power
    assert chain.energy(USAGE) == pytest.approx(100.0)
    assert not [text for _, text in chain.notes if "wrap" in text]

    chain.rebase(Usage(dt=10_000.0, cpu_util=0.5))  # a run attaches to a meter idle for hours: thrown away
    tree.add("intel-rapl:0", 1_000_000)
    assert chain.energy(USAGE) == pytest.approx(1.0)
    assert not [text for _, text in chain.notes if "wrap" in text]

    tree.add("intel-rapl:0", 50_000_000)  # what is left after turns that cannot be seen
    assert chain.energy(Usage(dt=3_000.0, cpu_util=0.5)) == pytest.approx(50.0)
    [(when, note)] = [(when, text) for when, text in chain.notes if "wrap" in text]
    assert when > -math.inf and "package-0" in note and "more than once" in note and "lower bound" in note
    assert "3000 s" in note and "2621 s" in note
    assert chain.method == "rapl"


def test_one_failed_read_keeps_the_source_and_its_energy_comes_at_the_next_read(
    tree: FakePowercap, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = build_chains(resolve({}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    failed = deny_reads_of(monkeypatch, {"intel-rapl:1"}, lambda path: OSError(errno.EIO, "Input/output error"))
    tree.add("intel-rapl:0", 1_000_000)
    tree.add("intel-rapl:1", 2_000_000)
    assert chain.energy(USAGE) == pytest.approx(1.0)  # package-1 missed this tick
    assert failed == ["intel-rapl:1"] and chain.method == "rapl"
    monkeypatch.undo()
    tree.add("intel-rapl:1", 500_000)
    assert chain.energy(USAGE) == pytest.approx(2.5)  # and counted its energy at the next read
    [(when, note)] = chain.notes
    assert when > -math.inf and note.startswith("cpu: 1 RAPL read failed") and "Input/output error" in note
    assert "source was kept" in note

    deny_reads_of(monkeypatch, {"intel-rapl:0", "intel-rapl:1"}, lambda path: OSError(errno.EIO, "I/O"))
    chain.energy(USAGE)
    [(_, note)] = chain.notes  # one note, updated: no list that grows with every fault
    assert note.startswith("cpu: 3 RAPL reads failed")


def test_a_source_that_keeps_failing_hands_over_after_fail_limit_ticks(
    tree: FakePowercap, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = build_chains(resolve({}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    deny_reads_of(monkeypatch, {"intel-rapl:1"}, lambda path: OSError(errno.EIO, "Input/output error"))
    for _ in range(FAIL_LIMIT - 1):
        tree.add("intel-rapl:0", 1_000_000)
        assert chain.energy(USAGE) == pytest.approx(1.0) and chain.method == "rapl"
    assert chain.energy(USAGE) == pytest.approx(model_joules())
    assert chain.method == "rapl>tdp-model"
    assert any(f"failed {FAIL_LIMIT} ticks in a row" in text and "package-1" in text for _, text in chain.notes)


def test_an_end_to_end_run_counts_mirrored_dies_once_from_the_environments_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = build_powercap(tmp_path / "sys", packages=1, dies=2, mirrored=True, psys=False, mmio=False)
    monkeypatch.setenv("TRACKER_POWERCAP_ROOT", str(tree.root))
    monkeypatch.setattr(rapl, "DEFAULT_ROOT", tmp_path / "no-such-powercap")
    no_driver = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    monkeypatch.setattr(chains, "_nvml_source", lambda: NvmlSource(nvml=no_driver, environ={}))

    with tracker.track(project="p", store=str(tmp_path / "r.db"), interval=0.02) as run:
        meter = run.meter

        def last_tick() -> float:
            with meter.lock:
                return meter.timeline.t[-1]

        wait_for(lambda: last_tick() > run.t0)
        for _ in range(MIRROR_TICKS + 1):
            tree.add("intel-rapl:0", 1_000_000)  # both dies show it
            written = time.perf_counter()
            wait_for(lambda: last_tick() > written)  # noqa: B023 - waited for here, in this iteration

    assert run.cpu_method == "rapl"
    assert run.cpu_energy_kwh * 3.6e6 == pytest.approx(MIRROR_TICKS + 1, rel=1e-9)
    assert any("package-0-die-0, package-0-die-1 show one counter" in note for note in run.notes)


def test_copies_of_one_counter_read_a_counter_update_apart_are_still_one(tmp_path: Path) -> None:
    """Two files of one counter are read microseconds apart: the counter may update (~1 ms) in between."""
    tree = build_powercap(tmp_path / "sys", packages=1, dies=2, mirrored=True, psys=False, mmio=False, dram=False)
    cpu = started(Component.CPU, tree.root)
    assert "package-0-die-0 = package-0-die-1 read alike" in cpu.describe()
    total = 0.0
    for n in range(MIRROR_TICKS):
        tree.add("intel-rapl:0", 100_000_000)  # 100 W for 1 s
        if n == 1:  # die 1 read one update (1 ms at 100 W) later than die 0
            tree.write_raw("intel-rapl:1", f"{tree.get('intel-rapl:0') + 100_000}\n")
        total += tick(cpu)
    assert total == pytest.approx(300.0, rel=1e-9)  # the socket's joules once, read through die 0
    assert cpu.devices() == ["package-0-die-0"]
    assert "read alike" not in cpu.describe()


def test_a_counter_unreadable_when_an_idle_meter_is_rebased_takes_its_baseline_at_the_next_read(
    tree: FakePowercap, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = build_chains(resolve({}), MACHINE, powercap_root=tree.root)[Component.CPU]
    chain.start()
    tree.add("intel-rapl:1", 50_000_000)  # used while no run was attached: thrown away
    deny_reads_of(monkeypatch, {"intel-rapl:1"}, lambda path: OSError(errno.EIO, "Input/output error"))
    chain.rebase(USAGE)
    monkeypatch.undo()
    tree.add("intel-rapl:0", 1_000_000)
    tree.add("intel-rapl:1", 2_000_000)
    assert chain.energy(USAGE) == pytest.approx(1.0)  # package-1's reading is its new baseline, not 52 J
    tree.add("intel-rapl:1", 2_000_000)
    assert chain.energy(USAGE) == pytest.approx(2.0)
    assert chain.method == "rapl"


def test_a_short_tick_does_not_make_a_peak_that_flags_every_long_interval(tree: FakePowercap) -> None:
    """A run's last reading may come microseconds after a tick: one counter step then looks like kilowatts."""
    cpu = started(Component.CPU, tree.root)
    tree.add("intel-rapl:0", 100_000)  # one ~1 ms update at 100 W, read 10 us after the last reading: "10 kW"
    tick(cpu, dt=0.000_01)
    tree.add("intel-rapl:0", 100_000_000)  # 100 W over a 1 s tick
    tick(cpu, dt=1.0)
    tree.add("intel-rapl:0", 6_000_000_000)  # 100 W over a 60 s tick (interval=60): far from a wrap (2,621 s)
    assert tick(cpu, dt=60.0) == pytest.approx(6_000.0)
    assert not [text for text in notes_of(cpu) if "wrap" in text]


def test_an_amd_epyc_tree_reads_its_packages_and_leaves_ram_to_the_model(tmp_path: Path) -> None:
    """AMD Zen (family 17h/19h/1Ah) RAPL: the kernel's intel_rapl_msr driver registers the same ``intel-rapl``
    control type for AMD, with a package zone per socket and a ``core`` sub-zone, and no DRAM, uncore or psys zone
    (AMD's MSRs have none); the counter is 32 bits of 15.3 uJ units."""
    amd_range = 65_535_999_984
    devices = tmp_path / "devices" / "virtual" / "powercap" / "intel-rapl"
    root = tmp_path / "class" / "powercap"
    root.mkdir(parents=True)
    devices.mkdir(parents=True)
    (root / "intel-rapl").symlink_to(devices, target_is_directory=True)
    for socket in range(2):
        package = devices / f"intel-rapl:{socket}"
        for folder, name in ((package, f"package-{socket}"), (package / f"intel-rapl:{socket}:0", "core")):
            folder.mkdir(parents=True)
            (folder / "name").write_text(f"{name}\n")
            (folder / "energy_uj").write_text(f"{40_000_000 if socket == 0 else amd_range - 3_000_000}\n")
            (folder / "max_energy_range_uj").write_text(f"{amd_range}\n")
            (root / folder.name).symlink_to(folder, target_is_directory=True)
    cpu = started(Component.CPU, root)
    assert cpu.devices() == ["package-0", "package-1"]  # the core zones are inside their package
    (devices / "intel-rapl:0" / "energy_uj").write_text(f"{40_000_000 + 95_000_000}\n")
    (devices / "intel-rapl:1" / "energy_uj").write_text(f"{amd_range - 2_000_000}\n")
    assert cpu.energy(USAGE) == pytest.approx(95.0 + 1.0)
    (devices / "intel-rapl:1" / "energy_uj").write_text("4000000\n")  # wrapped at the AMD range
    assert cpu.energy(USAGE) == pytest.approx(6.0)
    chains_ = build_chains(resolve({}), MACHINE, powercap_root=root)
    for chain in chains_.values():
        chain.start()
    assert chains_[Component.CPU].method == "rapl"
    assert chains_[Component.RAM].method == "ram-model"
    for chain in chains_.values():
        chain.close()
