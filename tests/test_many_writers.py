"""Many writers: 8 processes × 500 runs each, through ``Tracker.start()/stop()``, into one SQLite file and into
one PostgreSQL database: exactly 4,000 runs stored, nothing raised into user code, nothing logged, nothing spooled.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pg_support import pg_database  # noqa: F401 - pg_database: the pg_url fixture

from tracker.stores import spool

WORKER = Path(__file__).with_name("many_writers_worker.py")
PROCESSES, RUNS = 8, 500


def _write_concurrently(store: str) -> list[dict[str, Any]]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), store, str(RUNS), f"writer-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(PROCESSES)
    ]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def _check(reports: list[dict[str, Any]]) -> set[str]:
    assert [r["raised"] for r in reports] == [[]] * PROCESSES
    assert [r["failed_notes"] for r in reports] == [[]] * PROCESSES
    assert [m for r in reports for m in r["logged"]] == []
    ids = {i for r in reports for i in r["ids"]}
    assert len(ids) == PROCESSES * RUNS  # every run finished, with its own id
    assert spool.pending() == []
    return ids


@pytest.mark.slow
def test_eight_processes_into_one_sqlite_file(tmp_path: Path) -> None:
    location = str(tmp_path / "shared.db")
    ids = _check(_write_concurrently(location))
    with sqlite3.connect(location) as conn:
        stored = {run_id for (run_id,) in conn.execute("SELECT run_id FROM runs")}
        per_project = dict(conn.execute("SELECT project, count(*) FROM runs GROUP BY project"))
    assert stored == ids
    assert per_project == {f"writer-{i}": RUNS for i in range(PROCESSES)}


@pytest.mark.slow
def test_eight_processes_into_one_postgres_database(pg_url: str) -> None:
    """The database is new: the eight processes also race to create the schema."""
    import psycopg

    ids = _check(_write_concurrently(pg_url))
    with psycopg.connect(pg_url) as conn:
        stored = {run_id for (run_id,) in conn.execute("SELECT run_id FROM runs")}
        per_project = dict(conn.execute("SELECT project, count(*) FROM runs GROUP BY project").fetchall())
    assert stored == ids
    assert per_project == {f"writer-{i}": RUNS for i in range(PROCESSES)}
