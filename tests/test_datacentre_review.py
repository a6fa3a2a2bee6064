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
