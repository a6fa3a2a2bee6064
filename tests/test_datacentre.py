"""The data-centre footprint (issue 17): inventory, gaps, accounting through tracker.estimate, roll-ups, records
in the stores beside the runs, the CLI's worked example, and the annual statement per source."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from datacentre_support import (
    DAY,
    INVENTORY_HEADER,
    equipment,
    instance,
    minutes,
    worked_example_files,
    write_csv,
    write_power,
)
from pg_support import pg_database  # noqa: F401 - the pg_url fixture
from runs_factory import make_record

import tracker
from tracker.cli import main
from tracker.errors import ConfigError
from tracker.footprint.daily import equipment_records
from tracker.footprint.inventory import UNALLOCATED, load_inventory
from tracker.footprint.pipeline import account_datacentre, load_estate
from tracker.footprint.power import integrate, read_power
from tracker.footprint.sites import load_sites
from tracker.reports.annual import annual_statement
from tracker.reports.render import render
from tracker.stores import open_store


def _cli(files: dict[str, Path], store: Path, *extra: str) -> list[str]:
    args = [
        "datacentre",
        "--inventory",
        str(files["inventory"]),
        "--power",
        str(files["power"]),
        "--pue",
        str(files["pue"]),
        "--suppliers",
        str(files["suppliers"]),
        "--store",
        str(store),
    ]
    if "sites" in files:
        args += ["--sites", str(files["sites"])]
    return [*args, *extra]


def test_worked_example_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1,000 kWh x PUE 1.3 x (80 % x 0.008 + 20 % x 0.01) = 10.92 kg CO2e market-based; the site's own factor
    (250 g/kWh) gives 1,300 x 0.25 = 325 kg location-based."""
    files = worked_example_files(tmp_path)
    store = tmp_path / "fp.db"
    assert main([*_cli(files, store), "--organisation", "acme", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["total"]["energy_kwh"] == pytest.approx(1000.0, rel=1e-12)
    assert summary["total"]["facility_energy_kwh"] == pytest.approx(1300.0, rel=1e-12)
    assert summary["total"]["emissions_market_kg"] == pytest.approx(10.92, rel=1e-12)
    assert summary["total"]["emissions_kg"] == pytest.approx(325.0, rel=1e-12)
    assert "2026-03-14: 1 pieces of equipment" in err  # progress on stderr
    (record,) = open_store(str(store)).records()
    assert (record.kind, record.site, record.category, record.host) == ("equipment", "AMS1", "compute", "esx-01")
    assert record.organisation == "acme" and record.project == UNALLOCATED
    assert record.emissions_market_kg == pytest.approx(10.92, rel=1e-12)
    assert record.market_source == "supplier mix: wind 80 % at 0.008 kg/kWh, grid 20 % at 0.01 kg/kWh"
    assert "daily PUE 2026-03-14" in record.pue_source
    assert record.intensity_source.startswith("national agency 2025") and record.intensity_year == 2025
    # the text summary says the same
    assert main([*_cli(files, store), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "10.9 kg CO2e" in text and "1.3 MWh" in text


def test_importing_the_same_day_twice_adds_nothing(tmp_path: Path) -> None:
    files = worked_example_files(tmp_path)
    store = tmp_path / "fp.db"
    for _ in range(2):
        assert main([*_cli(files, store), "--quiet"]) == 0
    totals = tracker.summarize(by=("kind",), store=str(store))
    assert totals["runs"].tolist() == [1]
    assert totals["emissions_market_kg"].iloc[0] == pytest.approx(10.92, rel=1e-12)


def test_an_equipment_day_is_what_tracker_estimate_gives(tmp_path: Path) -> None:
    """Same accounting as runs: one equipment's record equals tracker.estimate of its kWh with the site's factors."""
    files = worked_example_files(tmp_path)
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    (day,) = read_power(files["power"], list(inventory.equipment))
    (record,) = equipment_records(day, inventory, book)
    start = datetime(2026, 3, 14, tzinfo=timezone.utc)
    direct = tracker.estimate(
        float(day.kwh[0]),
        start=start,
        end=start + timedelta(days=1),
        country="NL",
        pue=1.3,
        suppliers=[("wind", 80, 0.008), ("grid", 20, 0.01)],
        intensity_g_per_kwh=250,
        intensity_source="national agency 2025",
        intensity_year=2025,
    )
    assert record.emissions_kg == pytest.approx(direct.emissions_kg, rel=1e-12)
    assert record.emissions_market_kg == pytest.approx(direct.emissions_market_kg, rel=1e-12)
    assert record.facility_energy_kwh == pytest.approx(direct.facility_energy_kwh, rel=1e-12)
    assert record.intensity_g_per_kwh == direct.intensity_g_per_kwh


def test_gaps_short_ones_interpolated_long_ones_missing() -> None:
    grid = np.full((4, 1440), 100.0, dtype=np.float32)
    grid[1, 100:103] = np.nan  # 3 minutes: filled (max gap 5)
    grid[2, 200:210] = np.nan  # 10 minutes: missing
    grid[3, 0:2] = np.nan  # at the day's start: nothing before it, missing
    grid[1, 99], grid[1, 103] = 0.0, 400.0  # the filled values lie on the line between the neighbours
    kwh, measured, interpolated = integrate(grid, max_gap_min=5)
    assert measured.tolist() == [1440, 1437, 1430, 1438]
    assert interpolated.tolist() == [0, 3, 0, 0]
    assert kwh[0] == pytest.approx(100 * 1440 / 60_000)
    # row 1: 1436 minutes at 100 W, then 0 and 400 W, and 100, 200, 300 W interpolated
    assert kwh[1] == pytest.approx((100 * 1435 + 0 + 400 + 100 + 200 + 300) / 60_000)
    assert kwh[2] == pytest.approx(100 * 1430 / 60_000)  # not extrapolated
    kwh0, _, interpolated0 = integrate(grid, max_gap_min=0)
    assert interpolated0.tolist() == [0, 0, 0, 0] and kwh0[1] < kwh[1]


def test_an_incomplete_day_says_its_missing_share(tmp_path: Path) -> None:
    files = worked_example_files(tmp_path)
    write_power(files["power"], minutes(DAY, {"esx-01": 600.0}, skip={"esx-01": set(range(600, 744))}))
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    (day,) = read_power(files["power"], list(inventory.equipment), max_gap_min=5)
    (record,) = equipment_records(day, inventory, book)
    assert record.tags["complete"] == "no"
    assert float(record.tags["missing_share"]) == pytest.approx(144 / 1440)
    assert any("incomplete day: 144 of 1440 minutes (10.0%)" in note for note in record.notes)
    assert record.energy_kwh == pytest.approx(600 * (1440 - 144) / 60_000)


def _estate(tmp_path: Path) -> dict[str, Path]:
    files = worked_example_files(tmp_path)
    write_csv(
        files["inventory"],
        INVENTORY_HEADER,
        [
            equipment("esx-01", vcpus=32),
            equipment("array-01", "storage", gb=1000),
            equipment("sw-01", "network", site="FRA1"),
            instance("vm-web", "esx-01", "vcpu", 8, "shop", "web"),
            instance("vm-db", "esx-01", "vcpu", 16, "shop", "data"),
            instance("vm-db", "array-01", "gb", 400, "shop", "data"),
            instance("vm-ml", "esx-01", "vcpu", 4, "research"),
            instance("bucket", "array-01", "percent", 50, "research"),
            instance("uplink", "sw-01", "percent", 100, "shop"),
        ],
    )
    write_csv(
        files["pue"],
        ("site", "date", "pue"),
        [("AMS1", "2026-03-14", 1.3), ("AMS1", "2026-03", 1.5), ("FRA1", "2026-03", 1.4)],
    )
    write_csv(  # every site needs a location (or its own factor): FRA1 in Germany
        files["sites"],
        ("site", "country", "intensity_g_per_kwh", "intensity_source", "intensity_year"),
        [("AMS1", "NL", 250, "national agency 2025", 2025), ("FRA1", "DE", "", "", "")],
    )
    write_power(
        files["power"],
        minutes(DAY, {"esx-01": 1000, "array-01": 500, "sw-01": 100})
        + minutes(DAY + timedelta(days=1), {"esx-01": 2000, "array-01": 500, "sw-01": 100}),
    )
    return files


def test_roll_ups_add_up_service_instances_equipment(tmp_path: Path) -> None:
    files = _estate(tmp_path)
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    store = open_store(str(tmp_path / "fp.db"))
    result = account_datacentre(
        inventory, book, read_power(files["power"], list(inventory.equipment)), store=store, organisation="acme"
    )
    groups = result.rollup.groups
    equipment_kwh = {k: v.energy_kwh for k, v in groups["equipment"].items()}
    assert equipment_kwh == pytest.approx({"esx-01": 24 + 48, "array-01": 24, "sw-01": 4.8})
    # esx-01: web 8/32, db 16/32, ml 4/32 and 4/32 unallocated; array-01: db 400/1000, bucket 50 %, 10 % unallocated
    instances = {k: v.energy_kwh for k, v in groups["instance"].items()}
    assert instances["vm-db"] == pytest.approx(72 * 0.5 + 24 * 0.4)
    assert instances[UNALLOCATED] == pytest.approx(72 * 4 / 32 + 24 * 0.1)
    services = {k: v.energy_kwh for k, v in groups["service"].items()}
    assert services["shop"] == pytest.approx(instances["vm-web"] + instances["vm-db"] + instances["uplink"])
    assert services["research"] == pytest.approx(instances["vm-ml"] + instances["bucket"])
    assert sum(services.values()) == pytest.approx(sum(equipment_kwh.values()))  # nothing lost, nothing twice
    # PUE: AMS1's daily 1.3 on the 14th, its monthly 1.5 on the 15th; FRA1 monthly 1.4
    days = {k: v.facility_energy_kwh for k, v in groups["day"].items()}
    assert days["2026-03-14"] == pytest.approx((24 + 12) * 1.3 + 2.4 * 1.4)
    assert days["2026-03-15"] == pytest.approx((48 + 12) * 1.5 + 2.4 * 1.4)
    assert set(groups["month"]) == {"2026-03"} and set(groups["year"]) == {"2026"}
    assert {k: v.energy_kwh for k, v in groups["category"].items()} == pytest.approx(
        {"compute": 72, "storage": 24, "network": 4.8}
    )
    # the store gives the same roll-ups through tracker.summarize
    frame = tracker.summarize(by=("project",), store=store, kind="equipment")
    assert dict(zip(frame["project"], frame["energy_kwh"], strict=True)) == pytest.approx(services)
    by_site = tracker.summarize(by=("site", "category"), period="day", store=store)
    assert by_site["energy_kwh"].sum() == pytest.approx(sum(equipment_kwh.values()))


def test_supplier_mix_is_effective_dated(tmp_path: Path) -> None:
    files = worked_example_files(tmp_path)
    write_csv(
        files["suppliers"],
        ("site", "valid_from", "supplier", "share_percent", "kg_co2e_per_kwh"),
        [
            ("AMS1", "2025-01-01", "old", 100, 0.5),
            ("AMS1", "2026-03-15", "wind", 100, 0.01),
        ],
    )
    book = load_sites(files["pue"], files["suppliers"])
    assert [s.name for s in book.mix_on("AMS1", date(2026, 3, 14))[0]] == ["old"]
    assert [s.name for s in book.mix_on("AMS1", date(2026, 3, 15))[0]] == ["wind"]
    assert book.mix_on("AMS1", date(2024, 12, 31))[0] == ()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([equipment("a", site="NOWHERE")], "inv.csv line 2: site='NOWHERE'"),
        (
            [equipment("a", vcpus=8), instance("x", "a", "vcpu", 6, "s"), instance("y", "a", "vcpu", 4, "s")],
            "inv.csv line 4: y",
        ),
        ([equipment("a", vcpus=8), instance("x", "a", "vcpu", 2, "")], "in no service"),
        ([equipment("a"), instance("x", "b", "percent", 2, "s")], "inv.csv line 3: equipment='b'"),
        ([equipment("a"), instance("x", "a", "vcpu", 2, "s")], "has no vcpus"),
        ([equipment("a", category="cooling")], "category='cooling'"),
        ([equipment("a"), equipment("a")], "appears twice"),
    ],
)
def test_inventory_errors_name_the_row(tmp_path: Path, rows: list, message: str) -> None:
    write_csv(tmp_path / "inv.csv", INVENTORY_HEADER, rows)
    with pytest.raises(ConfigError) as caught:
        load_inventory(tmp_path / "inv.csv", {"AMS1"})
    assert message in str(caught.value)
    if "line 4: y" in message:  # shares over 100 %
        assert "125 %" in str(caught.value)


def test_parquet_in_gives_what_csv_gives(tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    files = _estate(tmp_path)
    for name in ("inventory", "power"):
        table = pacsv.read_csv(files[name], convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
        pq.write_table(table, tmp_path / f"{name}.parquet")
    store = tmp_path / "fp.db"
    from_csv = json.loads(_out(main, [*_cli(files, store), "--quiet", "--dry-run", "--format", "json"]))
    parquet_files = {**files, "inventory": tmp_path / "inventory.parquet", "power": tmp_path / "power.parquet"}
    from_parquet = json.loads(_out(main, [*_cli(parquet_files, store), "--quiet", "--dry-run", "--format", "json"]))
    assert from_parquet["total"] == pytest.approx(from_csv["total"])
    assert from_parquet["by"] == from_csv["by"]


def _out(function, args) -> str:  # type: ignore[no-untyped-def]
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert function(args) == 0
    return buffer.getvalue()


def test_power_out_of_day_order_names_the_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A month is streamed day by day: a sample for a day already integrated is an error naming its row (a file
    read in small record batches, as a large one is)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = minutes(DAY + timedelta(days=1), {"a": 1.0})[:10] + minutes(DAY, {"a": 1.0})[:5]
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(("timestamp", "equipment", "watts"))})
    table = table.set_column(2, "watts", pa.array([float(r[2]) for r in rows]))
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=5)
    monkeypatch.setattr("tracker.footprint.power.BATCH_ROWS", 5)
    with pytest.raises(ConfigError) as caught:
        list(read_power(tmp_path / "p.parquet", ["a"]))
    assert "p.parquet row 11" in str(caught.value) and "sort by time" in str(caught.value)


def test_annual_statement_adds_up_per_source(tmp_path: Path) -> None:
    """Runs, equipment and cloud records of one organisation: the statement lists each source, the overlap (a run
    on a metered host) once, and its totals are the sum of the sources less the overlap."""
    files = worked_example_files(tmp_path)
    store = open_store(str(tmp_path / "all.db"))
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    account_datacentre(inventory, book, read_power(files["power"], ["esx-01"]), store=store, organisation="acme")
    start = datetime(2026, 3, 14, 10, tzinfo=timezone.utc)
    store.write(
        make_record(
            1,
            organisation="acme",
            host="esx-01",
            started_at=start,
            emissions_kg=0.5,
            emissions_market_kg=0.25,
            facility_energy_kwh=2.0,
        )
    )  # on the metered host
    store.write(
        make_record(
            2,
            organisation="acme",
            host="laptop",
            started_at=start,
            emissions_kg=0.125,
            emissions_market_kg=0.125,
            facility_energy_kwh=1.0,
        )
    )
    store.write(
        make_record(
            3,
            organisation="acme",
            kind="cloud",
            host="",
            started_at=start,
            emissions_kg=7.0,
            emissions_market_kg=3.0,
            facility_energy_kwh=20.0,
            cpu_energy_kwh=8.0,
            ram_energy_kwh=8.0,
        )
    )
    statement = annual_statement(store, 2026)
    (org,) = statement.organisations
    parts = {p.kind: p for p in org.by_source}
    assert set(parts) == {"run", "equipment", "cloud", "overlap"}
    assert parts["run"].records == 2 and parts["overlap"].records == 1
    assert parts["equipment"].market_based_t == pytest.approx(10.92e-3, rel=1e-12)
    assert parts["overlap"].location_based_t == pytest.approx(0.5e-3)
    for name in ("energy_mwh", "it_energy_mwh", "location_based_t", "market_based_t", "embodied_t"):
        expected = sum(getattr(p, name) for k, p in parts.items() if k != "overlap") - getattr(parts["overlap"], name)
        assert getattr(org, name) == pytest.approx(expected, rel=1e-12), name
    assert org.market_based_t == pytest.approx((10.92 + 0.125 + 3.0) / 1000, rel=1e-12)
    assert org.runs == 3  # two runs and one cloud record, one equipment record, less the overlapping run
    text = render(statement, "markdown")
    assert "data-centre equipment (metered)" in text and "less: tracked runs on metered equipment" in text
    assert json.loads(render(statement, "json"))["organisations"][0]["by_source"][0]["kind"] == "cloud"
    html = render(statement, "html")
    assert '<tr data-source="overlap">' in html and "By source" in html
    assert f'data-field="market_based_t" data-value="{parts["equipment"].market_based_t!r}"' in html
    # and the CLI summary of a later import reports the run on the metered host
    out = _out(main, [*_cli(files, tmp_path / "all.db"), "--quiet", "--organisation", "acme"])
    assert "tracked runs on inventoried equipment (esx-01)" in out


def test_records_written_before_kinds_read_as_runs(tmp_path: Path) -> None:
    """A store created before the kind column: its rows come back as runs and are selected by kind='run'."""
    import sqlite3

    from tracker.records.schema import COLUMNS

    path = tmp_path / "old.db"
    store = open_store(str(path))
    store.write(make_record(1))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET kind = NULL")
    conn.commit()
    conn.close()
    assert "kind" in COLUMNS
    assert len(open_store(str(path)).rows(kind="run")) == 1


def test_postgresql_keeps_equipment_records_like_sqlite(pg_url: str, tmp_path: Path) -> None:
    from pg_support import require_server

    from tracker.stores.postgres import PostgresStore

    require_server()
    files = _estate(tmp_path)
    inventory, book = load_estate(files["inventory"], files["pue"], files["suppliers"], files["sites"])
    pg = PostgresStore(pg_url)
    lite = open_store(str(tmp_path / "fp.db"))
    for store in (pg, lite, pg):  # the second import into PostgreSQL adds nothing
        account_datacentre(
            inventory, book, read_power(files["power"], list(inventory.equipment)), store=store, organisation="acme"
        )
    pg.write(make_record(1, organisation="acme", host="esx-01", started_at=datetime(2026, 3, 14, tzinfo=timezone.utc)))
    lite.write(
        make_record(1, organisation="acme", host="esx-01", started_at=datetime(2026, 3, 14, tzinfo=timezone.utc))
    )
    frames = [tracker.summarize(by=("kind", "project"), store=s) for s in (pg, lite)]
    assert frames[0]["runs"].tolist() == frames[1]["runs"].tolist()
    assert frames[0]["energy_kwh"].tolist() == pytest.approx(frames[1]["energy_kwh"].tolist())
    assert frames[0]["runs"].sum() == 1 + 16  # one run; 2 days x (4 + 3 + 1) equipment shares
    statements = [annual_statement(s, 2026).organisations[0] for s in (pg, lite)]
    assert [p.kind for p in statements[0].by_source] == ["equipment", "run", "overlap"]
    assert statements[0].market_based_t == pytest.approx(statements[1].market_based_t)


def test_report_says_which_total_is_which(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tracker report over runs and equipment days: the rows add everything up; the lines below say per source,
    and which runs are inside the equipment's energy too."""
    files = worked_example_files(tmp_path)
    db = str(tmp_path / "r.db")
    store = open_store(db)
    store.write(make_record(1, host="esx-01", started_at=datetime(2026, 3, 14, 9, tzinfo=timezone.utc)))
    store.write(make_record(2, host="laptop", started_at=datetime(2026, 3, 14, 9, tzinfo=timezone.utc)))
    assert main(["report", "--store", db]) == 0
    assert "by source" not in capsys.readouterr().out  # runs only: nothing to tell apart
    assert main([*_cli(files, tmp_path / "r.db"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "--store", db]) == 0
    out = capsys.readouterr().out
    assert "by source (the total above adds them all up):" in out
    assert "tracked runs: 2 records" in out and "data-centre equipment (metered): 1 records, 1 MWh IT" in out
    assert "of these, tracked runs on metered equipment (esx-01): 1 records" in out
    assert "the total above counts it twice" in out
    assert main(["report", "--store", db, "--format", "json"]) == 0
    sources = {s["kind"]: s for s in json.loads(capsys.readouterr().out)["sources"]}
    assert sources["overlap"]["hosts"] == ["esx-01"]
    assert sources["overlap"]["energy_kwh"] == pytest.approx(2 / 1024)
    assert sources["equipment"]["emissions_market_kg"] == pytest.approx(10.92)
    assert main(["report", "--store", db, "--kind", "equipment", "--by", "site,category", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["site"], r["category"], r["runs"]) for r in data["rows"]] == [("AMS1", "compute", 1)]
    assert data["total"]["emissions_market_kg"] == pytest.approx(10.92)


def test_cli_refuses_a_bad_inventory_naming_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = worked_example_files(tmp_path)
    write_csv(files["inventory"], INVENTORY_HEADER, [equipment("esx-01", vcpus=32), equipment("x", site="LON9")])
    assert main([*_cli(files, tmp_path / "fp.db")]) == 2
    err = capsys.readouterr().err
    assert "inv.csv line 3: site='LON9'" in err and "unknown site (the site files know: AMS1)" in err
    assert not (tmp_path / "fp.db").exists()  # nothing read, nothing stored
