"""Nothing lost when the store is away: the spool, its delivery by a later run, and ``tracker sync``."""

from __future__ import annotations

import json
import logging
import stat
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pg_support import Relay, pg_database  # noqa: F401 - pg_database: the pg_url fixture
from runs_factory import make_record

import tracker
from tracker.cli import main
from tracker.paths import data_dir, default_store
from tracker.records.schema import RunRecord
from tracker.stores import open_store, spool
from tracker.stores.postgres import PostgresStore
from tracker.stores.sqlite import SqliteStore

SETTINGS = {"cpu_watts": 10.0, "ram_watts": 1.0, "country": "DE"}


def _run(**settings: object) -> RunRecord:
    t = tracker.Tracker(**SETTINGS, **settings)
    t.start()
    return t.stop()


def test_unreachable_postgres_spools_then_the_next_run_delivers(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    relay = Relay()
    url = relay.url(pg_url)  # nothing listens there yet: connection refused
    with caplog.at_level(logging.DEBUG, logger="tracker"):
        first = _run(project="away", store=url)
        second = _run(project="away", store=url)
    assert any("spooled" in note for note in first.notes)
    assert [n for n in second.notes if "spooled" in n]
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 1  # logged once, not per run
    waiting = spool.pending("store", url)
    assert sorted(p["row"]["run_id"] for _, p in waiting) == sorted([first.run_id, second.run_id])
    assert all(p["location"] == url for _, p in waiting)

    relay.start()
    try:
        third = _run(project="back", store=url)
    finally:
        relay.stop()
    assert not [n for n in third.notes if "spooled" in n]
    stored = {r.run_id: r for r in PostgresStore(pg_url).records()}
    assert set(stored) == {first.run_id, second.run_id, third.run_id}
    assert any("spooled" in n for n in stored[first.run_id].notes)  # the record says what happened to it
    assert spool.pending() == []


def test_a_wrong_port_spools_at_once_and_the_right_one_stores(pg_url: str) -> None:
    """The store URL itself names a port where no server listens (not a relay): stop() returns at once, the record
    waits in the spool for that URL (it is not lost, nor sent to another store), and the right URL stores runs."""
    import socket

    from pg_support import server_address

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    host, port = server_address()
    wrong = pg_url.replace(f"{host}:{port}/", f"{host}:{free}/", 1)
    assert wrong != pg_url
    t = tracker.Tracker(**SETTINGS, project="wrong", store=wrong)
    t.start()
    began = time.perf_counter()
    lost = t.stop()
    assert time.perf_counter() - began < 2.0
    assert any("spooled" in n and "Connection refused" in n for n in lost.notes)
    kept = _run(project="right", store=pg_url)
    assert not [n for n in kept.notes if "spooled" in n]
    assert [r.run_id for r in PostgresStore(pg_url).records()] == [kept.run_id]
    assert [p["row"]["run_id"] for _, p in spool.pending("store", wrong)] == [lost.run_id]
    assert main(["sync"]) == 1  # still waiting for its own store


def test_sync_delivers_and_reports_what_is_left(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    relay = Relay()
    url = relay.url(pg_url)
    records = [_run(project="offline", store=url) for _ in range(3)]
    assert main(["sync"]) == 1  # still unreachable: all left
    assert "0 delivered, 3 left" in capsys.readouterr().out
    relay.start()
    try:
        assert main(["sync"]) == 0
    finally:
        relay.stop()
    assert "3 delivered, 0 left" in capsys.readouterr().out
    assert {r.run_id for r in PostgresStore(pg_url).records()} == {r.run_id for r in records}
    assert main(["sync"]) == 0
    assert "nothing to deliver" in capsys.readouterr().out


def test_sqlite_failure_is_spooled_and_delivered(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store's directory should be")
    location = str(blocker / "runs.db")
    lost = _run(project="p", store=location)
    assert any("spooled" in n for n in lost.notes)
    assert len(spool.pending("store", location)) == 1
    blocker.unlink()
    kept = _run(project="p", store=location)
    assert {r.run_id for r in SqliteStore(location).records()} == {lost.run_id, kept.run_id}
    assert spool.pending() == []


def test_sqlite_file_of_an_older_tracker_gains_the_new_columns(tmp_path: Path) -> None:
    """A file written by tracker 0.1 says user_version 1 but lacks the later columns (zone, job_id, ...): it is
    upgraded when first opened, not left failing so that every run waits in the spool."""
    import sqlite3

    from tracker.records.schema import COLUMNS

    location = str(tmp_path / "old.db")
    old_columns = [c for c in COLUMNS if c not in ("zone", "emissions_market_kg", "embodied_kg", "job_id", "rank")]
    with sqlite3.connect(location) as conn:
        declared = ", ".join(c + (" PRIMARY KEY" if c == "run_id" else "") for c in old_columns)
        conn.execute(f"CREATE TABLE runs ({declared})")
        conn.execute("INSERT INTO runs (run_id, project, started_at) VALUES ('old-run', 'legacy', '2025-01-01')")
        conn.execute("PRAGMA user_version=1")
    record = _run(project="p", store=location)
    assert not [n for n in record.notes if "spooled" in n]
    assert spool.pending() == []
    assert {r["run_id"] for r in SqliteStore(location).rows()} == {"old-run", record.run_id}


def test_csv_target_is_spooled_too(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    csv_path = str(blocker / "runs.csv")
    record = _run(project="p", csv=csv_path)
    assert open_store().records()[0].run_id == record.run_id  # the store got it; only the CSV failed
    (target,) = {(p["kind"], p["location"]) for _, p in spool.pending()}
    assert target == ("csv", csv_path)
    blocker.unlink()
    assert main(["sync"]) == 0
    assert [r.run_id for r in open_store(csv_path).records()] == [record.run_id]


def test_delivering_twice_stores_once(tmp_path: Path) -> None:
    location = str(tmp_path / "runs.db")
    record = make_record(1)
    store = open_store(location)
    store.write(record)
    spool.put("store", location, record)  # e.g. a crash between a write and the removal of its spool file
    spool.put("store", location, record)  # the same run for the same target is one file
    assert len(spool.pending()) == 1
    result = spool.flush("store", location, store)
    assert (result.delivered, result.left) == (1, 0)
    assert len(store.rows()) == 1


def test_spool_files_are_whole_and_private() -> None:
    path = spool.put("store", "postgresql://u:pw@db.example/x", make_record(1))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the location may hold a password
    payload = json.loads(path.read_text())
    assert payload["row"]["run_id"] == make_record(1).run_id and payload["kind"] == "store"


def test_old_fallback_file_is_migrated_by_sync(capsys: pytest.CaptureFixture[str]) -> None:
    legacy = data_dir() / "unsaved-records.jsonl"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    rows = [make_record(i).to_row() for i in (1, 2)]
    legacy.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    assert main(["sync"]) == 0
    assert "2 delivered, 0 left" in capsys.readouterr().out
    assert {r["run_id"] for r in open_store(default_store()).rows()} == {r["run_id"] for r in rows}
    assert not legacy.exists()
    assert legacy.with_name("unsaved-records.jsonl.unreadable").read_text() == "not json\n"


def test_unreadable_spool_file_is_kept_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    spool.spool_dir().mkdir(parents=True)
    broken = spool.spool_dir() / "broken.json"
    broken.write_text("{half a rec")
    assert main(["sync"]) == 1
    assert "1 left" in capsys.readouterr().out
    assert broken.exists()


def test_empty_spool_costs_almost_nothing(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "runs.db"))
    assert not spool.spool_dir().exists()
    n = 2000
    began = time.perf_counter()
    for _ in range(n):
        spool.flush("store", store.location, store)
    per_call = (time.perf_counter() - began) / n
    assert per_call < 50e-6, per_call  # one failed listdir, a few microseconds
    assert not spool.spool_dir().exists()


def test_a_write_stuck_behind_a_lock_gives_up_and_spools(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another session holds the table: the run's end waits for the server's lock timeout, not forever."""
    import psycopg

    from tracker.stores import postgres

    first = _run(project="before", store=pg_url)  # creates the schema
    open_store(pg_url).close()
    from tracker.stores import factory

    factory.close_all()  # the next run opens a connection with the shortened timeouts below
    monkeypatch.setattr(postgres, "LOCK_TIMEOUT_MS", 300)
    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_MS", 2000)
    with psycopg.connect(pg_url) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        began = time.perf_counter()
        stuck = _run(project="stuck", store=pg_url)
        waited = time.perf_counter() - began
        holder.execute("ROLLBACK")
    assert waited < 3.0
    assert any("spooled" in n and "lock timeout" in n for n in stuck.notes), stuck.notes
    later = _run(project="after", store=pg_url)  # the lock is gone: this run delivers the spooled one too
    assert {r.run_id for r in PostgresStore(pg_url).records()} == {first.run_id, stuck.run_id, later.run_id}


def test_a_frozen_proxy_does_not_hang_the_run_s_end(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy (or server) whose process is frozen keeps acknowledging packets, so neither keepalives nor the
    server's timeouts fire. The write's deadline shuts its socket down: the record is spooled, the runs after it
    do not wait again while the store backs off, and all are stored once the peer answers."""
    from tracker.stores import postgres

    monkeypatch.setattr(postgres, "WRITE_DEADLINE_S", 1.0)
    monkeypatch.setattr(postgres, "BACKOFF_S", 2.0)
    relay = Relay()
    relay.start()
    url = relay.url(pg_url)
    # a thread per pool, each keeping its own connection (one per thread); a hang cannot take the test with it
    pool, other = ThreadPoolExecutor(max_workers=1), ThreadPoolExecutor(max_workers=1)
    try:
        before = pool.submit(_run, project="before", store=url).result(timeout=30)  # connected, schema ready
        before_other = other.submit(_run, project="before", store=url).result(timeout=30)
        assert spool.pending() == []
        relay.freeze()
        began = time.monotonic()
        frozen = pool.submit(_run, project="frozen", store=url).result(timeout=30)  # TimeoutError: it hung
        assert time.monotonic() - began < 4.0
        assert any("no answer in 1 s" in n and "spooled" in n for n in frozen.notes), frozen.notes
        began = time.monotonic()
        backing_off = [
            pool.submit(_run, project="frozen", store=url).result(timeout=30),
            other.submit(_run, project="frozen", store=url).result(timeout=30),  # its connection is not tried either
        ]
        assert time.monotonic() - began < 0.9
        assert all(any("not retried yet" in n for n in r.notes) for r in backing_off), [r.notes for r in backing_off]
        spooled = {frozen.run_id, *(r.run_id for r in backing_off)}
        assert {p["row"]["run_id"] for _, p in spool.pending("store", url)} == spooled
        relay.thaw()
        time.sleep(2.1)  # the backoff ends
        after = pool.submit(_run, project="after", store=url).result(timeout=30)
    finally:
        relay.thaw()
        relay.stop()
        pool.shutdown(wait=False)
        other.shutdown(wait=False)
    assert not [n for n in after.notes if "spooled" in n]
    stored = {r.run_id for r in PostgresStore(pg_url).records()}
    assert stored == {before.run_id, before_other.run_id, *spooled, after.run_id}
    assert spool.pending() == []


def test_sync_finishes_spool_writes_cut_short_by_kill_9(capsys: pytest.CaptureFixture[str]) -> None:
    """A process killed between writing a spool file and renaming it leaves a hidden temporary: sync moves a whole
    one into place and delivers it, reports a partial one (kept), and leaves a fresh one to its writer."""
    import os

    whole = spool.put("store", default_store(), make_record(1))
    directory = whole.parent
    stale = time.time() - 2 * spool.STALE_TEMPORARY_S
    temporary = directory / f".{whole.name}.4242.77.tmp"
    whole.rename(temporary)  # as if the rename never happened
    os.utime(temporary, (stale, stale))
    partial = directory / f".{whole.name.replace('run-000001', 'run-000002')}.4243.78.tmp"
    partial.write_text('{"format": 1, "kind": "store", "row": {"run_id": "run-0')
    os.utime(partial, (stale, stale))
    fresh = directory / f".{whole.name.replace('run-000001', 'run-000003')}.{os.getpid()}.79.tmp"
    fresh.write_text("{")  # a write under way right now
    assert main(["sync"]) == 1
    out = capsys.readouterr().out
    assert "1 delivered" in out and str(partial) in out
    assert {r["run_id"] for r in open_store(default_store()).rows()} == {"run-000001"}
    assert sorted(p.name for p in directory.iterdir()) == sorted([partial.name, fresh.name])


def test_sync_to_delivers_records_of_a_store_that_is_gone_to_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the old store's directory was")
    gone = str(blocker / "runs.db")
    lost = [_run(project="p", store=gone) for _ in range(2)]
    elsewhere = spool.put("store", "postgresql://u:pw@127.0.0.1:9/never", make_record(7))
    assert len(spool.pending()) == 3
    new = str(tmp_path / "new.db")
    assert main(["sync", "--store", gone, "--to", new]) == 0  # only the records meant for the old store
    out = capsys.readouterr().out
    assert f"2 delivered into {new}" in out
    assert {r.run_id for r in SqliteStore(new).records()} == {r.run_id for r in lost}
    assert [p for p, _ in spool.pending()] == [elsewhere]  # the other target's record still waits for its own
    stored = SqliteStore(new).records()[0]
    assert any("spooled" in n for n in stored.notes)  # the record still says where it first failed
    assert main(["sync", "--to", "ftp://nowhere/x"]) == 2  # a store no back end takes: an error, nothing moved
    assert [p for p, _ in spool.pending()] == [elsewhere]
    assert main(["sync", "--to", new]) == 0
    assert {r.run_id for r in SqliteStore(new).records()} == {r.run_id for r in lost} | {"run-000007"}
    assert spool.pending() == []


def _spool_from_another_process(location: str) -> str:
    """Spool one record for ``location`` the way another process would: this process's count of puts stays."""
    record = make_record(42)
    before = spool._puts
    spool.put("store", location, record)
    spool._puts = before
    return record.run_id


def test_an_empty_spool_is_looked_at_again_after_recheck_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop of short runs lists the spool once a second, not once a run: a record spooled by another process
    meanwhile waits for the first run after ``RECHECK_S``."""
    location = str(tmp_path / "runs.db")
    monkeypatch.setattr(spool, "RECHECK_S", 3600.0)
    _run(project="p", store=location)  # finds the spool empty
    other = _spool_from_another_process(location)
    _run(project="p", store=location)  # within RECHECK_S: does not look
    assert len(spool.pending("store", location)) == 1
    monkeypatch.setattr(spool, "RECHECK_S", 0.0)
    _run(project="p", store=location)  # the time is up: looks, delivers
    assert spool.pending() == []
    assert other in {r.run_id for r in SqliteStore(location).records()}


def test_a_record_spooled_by_this_process_is_delivered_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = str(tmp_path / "runs.db")
    monkeypatch.setattr(spool, "RECHECK_S", 3600.0)
    _run(project="p", store=location)  # finds the spool empty
    spool.put("store", location, make_record(43))  # e.g. a csv= target failed, or migrate_legacy
    _run(project="p", store=location)  # a put() since the last look: looks again at once
    assert spool.pending() == []
    assert len(SqliteStore(location).records()) == 3


def test_a_spool_left_non_empty_is_looked_at_by_every_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More waiting than one run delivers (``RUN_FLUSH_LIMIT``): the next run goes on at once."""
    location = str(tmp_path / "runs.db")
    monkeypatch.setattr(spool, "RECHECK_S", 3600.0)
    monkeypatch.setattr(spool, "RUN_FLUSH_LIMIT", 1)
    for i in range(3):
        spool.put("store", location, make_record(50 + i))
    _run(project="p", store=location)
    assert len(spool.pending("store", location)) == 2
    _run(project="p", store=location)
    _run(project="p", store=location)
    assert spool.pending() == []


def test_two_deliveries_at_once_count_each_record_once(tmp_path: Path) -> None:
    """Two `tracker sync` at once both write a spooled record (stored once: upsert); only the one that removes
    its file counts it as delivered, so the two reports add up to what was spooled."""
    location = str(tmp_path / "runs.db")
    paths = [spool.put("store", location, make_record(60 + i)) for i in range(3)]

    class RacedStore(SqliteStore):
        def write_many(self, records: Iterable[RunRecord]) -> None:
            super().write_many(records)
            paths[0].unlink()  # the other process removed this one between our write and our removal

    result = spool.flush("store", location, RacedStore(location))
    assert (result.delivered, result.left, result.errors) == (2, 0, [])
    assert len(SqliteStore(location).records()) == 3 and spool.pending() == []
