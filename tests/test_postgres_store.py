"""The PostgreSQL store against a real server (see pg_support: required in CI, a fresh database per test)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from pg_support import Relay, pg_database, require_server  # noqa: F401 - pg_database: the pg_url fixture
from runs_factory import generated_runs, make_record

import tracker
from tracker.errors import ConfigError, StoreError
from tracker.records.schema import COLUMNS, FILTERS
from tracker.reports.summary import summarize
from tracker.stores import locations, open_store
from tracker.stores.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresStore, redact, sql_type
from tracker.stores.sqlite import SqliteStore


def _both(pg_url: str, tmp_path: Path, records: list) -> tuple[PostgresStore, SqliteStore]:
    pg = PostgresStore(pg_url)
    lite = SqliteStore(str(tmp_path / "same.db"))
    pg.write_many(records)
    lite.write_many(records)
    return pg, lite


def test_rows_are_the_sqlite_rows(pg_url: str, tmp_path: Path) -> None:
    records = generated_runs(120)
    records[0].tags = {"cluster": "a100", "z": "1"}
    records[0].notes = ["a note"]
    records[1].job_id, records[1].rank, records[1].world_size = "job-7", 3, 8
    pg, lite = _both(pg_url, tmp_path, records)
    assert pg.rows() == lite.rows()
    assert pg.rows(limit=5, project="vision") == lite.rows(limit=5, project="vision")
    since, until = datetime(2026, 1, 1), datetime(2026, 3, 1, tzinfo=timezone.utc)
    picked = pg.rows(since=since, until=until)
    assert picked == lite.rows(since=since, until=until)
    assert 0 < len(picked) < len(records)
    assert pg.records(run_id=records[0].run_id) == [records[0]]  # a record survives the round trip whole


def test_writing_twice_stores_once(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    record = make_record(1)
    store.write(record)
    record.notes = ["updated"]
    store.write(record)
    store.write_many([record, make_record(2)])
    assert store.count() == 2
    assert store.records(run_id=record.run_id)[0].notes == ["updated"]


def test_load_runs_and_summarize_match_sqlite(pg_url: str, tmp_path: Path) -> None:
    pg, lite = _both(pg_url, tmp_path, generated_runs(240))
    assert tracker.load_runs(store=pg_url).equals(tracker.load_runs(store=lite.location))
    for by in [("project",), ("organisation", "team"), ("team", "experiment"), ()]:
        for period in (None, "day", "week", "month", "quarter", "year"):
            in_sql = summarize(store=pg, by=by, period=period)
            assert in_sql.equals(summarize(store=lite, by=by, period=period)), (by, period)
            assert len(in_sql) > 0
    bounded = {"since": "2026-01-01", "until": "2026-03-01", "team": "ml"}
    assert summarize(store=pg, period="month", **bounded).equals(summarize(store=lite, period="month", **bounded))
    # the SQL roll-up agrees with the pandas one over the same runs
    assert summarize(store=pg, by=("team",), period="week").equals(
        summarize(tracker.load_runs(store=pg_url), by=("team",), period="week")
    )


def test_job_filters_match_sqlite(pg_url: str, tmp_path: Path) -> None:
    """Both stores take the same label filters, job and node included (summarize(by="node", job_id=...))."""
    records = generated_runs(40)
    for i, record in enumerate(records[:8]):
        record.job_id, record.node, record.rank = "job-9", f"node-{i % 2}", i
    pg, lite = _both(pg_url, tmp_path, records)
    from_pg = tracker.load_runs(store=pg_url, job_id="job-9")
    assert len(from_pg) == 8 and from_pg.equals(tracker.load_runs(store=lite.location, job_id="job-9"))
    assert len(pg.rows(job_id="job-9", node="node-1")) == 4 == len(lite.rows(job_id="job-9", node="node-1"))
    in_sql = summarize(store=pg, by=("node",), job_id="job-9")
    assert in_sql.equals(summarize(store=lite, by=("node",), job_id="job-9"))
    assert in_sql["runs"].tolist() == [4, 4]


def test_every_filter_selects_the_same_rows_as_sqlite(pg_url: str, tmp_path: Path) -> None:
    """One WHERE builder: each column of FILTERS, alone, with bounds and combined, picks the same runs from both."""
    records = generated_runs(60)
    for i, record in enumerate(records):
        record.status = ("completed", "failed", "interrupted")[i % 3]
        record.host = f"host-{i % 4}"
        record.node = f"node-{i % 2}" if i % 5 else None
        record.endpoint = f"GET /items/{{id}}/{i % 3}" if i % 2 else None  # a web service's per-endpoint rows
        record.status_class = f"{2 + i % 3}xx" if i % 2 else None
    pg, lite = _both(pg_url, tmp_path, records)
    since, until = datetime(2026, 1, 1), datetime(2026, 3, 1, tzinfo=timezone.utc)
    for column in FILTERS:
        value = next(getattr(r, column) for r in records if getattr(r, column) is not None)
        expected = sorted(r.run_id for r in records if getattr(r, column) == value)
        picked = pg.rows(**{column: value})
        assert picked == lite.rows(**{column: value}), column
        assert sorted(r["run_id"] for r in picked) == expected, column
        bounded = pg.rows(since=since, until=until, **{column: value})
        assert bounded == lite.rows(since=since, until=until, **{column: value}), column
        assert {r["run_id"] for r in bounded} <= set(expected)
    combined = {"organisation": "acme", "status": "failed", "host": "host-1", "experiment": None}
    assert pg.rows(**combined) == lite.rows(**combined) != []
    in_sql = summarize(store=pg, by=("project",), period="month", since=since, **combined)
    assert in_sql.equals(summarize(store=lite, by=("project",), period="month", since=since, **combined))
    assert len(in_sql) > 0


def test_both_stores_refuse_the_same_filters(pg_url: str, tmp_path: Path) -> None:
    pg, lite = _both(pg_url, tmp_path, generated_runs(6))
    for store in (pg, lite):
        for key in ("zone", "energy_kwh", "tags"):
            with pytest.raises(StoreError, match=f"cannot filter on {key!r}"):
                store.rows(**{key: "x"})
            with pytest.raises(StoreError, match=f"cannot filter on {key!r}"):
                store.rollup(("project",), **{key: "x"})
        assert store.rows(zone=None) == store.rows()  # None is no filter, whatever the key
    with pytest.raises(StoreError, match="cannot filter on 'zone'"):
        tracker.load_runs(store=pg_url, zone="DE")


def test_period_labels_at_year_boundaries(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    # 2027-01-01 is a Friday: ISO week 53 of 2026. 23:30 in New York is already 2027 in UTC.
    from datetime import timedelta

    new_york = timezone(timedelta(hours=-5))
    store.write(make_record(1, started_at=datetime(2027, 1, 1, 12, tzinfo=timezone.utc)))
    store.write(make_record(2, started_at=datetime(2026, 12, 31, 23, 30, tzinfo=new_york)))
    for period, label in (("week", "2026-W53"), ("quarter", "2027-Q1"), ("day", "2027-01-01"), ("year", "2027")):
        frame = store.rollup((), period=period)
        assert frame["period"].tolist() == [label]
        assert frame["runs"].tolist() == [2]


def test_empty_store_rolls_up_to_no_rows(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    assert store.rows() == []
    assert len(summarize(store=store, by=())) == 0
    assert len(summarize(store=store, by=("project",), period="month")) == 0


def test_schema_is_versioned(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store.write(make_record(1))
    with psycopg.connect(pg_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM tracker_schema ORDER BY version")]
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'runs'"
            ).fetchall()
        )
    assert versions == [m[0] for m in MIGRATIONS] and versions[-1] == SCHEMA_VERSION
    assert set(types) == set(COLUMNS)
    assert types["started_at"] == "timestamp with time zone"
    assert types["energy_kwh"] == "double precision"


def test_an_old_schema_upgrades_itself(pg_url: str) -> None:
    """A version-1 database from an older tracker (fewer columns, no roll-up indexes) gains what it lacks."""
    old_columns = COLUMNS[: COLUMNS.index("interval_s") + 1]
    old = make_record(1)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE tracker_schema (version integer PRIMARY KEY, applied_at timestamptz, description text)"
        )
        conn.execute("INSERT INTO tracker_schema VALUES (1, now(), 'v1')")
        declared = ", ".join(f"{c} {sql_type(c)}{' PRIMARY KEY' if c == 'run_id' else ''}" for c in old_columns)
        conn.execute(f"CREATE TABLE runs ({declared})")
        conn.execute(
            "INSERT INTO runs (run_id, project, started_at, ended_at) VALUES (%s, 'legacy', now(), now())", [old.run_id]
        )
    store = PostgresStore(pg_url)
    store.write(make_record(2, job_id="job-1", rank=0))
    with psycopg.connect(pg_url) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM tracker_schema ORDER BY version")]
        columns = {
            c for (c,) in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'")
        }
        indexes = {i for (i,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'runs'")}
        steps_table = conn.execute("SELECT to_regclass('steps')").fetchone()[0]
    assert versions == [v for v, _, _ in MIGRATIONS]
    assert steps_table is not None  # the child table of a run's steps (tracker.records.steps)
    assert set(COLUMNS) <= columns
    assert {"runs_project", "runs_team", "runs_job"} <= indexes
    rows = {r["run_id"]: r for r in store.rows()}
    assert rows[old.run_id]["project"] == "legacy" and rows[old.run_id]["job_id"] is None
    assert rows[make_record(2).run_id]["job_id"] == "job-1"


def test_concurrent_first_opens_do_not_fail(pg_url: str) -> None:
    """Eight connections prepare a brand-new database at once: the advisory lock makes them take turns."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def first_write(i: int) -> None:
        store = PostgresStore(pg_url)
        barrier.wait()
        try:
            store.write(make_record(i))
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=first_write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert PostgresStore(pg_url).count() == 8


def test_reconnects_after_the_server_went_away(pg_url: str) -> None:
    relay = Relay()
    relay.start()
    store = PostgresStore(relay.url(pg_url))
    try:
        store.write(make_record(1))
        relay.stop()  # cuts the open connection
        with pytest.raises(StoreError, match="cannot"):
            store.write(make_record(2))
        relay.start()
        store.write(make_record(3))  # a fresh connection, without reopening the store
    finally:
        relay.stop()
    assert sorted(r["run_id"] for r in PostgresStore(pg_url).rows()) == [make_record(1).run_id, make_record(3).run_id]


def test_location_is_recognised_and_redacted() -> None:
    store = open_store("postgresql://alice:s3cret@127.0.0.1:1/db")
    assert isinstance(store, PostgresStore)
    assert "s3cret" not in store.label and "alice" in store.label
    assert (
        redact("postgres://u:p@h/db?password=x&sslmode=require") == "postgres://u:***@h/db?password=***&sslmode=require"
    )
    locations.check_location("postgres://h/db")  # both schemes are PostgreSQL
    with pytest.raises(ConfigError, match="postgresql://"):
        locations.check_location("mysql://h/db")


def test_missing_driver_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(ConfigError) as caught:
        tracker.Tracker(store="postgresql://bob:pw@127.0.0.1/db")
    assert caught.value.key == "store" and "tracker[postgres]" in caught.value.reason
    assert "pw" not in str(caught.value)


def test_unreachable_server_fails_fast() -> None:
    """A refused connection is a StoreError at once, not a hang (the spool takes the record)."""
    require_server()
    import time

    store = PostgresStore("postgresql://postgres@127.0.0.1:1/postgres")
    began = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect"):
        store.write(make_record(1))
    assert time.monotonic() - began < 2.0


def test_a_connect_that_timed_out_is_not_retried_by_every_run() -> None:
    """A server that never answers (packets dropped) costs connect_timeout once; the runs ending in the next
    BACKOFF_S seconds fail at once (their records go to the spool) instead of each waiting again."""
    import socket
    import time

    with socket.socket() as silent:  # the kernel completes the handshake; nothing ever answers libpq
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        store = PostgresStore(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/db?connect_timeout=2")
        began = time.monotonic()
        with pytest.raises(StoreError, match="cannot connect"):
            store.write(make_record(1))
        assert 1.0 < time.monotonic() - began < 6.0
        began = time.monotonic()
        with pytest.raises(StoreError, match="not retried yet"):
            store.write(make_record(2))
        assert time.monotonic() - began < 0.5


def test_non_finite_floats_survive(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store.write(make_record(1, cpu_power_w=float("nan"), gpu_power_w=float("inf"), ram_power_w=float("-inf")))
    (back,) = store.records()
    assert back.cpu_power_w != back.cpu_power_w  # NaN
    assert (back.gpu_power_w, back.ram_power_w) == (float("inf"), float("-inf"))


def test_tracker_store_variable_selects_postgres(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_STORE", pg_url)
    with tracker.track(project="from-env", cpu_watts=5.0, country="FR") as run:
        pass
    assert not [n for n in run.notes if "failed" in n]
    assert [r["run_id"] for r in PostgresStore(pg_url).rows(project="from-env")] == [run.run_id]
    assert tracker.load_runs(project="from-env")["run_id"].tolist() == [run.run_id]


def test_a_forked_child_does_not_break_the_parents_connection(pg_url: str) -> None:
    import os

    store = open_store(pg_url)
    store.write(make_record(1))
    session = store._connect().info.backend_pid
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: its own connection, the parent's dropped unclosed
        try:
            child = open_store(pg_url)
            child.write(make_record(2))
            code = 0 if child is not store else 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    store.write(make_record(3))
    assert store._connect().info.backend_pid == session  # the parent's session survived the child's exit
    assert store.count() == 3
