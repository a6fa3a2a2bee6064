"""Issue 14, item 4: a forked child never hangs in SQLite and never loses a record, whatever the parent's other
threads were doing in SQLite at the fork.

Before the fork gate, 14-23 of 150 children hung: on SQLite's allocator mutex (``sqlite3Malloc`` in
``sqlite3.connect``) that another thread held at the fork, or in the busy handler, on a write lock that an
inherited connection's half-done transaction "held" (py-spy stacks in the report of branch ``fork``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from runs_factory import make_record

from tracker.forks import ForkGate
from tracker.stores import spool
from tracker.stores import sqlite as sqlite_store
from tracker.stores.sqlite import SqliteStore

WORKER = Path(__file__).with_name("fork_sqlite_worker.py")
CHILDREN = 300


@pytest.mark.slow
def test_three_hundred_forks_beside_writing_threads_none_hangs_nothing_lost(tmp_path: Path) -> None:
    """Two lanes of threads (each writes one to three runs and ends) into one SQLite file while the main thread
    forks 300 children, each writing one run into the same file: every child exits within 4 s having stored its
    record, every thread's record is there, the file is intact, nothing is spooled. About 5 s here."""
    db = tmp_path / "runs.db"
    done = subprocess.run(
        [sys.executable, str(WORKER), str(db), str(CHILDREN), "--lanes", "2", "--deadline", "4"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["hung"] == []
    assert result["failed"] == []
    assert len(result["ok"]) == CHILDREN
    assert result["faults"] == []
    assert len(result["thread_ids"]) > CHILDREN  # the threads really wrote while the forks happened
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        children = {p for (p,) in conn.execute("SELECT project FROM runs WHERE project LIKE 'child-%'")}
        stored = {run_id for (run_id,) in conn.execute("SELECT run_id FROM runs")}
    conn.close()
    assert children == {f"child-{i}" for i in range(CHILDREN)}
    assert set(result["thread_ids"]) <= stored
    assert spool.pending() == []


def _locks_of(pid: int, path: Path) -> list[str]:
    """The kernel's record of the POSIX locks ``pid`` holds on ``path``'s database and ``-shm`` files."""
    inodes = {os.stat(p).st_ino: p.name for p in (path, Path(f"{path}-shm"))}
    held = []
    with open("/proc/locks") as fh:
        for line in fh:
            fields = line.split()
            if fields[4] == str(pid) and int(fields[5].split(":")[2]) in inodes:
                held.append(f"{inodes[int(fields[5].split(':')[2])]} {fields[3]}")
    return held


def test_a_child_writes_with_its_own_locks_and_loses_nothing_when_the_parent_closes(tmp_path: Path) -> None:
    """The same store object used on both sides of a fork. The child's connection holds real locks on the file
    (a SHARED lock on the database, the -shm's dead-man lock), which it would not while the parent's connection
    stayed open in it (SQLite would count that one's locks as the child's); and so the parent closing its last
    connection (which checkpoints and deletes the WAL when it finds no other process's lock) loses none of the
    child's later records. With the inherited connection kept, ``child-2`` was lost (WAL deleted under it)."""
    path = tmp_path / "runs.db"
    store = SqliteStore(str(path))
    store.write(make_record(0))
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            store.write(make_record(1, run_id="child-1"))
            locks = _locks_of(os.getpid(), path)
            os.write(ready_w, b"x")
            os.read(go_r, 1)
            store.write(make_record(2, run_id="child-2"))
            code = 0 if any(lock.startswith("runs.db ") for lock in locks) and len(locks) >= 2 else 3
        finally:
            os._exit(code)
    assert os.read(ready_r, 1) == b"x"
    store.close()  # the parent's last connection
    os.write(go_w, b"x")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # 3: the child's connection held no lock of its own
    with sqlite3.connect(path) as conn:
        ids = {run_id for (run_id,) in conn.execute("SELECT run_id FROM runs")}
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    assert ids == {make_record(0).run_id, "child-1", "child-2"}


def test_a_fork_waits_for_a_running_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint holds SQLite's locks while it copies: a fork waits until it has ended (it runs inside the
    gate), and the parent's writers go on afterwards."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 1)
    store = SqliteStore(str(tmp_path / "runs.db"))
    store.write(make_record(0))  # the store's own connection is open: only the checkpointer connects from now
    assert store._checkpointer is not None
    store._checkpointer.join(10)  # the first write's checkpoint; the next write starts another
    real_connect = sqlite3.connect
    inside = threading.Event()

    def slow_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        inside.set()
        time.sleep(0.3)
        return real_connect(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_store.sqlite3, "connect", slow_connect)
    store.write(make_record(1))
    assert inside.wait(5)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    assert store._checkpointer is not None and not store._checkpointer.is_alive()
    os.waitpid(pid, 0)
    monkeypatch.undo()
    store.write(make_record(2))
    assert len(store.rows()) == 3
    store.close()


def test_the_gate_lets_threads_through_side_by_side_and_holds_them_only_while_a_fork_waits() -> None:
    """The gate's rules without a fork (its hooks called by hand): a fork waits for the thread inside; that thread
    may enter again (a signal handler in it) without waiting; a thread outside waits until the fork is done; the
    forking thread itself passes (a signal handler while it waits)."""
    gate = ForkGate("test work", wait_s=10)
    release, inside = threading.Event(), threading.Event()
    events: list[str] = []

    def worker() -> None:
        with gate:
            inside.set()
            release.wait(5)
            with gate:  # re-entry while the fork waits: no wait
                events.append("re-entered")
        events.append("worker out")

    def latecomer() -> None:
        with gate:
            events.append("latecomer in")

    def forker() -> None:
        gate._close()
        events.append("fork may go")
        with gate:  # the forking thread itself
            events.append("forker in")
        time.sleep(0.2)  # the latecomer is still held here
        events.append("fork done")
        gate._open()

    w = threading.Thread(target=worker)
    w.start()
    assert inside.wait(5)
    f = threading.Thread(target=forker)
    f.start()
    time.sleep(0.1)
    late = threading.Thread(target=latecomer)
    late.start()
    time.sleep(0.1)
    assert events == []  # the fork waits for the worker, the latecomer for the fork
    release.set()
    for t in (w, f, late):
        t.join(5)
    assert events == ["re-entered", "worker out", "fork may go", "forker in", "fork done", "latecomer in"]


def test_a_fork_that_waits_too_long_goes_ahead_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    gate = ForkGate("test work", wait_s=0.2)
    release, inside = threading.Event(), threading.Event()

    def stuck() -> None:
        with gate:
            inside.set()
            release.wait(5)

    t = threading.Thread(target=stuck)
    t.start()
    assert inside.wait(5)
    began = time.monotonic()
    gate._close()
    gate._open()
    release.set()
    t.join(5)
    assert 0.15 < time.monotonic() - began < 3
    assert "still under way in another thread" in caplog.text
