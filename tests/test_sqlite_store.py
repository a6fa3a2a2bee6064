"""The SQLite store's checkpoints: off the writer's path, and nothing lost either way."""

from __future__ import annotations

import sqlite3
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
