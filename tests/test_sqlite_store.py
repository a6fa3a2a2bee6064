"""The SQLite store's checkpoints: off the writer's path, and nothing lost either way."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from runs_factory import make_record
from waiting import wait_for

from tracker.records.schema import COLUMNS, RunRecord
from tracker.stores import sqlite as sqlite_store
from tracker.stores.sqlite import CHECKPOINT_EVERY, SAFETY_AUTOCHECKPOINT, SqliteStore


def test_checkpoints_run_in_a_background_thread_every_so_many_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 10)
    path = tmp_path / "runs.db"
    store = SqliteStore(str(path))
    started: list[str] = []
    real_checkpoint = SqliteStore._checkpoint

    def spy(self: SqliteStore) -> None:
        started.append(threading.current_thread().name)
        real_checkpoint(self)

    monkeypatch.setattr(SqliteStore, "_checkpoint", spy)
    for i in range(9):
        store.write(make_record(i))
    assert started == []  # not yet: the writer never checkpoints on its own below SQLite's safety net
    size_before = path.stat().st_size
    store.write(make_record(9))
    assert store._checkpointer is not None
    store._checkpointer.join(10)
    assert started == ["tracker-checkpoint"]  # in its own thread, not in the writer's
    assert path.stat().st_size > size_before  # the pages were copied from the WAL into the file
    assert len(SqliteStore(str(path)).rows()) == 10
    store.close()


def test_the_writer_keeps_sqlites_own_checkpoint_only_as_a_safety_net(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "runs.db"))
    store.write(make_record(0))
    with store._connection() as conn:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_AUTOCHECKPOINT
    store.close()


def test_a_failing_checkpoint_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 3)
    path = tmp_path / "runs.db"
    store = SqliteStore(str(path))

    def broken_connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("disk I/O error")

    for i in range(2):
        store.write(make_record(i))
    monkeypatch.setattr(sqlite_store.sqlite3, "connect", broken_connect)  # only the checkpointer connects anew
    store.write(make_record(2))
    assert store._checkpointer is not None
    store._checkpointer.join(10)
    monkeypatch.undo()
    store.write(make_record(3))
    assert sorted(r["run_id"] for r in SqliteStore(str(path)).rows()) == [f"run-{i:06d}" for i in range(4)]
    store.close()


def test_a_row_has_exactly_the_columns_in_order_even_with_an_attribute_of_ones_own(tmp_path: Path) -> None:
    record = make_record(0, tags={"b": "2", "a": "1"}, notes=["x"])
    row = record.to_row()
    assert list(row) == list(COLUMNS)
    assert row["tags"] == '{"a": "1", "b": "2"}' and row["notes"] == '["x"]' and row["spans"] == "[]"
    record.mine = "extra"  # type: ignore[attr-defined]
    assert list(record.to_row()) == list(COLUMNS)
    store = SqliteStore(str(tmp_path / "runs.db"))
    store.write(record)
    assert RunRecord.from_row(store.rows()[0]) == make_record(0, tags={"b": "2", "a": "1"}, notes=["x"])
    store.close()


def test_two_writers_crossing_checkpoint_every_do_not_start_the_same_thread_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers crossing CHECKPOINT_EVERY at once: the second, which passed the count check before the first
    reset it, must neither replace a thread not yet started nor start one twice (a RuntimeError after the row
    was committed would spool a record that was stored). A lock wrapper forces the interleaving; ``_wrote()``
    is what ``write()`` runs right after its commit."""
    store = SqliteStore(str(tmp_path / "runs.db"))
    store.write(make_record(0))
    monkeypatch.setattr(SqliteStore, "_checkpoint", lambda self: None)
    real = store._schema_lock
    a_inside, b_waiting, b_out = threading.Event(), threading.Event(), threading.Event()

    class Interleaving:
        def __enter__(self) -> Interleaving:
            if threading.current_thread().name == "writer-b":
                b_waiting.set()
                real.acquire()
            else:
                real.acquire()
                a_inside.set()
                b_waiting.wait(5)
                time.sleep(0.05)  # writer B is now blocked on the lock, having passed the count check
            return self

        def __exit__(self, *exc: Any) -> None:
            real.release()
            if threading.current_thread().name == "writer-b":
                b_out.set()
            else:
                b_out.wait(5)  # B takes the lock between A's release and A's `self._checkpointer.start()`
                # and starts its thread first (were both to call start() at once, one Thread object could even
                # run twice: CPython checks `_started` before it is set)
                wait_for(lambda: store._checkpointer is not None and store._checkpointer.ident is not None)

    store._schema_lock = Interleaving()  # type: ignore[assignment]
    store._writes = CHECKPOINT_EVERY - 1
    errors: list[BaseException] = []

    def writer_b() -> None:
        a_inside.wait(5)
        try:
            store._wrote()
        except Exception as exc:
            errors.append(exc)

    b = threading.Thread(target=writer_b, name="writer-b")
    b.start()
    try:
        store._wrote()
    except Exception as exc:
        errors.append(exc)
    b.join(5)
    store._schema_lock = real
    store.close()
    assert errors == []


# -- interrupts inside the store (found in review of the fork gate) -------------------------------------------------

_TESTS = Path(__file__).parent
_REPO = _TESTS.parent


def _run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter with the tests' helpers importable: signals and a hang stay out of pytest."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_TESTS), str(_REPO)])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)


def test_an_interrupt_just_after_begin_leaves_no_open_transaction_in_the_pool(tmp_path: Path) -> None:
    """A Ctrl-C that lands as ``BEGIN IMMEDIATE`` returns (it waited for another process's write lock) must roll
    back: a pooled connection left inside the transaction made every later write of the process uncommitted, and
    kept the write lock from every other process."""
    db = tmp_path / "runs.db"
    done = _run_script(f"""
import signal, sqlite3, subprocess, sys
from runs_factory import make_record
from tracker.records.steps import StepStat
from tracker.stores.sqlite import SqliteStore
store = SqliteStore({str(db)!r})
store.write(make_record(0))
holder = subprocess.Popen([sys.executable, "-c", "import sqlite3, time; c = sqlite3.connect({str(db)!r}, "
    "isolation_level=None); c.execute('BEGIN IMMEDIATE'); print('held', flush=True); time.sleep(1.0); "
    "c.execute('COMMIT')"], stdout=subprocess.PIPE)
holder.stdout.readline()
def interrupt(*_): raise KeyboardInterrupt
signal.signal(signal.SIGALRM, interrupt)
signal.setitimer(signal.ITIMER_REAL, 0.3)  # while BEGIN waits for the holder: raised as it returns
step = StepStat(0, "s", "2026-01-01T00:00:00", "2026-01-01T00:00:01", 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
try:
    store.write(make_record(1, steps=[step]))
    print("returned")
except KeyboardInterrupt:
    print("interrupted")
holder.wait()
print("pooled in a transaction:", any(c.in_transaction for c in store._idle))
store.write(make_record(2))
other = sqlite3.connect({str(db)!r}, isolation_level=None, timeout=0.5)
print("others see", other.execute("SELECT count(*) FROM runs WHERE run_id = ?", (make_record(2).run_id,)).fetchone()[0])
other.execute("BEGIN IMMEDIATE")
print("others can write")
""")
    assert done.returncode == 0, done.stderr
    assert "interrupted" in done.stdout  # the interrupt did land inside the write
    assert "pooled in a transaction: False" in done.stdout
    assert "others see 1" in done.stdout and "others can write" in done.stdout


def test_a_signal_during_the_first_opens_schema_check_writes_without_deadlock(tmp_path: Path) -> None:
    """A SIGTERM handler writes its record through the store; landing while this thread holds the schema lock (the
    first open checks the file's version) it waited on that lock for ever. Now it writes, and so does the write it
    interrupted."""
    db = tmp_path / "runs.db"
    done = _run_script(f"""
import faulthandler, os, signal, sqlite3, sys
from runs_factory import make_record
from tracker.stores import sqlite as S
S.SqliteStore({str(db)!r}).write(make_record(0))  # an up-to-date file: the next store's first open only checks it
class Signalling(sqlite3.Connection):
    def execute(self, sql, *args):
        cursor = super().execute(sql, *args)
        if sql == "PRAGMA user_version" and not getattr(Signalling, "sent", False):
            Signalling.sent = True
            os.kill(os.getpid(), signal.SIGUSR1)  # lands during the schema check
        return cursor
connect = sqlite3.connect
shim = type(sys)("sqlite3_shim")
shim.__dict__.update(sqlite3.__dict__)
shim.connect = lambda *a, **k: connect(*a, factory=Signalling, **k)
S.sqlite3 = shim
store = S.SqliteStore({str(db)!r})
signal.signal(signal.SIGUSR1, lambda *_: store.write(make_record(999)))
faulthandler.dump_traceback_later(10, exit=True)  # a deadlock ends the process, with its stacks
store.write(make_record(1))
print("runs", connect({str(db)!r}).execute("SELECT count(*) FROM runs").fetchone()[0])
""")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "runs 3" in done.stdout
