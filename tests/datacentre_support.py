"""Builders for the data-centre tests: inventory, site files and minute power written as CSV (or Parquet)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DAY = date(2026, 3, 14)
WATTS_FOR_1000_KWH = 1_000_000 / 24  # 1,440 minutes at this power: 1,000 kWh


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


INVENTORY_HEADER = (
    "type",
    "id",
    "category",
    "sub_category",
    "site",
    "vcpus",
    "gb",
    "equipment",
    "key",
    "allocation",
    "service",
    "team",
)


def equipment(ident: str, category: str = "compute", site: str = "AMS1", vcpus: Any = "", gb: Any = "") -> tuple:
    return ("equipment", ident, category, "virtualisation host", site, vcpus, gb, "", "", "", "", "")


def instance(ident: str, host: str, key: str, allocation: Any, service: str, team: str = "") -> tuple:
    return ("instance", ident, "", "", "", "", "", host, key, allocation, service, team)


def minutes(day: date, equipment_watts: dict[str, float], skip: dict[str, set[int]] | None = None) -> list[tuple]:
    """One sample a minute for each equipment, except the minutes in ``skip``."""
    skip = skip or {}
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    rows = []
    for minute in range(1440):
        stamp = (start + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
        for ident, watts in equipment_watts.items():
            if minute not in skip.get(ident, set()):
                rows.append((stamp, ident, repr(float(watts))))
    return rows


def write_power(path: Path, rows: list[tuple]) -> Path:
    return write_csv(path, ("timestamp", "equipment", "watts"), rows)


def worked_example_files(tmp_path: Path) -> dict[str, Path]:
    """The worked example's files: one host at AMS1, 1,000 kWh on DAY, PUE 1.3, 80 % at 0.008 and 20 % at 0.01."""
    return {
        "inventory": write_csv(tmp_path / "inv.csv", INVENTORY_HEADER, [equipment("esx-01", vcpus=32)]),
        "power": write_power(tmp_path / "power.csv", minutes(DAY, {"esx-01": WATTS_FOR_1000_KWH})),
        "pue": write_csv(tmp_path / "pue.csv", ("site", "date", "pue"), [("AMS1", DAY.isoformat(), "1.3")]),
        "suppliers": write_csv(
            tmp_path / "sup.csv",
            ("site", "valid_from", "supplier", "share_percent", "kg_co2e_per_kwh"),
            [("AMS1", "2026-01-01", "wind", 80, 0.008), ("AMS1", "2026-01-01", "grid", 20, 0.01)],
        ),
        "sites": write_csv(
            tmp_path / "sites.csv",
            ("site", "country", "intensity_g_per_kwh", "intensity_source", "intensity_year"),
            [("AMS1", "NL", 250, "national agency 2025", 2025)],
        ),
    }
