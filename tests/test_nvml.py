"""NVML as the GPU source, against a fake pynvml that raises the real NVMLError classes."""

from __future__ import annotations

import pynvml
import pytest
from fake_nvml import FakeGpu, FakeNvml

from tracker.config import resolve
from tracker.errors import MeasurementError
from tracker.measure.hardware import Machine
from tracker.measure.sources.base import Component, ConstantPower, NullSource, Usage
from tracker.measure.sources.chains import SourceChain, build_chains
from tracker.measure.sources.nvml import NvmlSource, visible_selection

USAGE = Usage(dt=1.0, cpu_util=0.5)
MACHINE = Machine("node-1", "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 2, 40, 80, 64 * 2**30, False)
UUIDS = ["GPU-1b2c3d4e-0000-1111-2222-333344445555", "GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff"]


def two_gpus(**overrides: object) -> FakeNvml:
    gpus = [
        FakeGpu(name="NVIDIA A100-SXM4-40GB", uuid=UUIDS[0], energy_mj=5_000_000, power_mw=90_000),
        FakeGpu(name="NVIDIA H100 80GB HBM3", uuid=UUIDS[1], energy_mj=7_000_000, power_mw=120_000),
    ]
    for gpu in gpus:
        for key, value in overrides.items():
            setattr(gpu, key, value)
    return FakeNvml(gpus)


def started(fake: FakeNvml, environ: dict[str, str] | None = None) -> NvmlSource:
    source = NvmlSource(nvml=fake, environ={} if environ is None else environ)
    source.start()
    return source


# -- the fake is faithful ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (pynvml.NVML_ERROR_NOT_SUPPORTED, pynvml.NVMLError_NotSupported),
        (pynvml.NVML_ERROR_NO_PERMISSION, pynvml.NVMLError_NoPermission),
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVMLError_LibraryNotFound),
        (pynvml.NVML_ERROR_GPU_IS_LOST, pynvml.NVMLError_GpuIsLost),
    ],
)
def test_fake_raises_the_real_nvml_error_classes(code: int, cls: type) -> None:
    fake = FakeNvml([FakeGpu(energy_error=code, power_error=code)], init_error=code)
    with pytest.raises(cls) as info:
        fake.nvmlInit()
    assert isinstance(info.value, pynvml.NVMLError) and info.value.value == code
    fake.init_error = None
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(cls):
        fake.nvmlDeviceGetTotalEnergyConsumption(handle)


def test_fake_refuses_device_calls_before_init_like_nvml() -> None:
    fake = two_gpus()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetHandleByIndex(2)
    assert fake.add_energy(0, 2**64 - 5_000_000) == 0  # an unsigned 64-bit counter
    fake.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()


# -- reading ----------------------------------------------------------------------------------------------------
def test_energy_counter_is_preferred_and_read_in_millijoules() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=1_000_000)])
    source = started(fake)
    assert source.name == "nvml-energy"
    assert source.devices() == ["NVIDIA A100-SXM4-40GB"]

    fake.add_energy(0, 12_345)
    assert source.energy(USAGE) == pytest.approx(12.345, rel=1e-12)
    assert source.energy(USAGE) == 0.0
    assert fake.called("nvmlDeviceGetPowerUsage") == []  # no sensor reads when the counter works


def test_unsupported_counter_integrates_power_by_trapezoid() -> None:
    fake = FakeNvml([FakeGpu(power_mw=100_000, energy_error=pynvml.NVML_ERROR_NOT_SUPPORTED)])
    source = started(fake)
    assert source.name == "nvml-power"
    assert "via power" in source.describe()

    fake.set_power(0, 200_000)
    assert source.energy(Usage(dt=2.0, cpu_util=0.5)) == pytest.approx((100 + 200) / 2 * 2.0)
    fake.set_power(0, 50_000)
    assert source.energy(Usage(dt=0.5, cpu_util=0.5)) == pytest.approx((200 + 50) / 2 * 0.5)


def test_counter_without_permission_falls_back_to_power() -> None:
    fake = FakeNvml([FakeGpu(power_mw=80_000, energy_error=pynvml.NVML_ERROR_NO_PERMISSION)])
    source = started(fake)
    assert source.name == "nvml-power"
    assert source.energy(USAGE) == pytest.approx(80.0)


def test_neither_counter_nor_power_fails_at_start() -> None:
    code = pynvml.NVML_ERROR_NOT_SUPPORTED
    fake = FakeNvml([FakeGpu(energy_error=code, power_error=code)])
    with pytest.raises(MeasurementError, match="neither energy nor power"):
        started(fake)


def test_two_gpus_are_summed_each_by_its_best_call() -> None:
    fake = two_gpus()
    fake.gpus[1].energy_error = pynvml.NVML_ERROR_NOT_SUPPORTED  # an older card: power only
    source = started(fake)
    assert source.name == "nvml-energy+nvml-power"
    assert source.devices() == ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"]

    fake.add_energy(0, 2_500)
    fake.set_power(1, 140_000)
    assert source.energy(USAGE) == pytest.approx(2.5 + (120 + 140) / 2)


def test_two_counters_are_summed() -> None:
    fake = two_gpus()
    source = started(fake)
    fake.add_energy(0, 1_000)
    fake.add_energy(1, 2_500)
    assert source.energy(USAGE) == pytest.approx(3.5, rel=1e-12)


# -- CUDA_VISIBLE_DEVICES ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("visible", "names"),
    [
        ("1", ["NVIDIA H100 80GB HBM3"]),
        ("1,0", ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB"]),
        ("GPU-9f8e", ["NVIDIA H100 80GB HBM3"]),  # a unique UUID prefix, as CUDA accepts
        (UUIDS[0], ["NVIDIA A100-SXM4-40GB"]),
        ("0,-1,1", ["NVIDIA A100-SXM4-40GB"]),  # CUDA stops at the first invalid entry
        ("0,7,1", ["NVIDIA A100-SXM4-40GB"]),  # ... or at one that names no device
    ],
)
def test_visible_devices_select_the_metered_gpus(visible: str, names: list[str]) -> None:
    fake = two_gpus()
    source = started(fake, {"CUDA_VISIBLE_DEVICES": visible})
    assert source.devices() == names

    fake.add_energy(0, 1_000)
    fake.add_energy(1, 10_000)
    expected = {"NVIDIA A100-SXM4-40GB": 1.0, "NVIDIA H100 80GB HBM3": 10.0}
    assert source.energy(USAGE) == pytest.approx(sum(expected[name] for name in names), rel=1e-12)


@pytest.mark.parametrize("visible", ["", "-1", "GPU-", "GPU-ffff", "NoDevFiles"])
def test_visible_devices_hiding_every_gpu_fails_at_start(visible: str) -> None:
    with pytest.raises(MeasurementError, match="no visible NVIDIA GPU"):
        started(two_gpus(), {"CUDA_VISIBLE_DEVICES": visible})


def test_without_the_variable_every_gpu_is_metered() -> None:
    assert len(started(two_gpus(), {}).devices()) == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", ["0"]),
        (" 0 , 1 ", ["0", "1"]),
        ("", []),
        ("-1", []),
        ("0,-1,1", ["0"]),
        ("1,abc,0", ["1"]),
        ("0,,1", ["0"]),
        (f"{UUIDS[1]},0", [UUIDS[1], "0"]),
        ("MIG-4f2c,1", ["MIG-4f2c", "1"]),
    ],
)
def test_visible_selection_parses_like_cuda(raw: str, expected: list[str]) -> None:
    assert visible_selection({"CUDA_VISIBLE_DEVICES": raw}) == expected


def test_visible_selection_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert visible_selection({}) is None
    assert visible_selection() is None  # the conftest removed the variable
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    assert visible_selection() == ["1", "0"]


# -- counter faults ---------------------------------------------------------------------------------------------
def test_counter_wrap_at_2_64_is_handled() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=2**64 - 4_096)])  # a value a double holds exactly
    source = started(fake)
    fake.add_energy(0, 6_096)
    assert fake.gpus[0].energy_mj == 2_000
    assert source.energy(USAGE) == pytest.approx(6.096, rel=1e-12)
    fake.add_energy(0, 500)
    assert source.energy(USAGE) == pytest.approx(0.5, rel=1e-12)


def test_counter_wrap_near_2_64_is_exact() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=2**64 - 5_000)])
    source = started(fake)
    fake.add_energy(0, 8_000)
    assert source.energy(USAGE) == pytest.approx(8.0, rel=1e-9)


def test_counter_reset_is_not_read_as_a_giant_wrap() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=5_000_000_000)])  # 5 MJ since the driver loaded
    source = started(fake)
    fake.set_energy(0, 1_000)  # driver reloaded: the counter restarts near zero
    joules = source.energy(USAGE)
    assert 0.0 <= joules <= 1.0
    fake.add_energy(0, 750)
    assert source.energy(USAGE) == pytest.approx(0.75, rel=1e-12)  # counting goes on from the new baseline


# -- set-up failures and the chain ------------------------------------------------------------------------------
def test_library_not_found_is_a_measurement_error() -> None:
    fake = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    with pytest.raises(MeasurementError, match="NVML not available") as info:
        started(fake)
    assert isinstance(info.value.__cause__, pynvml.NVMLError_LibraryNotFound)


def test_library_not_found_leaves_the_gpu_chain_at_none() -> None:
    fake = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    chains = build_chains(resolve({}), MACHINE, nvml_factory=lambda: NvmlSource(nvml=fake, environ={}))
    chain = chains[Component.GPU]
    chain.start()  # must not raise
    assert isinstance(chain.active, NullSource)
    assert chain.method == "none"
    assert chain.energy(USAGE) == 0.0
    assert chain.notes == []  # no GPU is normal, not a fault
    assert fake.called("nvmlInit") == [("nvmlInit",)]


def test_forced_gpu_watts_never_touch_nvml() -> None:
    fake = two_gpus()
    chains = build_chains(resolve({"gpu_watts": 250}), MACHINE, nvml_factory=lambda: NvmlSource(nvml=fake))
    chain = chains[Component.GPU]
    chain.start()
    assert chain.method == "constant"
    assert chain.energy(USAGE) == pytest.approx(250.0)
    assert fake.calls == []


def test_start_failure_after_init_shuts_nvml_down() -> None:
    fake = two_gpus()
    with pytest.raises(MeasurementError):
        started(fake, {"CUDA_VISIBLE_DEVICES": "-1"})
    assert fake.refcount == 0


def test_close_shuts_nvml_down_once() -> None:
    fake = two_gpus()
    source = started(fake)
    assert fake.refcount == 1
    source.close()
    source.close()
    assert fake.refcount == 0
    assert len(fake.called("nvmlShutdown")) == 1


def test_gpu_lost_mid_run_moves_the_chain_on() -> None:
    fake = two_gpus()
    chain = SourceChain(
        Component.GPU, [lambda: NvmlSource(nvml=fake, environ={}), lambda: ConstantPower(Component.GPU, 300.0)]
    )
    chain.start()
    assert chain.method == "nvml-energy"
    fake.add_energy(0, 4_000)
    assert chain.energy(USAGE) == pytest.approx(4.0, rel=1e-12)

    fake.gpus[1].lost = True  # "GPU has fallen off the bus"
    joules = chain.energy(USAGE)  # must not raise

    assert joules == pytest.approx(300.0)  # the next source's reading for this tick
    assert chain.method == "nvml-energy>constant"
    [(_, note)] = chain.notes
    assert "nvml-energy failed during the run" in note and "GPU is lost" in note
    assert fake.refcount == 0  # the failed source was closed


def test_gpu_lost_mid_run_with_nothing_else_ends_at_none() -> None:
    fake = two_gpus()
    chains = build_chains(resolve({}), MACHINE, nvml_factory=lambda: NvmlSource(nvml=fake, environ={}))
    chain = chains[Component.GPU]
    chain.start()
    fake.gpus[0].lost = True
    assert chain.energy(USAGE) == 0.0
    assert chain.method == "nvml-energy>none"
    assert chain.energy(USAGE) == 0.0


# -- the real library -------------------------------------------------------------------------------------------
def test_real_pynvml_without_a_driver_is_a_measurement_error() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present on this machine")
    with pytest.raises(MeasurementError):
        NvmlSource().start()  # the default path (it may decline before loading the library)
    with pytest.raises(MeasurementError, match="NVML not available") as info:
        NvmlSource(nvml=pynvml, environ={}).start()  # the real module, really calling nvmlInit
    assert isinstance(info.value.__cause__, pynvml.NVMLError)
