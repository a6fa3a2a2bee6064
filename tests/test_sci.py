"""SCI per functional unit (issue 12, point 6): a run counts what it serves, stores keep the count, roll-ups and
every report show ((E x I) + M) per R with R named."""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest
from pg_support import pg_database  # noqa: F401 - the pg_url fixture
from runs_factory import make_record

import tracker
from tracker.errors import ConfigError
from tracker.records.schema import COLUMNS, TOTALS, UNIT_TOTALS, RunRecord
from tracker.reports.data import build_report
from tracker.reports.render import render
from tracker.reports.render.phrases import singular
from tracker.reports.render.units import mass
from tracker.stores import sqlite_rollup
from tracker.stores.csv import CsvStore
from tracker.stores.sqlite import SqliteStore

# -- a run counts its units -------------------------------------------------------------------------------------


def test_units_counted_from_many_threads_are_all_in_the_record(store_path: str) -> None:
    with tracker.track(project="api", functional_unit="requests", functional_units=5, store=store_path) as run:

        def serve() -> None:
            for _ in range(5_000):
                run.add_units()

        threads = [threading.Thread(target=serve) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        run.add_units(2.5)
    assert (run.functional_unit, run.functional_units) == ("requests", 40_007.5)  # 5 known + 8 x 5,000 + 2.5
    stored = tracker.load_runs(store_path)
    assert stored.loc[0, "functional_unit"] == "requests" and stored.loc[0, "functional_units"] == 40_007.5


def test_a_run_that_counts_nothing_has_no_units(store_path: str) -> None:
    with tracker.track(functional_unit="requests", store=store_path) as run:
        pass
    assert run.functional_unit == "requests" and run.functional_units is None  # named, but nothing counted
    with tracker.track(store=store_path) as other:
        pass
    assert other.functional_unit is None and other.functional_units is None


def test_units_added_after_the_record_are_not_counted_and_said_once(
    store_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with tracker.track(functional_unit="tokens", store=store_path) as run:
        run.add_units(10)
    with caplog.at_level(logging.WARNING, logger="tracker.core.state"):
        run.add_units(3)
        run.add_units(4)
    assert run.functional_units == 10.0
    late = [r for r in caplog.records if "functional units added after its record" in r.getMessage()]
    assert len(late) == 1 and run.run_id in late[0].getMessage()
    assert tracker.load_runs(store_path).loc[0, "functional_units"] == 10.0


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "3"])
def test_a_count_that_is_not_a_count_is_refused_at_the_call(store_path: str, bad: object) -> None:
    with tracker.track(functional_unit="requests", store=store_path) as run:
        with pytest.raises((ValueError, TypeError)):
            run.add_units(bad)  # type: ignore[arg-type]
        run.add_units(0)
    assert run.functional_units == 0.0


def test_add_units_finds_the_run_of_its_context(store_path: str) -> None:
    assert tracker.add_units(3) is False  # outside any run: nothing counted, nothing raised

    @tracker.track(project="svc", functional_unit="samples", store=store_path)
    def batch(n: int) -> None:
        tracker.add_units(n)

    batch(32)
    batch(16)
    stored = tracker.load_runs(store_path)
    assert sorted(stored["functional_units"]) == [16.0, 32.0] and set(stored["functional_unit"]) == {"samples"}


def test_units_counted_without_a_name_are_named_units_with_a_note(store_path: str) -> None:
    with tracker.track(store=store_path) as run:
        tracker.add_units(2)
    assert (run.functional_unit, run.functional_units) == ("units", 2.0)
    assert any("without a functional_unit setting" in note for note in run.notes)


def test_a_count_without_a_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        tracker.Tracker(functional_units=100)
    assert info.value.key == "functional_units" and "functional_unit" in info.value.reason
    with pytest.raises(ConfigError):
        tracker.Tracker(functional_unit="requests", functional_units=-5)


def test_tracker_run_takes_the_unit_flags(tmp_path: Path) -> None:
    from tracker.cli import main

    store = str(tmp_path / "runs.db")
    argv = ["run", "--store", store, "--functional-unit", "images", "--functional-units", "500", "--", "true"]
    assert main(argv) == 0
    stored = tracker.load_runs(store)
    assert (stored.loc[0, "functional_unit"], stored.loc[0, "functional_units"]) == ("images", 500.0)


# -- stores keep it ----------------------------------------------------------------------------------------------


def _with_units() -> list[RunRecord]:
    return [
        make_record(0, functional_unit="requests", functional_units=1200.0),
        make_record(1, functional_unit=None, functional_units=None),
        make_record(2, functional_unit="tokens", functional_units=0.5),
    ]


def _round_trip(store: object, *, whole: bool = True) -> None:
    records = _with_units()
    store.write_many(records)  # type: ignore[attr-defined]
    back = {r.run_id: r for r in store.records()}  # type: ignore[attr-defined]
    for record in records:
        got = back[record.run_id]
        assert (got.functional_unit, got.functional_units) == (record.functional_unit, record.functional_units)
        assert got == record or not whole


def test_sqlite_and_csv_keep_the_units(tmp_path: Path) -> None:
    _round_trip(SqliteStore(str(tmp_path / "runs.db")))
    _round_trip(CsvStore(str(tmp_path / "runs.csv")), whole=False)  # CSV: an empty text reads back as None


def test_postgres_keeps_the_units(pg_url: str) -> None:
    from tracker.stores.postgres import PostgresStore

    _round_trip(PostgresStore(pg_url))


OLD_COLUMNS = list(COLUMNS[: COLUMNS.index("functional_unit")])  # a file from before: the columns up to these


def test_an_older_sqlite_file_gains_the_unit_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE runs ({', '.join(OLD_COLUMNS)}, PRIMARY KEY (run_id))")
    conn.execute("PRAGMA user_version=2")
    row = make_record(7).to_row()
    conn.execute(f"INSERT INTO runs VALUES ({', '.join('?' for _ in OLD_COLUMNS)})", [row[c] for c in OLD_COLUMNS])
    conn.commit()
    conn.close()
    store = SqliteStore(str(path))
    store.write(make_record(8, functional_unit="users", functional_units=3.0))
    back = {r.run_id: r for r in store.records()}
    assert back["run-000007"].functional_units is None
    assert (back["run-000008"].functional_unit, back["run-000008"].functional_units) == ("users", 3.0)


def test_a_csv_file_written_before_the_unit_columns_reads_the_rows_appended_since(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=OLD_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerow(make_record(1).to_row())
    store = CsvStore(str(path))
    store.write(make_record(2, functional_unit="requests", functional_units=42.0))
    back = {r.run_id: r for r in store.records()}
    assert back["run-000001"].functional_units is None and back["run-000001"].project == "default"
    assert (back["run-000002"].functional_unit, back["run-000002"].functional_units) == ("requests", 42.0)


# -- roll-ups ----------------------------------------------------------------------------------------------------

# emissions_kg of make_record: 2/1024 kWh x 0.25 = 1/2048 kg; embodied 1/4096: exact sums
E = 1 / 2048
M = 1 / 4096


def _sci_runs() -> list[RunRecord]:
    runs = []
    for i in range(6):  # "api": every run counts requests
        runs.append(make_record(i, project="api", embodied_kg=M, functional_unit="requests", functional_units=100.0))
    runs.append(make_record(6, project="api", embodied_kg=M))  # counts nothing: not in the SCI
    for i in range(7, 10):  # "mixed": requests and tokens do not add up
        unit = "requests" if i % 2 else "tokens"
        runs.append(make_record(i, project="mixed", embodied_kg=M, functional_unit=unit, functional_units=10.0))
    runs.append(make_record(10, project="batch"))  # no unit at all
    return runs


def _expected() -> dict[str, tuple]:
    return {
        "api": ("requests", 600.0, 6 * (E + M), 6 * (E + M) / 600.0),
        "batch": (None, None, None, None),
        "mixed": (None, None, 3 * (E + M), None),
    }


def _unit_columns(frame: pd.DataFrame) -> dict[str, tuple]:
    out = {}
    for row in frame.to_dict(orient="records"):
        values = tuple(None if (isinstance(v, float) and v != v) else v for v in (row[c] for c in UNIT_TOTALS))
        out[row["project"]] = values
    return out


@pytest.fixture
def sci_stores(tmp_path: Path) -> dict[str, object]:
    runs = _sci_runs()
    lite = SqliteStore(str(tmp_path / "runs.db"))
    lite.write_many(runs)
    text = CsvStore(str(tmp_path / "runs.csv"))
    text.write_many(runs)
    return {"sqlite": lite, "csv": text}


def test_the_rollup_gives_the_sci_per_group_where_units_share_a_name(
    sci_stores: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = {name: tracker.summarize(store=store, by="project") for name, store in sci_stores.items()}
    frames["pandas"] = tracker.summarize(tracker.load_runs(str(sci_stores["sqlite"].path)), by="project")  # type: ignore[attr-defined]
    monkeypatch.setattr(sqlite_rollup, "PARALLEL_FROM_ROWS", 2)  # the parallel path merges partial rows
    frames["sqlite-parallel"] = tracker.summarize(store=sci_stores["sqlite"], by="project")
    for name, frame in frames.items():
        assert list(frame.columns) == ["project", *TOTALS, *UNIT_TOTALS], name
        assert _unit_columns(frame) == _expected(), name
        pd.testing.assert_frame_equal(frame, frames["sqlite"], check_exact=True)


def test_a_selection_without_units_keeps_the_plain_frame(sci_stores: dict[str, object]) -> None:
    for store in sci_stores.values():
        frame = tracker.summarize(store=store, by="project", project="batch")
        assert list(frame.columns) == ["project", *TOTALS]


def test_postgres_rolls_up_the_same(pg_url: str, sci_stores: dict[str, object]) -> None:
    from tracker.stores.postgres import PostgresStore

    pg = PostgresStore(pg_url)
    pg.write_many(_sci_runs())
    frame = tracker.summarize(store=pg, by="project")
    assert _unit_columns(frame) == _expected()
    pd.testing.assert_frame_equal(frame, tracker.summarize(store=sci_stores["sqlite"], by="project"), check_exact=True)


# -- reports -----------------------------------------------------------------------------------------------------


def test_every_format_shows_co2e_per_unit_with_the_unit_named(sci_stores: dict[str, object]) -> None:
    report = build_report(sci_stores["sqlite"], by=("project",), project="api")  # type: ignore[arg-type]
    per = 6 * (E + M) / 600.0
    data = json.loads(render(report, "json"))
    assert data["rows"][0]["functional_unit"] == "requests" and data["rows"][0]["sci_kg_per_unit"] == per
    assert data["total"]["functional_units"] == 600.0 and data["total"]["sci_kg_per_unit"] == per
    lines = list(csv.DictReader(render(report, "csv").splitlines()))
    assert lines[0]["functional_unit"] == "requests" and float(lines[0]["sci_kg_per_unit"]) == per
    shown = mass(per)  # 3.05 g... in units for people
    for fmt in ("table", "markdown"):
        text = render(report, fmt)
        assert "CO2e per request" in text and shown in text and "600 requests" in text, fmt
    page = render(report, "html")
    assert f'data-total="sci_kg_per_unit" data-value="{per!r}"' in page and "CO2e per request" in page


def test_groups_of_different_units_name_their_unit_in_each_cell(sci_stores: dict[str, object]) -> None:
    store = sci_stores["sqlite"]
    report = build_report(store, by=("project",))  # type: ignore[arg-type]
    assert report.has_units
    total = {k: report.total[k] for k in UNIT_TOTALS}  # the "mixed" group has two units: no one unit overall
    assert total == {"functional_unit": None, "functional_units": None, "sci_emissions_kg": 9 * (E + M),
                     "sci_kg_per_unit": None}  # fmt: skip
    text = render(report, "table")
    assert "CO2e per request" in text and "several units" in text  # one named rate; the mixed group has none
    store.write(make_record(20, project="llm", embodied_kg=M, functional_unit="tokens", functional_units=4.0))  # type: ignore[attr-defined]
    report = build_report(store, by=("project",))  # type: ignore[arg-type]
    text = render(report, "table")
    assert "CO2e per unit" in text and f"{mass(6 * (E + M) / 600.0)} per request" in text
    assert f"{mass((E + M) / 4.0)} per token" in text and "4 tokens" in text
    lines = {r["project"]: r for r in csv.DictReader(render(report, "csv").splitlines())}
    assert lines["batch"]["functional_units"] == "" and lines["mixed"]["sci_emissions_kg"] == repr(3 * (E + M))


def test_a_report_without_units_has_no_sci_columns(sci_stores: dict[str, object]) -> None:
    report = build_report(sci_stores["sqlite"], by=("project",), project="batch")  # type: ignore[arg-type]
    assert not report.has_units
    assert "functional_unit" not in json.loads(render(report, "json"))["total"]
    assert "CO2e per" not in render(report, "table")
    assert render(report, "csv").splitlines()[0].split(",") == ["project", *TOTALS]


def test_tracker_runs_shows_units_when_a_run_counted_some(
    sci_stores: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.cli import main

    store = str(sci_stores["sqlite"].path)  # type: ignore[attr-defined]
    assert main(["runs", "--store", store, "--project", "api"]) == 0
    out = capsys.readouterr().out
    assert "CO2e per unit" in out and "100 requests" in out and mass((E + M) / 100.0) in out
    assert main(["runs", "--store", store, "--project", "batch"]) == 0
    assert "CO2e per unit" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "name, one",
    [("requests", "request"), ("queries", "query"), ("batches", "batch"), ("users", "user"), ("images", "image"),
     ("boxes", "box"), ("GB", "GB"), ("kWh", "kWh"), ("inference", "inference"), ("class", "class")],
)  # fmt: skip
def test_the_unit_reads_in_the_singular_after_per(name: str, one: str) -> None:
    assert singular(name) == one
