"""Who this process is within a multi-process or multi-node job (torchrun, SLURM, MPI), and what it counts.

A job is several processes (ranks) on one or more nodes. Each rank writes its own record, and every record
carries the job id, node and rank so that ``summarize(by="job")`` gives one total per job. Host-level energy
(CPU package, RAM, the GPUs) belongs to a node, not to a rank: counted by every rank it would be counted
N times. The policy (``docs/jobs.md``):

- machine mode: CPU and RAM are counted by the node's local rank 0; the other ranks record 0 for them (a
  :class:`~tracker.measure.sources.base.CountedElsewhere` source, whose name and note say who counts them);
- process mode: each rank's CPU and memory share is already its own, so every rank counts its share;
- GPUs (both modes, a GPU is counted whole): where the ranks of a node all see the same GPUs (torchrun's
  default: ``CUDA_VISIBLE_DEVICES`` unset; or SLURM handing every task the node's whole allocation), local rank
  ``L`` of ``W`` counts the visible GPUs at positions ``L, L+W, ...``; where the launcher gave each rank its
  own GPUs (``CUDA_VISIBLE_DEVICES`` narrowed per task), each rank counts those.

Detection reads only environment variables: it costs microseconds and needs no communication between ranks.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import NamedTuple, TypeVar

from tracker.errors import MeasurementError
from tracker.measure.hardware import node_name

logger = logging.getLogger(__name__)

T = TypeVar("T")
_EMPTY_IDS = {"", "none"}  # torchrun's TORCHELASTIC_RUN_ID is "none" when no --rdzv-id was given


class JobInfo(NamedTuple):
    """This process's place in its job. ``local_world_size`` is ``None`` where the launcher does not say."""

    job_id: str | None
    node: str
    rank: int
    local_rank: int
    world_size: int
    local_world_size: int | None
    launcher: str  # "torchrun" (or any launcher setting RANK/WORLD_SIZE), "mpi", "slurm"
    gpus_shared: bool  # every rank of the node sees the same GPUs (so they must be split, not each counted)

    @property
    def leader(self) -> bool:
        """Whether this process counts its node's host-level energy (CPU, RAM) in machine mode."""
        return self.local_rank == 0

    def counts_host(self, mode: str) -> bool:
        """Whether this rank counts the CPU and RAM components (always in process mode: shares are disjoint)."""
        return mode == "process" or self.leader

    def gpu_positions(self) -> slice | None:
        """Which of the visible GPUs this rank counts (``None``: all of them)."""
        if not self.gpus_shared or self.local_world_size == 1:
            return None
        if self.local_world_size is None:  # cannot split without the node's rank count: local rank 0 takes all
            return slice(None) if self.leader else slice(0, 0)
        return slice(self.local_rank, None, max(1, self.local_world_size))

    def pick_gpus(self, devices: list[T]) -> list[T]:
        """The share of ``devices`` (the visible GPUs, in order) this rank counts; raises when it has none."""
        positions = self.gpu_positions()
        if positions is None:
            return devices
        mine = devices[positions]
        if devices and not mine:
            raise MeasurementError(
                f"the {len(devices)} GPU(s) of node {self.node} are counted by other ranks "
                f"(local rank {self.local_rank} of {self.local_world_size or '?'})"
            )
        return mine

    def notes(self, mode: str) -> list[str]:
        """What this rank counts, for its record."""
        where = f"rank {self.rank} of {self.world_size}, local rank {self.local_rank} on node {self.node}"
        notes = [f"job {self.job_id or '(no id)'} ({self.launcher}): {where}"]
        if not self.counts_host(mode):
            notes.append(f"cpu, ram: counted once per node, by local rank 0 on {self.node}; this rank records 0")
        positions = self.gpu_positions()
        if positions is not None:
            if positions.stop == 0:
                share = "none of them (local rank 0 counts them)"
            elif positions.step is None:
                share = "all of them"
            else:
                share = f"those at positions {positions.start}, {positions.start} + {positions.step}, ..."
            notes.append(f"gpu: the ranks of node {self.node} see the same GPUs; this rank counts {share}")
        return notes


def _int(environ: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value.lstrip("-").isdigit():
            return int(value)
    return None


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value.lower() not in _EMPTY_IDS:
            return value
    return None


def slurm_tasks_on_node(tasks_per_node: str, node_index: int) -> int | None:
    """Parse SLURM's ``SLURM_TASKS_PER_NODE`` (``"2(x3),1"``) and return the count for node ``node_index``."""
    counts: list[int] = []
    for part in tasks_per_node.split(","):
        match = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not match:
            return None
        counts.extend([int(match.group(1))] * int(match.group(2) or 1))
    return counts[node_index] if 0 <= node_index < len(counts) else None


def _gpus_shared(environ: Mapping[str, str]) -> bool:
    """Whether the ranks of a node see the same GPUs (so they must split them rather than each count all)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return True  # torchrun, mpirun, srun without GPU binding: every rank sees every GPU
    node_gpus = environ.get("SLURM_STEP_GPUS") or environ.get("SLURM_JOB_GPUS")
    if node_gpus:  # SLURM: the task sees the node's whole allocation (no --gpus-per-task / --gpu-bind)
        return len([g for g in visible.split(",") if g.strip()]) == len([g for g in node_gpus.split(",") if g.strip()])
    return False  # narrowed per process by the launcher or the user: each rank counts its own


def detect(environ: Mapping[str, str] | None = None) -> JobInfo | None:
    """The job this process belongs to, from the launcher's environment; ``None`` outside a job."""
    env = os.environ if environ is None else environ
    slurm = env.get("SLURM_JOB_ID") is not None and env.get("SLURM_PROCID") is not None
    if env.get("RANK") is not None and env.get("WORLD_SIZE") is not None:
        launcher = "torchrun"
        rank = _int(env, "RANK")
        local_rank = _int(env, "LOCAL_RANK")
        world_size = _int(env, "WORLD_SIZE")
        local_world_size = _int(env, "LOCAL_WORLD_SIZE")
    elif env.get("OMPI_COMM_WORLD_RANK") is not None:
        launcher = "mpi"
        rank = _int(env, "OMPI_COMM_WORLD_RANK")
        local_rank = _int(env, "OMPI_COMM_WORLD_LOCAL_RANK")
        world_size = _int(env, "OMPI_COMM_WORLD_SIZE")
        local_world_size = _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE")
    elif slurm:
        launcher = "slurm"
        rank = _int(env, "SLURM_PROCID")
        local_rank = _int(env, "SLURM_LOCALID")
        world_size = _int(env, "SLURM_NTASKS", "SLURM_NPROCS")
        local_world_size = _int(env, "SLURM_NTASKS_PER_NODE")
        if local_world_size is None and env.get("SLURM_TASKS_PER_NODE"):
            local_world_size = slurm_tasks_on_node(env["SLURM_TASKS_PER_NODE"], _int(env, "SLURM_NODEID") or 0)
    else:
        return None
    if rank is None:
        logger.warning("job environment without a usable rank (%s launcher); not treated as a job", launcher)
        return None
    if local_rank is None:  # one rank per node, or the launcher does not say: assume alone on the node
        local_rank = 0 if local_world_size in (None, 1) else rank % local_world_size
    # the scheduler's job id first (it spans every step and launcher inside it), then the launcher's own
    job_id = _first(env, "SLURM_JOB_ID", "TORCHELASTIC_RUN_ID", "PMIX_NAMESPACE", "OMPI_MCA_orte_ess_jobid")
    node = _first(env, "SLURMD_NODENAME") or node_name() or "localhost"
    return JobInfo(
        job_id=job_id,
        node=node,
        rank=rank,
        local_rank=local_rank,
        world_size=world_size if world_size is not None else rank + 1,
        local_world_size=local_world_size,
        launcher=launcher,
        gpus_shared=_gpus_shared(env),
    )


def job_columns(job: JobInfo | None) -> dict[str, str | int | None]:
    """The record's job columns (``job_id``, ``node``, ``rank``, ``local_rank``, ``world_size``); {} outside a job."""
    if job is None:
        return {}
    return {
        "job_id": job.job_id,
        "node": job.node,
        "rank": job.rank,
        "local_rank": job.local_rank,
        "world_size": job.world_size,
    }
