"""The data-centre day, end to end: inventory and site files checked, power read day by day, each day accounted,
its records written in one batch per day, the roll-ups kept as it goes. ``tracker datacentre`` is this plus a
printout; a scheduler calling it every night gets the same records (same ids: nothing is added twice), and a day
imported again after the inventory changed replaces each measured equipment's records of that day
(old shares included)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tracker.errors import ConfigError
from tracker.footprint.daily import KIND, SiteDay, equipment_records
from tracker.footprint.inventory import Inventory, load_inventory
from tracker.footprint.power import day_start
from tracker.footprint.rollup import Rollup
from tracker.footprint.sites import SiteBook, load_sites

logger = logging.getLogger(__name__)


@dataclass
class DatacentreResult:
    days: list[date] = field(default_factory=list)
    records: int = 0
    rollup: Rollup = field(default_factory=Rollup)
    equipment: int = 0
    store: str | None = None
    overlap: list[tuple[str, float]] = field(default_factory=list)  # (host, run kWh) of runs on inventoried hosts


def load_estate(
    inventory: str | Path, pue: str | Path | None, suppliers: str | Path | None, sites: str | Path | None = None
) -> tuple[Inventory, SiteBook]:
    """The site files first (they say which sites exist), then the inventory checked against them."""
    book = load_sites(pue, suppliers, sites)
    return load_inventory(inventory, book.names or None), book


def account_datacentre(
    inventory: Inventory,
    book: SiteBook,
    days: Any,
    *,
    store: Any = None,
    organisation: str | None = None,
    team: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DatacentreResult:
    """Account every :class:`~tracker.footprint.power.DayPower` of ``days`` and write its records to ``store``."""
    result = DatacentreResult(equipment=len(inventory.equipment), store=getattr(store, "location", None))
    factors: dict[tuple[str, date], SiteDay] = {}
    for power in days:
        records = list(equipment_records(power, inventory, book, organisation=organisation, team=team, factors=factors))
        if store is not None:  # the day's records of each measured equipment replace what an earlier import left
            start = day_start(power.day)
            store.replace_many(records, kind=KIND, names=list(power.ids), since=start, until=start + timedelta(days=1))
        result.rollup.add_all(records)
        result.records += len(records)
        result.days.append(power.day)
        if progress is not None:
            progress(f"{power.day}: {len(records):,} records")
    if not result.days:
        raise ConfigError("power", "", "no power samples for the inventory's equipment in the period asked")
    if store is not None:
        result.overlap = runs_on_equipment(store, set(inventory.equipment), min(result.days), max(result.days))
    return result


def runs_on_equipment(store: Any, hosts: set[str], first: date, last: date) -> list[tuple[str, float]]:
    """Tracked runs (``kind`` run) on a host of the inventory on a day it is metered, in the period (the annual
    statement's rule, :func:`tracker.reports.sources.runs_inside_equipment`): their energy is inside that
    equipment's metered energy already, so the statement must not add them on top (it says so)."""
    from tracker.reports.sources import runs_inside_equipment

    totals: dict[str, float] = {}
    for row in runs_inside_equipment(
        (), store=store, since=day_start(first), until=day_start(last + timedelta(days=1))
    ):
        if row["host"] in hosts:
            totals[str(row["host"])] = totals.get(str(row["host"]), 0.0) + float(row["energy_kwh"])
    return sorted(totals.items())
