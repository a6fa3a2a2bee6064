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
