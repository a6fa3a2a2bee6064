"""NVML per-process shares and MIG instances, against the fake pynvml (the real calls, codes and structures)."""

from __future__ import annotations

import os

import pynvml
import pytest
from fake_nvml import FakeGpu, FakeMig, FakeNvml

from tracker.config import resolve
from tracker.measure.hardware import Machine
from tracker.measure.meter import Meter
from tracker.measure.sources.base import Component, Usage
from tracker.measure.sources.chains import SourceChain, build_chains
from tracker.measure.sources.nvml import NvmlSource
from tracker.measure.usage import UsageProbe

ME = os.getpid()
OTHER = 1  # a process of this PID namespace that is not tracked (init is always there)
FOREIGN = 9_000_001  # above any pid_max (4,194,304): a pid of another namespace, invisible in /proc here
OURS = frozenset({ME})
MACHINE = Machine("node-1", "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 2, 40, 80, 64 * 2**30, False)
PARENT = "GPU-1b2c3d4e-0000-1111-2222-333344445555"
MIGS = ["MIG-aaaa0000-1111-2222-3333-444455556666", "MIG-bbbb0000-1111-2222-3333-444455556666"]


def tick(pids: frozenset[int] | None = OURS, dt: float = 1.0) -> Usage:
    return Usage(dt=dt, cpu_util=0.5, pids=pids)


def started(fake: FakeNvml, environ: dict[str, str] | None = None, per_process: bool = True) -> NvmlSource:
    source = NvmlSource(nvml=fake, environ={} if environ is None else environ, per_process=per_process)
    source.start()
    return source


# -- utilisation samples ----------------------------------------------------------------------------------------
def test_the_gpu_is_shared_by_the_processes_sm_utilisation_samples() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=1_000_000)])
    fake.sample(0, OTHER, 50, 90)  # before the run: never counted
    source = started(fake)
    assert source.name == "nvml-process-share"
    assert "nvmlDeviceGetProcessUtilization" in (source.inputs() or "")

    fake.sample(0, ME, 1_000, 60)
    fake.sample(0, OTHER, 1_000, 20)
    fake.add_energy(0, 100_000)  # 100 J
    assert source.energy(tick()) == pytest.approx(75.0)
    # the next tick asks only for newer samples: the driver is given the newest timestamp seen
    assert fake.called("nvmlDeviceGetProcessUtilization")[-1][2] == 50
    fake.sample(0, ME, 2_000, 10)
    fake.sample(0, OTHER, 2_000, 30)
    fake.add_energy(0, 100_000)
    assert source.energy(tick()) == pytest.approx(25.0)
    assert fake.called("nvmlDeviceGetProcessUtilization")[-1][2] == 1_000


def test_machine_mode_counts_the_whole_gpu_without_per_process_calls() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=0)])
    source = started(fake, per_process=False)
    fake.sample(0, OTHER, 1_000, 90)
    fake.add_energy(0, 40_000)
    assert source.name == "nvml-energy"
    assert source.energy(tick(pids=None)) == pytest.approx(40.0)
    assert fake.called("nvmlDeviceGetProcessUtilization") == []


def test_an_idle_tick_is_split_between_the_processes_holding_a_context_and_no_process_means_zero() -> None:
    gpu = FakeGpu(energy_mj=0, processes={ME: 2 << 30, OTHER: None})  # usedGpuMemory may be unavailable
    fake = FakeNvml([gpu])
    source = started(fake)
    fake.add_energy(0, 60_000)
    assert source.energy(tick()) == pytest.approx(30.0)  # NOT_FOUND (no sample): two contexts, one ours
    gpu.processes = {}
    fake.add_energy(0, 60_000)
    assert source.energy(tick()) == 0.0  # nobody uses the GPU: not the tracked processes' energy


def test_without_samples_the_share_comes_from_accounting_statistics() -> None:
    gpu = FakeGpu(
        energy_mj=0,
        utilization_error=pynvml.NVML_ERROR_NOT_SUPPORTED,
        accounting_mode=1,
        accounting={ME: (50, 10_000), OTHER: (100, 10_000)},  # GPU time before the run: the baseline
    )
    fake = FakeNvml([gpu])
    source = started(fake)
    assert source.name == "nvml-process-share"
    assert "nvmlDeviceGetAccountingStats" in (source.inputs() or "")
    gpu.accounting = {ME: (60, 11_000), OTHER: (100, 10_500)}  # +160,000 and +50,000 %-ms
    fake.add_energy(0, 210_000)
    assert source.energy(tick()) == pytest.approx(160.0)


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_NOT_SUPPORTED, pynvml.NVML_ERROR_NO_PERMISSION])
def test_no_per_process_figures_count_the_whole_gpu_with_a_note(code: int) -> None:
    fake = FakeNvml([FakeGpu(energy_mj=0, utilization_error=code, accounting_error=code)])
    chain = SourceChain(Component.GPU, [lambda: NvmlSource(nvml=fake, environ={}, per_process=True)])
    chain.start()
    assert chain.method == "nvml-energy"
    [(_, note)] = chain.notes
    assert "GPU 0" in note and "counted whole" in note and "nvmlDeviceGetProcessUtilization" in note
    fake.add_energy(0, 5_000)
    assert chain.energy(tick()) == pytest.approx(5.0)


def test_accounting_mode_off_says_how_to_turn_it_on() -> None:
    fake = FakeNvml([FakeGpu(utilization_error=pynvml.NVML_ERROR_NOT_SUPPORTED, accounting_mode=0)])
    chain = SourceChain(Component.GPU, [lambda: NvmlSource(nvml=fake, environ={}, per_process=True)])
    chain.start()
    [(_, note)] = chain.notes
    assert "accounting-mode=1" in note


def test_process_ids_of_another_pid_namespace_fall_back_to_the_whole_gpu() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=0)])
    chain = SourceChain(Component.GPU, [lambda: NvmlSource(nvml=fake, environ={}, per_process=True)])
    chain.start()
    fake.sample(0, FOREIGN, 1_000, 80)  # a container: NVML speaks of the host's pids
    fake.add_energy(0, 10_000)
    assert chain.energy(tick()) == pytest.approx(10.0)
    assert any("another PID namespace" in text for _, text in chain.notes)
    fake.sample(0, FOREIGN, 2_000, 80)
    fake.add_energy(0, 10_000)
    calls = len(fake.called("nvmlDeviceGetProcessUtilization"))
    assert chain.energy(tick()) == pytest.approx(10.0)  # from then on, the whole GPU without asking
    assert len(fake.called("nvmlDeviceGetProcessUtilization")) == calls


def test_a_process_of_this_namespace_that_is_not_tracked_gets_the_gpu_not_us() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=0)])
    source = started(fake)
    fake.sample(0, OTHER, 1_000, 80)
    fake.add_energy(0, 10_000)
    assert source.energy(tick()) == 0.0


def test_a_wrapping_counter_is_shared_exactly() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=2**64 - 4_096)])
    source = started(fake)
    fake.sample(0, ME, 10, 50)
    fake.sample(0, OTHER, 10, 50)
    fake.add_energy(0, 8_192)
    assert source.energy(tick()) == pytest.approx(4.096, rel=1e-12)


def test_the_process_probe_hands_the_tracked_pids_to_the_sources() -> None:
    probe = UsageProbe("process")
    probe.start()
    assert ME in (probe.read(1.0).pids or ())
    machine = UsageProbe("machine")
    machine.start()
    assert machine.read(1.0).pids is None


def test_process_mode_builds_a_per_process_nvml_source() -> None:
    for mode, expected in (("process", True), ("machine", False)):
        chain = build_chains(resolve({"mode": mode}), MACHINE)[Component.GPU]
        source = chain._factories[0]()
        assert isinstance(source, NvmlSource) and source.per_process is expected


def test_a_process_mode_meter_charges_the_tracked_share_and_says_how() -> None:
    fake = FakeNvml([FakeGpu(energy_mj=0)])
    chains = build_chains(
        resolve({"mode": "process"}),
        MACHINE,
        nvml_factory=lambda: NvmlSource(nvml=fake, environ={}, per_process=True),
    )
    meter = Meter(chains, UsageProbe("process"), 1.0)
    meter.start()
    fake.sample(0, ME, 10, 40)
    fake.sample(0, OTHER, 10, 60)
    fake.add_energy(0, 50_000)
    meter.sample()
    assert meter.timeline.gpu[-1] - meter.timeline.gpu[0] == pytest.approx(20.0)
    assert meter.methods()[Component.GPU] == "nvml-process-share"
    assert any("share of its SM utilisation samples" in note for note in meter.notes_since(0.0))
    meter.close()


# -- MIG --------------------------------------------------------------------------------------------------------
def mig_gpu(**overrides: object) -> FakeGpu:
    gpu = FakeGpu(
        name="NVIDIA A100-SXM4-40GB",
        uuid=PARENT,
        energy_mj=0,
        mig_mode=1,
        mig=[FakeMig(MIGS[0], 3, 3), None, FakeMig(MIGS[1], 2, 2)],  # 3g and 2g instances; index 1 empty
    )
    for key, value in overrides.items():
        setattr(gpu, key, value)
    return gpu


def test_a_mig_instance_is_charged_its_compute_slices_of_the_parent_gpu() -> None:
    fake = FakeNvml([mig_gpu()])
    source = started(fake, {"CUDA_VISIBLE_DEVICES": MIGS[1]})
    assert source.name == "nvml-mig-share"
    assert source.devices() == ["NVIDIA A100-SXM4-40GB MIG 2g"]
    assert "2 of 7 compute slices of GPU 0" in source.describe()
    inputs = source.inputs() or ""
    assert MIGS[1] in inputs and "a model" in inputs
    fake.add_energy(0, 70_000)
    assert source.energy(tick()) == pytest.approx(20.0)  # 70 J x 2/7
    assert fake.called("nvmlDeviceGetProcessUtilization") == []  # not supported in MIG mode: never asked


def test_two_mig_instances_of_one_gpu_add_their_shares() -> None:
    fake = FakeNvml([mig_gpu()])
    source = started(fake, {"CUDA_VISIBLE_DEVICES": f"{MIGS[0]},{MIGS[1][:12]}"}, per_process=False)
    fake.add_energy(0, 70_000)
    assert source.energy(tick(pids=None)) == pytest.approx(50.0)  # 70 J x (3 + 2)/7


def test_an_unknown_mig_instance_stops_the_list_like_cuda() -> None:
    fake = FakeNvml([mig_gpu(), FakeGpu(uuid="GPU-9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff")])
    source = started(fake, {"CUDA_VISIBLE_DEVICES": f"{MIGS[0]},MIG-ffff,1"}, per_process=False)
    assert [d.uuid for d in source.gpus] == [MIGS[0]]


def test_a_gpu_in_mig_mode_named_by_its_index_is_counted_whole() -> None:
    fake = FakeNvml([mig_gpu()])
    chain = SourceChain(Component.GPU, [lambda: NvmlSource(nvml=fake, environ={"CUDA_VISIBLE_DEVICES": "0"})])
    chain.start()
    assert chain.method == "nvml-energy"
    fake.add_energy(0, 70_000)
    assert chain.energy(tick(pids=None)) == pytest.approx(70.0)


def test_the_gpus_slice_count_comes_from_its_largest_instance_profile() -> None:
    fake = FakeNvml([mig_gpu(slices=8, mig=[FakeMig(MIGS[0], 2, 2)])])  # an 8-slice part
    source = started(fake, {"CUDA_VISIBLE_DEVICES": MIGS[0]})
    fake.add_energy(0, 80_000)
    assert source.energy(tick()) == pytest.approx(20.0)
