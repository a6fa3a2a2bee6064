"""Markdown: the table with a bold total line, the annual statement with its sources, recommendations as a list.
Every label is escaped (:func:`tracker.reports.render.labels.md`), so it shows as itself."""

from __future__ import annotations

from tracker.reports.annual import AnnualStatement
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render.base import Renderer
from tracker.reports.render.labels import md
from tracker.reports.render.phrases import (
    NO_PLACES,
    annual_markdown,
    equivalents_sentence,
    grid,
    recommendation_lines,
    shifting_lines,
    source_lines,
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
        out.extend(md(line) if line else line for line in source_lines(report))
        return "\n".join(out) + "\n"

    def annual(self, statement: AnnualStatement) -> str:
        return annual_markdown(statement)

    def recommendations(self, items: Recommendations) -> str:
        """A bullet per place, its alternatives and hours as sub-bullets."""
        lines = recommendation_lines(items) if items else [NO_PLACES]
        out = [f"- {md(line.strip())}" if not line.startswith(" ") else f"  - {md(line.strip())}" for line in lines]
        if items.shifting:
            head, *rest = shifting_lines(items.shifting)
            out += ["", f"## {head.rstrip(':')}", ""]
            out += [f"- {md(line.strip())}" if not line.startswith(" ") else f"  - {md(line.strip())}" for line in rest]
        return "\n".join(out) + "\n"


RENDERER = MarkdownRenderer()
