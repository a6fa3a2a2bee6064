"""AMD GPUs through the amdgpu driver's hwmon files, on a fake sysfs that follows the kernel's layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_amdgpu import FakeDrm
from fake_nvml import FakeNvml

from tracker.config import resolve
from tracker.errors import MeasurementError
from tracker.measure.hardware import Machine
from tracker.measure.sources import amdgpu
from tracker.measure.sources.amdgpu import AmdGpuSource, visible_selection
from tracker.measure.sources.base import Component, Usage
from tracker.measure.sources.chains import build_chains
from tracker.measure.sources.nvml import NvmlSource

MACHINE = Machine("node-1", "AMD EPYC 7763 64-Core Processor", 2, 128, 256, 512 * 2**30, False)


def tick(dt: float = 1.0) -> Usage:
    return Usage(dt=dt, cpu_util=0.5)


@pytest.fixture
def drm(tmp_path: Path) -> FakeDrm:
    return FakeDrm(tmp_path)


def started(drm: FakeDrm, environ: dict[str, str] | None = None) -> AmdGpuSource:
    source = AmdGpuSource(drm.root, {} if environ is None else environ)
    source.start()
    return source


def test_cards_are_found_in_pci_order_skipping_connectors_and_other_drivers(drm: FakeDrm) -> None:
    drm.add(0, "0000:c3:00.0", product="AMD Instinct MI250X")
    drm.add(1, "0000:03:00.0", product="AMD Instinct MI210")
    drm.add(2, "0000:00:02.0", driver="i915", files={"energy1_input": 5})  # an Intel iGPU: not ours
    (drm.root / "renderD128").mkdir()
    source = started(drm)
    assert source.devices() == ["AMD Instinct MI210", "AMD Instinct MI250X"]  # 03:00.0 before c3:00.0
    assert [c.index for c in source.cards] == [0, 1]
    assert "power1_average" in source.describe()


def test_the_energy_counter_is_preferred_and_read_in_microjoules(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", files={"energy1_input": 10_000_000, "power1_average": 300_000_000})
    source = started(drm)
    assert source.name == "amdgpu-energy"
    drm.set(0, "energy1_input", 10_000_000 + 250_500_000)
    assert source.energy(tick()) == pytest.approx(250.5)
    drm.set(0, "energy1_input", 1_000)  # the driver reloaded: the counter restarted
    assert source.energy(tick()) == 0.0
    drm.set(0, "energy1_input", 101_000)
    assert source.energy(tick()) == pytest.approx(0.1)


def test_average_power_is_integrated_by_trapezoids_in_microwatts(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", files={"power1_average": 100_000_000})
    source = started(drm)
    assert source.name == "amdgpu-power"
    drm.set(0, "power1_average", 300_000_000)
    assert source.energy(tick(2.0)) == pytest.approx((100 + 300) / 2 * 2.0)


def test_power1_input_is_read_where_there_is_no_average(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", files={"power1_input": 50_000_000})  # newer SMUs (MI300, RDNA3) name it so
    source = started(drm)
    assert "power1_input" in source.describe()
    assert source.energy(tick()) == pytest.approx(50.0)


def test_an_absurd_power_is_rejected_with_a_note_and_never_integrated(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", files={"power1_average": 200_000_000})
    source = started(drm)
    drm.set(0, "power1_average", 12_500_000_000_000)  # 12.5 MW, as CodeCarbon once reported
    assert source.energy(tick()) == pytest.approx(200.0)  # the last good power stands in
    drm.set(0, "power1_average", 12_500_000_000_000)
    assert source.energy(tick()) == pytest.approx(200.0)
    [(_, note)] = source.notes  # one note, its count updated
    assert "2 reading(s) above 3000 W rejected" in note and "1.25e+07 W" in note
    drm.set(0, "power1_average", 100_000_000)
    assert source.energy(tick()) == pytest.approx(150.0)


def test_an_absurd_energy_step_is_rejected_and_the_counter_moves_on(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", files={"energy1_input": 0})
    source = started(drm)
    drm.set(0, "energy1_input", 12_500_000 * 1_000_000)  # 12.5 MJ in one second
    assert source.energy(tick()) == 0.0
    assert "rejected" in source.notes[0][1]
    drm.set(0, "energy1_input", 12_500_000 * 1_000_000 + 400_000_000)
    assert source.energy(tick()) == pytest.approx(400.0)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"ROCR_VISIBLE_DEVICES": "1"}, ["1"]),
        ({"ROCR_VISIBLE_DEVICES": "0,x,1"}, ["0"]),
        ({"HIP_VISIBLE_DEVICES": "1,0"}, ["1", "0"]),
        ({"ROCR_VISIBLE_DEVICES": "1,2", "HIP_VISIBLE_DEVICES": "1"}, ["2"]),  # HIP indexes ROCr's choice
        ({"ROCR_VISIBLE_DEVICES": "1", "HIP_VISIBLE_DEVICES": "1"}, []),
        ({"ROCR_VISIBLE_DEVICES": "-1"}, []),
    ],
)
def test_visible_devices_parse_like_rocm(environ: dict[str, str], expected: list[str] | None) -> None:
    assert visible_selection(environ) == expected


def test_visible_devices_select_by_index_or_uuid(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", product="first", unique_id="1a2b3c4d5e6f7081")
    drm.add(1, "0000:83:00.0", product="second", unique_id="99887766554433aa")
    assert started(drm, {"ROCR_VISIBLE_DEVICES": "1"}).devices() == ["second"]
    assert started(drm, {"ROCR_VISIBLE_DEVICES": "GPU-1a2b"}).devices() == ["first"]
    assert started(drm, {"HIP_VISIBLE_DEVICES": "1,0"}).devices() == ["second", "first"]
    with pytest.raises(MeasurementError, match="no visible AMD GPU"):
        started(drm, {"ROCR_VISIBLE_DEVICES": "7"})


def test_missing_or_unreadable_files_fail_at_start(drm: FakeDrm, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MeasurementError, match="no amdgpu hwmon"):
        started(drm)
    drm.add(0, "0000:03:00.0", files={})  # a hwmon folder without power files (an old kernel)
    with pytest.raises(MeasurementError, match="none of energy1_input, power1_average, power1_input"):
        started(drm)
    drm.set(0, "power1_average", 90_000_000)
    real = amdgpu._read

    def denied(path: Path) -> int:
        if path.name == "power1_average":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(amdgpu, "_read", denied)
    with pytest.raises(MeasurementError, match="none of"):
        started(drm)


def test_the_gpu_chain_falls_back_from_nvml_to_amdgpu_and_on_to_none(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", files={"power1_average": 100_000_000})
    no_driver = FakeNvml(init_error=12)  # NVML_ERROR_LIBRARY_NOT_FOUND
    chains = build_chains(
        resolve({}), MACHINE, nvml_factory=lambda: NvmlSource(nvml=no_driver, environ={}), drm_root=drm.root
    )
    chain = chains[Component.GPU]
    chain.start()
    assert chain.method == "amdgpu-power"
    assert chain.energy(tick()) == pytest.approx(100.0)
    (drm.monitors[0] / "power1_average").unlink()  # the device went away
    assert chain.energy(tick()) == 0.0
    assert chain.method == "amdgpu-power>none"
    assert any("amdgpu-power failed during the run" in text for _, text in chain.notes)


def test_rejected_readings_reach_the_chains_notes(drm: FakeDrm) -> None:
    drm.add(0, "0000:03:00.0", files={"power1_input": 100_000_000})
    chains = build_chains(
        resolve({}), MACHINE, nvml_factory=lambda: NvmlSource(nvml=FakeNvml(init_error=12)), drm_root=drm.root
    )
    chain = chains[Component.GPU]
    chain.start()
    drm.set(0, "power1_input", 5_000_000_000)  # 5 kW
    chain.energy(tick())
    assert any("rejected" in text for _, text in chain.notes)
