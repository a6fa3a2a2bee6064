"""The terminal form: aligned columns (labels left, numbers right) with a total line, values in units that fit."""

from __future__ import annotations

from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render import units
from tracker.reports.render.base import Renderer
from tracker.reports.render.labels import label
from tracker.reports.render.phrases import equivalents_sentence, grid, hourly_note


def recommendation_lines(items: Recommendations) -> list[str]:
    """One line per place, then indented lines: its alternatives, its greener hours, the hourly note."""
    out = []
    for r in items:
        out.append(
            f"{label(r.place)}: {units.energy(r.energy_kwh)} from the grid, "
            f"{units.mass(r.emissions_kg)} CO2e recorded; {units.mass(r.baseline_kg)} at the yearly "
            f"{units.intensity(r.g_per_kwh)} compared below ({r.basis})"
        )
        if not r.alternatives and r.compared:
            out.append(f"  already the greenest of {r.compared + 1} comparable places in the embedded tables")
        elif not r.alternatives:
            out.append(
                "  not compared: the embedded tables hold no comparable place for it (a neighbouring zone of "
                "the same country or interconnection family, or another region of the same cloud provider)"
            )
        for a in r.alternatives:
            out.append(
                f"  in {label(a.place)} ({units.intensity(a.g_per_kwh)}): {units.mass(a.saved_kg)} less "
                f"({units.percent(a.saved_pct / 100.0)})"
            )
        if r.greener_hours_utc:
            out.append(f"  greener hours (UTC): {', '.join(f'{h:02d}:00' for h in r.greener_hours_utc)}")
        out.append(f"  {hourly_note(r)}")
    return out


NO_PLACES = "no runs with a known zone or cloud region"


class TableRenderer(Renderer):
    name = "table"

    def report(self, report: Report) -> str:
        if not report.rows:
            return "no runs match\n"
        header, lines = grid(report)
        nkeys = len(report.keys)
        widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

        def fmt(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i < nkeys else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        rule = "  ".join("-" * w for w in widths)
        out = [fmt(header), rule, *(fmt(r) for r in lines[:-1]), rule, fmt(lines[-1]), ""]
        out.append("equivalent to " + equivalents_sentence(report.equivalents))
        return "\n".join(out) + "\n"

    def annual(self, statement: AnnualStatement) -> str:
        """The Markdown form, which reads well in a terminal."""
        from tracker.reports.render.formats.markdown import RENDERER as markdown

        return markdown.annual(statement)

    def recommendations(self, items: Recommendations) -> str:
        if not items:
            return NO_PLACES + "\n"
        return "\n".join(recommendation_lines(items)) + "\n"


RENDERER = TableRenderer()
