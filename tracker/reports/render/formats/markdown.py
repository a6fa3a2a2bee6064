"""Markdown: the table with a bold total line, the annual statement with its sources, recommendations as a list.
Every label is escaped (:func:`tracker.reports.render.labels.md`), so it shows as itself."""

from __future__ import annotations

from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render import units
from tracker.reports.render.base import Renderer
from tracker.reports.render.labels import label, md
from tracker.reports.render.phrases import equivalents_sentence, grid

ANNUAL_NOTE = (
    "Location-based: each run's energy x the grid intensity of its zone and hour. Market-based: the supplier "
    "mix where configured, else the location-based figure (GHG Protocol Scope 2 Guidance). Energy is the "
    "electricity drawn from the grid, IT energy x PUE."
)


class MarkdownRenderer(Renderer):
    name = "markdown"

    def report(self, report: Report) -> str:
        header, lines = grid(report)
        align = ["---" if i < len(report.keys) else "---:" for i in range(len(header))]
        out = ["| " + " | ".join(md(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
        for i, line in enumerate(lines):
            cells = [md(c) for c in line]
            if i == len(lines) - 1:
                cells = [f"**{c}**" if c else c for c in cells]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out.append("Equivalent to " + equivalents_sentence(report.equivalents) + ".")
        return "\n".join(out) + "\n"

    def annual(self, statement: AnnualStatement) -> str:
        """The statement in its own units (MWh, t CO2e: ESRS E1-5 and E1-6), six decimals."""
        out = [f"# Electricity of tracked computing, {statement.year}", ""]
        if not statement.organisations:
            return "\n".join([*out, "No runs started in this year."]) + "\n"
        out += [
            "| organisation | runs | energy MWh (grid, incl. PUE) | IT energy MWh | Scope 2 location-based t CO2e "
            "| Scope 2 market-based t CO2e | embodied t CO2e (Scope 3) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for o in statement.organisations:
            out.append(
                f"| {md(label(o.organisation))} | {o.runs} | {o.energy_mwh:.6f} | {o.it_energy_mwh:.6f} | "
                f"{o.location_based_t:.6f} | {o.market_based_t:.6f} | {o.embodied_t:.6f} |"
            )
        for o in statement.organisations:
            out += ["", f"## Methods and data sources: {md(label(o.organisation))}", ""]
            for s in sorted(o.sources, key=lambda s: (s.kind, -s.energy_share)):
                out.append(
                    f"- {s.kind}: {md(label(s.name))} ({units.percent(s.energy_share)} of energy, {s.runs} runs)"
                )
        out += ["", f"{ANNUAL_NOTE} Generated {statement.generated_at} from {md(statement.store)}."]
        return "\n".join(out) + "\n"

    def recommendations(self, items: Recommendations) -> str:
        """A bullet per place, its alternatives and hours as sub-bullets."""
        from tracker.reports.render.formats.table import NO_PLACES, recommendation_lines

        if not items:
            return NO_PLACES + "\n"
        return (
            "\n".join(
                f"- {md(line.strip())}" if not line.startswith(" ") else f"  - {md(line.strip())}"
                for line in recommendation_lines(items)
            )
            + "\n"
        )


RENDERER = MarkdownRenderer()
