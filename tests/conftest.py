"""Shared fixtures: every test runs in its own data/config directories, with no TRACKER_* settings leaking in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker import config as tracker_config
from tracker.grid import location
from tracker.measure import cgroup, hardware, instance, sampler
from tracker.stores import factory as stores_factory

LAUNCHER_VARIABLES = frozenset(
    {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID", "SLURMD_NODENAME"}
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh home for the default store and config, a working directory without pyproject.toml."""
    for name in list(os.environ):
        if name.startswith(("TRACKER_", "ELECTRICITYMAPS_")) or name == "CUDA_VISIBLE_DEVICES":
            monkeypatch.delenv(name)
        elif name in LAUNCHER_VARIABLES or name.startswith(("SLURM_", "OMPI_COMM_WORLD_", "PMIX_")):
            monkeypatch.delenv(name)  # a test run inside a SLURM/MPI/torchrun job must not become a rank
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "config").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    # Nothing leaves this machine, even on a cloud VM whose DMI would make cloud_metadata=auto probe: metadata and
    # geo-IP services point at a closed loopback port (tests that need them start their own and override these),
    # and in-process detection sees no DMI at all.
    for variable in (*location.ENV_URLS.values(), location.GEOIP_ENV):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    monkeypatch.setattr(location, "DMI_DIR", tmp_path / "no-dmi")
    location.reset()
    instance.reset()  # the instance type asked of the metadata services (the vCPU model)
    # an unset mode resolves to cgroup attribution inside a container or a SLURM job: the suite sees no cgroup
    # (machine mode) wherever it runs; tests of cgroup attribution point this at a fake or the real /proc
    monkeypatch.setattr(cgroup, "PROC", str(tmp_path / "no-proc"))
    monkeypatch.chdir(work)
    sampler._sampler = None  # each test gets a fresh sampler and fresh meters
    tracker_config._warned_env.clear()  # "once per process": each test is a process of its own here
    yield work
    stores_factory.close_all()
    sampler._sampler = None
    hardware.detect.cache_clear()


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "runs.db")
