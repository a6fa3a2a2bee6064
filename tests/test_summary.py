"""Roll-ups: totals against hand-computed sums, SQL against pandas, periods, filters, bounds."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

import pandas as pd
import pytest
from runs_factory import generated_runs, make_record

import tracker
from tracker.records.schema import TOTALS
from tracker.reports.periods import period_key, period_series, sql_period
from tracker.stores import sqlite_rollup
from tracker.stores.csv import CsvStore
from tracker.stores.sqlite import SqliteStore

FIELDS = TOTALS[1:]


@pytest.fixture
def runs():
    return generated_runs()


@pytest.fixture
def sqlite_store(tmp_path, runs):
    store = SqliteStore(str(tmp_path / "runs.db"))
    store.write_many(runs)
    yield store
    store.close()


def _hand(runs, key) -> dict:
    """Totals per key computed the obvious way, run by run."""
    sums: dict = defaultdict(lambda: defaultdict(float))
    for r in runs:
        k = key(r)
        sums[k]["runs"] += 1
        for f in FIELDS:
            sums[k][f] += getattr(r, f)
    return sums


def _as_dict(frame: pd.DataFrame, keys: list[str]) -> dict:
    return {tuple(row[k] for k in keys): row for row in frame.to_dict(orient="records")}


@pytest.mark.parametrize("period", [None, "day", "week", "month", "quarter", "year"])
def test_rollup_matches_hand_sums(sqlite_store, runs, period):
    frame = tracker.summarize(store=sqlite_store, by=("organisation", "team", "project"), period=period)
    key = lambda r: (r.organisation, r.team, r.project) + ((period_key(r.started_at, period),) if period else ())  # noqa: E731
    expected = _hand(runs, key)
    got = _as_dict(frame, ["organisation", "team", "project"] + (["period"] if period else []))
    assert set(got) == set(expected)
    for k, sums in expected.items():
        assert got[k]["runs"] == sums["runs"]
        for f in FIELDS:
            assert got[k][f] == sums[f], (k, f)  # dyadic values: sums are exact in any order


def test_hierarchy_adds_up_exactly(sqlite_store, runs):
    orgs = tracker.summarize(store=sqlite_store, by="organisation")
    teams = tracker.summarize(store=sqlite_store, by=("organisation", "team"))
    projects = tracker.summarize(store=sqlite_store, by=("organisation", "team", "project"))
    each = tracker.summarize(store=sqlite_store, by="run")
    assert len(each) == len(runs)
    for org in orgs.to_dict(orient="records"):
        name = org["organisation"]
        for f in ("runs", *FIELDS):
            assert org[f] == teams[teams.organisation == name][f].sum()
            assert org[f] == projects[projects.organisation == name][f].sum()
            mine = [r.run_id for r in runs if r.organisation == name]
            assert org[f] == each[each.run_id.isin(mine)][f].sum()


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize(
    "by", [("project",), ("organisation", "project"), ("job",), ("experiment", "team"), (), ("rank",), ("zone",)]
)
@pytest.mark.parametrize("period", [None, "week", "month", "quarter"])
def test_sql_and_pandas_give_the_same_frame(sqlite_store, monkeypatch, by, period, parallel):
    if parallel:  # force several rowid ranges on their own connections
        monkeypatch.setattr(sqlite_rollup, "PARALLEL_FROM_ROWS", 10)
        monkeypatch.setattr(sqlite_rollup.os, "cpu_count", lambda: 3)
    sql = tracker.summarize(store=sqlite_store, by=by, period=period)
    frame = tracker.summarize(tracker.load_runs(sqlite_store.location), by=by, period=period)
    pd.testing.assert_frame_equal(sql, frame)


def test_csv_store_has_no_rollup_and_gives_the_same_numbers(tmp_path, runs, sqlite_store):
    csv_store = CsvStore(str(tmp_path / "runs.csv"))
    csv_store.write_many(runs)
    assert csv_store.rollup(("project",)) is None
    a = tracker.summarize(store=csv_store, by=("team",), period="month", since="2026-01-01")
    b = tracker.summarize(store=sqlite_store, by=("team",), period="month", since="2026-01-01")
    pd.testing.assert_frame_equal(a, b)


def test_filters_and_bounds(sqlite_store, runs):
    since, until = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 3, 1, tzinfo=timezone.utc)
    frame = tracker.summarize(store=sqlite_store, by=(), since=since, until=until, organisation="acme", team="ml")
    chosen = [r for r in runs if r.organisation == "acme" and r.team == "ml" and since <= r.started_at < until]
    assert 0 < len(chosen) < len(runs)
    assert frame.loc[0, "runs"] == len(chosen)
    assert frame.loc[0, "emissions_kg"] == sum(r.emissions_kg for r in chosen)
    # the same bounds on the rows, and naive datetimes read as UTC
    rows = sqlite_store.rows(since=since.replace(tzinfo=None), until=until, team="ml", organisation="acme")
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for r in chosen)
    assert len(tracker.load_runs(sqlite_store.location, since="2026-01-01", until="2026-03-01")) == len(
        [r for r in runs if since <= r.started_at < until]
    )


def test_bound_is_inclusive_then_exclusive(tmp_path):
    store = SqliteStore(str(tmp_path / "b.db"))
    edge = datetime(2026, 2, 1, tzinfo=timezone.utc)
    store.write(make_record(1, started_at=edge))
    assert tracker.summarize(store=store, by=(), since=edge).loc[0, "runs"] == 1
    assert tracker.summarize(store=store, by=(), until=edge).empty


def test_empty_store_gives_empty_frame_with_columns(tmp_path):
    frame = tracker.summarize(store=SqliteStore(str(tmp_path / "e.db")), by=("project",), period="month")
    assert frame.empty
    assert list(frame.columns) == ["project", "period", *TOTALS]


def test_bad_arguments_are_config_errors(sqlite_store):
    with pytest.raises(tracker.ConfigError, match="by"):
        tracker.summarize(store=sqlite_store, by=("energy_kwh",))
    with pytest.raises(tracker.ConfigError, match="period"):
        tracker.summarize(store=sqlite_store, period="fortnight")
    with pytest.raises(tracker.ConfigError):
        tracker.summarize(store=sqlite_store, since="last tuesday")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 23, 10, tzinfo=timezone.utc),
        datetime(2027, 1, 1, tzinfo=timezone.utc),  # ISO week 2026-W53
        datetime(2024, 12, 30, tzinfo=timezone.utc),  # ISO week 2025-W01
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
        datetime(2026, 4, 1, tzinfo=timezone.utc),
    ],
)
@pytest.mark.parametrize("period", ["day", "week", "month", "quarter", "year"])
def test_period_keys_agree_in_python_pandas_and_sqlite(moment, period):
    import sqlite3

    from tracker.records.schema import iso

    expected = period_key(moment, period)
    series = period_series(pd.Series(pd.to_datetime([moment], utc=True)), period)
    assert series.iloc[0] == expected
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (started_at TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", [iso(moment)])
    assert conn.execute(f"SELECT {sql_period('started_at', period)} FROM t").fetchone()[0] == expected


def test_period_labels():
    moment = datetime(2026, 11, 23, tzinfo=timezone.utc)
    assert [period_key(moment, p) for p in ("day", "week", "month", "quarter", "year")] == [
        "2026-11-23",
        "2026-W48",
        "2026-11",
        "2026-Q4",
        "2026",
    ]
    assert period_key(datetime(2027, 1, 1, tzinfo=timezone.utc), "week") == "2026-W53"


def test_import_tracker_stays_free_of_pandas():
    import subprocess
    import sys

    code = "import sys, tracker; tracker.summarize; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
