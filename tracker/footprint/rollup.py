"""Roll-ups of equipment records: equipment -> instance -> global service, and by site, category, day, month, year.

The stored records already carry every key (``name`` = equipment, ``experiment`` = instance, ``project`` =
service, ``site``, ``category``, ``started_at``), so ``tracker.summarize(by=("project",), kind="equipment")`` gives
the same totals from a store; this module adds them up in memory while a command runs, for its summary, without a
store round trip. Every level is a sum of the records below it, so a service's total is the sum of its instances'
shares, which is the allocated part of its equipment's energy (tested).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tracker.records.schema import RunRecord

LEVELS = {
    "equipment": lambda r: r.name,
    "instance": lambda r: r.experiment,
    "service": lambda r: r.project,
    "site": lambda r: r.site,
    "category": lambda r: r.category,
    "day": lambda r: r.started_at.date().isoformat(),
    "month": lambda r: r.started_at.date().isoformat()[:7],
    "year": lambda r: r.started_at.date().isoformat()[:4],
}


@dataclass
class Totals:
    records: int = 0
    energy_kwh: float = 0.0
    facility_energy_kwh: float = 0.0
    emissions_kg: float = 0.0
    emissions_market_kg: float = 0.0

    def add(self, record: RunRecord) -> None:
        self.records += 1
        self.energy_kwh += record.energy_kwh
        self.facility_energy_kwh += record.facility_energy_kwh
        self.emissions_kg += record.emissions_kg
        self.emissions_market_kg += record.emissions_market_kg


@dataclass
class Rollup:
    """Totals at every level, kept up to date record by record (a month is never held in memory)."""

    levels: tuple[str, ...] = tuple(LEVELS)
    total: Totals = field(default_factory=Totals)
    groups: dict[str, dict[str, Totals]] = field(default_factory=dict)
    incomplete: set[tuple[str, str]] = field(default_factory=set)  # (equipment, day) with minutes missing

    def add(self, record: RunRecord) -> None:
        self.total.add(record)
        for level in self.levels:
            key = LEVELS[level](record) or "(none)"
            self.groups.setdefault(level, {}).setdefault(key, Totals()).add(record)
        if record.tags.get("complete") == "no":
            self.incomplete.add((record.name or "", record.started_at.date().isoformat()))

    def add_all(self, records: Iterable[RunRecord]) -> None:
        for record in records:
            self.add(record)
