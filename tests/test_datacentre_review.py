"""The data-centre review's findings, one test each (each failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from datacentre_support import (
    INVENTORY_HEADER,
    equipment,
    instance,
    worked_example_files,
    write_csv,
)
from pg_support import pg_database  # noqa: F401 - the pg_url fixture

from tracker.footprint.pipeline import account_datacentre, load_estate
from tracker.footprint.power import read_power
from tracker.stores import open_store


def _import(files: dict[str, Path], inventory_path: Path, store: object) -> None:
    inventory, book = load_estate(inventory_path, files["pue"], files["suppliers"], files["sites"])
    account_datacentre(inventory, book, read_power(files["power"], list(inventory.equipment)), store=store)


def _inventories(tmp_path: Path) -> tuple[Path, Path]:
    first = write_csv(
        tmp_path / "inv1.csv",
        INVENTORY_HEADER,
        [equipment("esx-01", vcpus=32), instance("vm1", "esx-01", "vcpu", 16, "web")],
    )
    second = write_csv(
        tmp_path / "inv2.csv",
        INVENTORY_HEADER,
        [
            equipment("esx-01", vcpus=32),
            instance("vm1", "esx-01", "vcpu", 8, "web"),
            instance("vm2", "esx-01", "vcpu", 24, "db"),
        ],
    )
    return first, second


def _check_reimport_replaces_the_old_split(store: object, tmp_path: Path) -> None:
    files = worked_example_files(tmp_path)
    first, second = _inventories(tmp_path)
    _import(files, first, store)  # vm1 50 % + unallocated 50 %
    _import(files, second, store)  # vm1 25 % + vm2 75 %: the unallocated record must go
    rows = store.rows(kind="equipment")  # type: ignore[attr-defined]
    assert sorted(r["experiment"] for r in rows) == ["vm1", "vm2"]
    assert sum(r["energy_kwh"] for r in rows) == pytest.approx(1000.0, rel=1e-9)


@pytest.mark.parametrize("suffix", [".db", ".csv"])
def test_reimport_after_inventory_change_counts_energy_once(tmp_path: Path, suffix: str) -> None:
    """Finding 1: a day imported with vm1 50 % + unallocated, then vm1 25 % / vm2 75 %, kept 1,500 kWh."""
    store = open_store(str(tmp_path / f"fp{suffix}"))
    _check_reimport_replaces_the_old_split(store, tmp_path)


def test_reimport_after_inventory_change_counts_energy_once_postgresql(pg_url: str, tmp_path: Path) -> None:
    from pg_support import require_server

    from tracker.stores.postgres import PostgresStore

    require_server()
    _check_reimport_replaces_the_old_split(PostgresStore(pg_url), tmp_path)


def test_replace_many_leaves_other_equipment_kinds_and_days(tmp_path: Path) -> None:
    """Only the named equipment's records of that kind and day go: a run on the same host stays."""
    from datetime import datetime, timedelta, timezone

    from runs_factory import make_record

    store = open_store(str(tmp_path / "fp.db"))
    day = datetime(2026, 3, 14, tzinfo=timezone.utc)
    run = make_record(1, host="esx-01", started_at=day + timedelta(hours=1))
    store.write(run)
    files = worked_example_files(tmp_path)
    first, _ = _inventories(tmp_path)
    _import(files, first, store)
    store.replace_many(
        [], kind="equipment", names=["esx-01"], since=day + timedelta(days=1), until=day + timedelta(days=2)
    )
    assert len(store.rows(kind="equipment")) == 2  # another day: nothing deleted
    store.replace_many([], kind="equipment", names=["other"], since=day, until=day + timedelta(days=1))
    assert len(store.rows(kind="equipment")) == 2  # another equipment: nothing deleted
    store.replace_many([], kind="equipment", names=["esx-01"], since=day, until=day + timedelta(days=1))
    assert store.rows(kind="equipment") == []
    assert [r["run_id"] for r in store.rows(kind="run")] == [run.run_id]


def test_site_factors_ignore_the_users_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 2: TRACKER_PUE_SCHEDULE (PUE 2.0), TRACKER_COUNTRY, a configured supplier mix and a config file
    leaked into a site's day; the site file's PUE 1.3 and country NL must be all that counts."""
    from datetime import date

    from tracker.footprint.daily import site_day
    from tracker.footprint.sites import load_sites

    schedule = write_csv(tmp_path / "user_pue.csv", ("date", "pue"), [("2026-03-14", 2.0)])
    config = tmp_path / "config.toml"
    config.write_text('country = "PL"\nsuppliers = [["dirty co", 100, 0.9]]\n', encoding="utf-8")
    monkeypatch.setenv("TRACKER_PUE_SCHEDULE", str(schedule))
    monkeypatch.setenv("TRACKER_COUNTRY", "PL")
    monkeypatch.setenv("TRACKER_CONFIG", str(config))
    monkeypatch.setenv("TRACKER_SUPPLIERS", "dirty co:100:0.9")
    monkeypatch.chdir(tmp_path)
    pue = write_csv(tmp_path / "pue.csv", ("site", "date", "pue"), [("AMS1", "2026-03-14", 1.3)])
    sites = write_csv(tmp_path / "sites.csv", ("site", "country"), [("AMS1", "NL")])
    book = load_sites(pue, None, sites)
    day = site_day(book, "AMS1", date(2026, 3, 14))
    assert day.pue == pytest.approx(1.3) and day.facility_per_kwh == pytest.approx(1.3)
    assert day.columns["country"] == "NL"
    assert day.market_kg_per_kwh == pytest.approx(day.location_kg_per_kwh)  # no mix of the site's: none leaked
    assert "dirty" not in (day.columns["market_source"] or "")


def test_every_site_needs_a_location(tmp_path: Path) -> None:
    """Finding 2: a site with no zone/country took TRACKER_COUNTRY, cloud metadata or the world average."""
    from datetime import date

    from tracker.errors import ConfigError
    from tracker.footprint.daily import site_day
    from tracker.footprint.sites import load_sites

    pue = write_csv(tmp_path / "pue.csv", ("site", "date", "pue"), [("AMS1", "2026-03", 1.3), ("FRA1", "2026-03", 1.4)])
    sites = write_csv(tmp_path / "sites.csv", ("site", "zone", "country"), [("AMS1", "", "")])
    with pytest.raises(ConfigError, match=r"sites.csv line 2: AMS1.*zone or country"):
        load_sites(pue, None, sites)
    book = load_sites(pue, None, write_csv(tmp_path / "ok.csv", ("site", "country"), [("AMS1", "NL")]))
    with pytest.raises(ConfigError, match=r"FRA1.*no zone, country"):
        site_day(book, "FRA1", date(2026, 3, 14))  # named in the PUE file only


def test_a_day_without_pue_is_an_error_naming_site_and_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A day no PUE row covers used PUE 1.0 with a note; now the CLI refuses at start, naming site and day."""
    from tracker.cli import main

    files = worked_example_files(tmp_path)  # PUE only for 2026-03-14
    store = tmp_path / "fp.db"
    args = ["datacentre", "--inventory", str(files["inventory"]), "--power", str(files["power"])]
    args += ["--pue", str(files["pue"]), "--suppliers", str(files["suppliers"]), "--sites", str(files["sites"])]
    args += ["--store", str(store), "--since", "2026-03-14", "--until", "2026-03-16"]
    assert main(args) == 2
    assert "site AMS1 on 2026-03-15" in capsys.readouterr().err
    assert not store.exists() or open_store(str(store)).rows() == []
    # without a period the day is refused when it is reached, before its records are written
    write_csv(files["pue"], ("site", "date", "pue"), [("AMS1", "2026-02-14", 1.3)])
    assert main(args[:-4]) == 2
    assert "site AMS1 on 2026-03-14" in capsys.readouterr().err
    assert not store.exists() or open_store(str(store)).rows() == []


@pytest.mark.parametrize("suffix", [".db", ".csv"])
def test_overlap_only_on_metered_days_and_without_embodied(tmp_path: Path, suffix: str) -> None:
    """Finding 3: a January run on esx-01 (metered from 14 March only) was taken out, with its embodied kg."""
    from datetime import datetime, timezone

    from runs_factory import make_record

    from tracker.reports.annual import annual_statement
    from tracker.reports.sources import source_totals

    store = open_store(str(tmp_path / f"all{suffix}"))
    files = worked_example_files(tmp_path)
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    account_datacentre(inventory, book, read_power(files["power"], ["esx-01"]), store=store, organisation="acme")
    common = {"organisation": "acme", "host": "esx-01", "emissions_market_kg": 3.0, "emissions_kg": 3.0}
    january = make_record(1, started_at=datetime(2026, 1, 5, tzinfo=timezone.utc), energy_kwh=100.0, embodied_kg=5.0,
                          facility_energy_kwh=130.0, **common)  # fmt: skip
    march = make_record(2, started_at=datetime(2026, 3, 14, 9, tzinfo=timezone.utc), energy_kwh=10.0, embodied_kg=2.0,
                        facility_energy_kwh=13.0, **common)  # fmt: skip
    store.write(january)
    store.write(march)
    org = annual_statement(store, 2026).organisations[0]
    (overlap,) = [p for p in org.by_source if p.kind == "overlap"]
    assert overlap.records == 1
    assert overlap.it_energy_mwh * 1000 == pytest.approx(10.0)
    assert overlap.embodied_t == 0.0
    assert org.it_energy_mwh * 1000 == pytest.approx(1000.0 + 100.0)  # the March run counted once, January's kept
    assert org.embodied_t * 1000 == pytest.approx(7.0)  # both runs' embodied emissions stay
    (part,) = [p for p in source_totals(store) if p["kind"] == "overlap"]
    assert part["energy_kwh"] == pytest.approx(10.0) and part["embodied_kg"] == 0.0 and part["runs"] == 1


def test_power_csv_types_are_fixed_not_guessed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 5: ids like 007 / 1e3 became numbers (their samples dropped); integer watts in the first block and
    100.5 in a later one aborted the import."""
    from datacentre_support import DAY, minutes, write_power

    ids = ["007", "1e3"]
    (day,) = read_power(write_power(tmp_path / "ids.csv", minutes(DAY, {"007": 1000.0, "1e3": 500.0})), ids)
    assert day.measured.tolist() == [1440, 1440]
    assert day.kwh.tolist() == pytest.approx([24.0, 12.0])
    rows = [(stamp, ident, "100" if n < 720 else "100.5") for n, (stamp, ident, _) in enumerate(minutes(DAY, {"a": 1}))]
    monkeypatch.setattr("tracker.footprint.power.CSV_BLOCK_BYTES", 4096)  # the first block: integers only
    (day,) = read_power(write_power(tmp_path / "watts.csv", rows), ["a"])
    assert day.kwh[0] == pytest.approx((720 * 100 + 720 * 100.5) / 60_000)


@pytest.mark.parametrize(
    ("stamp", "minute"),
    [
        ("2026-03-14T00:07:00.500Z", 7),  # floored to the second
        ("2026-03-14 00:07:59.999", 7),  # a space, no zone: UTC
        ("2026-03-14T01:07:00+01:00", 7),
        ("1773446820", 7),  # Unix seconds
        ("1773446820.9", 7),
    ],
)
def test_power_timestamps_sub_second_and_forms(tmp_path: Path, stamp: str, minute: int) -> None:
    """Finding 6: sub-second timestamps were refused."""
    path = write_csv(tmp_path / "p.csv", ("timestamp", "equipment", "watts"), [(stamp, "a", "60000")])
    (day,) = read_power(path, ["a"], max_gap_min=0)
    assert str(day.day) == "2026-03-14" and day.measured.tolist() == [1]
    assert day.kwh[0] == pytest.approx(1.0)


@pytest.mark.parametrize("stamp", ["1773446400000", "2026-03-14T25:00:00Z", "yesterday"])
def test_power_timestamp_errors_name_file_and_row(tmp_path: Path, stamp: str) -> None:
    """Finding 6: Unix milliseconds gave an OverflowError traceback; now a ConfigError naming the file and row."""
    from tracker.errors import ConfigError

    good = "2026-03-14T00:00:00Z"
    path = write_csv(tmp_path / "p.csv", ("timestamp", "equipment", "watts"), [(good, "a", "1"), (stamp, "a", "1")])
    with pytest.raises(ConfigError, match=r"p\.csv") as caught:
        list(read_power(path, ["a"]))
    if stamp != "2026-03-14T25:00:00Z":  # arrow's own message for an impossible hour names the value, not the row
        assert "p.csv row 2" in str(caught.value) and stamp in str(caught.value)


def test_parquet_sub_second_timestamps(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    moment = 1773446400_250  # ms
    table = pa.table(
        {
            "timestamp": pa.array([moment, moment + 60_000], type=pa.timestamp("ms", tz="UTC")),
            "equipment": ["a", "a"],
            "watts": [60000.0, 60000.0],
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    (day,) = read_power(tmp_path / "p.parquet", ["a"], max_gap_min=0)
    assert day.measured.tolist() == [2] and day.kwh[0] == pytest.approx(2.0)


def test_power_sorted_by_equipment_is_refused(tmp_path: Path) -> None:
    """Finding 8: a file sorted by equipment kept every day in memory (~3.5 GB for 10,000 x 31 days); it is now
    refused at the first sample that goes back a day, with a message saying to sort by time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tracker.errors import ConfigError

    ids, days = ["e0", "e1"], 3
    base = 1773446400
    minutes_ = np.arange(days * 1440)
    stamps = np.concatenate([base + minutes_ * 60 for _ in ids])  # e0's three days, then e1's
    table = pa.table(
        {"timestamp": stamps, "equipment": np.repeat(ids, len(minutes_)), "watts": np.full(len(stamps), 100.0)}
    )
    pq.write_table(table, tmp_path / "by_equipment.parquet", row_group_size=1000)
    with pytest.raises(ConfigError, match=r"by_equipment\.parquet row 4321': a sample for 2026-03-14 after one for "
                       r"2026-03-16: sort by time"):  # fmt: skip
        list(read_power(tmp_path / "by_equipment.parquet", ids))
    order = np.argsort(stamps, kind="stable")
    pq.write_table(table.take(pa.array(order)), tmp_path / "by_time.parquet", row_group_size=1000)
    found = list(read_power(tmp_path / "by_time.parquet", ids))
    assert [d.measured.tolist() for d in found] == [[1440, 1440]] * 3


def test_saved_estimates_keep_their_factors_and_exact_period(tmp_path: Path) -> None:
    """Finding 7: saving FR then PL for the same period and energy kept only PL; 09:30-10:30 was stored 09:00-11:00."""
    from datetime import datetime, timezone

    import tracker

    db = str(tmp_path / "est.db")
    start, end = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 4, 1, tzinfo=timezone.utc)
    common = dict(start=start, end=end, project="p", store=db, save=True)
    france = tracker.estimate(1000, country="FR", **common)
    poland = tracker.estimate(1000, country="PL", **common)
    tracker.estimate(1000, country="PL", pue=1.5, **common)  # another PUE: another record too
    tracker.estimate(1000, country="FR", **common)  # the same again: stored once
    rows = open_store(db).rows(project="p")
    assert sorted((r["country"], round(r["pue"], 6)) for r in rows) == [("FR", 1.0), ("PL", 1.0), ("PL", 1.5)]
    by_country = {r["country"]: r["emissions_kg"] for r in rows if round(r["pue"], 6) == 1.0}
    assert by_country == pytest.approx({"FR": france.emissions_kg, "PL": poland.emissions_kg})
    morning = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
    tracker.estimate(5, start=morning, end=morning.replace(hour=10), country="FR", project="q", store=db, save=True)
    (row,) = open_store(db).rows(project="q")
    assert row["started_at"].startswith("2026-03-01T09:30:00") and row["ended_at"].startswith("2026-03-01T10:30:00")
    assert row["duration_s"] == 3600


def test_kind_run_selects_rows_written_before_kinds_everywhere(tmp_path: Path) -> None:
    """Finding 9: a CSV written before the kind column, and a runs frame without kinds, were missed by kind="run"
    (the SQL stores already read a missing kind as a run)."""
    import csv

    from runs_factory import make_record

    import tracker
    from tracker.records.schema import COLUMNS

    path = tmp_path / "old.csv"
    row = make_record(1, host="esx-01").to_row()
    old = COLUMNS[: COLUMNS.index("kind")]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=old)
        writer.writeheader()
        writer.writerow({k: row[k] for k in old})
    store = open_store(str(path))
    assert len(store.rows(kind="run")) == 1 and store.rows(kind="equipment") == []
    totals = tracker.summarize(by=("host",), store=store, kind="run")
    assert totals["runs"].tolist() == [1]
    frame = tracker.load_runs(store=str(path))
    frame["kind"] = None
    assert tracker.summarize(frame, by=("host",), kind="run")["runs"].tolist() == [1]
    assert tracker.summarize(frame.drop(columns=["kind"]), by=("host",), kind="run")["runs"].tolist() == [1]
    assert tracker.summarize(frame, by=("host",), kind="equipment").empty


def test_unix_milliseconds_are_refused_by_range(tmp_path: Path) -> None:
    """Finding 6: a file of Unix milliseconds gave an OverflowError traceback."""
    from tracker.errors import ConfigError

    path = write_csv(tmp_path / "ms.csv", ("timestamp", "equipment", "watts"), [("1773446400000", "a", "1")] * 2)
    with pytest.raises(ConfigError, match=r"ms\.csv row 1.*1773446400000.*milliseconds"):
        list(read_power(path, ["a"]))


def test_the_import_summary_names_runs_on_metered_days_only(tmp_path: Path) -> None:
    """The summary of ``tracker datacentre`` uses the statement's rule: a run on esx-01 on a day esx-01 has no
    power samples (in the period imported) is not inside its energy."""
    from datetime import datetime, timedelta, timezone

    from datacentre_support import DAY, minutes, write_power
    from runs_factory import make_record

    files = worked_example_files(tmp_path)
    write_csv(files["inventory"], INVENTORY_HEADER, [equipment("esx-01"), equipment("esx-02")])
    write_csv(files["pue"], ("site", "date", "pue"), [("AMS1", "2026-03", 1.3)])
    write_power(
        files["power"],
        minutes(DAY, {"esx-01": 1000, "esx-02": 1000}) + minutes(DAY + timedelta(days=1), {"esx-02": 1000}),
    )
    store = open_store(str(tmp_path / "fp.db"))
    first = datetime(2026, 3, 14, 9, tzinfo=timezone.utc)
    store.write(make_record(1, host="esx-01", started_at=first, energy_kwh=2.0))
    store.write(make_record(2, host="esx-01", started_at=first + timedelta(days=1), energy_kwh=5.0))  # not metered
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    result = account_datacentre(inventory, book, read_power(files["power"], list(inventory.equipment)), store=store)
    assert result.overlap == [("esx-01", pytest.approx(2.0))]


def test_only_runs_are_shifted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 11: the report's "What shifting would have saved" compared equipment days, cloud exports and
    estimates as if they were runs; the store is now asked for runs only (in its query, not after loading all)."""
    from datetime import datetime, timezone

    from runs_factory import make_record

    from tracker.grid.intensity import EmbeddedIntensity
    from tracker.reports.shifting import shifting

    store = open_store(str(tmp_path / "s.db"))
    base = {"zone": "DE", "country": "DE", "started_at": datetime(2026, 1, 1, 10, tzinfo=timezone.utc)}
    store.write(make_record(1, project="a", cpu_energy_kwh=1.0, duration_s=3600, **base))
    store.write(make_record(10, project="dc", kind="equipment", cpu_energy_kwh=500.0, duration_s=86400, **base))
    store.write(make_record(11, project="cloud", kind="cloud", cpu_energy_kwh=50.0, duration_s=86400, **base))
    asked = []
    rows = store.rows

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(kwargs)
        return rows(*args, **kwargs)

    monkeypatch.setattr(store, "rows", recording)
    assert {s.project for s in shifting(store, EmbeddedIntensity())} == {"a"}
    assert asked and all(kwargs.get("kind") == "run" for kwargs in asked)
