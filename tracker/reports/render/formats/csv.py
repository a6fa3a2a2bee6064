"""CSV: one line per group (or organisation, or alternative), raw values written with ``repr`` so they read
back exactly; no total line, so the file reads back as data. Every text cell that looks like a formula is
defused (a leading apostrophe), and every field holding a quote, comma, CR or LF is quoted
(:mod:`tracker.safetext`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracker.records.schema import UNIT_TOTALS
from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render.base import Renderer
from tracker.reports.render.labels import csv_label
from tracker.reports.summary import TOTALS
from tracker.safetext import csv_line, defuse

ANNUAL_FIELDS = (
    "organisation",
    "year",
    "runs",
    "energy_mwh",
    "it_energy_mwh",
    "location_based_t",
    "market_based_t",
    "embodied_t",
    "fossil_share",
    "nuclear_share",
    "renewable_share",
    "mix_note",
)
RECOMMENDATION_FIELDS = (
    "place",
    "zone",
    "energy_kwh",
    "emissions_kg",
    "g_per_kwh",
    "baseline_kg",
    "compared",
    "alternative_place",
    "alternative_zone",
    "alternative_g_per_kwh",
    "saved_kg",
    "saved_pct",
    # rows of kind "shifting" (one per project: what moving its runs in time or place would have saved) use the
    # columns below and energy_kwh / emissions_kg; rows of kind "alternative" the ones above. Named shift_* so
    # that no list of the record's labels or totals is kept here (tests/test_columns.py)
    "kind",
    "shift_project",
    "shift_runs",
    "time_runs",
    "time_saved_kg",
    "time_saved_pct",
    "place_runs",
    "place_saved_kg",
    "place_saved_pct",
    "note",
)


def _cell(value: Any) -> str:
    """A number as itself (``repr``: it reads back exactly; a negative number is no formula), any other value
    as defused text."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return defuse("" if value is None else str(value))


def _write(header: Iterable[str], lines: Iterable[Iterable[Any]]) -> str:
    return csv_line(header) + "".join(csv_line(_cell(v) for v in line) for line in lines)


class CsvRenderer(Renderer):
    name = "csv"

    def report(self, report: Report) -> str:
        """The group keys, then every total; then the SCI columns when some run counted functional units (the
        unit's name as a label, the numbers raw, empty where there is none)."""
        extra = UNIT_TOTALS if report.has_units else ()
        return _write(
            [*report.keys, *TOTALS, *extra],
            (
                [
                    *(csv_label(row[k]) for k in report.keys),
                    *(row[t] for t in TOTALS),
                    *(csv_label(row[u]) if u == UNIT_TOTALS[0] else row[u] for u in extra),
                ]
                for row in report.rows
            ),
        )

    def annual(self, statement: AnnualStatement) -> str:
        """One line per organisation (the sources are in the JSON and HTML forms)."""
        return _write(
            ANNUAL_FIELDS,
            (
                [csv_label(o.organisation), *(getattr(o, f) for f in ANNUAL_FIELDS[1:])]
                for o in statement.organisations
            ),
        )

    def recommendations(self, items: Recommendations) -> str:
        """One line per alternative (a place without one: a line with the alternative's columns empty)."""
        lines = []
        for r in items:
            place = [
                csv_label(r.place),
                csv_label(r.zone),
                r.energy_kwh, r.emissions_kg, r.g_per_kwh, r.baseline_kg,
                r.compared,
            ]
            rest = ["alternative", "", "", "", "", "", "", "", "", ""]
            if not r.alternatives:
                lines.append([*place, "", "", "", "", "", *rest])
            for a in r.alternatives:
                lines.append(
                    [
                        *place,
                        csv_label(a.place),
                        csv_label(a.zone),
                        a.g_per_kwh, a.saved_kg, a.saved_pct,
                        *rest,
                    ]
                )
        for s in items.shifting:
            lines.append(
                [
                    "", "", s.energy_kwh, s.emissions_kg, "", "", "", "", "", "", "", "",
                    "shifting", csv_label(s.project), s.runs,
                    s.time_runs, s.time_saved_kg, "" if s.time_saved_pct is None else s.time_saved_pct,
                    s.place_runs, s.place_saved_kg, "" if s.place_saved_pct is None else s.place_saved_pct,
                    csv_label("; ".join(n for n in (s.time_note, s.place_note) if n)),
                ]
            )
        return _write(RECOMMENDATION_FIELDS, lines)


RENDERER = CsvRenderer()
