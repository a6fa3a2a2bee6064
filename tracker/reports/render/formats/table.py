"""The terminal form: aligned columns (labels left, numbers right) with a total line, values in units that fit."""

from __future__ import annotations

from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render.base import Renderer
from tracker.reports.render.phrases import (
    NO_PLACES,
    annual_markdown,
    equivalents_sentence,
    grid,
    recommendation_lines,
    shifting_lines,
    source_lines,
)


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
        out.extend(source_lines(report))
        return "\n".join(out) + "\n"

    def annual(self, statement: AnnualStatement) -> str:
        """The Markdown form, which reads well in a terminal."""
        return annual_markdown(statement)

    def recommendations(self, items: Recommendations) -> str:
        lines = recommendation_lines(items) if items else [NO_PLACES]
        if items.shifting:
            lines += ["", *shifting_lines(items.shifting)]
        return "\n".join(lines) + "\n"


RENDERER = TableRenderer()
