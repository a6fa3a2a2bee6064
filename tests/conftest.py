"""Shared fixtures: every test runs in its own data/config directories, with no TRACKER_* settings leaking in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker import hardware, sampler
from tracker.stores import base as stores_base


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh home for the default store and config, a working directory without pyproject.toml."""
    for name in list(os.environ):
        if name.startswith("TRACKER_") or name == "CUDA_VISIBLE_DEVICES":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "config").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.chdir(work)
    sampler._sampler = None  # each test gets a fresh sampler and fresh meters
    yield work
    stores_base.close_all()
    sampler._sampler = None
    hardware.detect.cache_clear()


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "runs.db")
