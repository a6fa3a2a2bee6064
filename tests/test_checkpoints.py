"""Issue 14, item 19: kill -9 and power loss. A long run writes a checkpoint (status ``running``, its figures so far)
every ``checkpoint_s``; the final record replaces it; a checkpoint whose process is gone reads back as ``lost``.

Real processes and real ``SIGKILL``s for the loss; the stores' rule (a checkpoint never replaces a final record) on
SQLite, CSV and PostgreSQL; the readers' rule (same host: ask the process; another host: staleness) on rows.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pg_support import pg_database  # noqa: F401 - the pg_url fixture
from runs_factory import make_record

import tracker
from tracker.cli import main
from tracker.measure.hardware import node_name
from tracker.stores import liveness

CHILD = """
    import sys, time, tracker
    with tracker.track(project=sys.argv[1], checkpoint_s=1, interval=0.05):
        print("started", flush=True)
        time.sleep(120)
"""


def _stored(path: str) -> dict[str, str]:
    """project -> stored status (read with sqlite3: the test's polling must not import or open anything else)."""
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return dict(conn.execute("SELECT project, status FROM runs"))
    except sqlite3.OperationalError:  # no table yet
        return {}


@pytest.mark.slow
def test_processes_killed_by_sigkill_leave_their_runs_as_lost_with_the_energy_up_to_the_last_checkpoint(
    store_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Eight children each in a tracked block (checkpoint_s=1), each killed with SIGKILL at a random moment after
    its first checkpoint (so also while one is being built or written). Before: no record at all. Now: each run has
    its last checkpoint, shown as lost, with energy, and at most one checkpoint interval (plus a tick and the
    write, here under load) was lost."""
    count, every = 8, 1.0
    env = {**os.environ, "TRACKER_STORE": store_path}
    children = {
        f"k{i}": subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHILD), f"k{i}"], env=env, stdout=subprocess.PIPE, text=True
        )
        for i in range(count)
    }
    killed_at: dict[str, float] = {}
    try:
        for child in children.values():
            assert child.stdout is not None and child.stdout.readline().strip() == "started"
        rng = random.Random(19)
        due: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while len(killed_at) < count and time.monotonic() < deadline:
            stored = _stored(store_path)
            now = time.monotonic()
            for project, child in children.items():
                if project not in due and stored.get(project) == "running":  # its first checkpoint is in
                    due[project] = now + rng.uniform(0.0, 2.0 * every)
                if project in due and project not in killed_at and now >= due[project]:
                    child.send_signal(signal.SIGKILL)
                    killed_at[project] = time.time()
            time.sleep(0.01)
        assert len(killed_at) == count, f"no checkpoint from {sorted(set(children) - set(due))} within 60 s"
        for child in children.values():
            assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        for child in children.values():
            child.kill()
            child.wait()
    assert _stored(store_path) == dict.fromkeys(children, "running")  # what the store holds: the checkpoints
    runs = tracker.load_runs(store_path)
    assert len(runs) == count and set(runs["status"]) == {"lost"}
    assert (runs["energy_kwh"] > 0).all() and (runs["duration_s"] >= every * 0.9).all()
    for run in runs.itertuples():
        last = run.ended_at.timestamp()
        assert killed_at[run.project] - last <= every + 1.5, (run.project, killed_at[run.project] - last)
        assert run.pid > 0 and run.checkpoint_s == every and run.pid_started_at > 0
    assert len(tracker.load_runs(store_path, status="lost")) == count
    assert tracker.load_runs(store_path, status="running").empty
    totals = tracker.summarize(store=store_path, by="status")
    assert list(totals["status"]) == ["lost"] and int(totals["runs"].iloc[0]) == count
    assert main(["runs", "--store", store_path]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == count and all(" lost " in line for line in lines)


def _wait_for(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("overlap", ["whole", "split"])
def test_a_long_run_shows_running_while_it_goes_and_its_final_record_replaces_the_checkpoint(
    store_path: str, overlap: str
) -> None:
    """In-process: the checkpoint reads back as running (its process is this one), with the spans so far; the
    final record replaces it (one row, completed, no writer columns)."""
    with tracker.track(project="long", store=store_path, checkpoint_s=1, interval=0.05, overlap=overlap):
        with tracker.task("step"):
            time.sleep(0.1)
        _wait_for(lambda: _stored(store_path).get("long") == "running")
        shown = tracker.load_runs(store_path, decode=True).iloc[0]
        assert shown["status"] == "running" and shown["pid"] == os.getpid() and shown["energy_kwh"] > 0
        assert [s["name"] for s in shown["spans"]] == ["step"] and shown["spans"][0]["calls"] == 1
        assert any(note.startswith("checkpoint:") for note in shown["notes"])
        assert any(t.name == "tracker-checkpoints" for t in threading.enumerate())
    final = tracker.load_runs(store_path, decode=True)
    assert len(final) == 1
    row = final.iloc[0]
    assert row["status"] == "completed" and row["run_id"] == shown["run_id"]
    assert row["energy_kwh"] >= shown["energy_kwh"] and row["duration_s"] > shown["duration_s"]
    assert row[["pid", "pid_started_at", "checkpoint_s"]].isna().all()
    assert not any(note.startswith("checkpoint:") for note in row["notes"])


def test_runs_shorter_than_checkpoint_s_write_nothing_more_and_start_no_thread(
    store_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hot path of short runs is untouched: 300 short runs and one of 0.6 s (checkpoint_s=1) hand nothing to
    the writer, start no thread and leave only their final records; checkpoint_s=0 turns checkpoints off for a run
    that lasts longer."""
    from tracker.core import checkpoints

    handed: list[Any] = []
    submit = checkpoints.submit
    monkeypatch.setattr(checkpoints, "submit", lambda runs: (handed.extend(runs), submit(runs)))
    writers = {t.ident for t in threading.enumerate() if t.name == "tracker-checkpoints"}  # earlier tests' ones
    for _ in range(300):
        with tracker.track(project="short", store=store_path, checkpoint_s=1, interval=0.05):
            pass
    seen: set[str] = set()
    with tracker.track(project="short", store=store_path, checkpoint_s=1, interval=0.05):
        for _ in range(30):
            seen.update(_stored(store_path).values())
            time.sleep(0.02)
    with tracker.track(project="off", store=store_path, checkpoint_s=0, interval=0.05):
        for _ in range(75):  # 1.5 s
            seen.update(_stored(store_path).values())
            time.sleep(0.02)
    assert seen == {"completed"} and handed == []
    assert {t.ident for t in threading.enumerate() if t.name == "tracker-checkpoints"} <= writers
    assert set(tracker.load_runs(store_path)["status"]) == {"completed"} and len(tracker.load_runs(store_path)) == 302


def test_a_checkpoint_that_cannot_be_written_is_not_spooled(tmp_path: Path) -> None:
    """A checkpoint is skipped when its store is away (the next one or the final record takes its place): the
    spool holds only the final record, so delivering it later can never bring a checkpoint back over it."""
    from tracker.core import checkpoints
    from tracker.stores import spool

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    store = str(blocked / "runs.db")
    with tracker.track(project="away", store=store, checkpoint_s=1, interval=0.05):
        _wait_for(lambda: store in checkpoints._failing)
        assert spool.pending() == []
    ((_, payload),) = spool.pending()
    assert payload["row"]["status"] == "completed"


@pytest.fixture(params=["sqlite", "csv", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(tmp_path / ("runs.db" if request.param == "sqlite" else "runs.csv"))


def test_a_checkpoint_never_replaces_a_final_record_whichever_lands_last(any_store: str) -> None:
    """The writer thread and the run's end (or a signal handler's fresh store) may race: the final record wins."""
    from tracker.stores import open_store

    store = open_store(any_store)
    first = make_record(1, status="running", pid=123, pid_started_at=1.0e9, checkpoint_s=60.0)
    later = make_record(1, status="running", duration_s=120.0, pid=123, pid_started_at=1.0e9, checkpoint_s=60.0)
    final = make_record(1, status="terminated", duration_s=150.0)
    store.write(first)
    store.write(later)  # a checkpoint replaces a checkpoint
    assert [(r["status"], r["duration_s"]) for r in store.rows()] == [("running", 120.0)]
    store.write(final)  # the final record replaces it
    store.write(first)  # a checkpoint that lands after the final record does not
    rows = store.rows()
    assert [(r["status"], r["duration_s"], r["pid"]) for r in rows] == [("terminated", 150.0, None)]
    other = make_record(2, status="running", pid=7, pid_started_at=2.0e9, checkpoint_s=30.0)
    store.write(other)
    (row,) = store.rows(run_id=other.run_id)
    assert (row["pid"], row["pid_started_at"], row["checkpoint_s"]) == (7, 2.0e9, 30.0)


# -- the readers' rule --------------------------------------------------------------------------------------------


def _checkpoint(host: str, pid: int | None, started: float | None, age_s: float, every: float | None) -> dict[str, Any]:
    ended = datetime.now(timezone.utc) - timedelta(seconds=age_s)
    return {"status": "running", "host": host, "pid": pid, "pid_started_at": started, "checkpoint_s": every,
            "ended_at": ended.isoformat()}  # fmt: skip


def test_on_this_host_a_checkpoint_is_lost_once_its_process_is_gone_or_its_pid_is_anothers() -> None:
    host = node_name()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import psutil

        started = psutil.Process(child.pid).create_time()
        assert liveness.shown_status(_checkpoint(host, child.pid, started, 3600, 1.0), host, time.time()) == "running"
        # the pid is the child's, the start time another process's: the writer is gone, its pid was given again
        assert liveness.shown_status(_checkpoint(host, child.pid, started - 100, 0, 60), host, time.time()) == "lost"
        child.send_signal(signal.SIGKILL)
        _wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE)
        # killed, not reaped yet by its parent (this test): gone all the same
        assert liveness.shown_status(_checkpoint(host, child.pid, started, 0, 60), host, time.time()) == "lost"
    finally:
        child.kill()
        child.wait()
    assert liveness.shown_status(_checkpoint(host, child.pid, started, 0, 60), host, time.time()) == "lost"
    me = liveness.this_process()
    assert liveness.shown_status(_checkpoint(host, *me, 3600, 1.0), host, time.time()) == "running"


def test_from_another_host_a_checkpoint_is_lost_once_it_is_older_than_twice_its_interval() -> None:
    now = time.time()
    assert liveness.shown_status(_checkpoint("elsewhere", 1, 1.0, 100, 60), "here", now) == "running"
    assert liveness.shown_status(_checkpoint("elsewhere", 1, 1.0, 130, 60), "here", now) == "lost"
    assert liveness.shown_status(_checkpoint("elsewhere", None, None, 10**6, None), "here", now) == "running"


def test_status_filters_select_by_the_status_shown() -> None:
    host = node_name()
    rows = [
        {"run_id": "a", "status": "completed"},
        {**_checkpoint(host, *liveness.this_process(), 0, 60), "run_id": "b"},
        {**_checkpoint("elsewhere", 1, 1.0, 1000, 60), "run_id": "c"},
    ]
    asked: list[dict[str, Any]] = []

    def read(limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        asked.append(filters)
        return [dict(r) for r in rows if filters.get("status") in (None, r["status"])]

    assert [(r["run_id"], r["status"]) for r in liveness.select(read, None, {})] == [
        ("a", "completed"), ("b", "running"), ("c", "lost"),
    ]  # fmt: skip
    assert [r["run_id"] for r in liveness.select(read, None, {"status": "lost"})] == ["c"]
    assert [r["run_id"] for r in liveness.select(read, None, {"status": "running"})] == ["b"]
    assert asked[1:] == [{"status": "running"}, {"status": "running"}]  # the store holds checkpoints as running


def test_every_status_is_documented() -> None:
    from tracker.records.schema import FINAL_STATUSES, STATUSES

    row = next(line for line in (Path(__file__).parents[1] / "docs" / "records.md").read_text().splitlines()
               if line.startswith("| `status` |"))  # fmt: skip
    assert [status for status in STATUSES if f"`{status}`" not in row] == []
    assert set(STATUSES) - set(FINAL_STATUSES) == {"running", "lost"}
