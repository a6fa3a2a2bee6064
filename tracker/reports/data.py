"""A report as plain data: the groups and their totals, the grand total, the equivalents, and for charts the
series over time, per group and per group over time. Renderers (:mod:`tracker.reports.render`) read this and
nothing else, so every format shows the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tracker.carbon.equivalents import Equivalents
from tracker.records.schema import TOTALS, UNIT_TOTALS
from tracker.reports.summary import group_columns, summarize

if TYPE_CHECKING:
    import pandas as pd

    from tracker.stores.base import Store


@dataclass
class Report:
    """Totals per group (``rows``, each holding its keys and :data:`TOTALS`) and over all rows (``total``)."""

    keys: list[str]
    rows: list[dict[str, Any]]
    total: dict[str, float]
    period: str | None
    filters: dict[str, str]
    store: str
    generated_at: str
    equivalents: Equivalents
    # for charts (``charts=True``): totals per period (every period from the first to the last, empty ones as
    # zeros), per group of ``group_by`` over the whole span, and per group and period (only periods with runs)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    trends: list[dict[str, Any]] = field(default_factory=list)
    # which total is which (issue 17): per source (kind) when the store holds more than runs, and the runs on
    # metered equipment (counted inside the equipment's energy too): tracker.reports.sources
    sources: list[dict[str, Any]] = field(default_factory=list)
    # what shifting the runs would have saved, per project (tracker.reports.shifting): the HTML report's section
    shifting: list[Any] = field(default_factory=list)

    @property
    def group_by(self) -> list[str]:
        """The label columns the rows are grouped by (``keys`` without ``period``)."""
        return [k for k in self.keys if k != "period"]

    @property
    def has_units(self) -> bool:
        """Whether some run of the report counted functional units: rows and total then carry
        :data:`~tracker.records.schema.UNIT_TOTALS` (the SCI per unit)."""
        return UNIT_TOTALS[0] in self.total

    @property
    def chart_period(self) -> str:
        """The period of the time charts: the report's, else month."""
        return self.period or "month"


def build_report(
    store: Store,
    by: tuple[str, ...] | list[str] = ("project",),
    period: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    charts: bool = False,
    **filters: str | None,
) -> Report:
    """Summarise ``store``'s runs; with ``charts`` also the series the HTML report draws."""
    keys = list(group_columns(by))
    labels = {k: v for k, v in filters.items() if v is not None}
    frame = summarize(store=store, by=keys, period=period, since=since, until=until, **labels)
    rows = frame_rows(frame)
    total = {"runs": sum(int(r["runs"]) for r in rows)}
    for column in TOTALS[1:]:
        total[column] = math.fsum(float(r[column]) for r in rows)
    if rows and UNIT_TOTALS[0] in rows[0]:
        total.update(unit_total(rows))
    shown = dict(labels)
    if since is not None:
        shown["since"] = since.isoformat()
    if until is not None:
        shown["until"] = until.isoformat()
    report = Report(
        keys=[*keys, "period"] if period else keys,
        rows=rows,
        total=total,
        period=period,
        filters=shown,
        store=store.location,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        equivalents=Equivalents.of(total["facility_energy_kwh"], total["emissions_kg"]),
    )
    if rows:
        from tracker.reports.sources import source_totals

        report.sources = source_totals(store, since=since, until=until, **labels)
    if charts:
        options = {"store": store, "since": since, "until": until, **labels}
        every = report.chart_period
        report.timeline = _with_empty_periods(frame_rows(summarize(by=(), period=every, **options)), every)
        report.groups = frame_rows(summarize(by=keys, **options)) if period else rows
        report.trends = frame_rows(summarize(by=keys, period=every, **options)) if keys else []
    return report


def unit_total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """:data:`~tracker.records.schema.UNIT_TOTALS` over groups, by the groups' rule: units add up only under one
    name (a group with several names, ``functional_unit`` None beside its ``sci_emissions_kg``, has none)."""
    unit, count, sci, per = UNIT_TOTALS
    counted = [r for r in rows if r.get(sci) is not None]
    if not counted:
        return dict.fromkeys(UNIT_TOTALS)
    names = {r[unit] for r in counted}
    emitted = math.fsum(r[sci] for r in counted)
    if len(names) != 1 or None in names:
        return {unit: None, count: None, sci: emitted, per: None}
    units = math.fsum(r[count] for r in counted)
    return {unit: names.pop(), count: units, sci: emitted, per: emitted / units if units > 0 else None}


def _with_empty_periods(timeline: list[dict[str, Any]], period: str) -> list[dict[str, Any]]:
    """The totals per period with the periods between that had no runs, as zeros: a time axis without holes."""
    from tracker.reports.periods import period_labels

    if not timeline or any(row["period"] is None for row in timeline):
        return timeline
    found = {row["period"]: row for row in timeline}
    zero = {"runs": 0, **{column: 0.0 for column in TOTALS[1:]}}
    labels = period_labels(timeline[0]["period"], timeline[-1]["period"], period)
    return [found.get(label, {"period": label, **zero}) for label in labels]


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A roll-up frame as JSON-ready dicts (plain ints, floats and strings; missing labels as ``None``)."""
    rows = []
    for record in frame.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for key, value in record.items():
            if key == "runs":
                row[key] = int(value)
            elif key in TOTALS:
                row[key] = float(value)
            else:
                row[key] = None if value is None or (isinstance(value, float) and math.isnan(value)) else value
        rows.append(row)
    return rows
