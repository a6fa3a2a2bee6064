"""Multi-process and multi-node jobs: who a process is in its job, and host energy counted once per node."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker
from tests.fake_nvml import FakeGpu, FakeNvml
from tracker.config import resolve
from tracker.errors import MeasurementError
from tracker.measure.hardware import Machine
from tracker.measure.job import JobInfo, detect, job_columns, slurm_tasks_on_node
from tracker.measure.sources.base import Component, ConstantPower, CountedElsewhere, Usage
from tracker.measure.sources.chains import build_chains
from tracker.measure.sources.nvml import NvmlSource

MACHINE = Machine("node-1", "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 2, 40, 80, 64 * 2**30, False)
TORCHRUN = {
    "RANK": "5",
    "LOCAL_RANK": "1",
    "WORLD_SIZE": "8",
    "LOCAL_WORLD_SIZE": "4",
    "TORCHELASTIC_RUN_ID": "rdzv-42",
}


def job(**overrides: object) -> JobInfo:
    values: dict[str, object] = {
        "job_id": "j1",
        "node": "n1",
        "rank": 1,
        "local_rank": 1,
        "world_size": 4,
        "local_world_size": 2,
        "launcher": "torchrun",
        "gpus_shared": True,
    }
    values.update(overrides)
    return JobInfo(**values)  # type: ignore[arg-type]


# -- detection -------------------------------------------------------------------------------------------------
def test_no_launcher_variables_means_no_job() -> None:
    assert detect({"HOME": "/root", "CUDA_VISIBLE_DEVICES": "0"}) is None


def test_torchrun_environment() -> None:
    info = detect({**TORCHRUN, "SLURMD_NODENAME": "gpu-07"})
    assert info == JobInfo("rdzv-42", "gpu-07", 5, 1, 8, 4, "torchrun", True)
    assert not info.leader


def test_torchrun_without_rendezvous_id_has_no_job_id_and_uses_the_hostname() -> None:
    info = detect({**TORCHRUN, "TORCHELASTIC_RUN_ID": "none"})
    assert info is not None
    assert info.job_id is None
    assert info.node == os.uname().nodename


def test_slurm_environment_parses_tasks_per_node() -> None:
    env = {
        "SLURM_JOB_ID": "991",
        "SLURM_PROCID": "4",
        "SLURM_LOCALID": "1",
        "SLURM_NTASKS": "5",
        "SLURM_NODEID": "1",
        "SLURM_TASKS_PER_NODE": "3,2",
        "SLURMD_NODENAME": "cn12",
        "CUDA_VISIBLE_DEVICES": "1",
        "SLURM_STEP_GPUS": "0,1",
    }
    info = detect(env)
    assert info == JobInfo("991", "cn12", 4, 1, 5, 2, "slurm", False)


@pytest.mark.parametrize(
    ("text", "index", "expected"),
    [("2(x3),1", 0, 2), ("2(x3),1", 2, 2), ("2(x3),1", 3, 1), ("2(x3),1", 4, None), ("4", 0, 4), ("x", 0, None)],
)
def test_slurm_tasks_per_node_format(text: str, index: int, expected: int | None) -> None:
    assert slurm_tasks_on_node(text, index) == expected


def test_open_mpi_environment_and_scheduler_id_wins() -> None:
    env = {
        "OMPI_COMM_WORLD_RANK": "3",
        "OMPI_COMM_WORLD_LOCAL_RANK": "0",
        "OMPI_COMM_WORLD_SIZE": "4",
        "OMPI_COMM_WORLD_LOCAL_SIZE": "1",
        "PMIX_NAMESPACE": "prterun-host-1234@1",
        "SLURMD_NODENAME": "cn3",
    }
    assert detect(env) == JobInfo("prterun-host-1234@1", "cn3", 3, 0, 4, 1, "mpi", True)
    assert detect({**env, "SLURM_JOB_ID": "77"}).job_id == "77"  # type: ignore[union-attr]


def test_torchrun_inside_slurm_takes_ranks_from_torchrun_and_the_id_from_slurm() -> None:
    env = {**TORCHRUN, "SLURM_JOB_ID": "555", "SLURM_PROCID": "1", "SLURM_LOCALID": "0"}
    info = detect(env)
    assert info is not None
    assert (info.job_id, info.rank, info.local_rank, info.launcher) == ("555", 5, 1, "torchrun")


def test_same_gpu_list_for_every_slurm_task_is_shared() -> None:
    env = {"SLURM_JOB_ID": "1", "SLURM_PROCID": "0", "CUDA_VISIBLE_DEVICES": "0,1", "SLURM_STEP_GPUS": "4,5"}
    assert detect(env).gpus_shared  # type: ignore[union-attr]


def test_record_columns() -> None:
    assert job_columns(None) == {}
    assert job_columns(job()) == {"job_id": "j1", "node": "n1", "rank": 1, "local_rank": 1, "world_size": 4}


# -- what each rank counts -------------------------------------------------------------------------------------
def test_gpu_share_by_position_when_every_rank_sees_every_gpu() -> None:
    gpus = ["g0", "g1", "g2", "g3", "g4"]
    assert job(local_rank=0).pick_gpus(gpus) == ["g0", "g2", "g4"]
    assert job(local_rank=1).pick_gpus(gpus) == ["g1", "g3"]
    assert job(gpus_shared=False).pick_gpus(gpus) == gpus  # the launcher gave this rank its own GPUs
    assert job(local_rank=0, local_world_size=None).pick_gpus(gpus) == gpus
    with pytest.raises(MeasurementError, match="counted by other ranks"):
        job(local_rank=1, local_world_size=None).pick_gpus(gpus)
    with pytest.raises(MeasurementError, match="counted by other ranks"):
        job(local_rank=2, local_world_size=3).pick_gpus(["g0", "g1"])


def start_all(chains: dict) -> None:
    for chain in chains.values():
        chain.start()


def test_non_leader_records_zero_host_energy_in_machine_mode() -> None:
    chains = build_chains(resolve({"cpu_watts": 10, "ram_watts": 2}), MACHINE, job=job())
    start_all(chains)
    usage = Usage(dt=2.0, cpu_util=0.5)
    for component in (Component.CPU, Component.RAM):
        assert isinstance(chains[component].active, CountedElsewhere)
        assert chains[component].energy(usage) == 0.0
        assert chains[component].method == "by-local-rank-0"
    notes = job().notes("machine")
    assert any("counted once per node, by local rank 0 on n1" in note for note in notes)


def test_leader_and_process_mode_count_host_energy() -> None:
    usage = Usage(dt=2.0, cpu_util=0.5)
    leader = build_chains(resolve({"cpu_watts": 10}), MACHINE, job=job(local_rank=0, rank=0))
    process = build_chains(resolve({"cpu_watts": 10, "mode": "process"}), MACHINE, job=job())
    for chains in (leader, process):
        start_all(chains)
        assert isinstance(chains[Component.CPU].active, ConstantPower)
        assert chains[Component.CPU].energy(usage) == 20.0


def four_gpus() -> FakeNvml:
    return FakeNvml([FakeGpu(name=f"GPU{i}", uuid=f"GPU-{i}000", power_mw=100_000) for i in range(4)])


def test_ranks_sharing_the_node_gpus_each_meter_their_share_and_all_are_counted_once() -> None:
    fake = four_gpus()
    seen = []
    for local_rank in (0, 1):
        info = job(local_rank=local_rank, rank=local_rank)
        chains = build_chains(resolve({}), MACHINE, job=info, nvml_factory=lambda: NvmlSource(nvml=fake, environ={}))
        chains[Component.GPU].start()
        seen.append(chains[Component.GPU].active.devices())
    assert seen == [["GPU0", "GPU2"], ["GPU1", "GPU3"]]


def test_rank_without_a_gpu_share_falls_back_to_none() -> None:
    fake = FakeNvml([FakeGpu(name="GPU0", uuid="GPU-0000")])
    info = job(local_rank=1)
    chains = build_chains(resolve({}), MACHINE, job=info, nvml_factory=lambda: NvmlSource(nvml=fake, environ={}))
    chains[Component.GPU].start()
    assert chains[Component.GPU].method == "none"
    assert chains[Component.GPU].energy(Usage(dt=1.0, cpu_util=0.0)) == 0.0
    assert fake.refcount == 0  # NVML was shut down again
    assert any("local rank 0 counts them" in note for note in job(local_world_size=None).notes("machine"))


def test_forced_gpu_watts_on_shared_gpus_are_counted_by_local_rank_0_only() -> None:
    follower = build_chains(resolve({"gpu_watts": 300}), MACHINE, job=job())
    leader = build_chains(resolve({"gpu_watts": 300}), MACHINE, job=job(local_rank=0))
    start_all(follower)
    start_all(leader)
    usage = Usage(dt=1.0, cpu_util=0.0)
    assert follower[Component.GPU].energy(usage) == 0.0
    assert leader[Component.GPU].energy(usage) == 300.0


# -- a real job: two nodes x two ranks, as separate processes --------------------------------------------------
RANK_SCRIPT = """
import sys, time, tracker
with tracker.track(project="jobs", cpu_watts=10, ram_watts=2, gpu_watts=0) as run:
    time.sleep(float(sys.argv[1]))
print(run.run_id)
"""


@pytest.mark.slow
def test_two_nodes_two_ranks_count_each_node_once(tmp_path: Path) -> None:
    store = str(tmp_path / "job.db")
    procs = []
    for rank in range(4):
        node, local_rank = divmod(rank, 2)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")},
            "TRACKER_STORE": store,
            "RANK": str(rank),
            "LOCAL_RANK": str(local_rank),
            "WORLD_SIZE": "4",
            "LOCAL_WORLD_SIZE": "2",
            "TORCHELASTIC_RUN_ID": "job-2x2",
            "SLURMD_NODENAME": f"node-{'ab'[node]}",  # one machine poses as two nodes
        }
        seconds = "1.0" if local_rank == 0 else "0.6"
        script = textwrap.dedent(RANK_SCRIPT)
        procs.append(subprocess.Popen([sys.executable, "-c", script, seconds], env=env, stdout=subprocess.PIPE))
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    runs = tracker.load_runs(store)
    assert len(runs) == 4
    assert sorted(runs["rank"].tolist()) == [0, 1, 2, 3]
    assert set(runs["job_id"]) == {"job-2x2"}
    assert set(runs["world_size"]) == {4}
    by_rank = runs.set_index("rank")
    assert by_rank.loc[[0, 1, 2, 3], "node"].tolist() == ["node-a", "node-a", "node-b", "node-b"]
    assert by_rank.loc[[0, 1, 2, 3], "local_rank"].tolist() == [0, 1, 0, 1]
    # the leaders measured their node: 12 W over their own run; the other ranks recorded 0 and say why
    for rank in (0, 2):
        row = by_rank.loc[rank]
        assert row["cpu_method"] == "constant"
        assert row["energy_kwh"] * 3.6e6 == pytest.approx(12.0 * row["duration_s"], rel=1e-6)
        assert 0.9 <= row["duration_s"] <= 3.0
    for rank in (1, 3):
        row = by_rank.loc[rank]
        assert (row["cpu_method"], row["ram_method"]) == ("by-local-rank-0", "by-local-rank-0")
        assert row["energy_kwh"] == 0.0
        assert "counted once per node, by local rank 0 on node-" in row["notes"]
    # the job total is one node-level measurement per node
    total = tracker.summarize(runs, by="job")
    assert total["job_id"].tolist() == ["job-2x2"]
    leaders = by_rank.loc[[0, 2], "duration_s"].sum()
    assert total.loc[0, "energy_kwh"] * 3.6e6 == pytest.approx(12.0 * leaders, rel=1e-6)
    assert total.loc[0, "energy_kwh"] * 3.6e6 == pytest.approx(12.0 * 2 * 1.0, rel=0.5)
    assert total.loc[0, "runs"] == 4
