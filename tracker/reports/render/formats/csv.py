"""CSV: one line per group (or organisation, or alternative), raw values written with ``repr`` so they read
back exactly; no total line, so the file reads back as data. Labels that look like formulas are defused."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render.base import Renderer
from tracker.reports.render.labels import csv_label
from tracker.reports.summary import TOTALS

ANNUAL_FIELDS = (
    "organisation",
    "year",
    "runs",
    "energy_mwh",
    "it_energy_mwh",
    "location_based_t",
    "market_based_t",
    "embodied_t",
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
)


def _value(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def _write(header: Iterable[str], lines: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)
    return out.getvalue()


class CsvRenderer(Renderer):
    name = "csv"

    def report(self, report: Report) -> str:
        """The group keys, then every total."""
        return _write(
            [*report.keys, *TOTALS],
            ([*(csv_label(row[k]) for k in report.keys), *(repr(row[t]) for t in TOTALS)] for row in report.rows),
        )

    def annual(self, statement: AnnualStatement) -> str:
        """One line per organisation (the sources are in the JSON and HTML forms)."""
        return _write(
            ANNUAL_FIELDS,
            (
                [csv_label(o.organisation), *(_value(getattr(o, f)) for f in ANNUAL_FIELDS[1:])]
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
                *(_value(v) for v in (r.energy_kwh, r.emissions_kg, r.g_per_kwh, r.baseline_kg)),
                r.compared,
            ]
            if not r.alternatives:
                lines.append([*place, "", "", "", "", ""])
            for a in r.alternatives:
                lines.append(
                    [
                        *place,
                        csv_label(a.place),
                        csv_label(a.zone),
                        *(_value(v) for v in (a.g_per_kwh, a.saved_kg, a.saved_pct)),
                    ]
                )
        return _write(RECOMMENDATION_FIELDS, lines)


RENDERER = CsvRenderer()
