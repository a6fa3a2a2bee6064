"""A report as a terminal table, JSON, CSV or Markdown (the HTML form is in :mod:`tracker.reports.html`)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tracker.carbon.equivalents import LABELS
from tracker.records.schema import TOTALS
from tracker.reports.data import Report

# The columns the table and Markdown forms show (CSV and JSON carry every total).
_SHOWN = (
    ("runs", "runs", "{:d}"),
    ("duration_s", "hours", "{:.2f}"),
    ("energy_kwh", "energy kWh", "{:.4f}"),
    ("facility_energy_kwh", "facility kWh", "{:.4f}"),
    ("emissions_kg", "kg CO2e", "{:.4f}"),
    ("emissions_market_kg", "market kg", "{:.4f}"),
)


def _cell(column: str, fmt: str, row: dict[str, Any]) -> str:
    value = row[column] / 3600.0 if column == "duration_s" else row[column]
    if isinstance(value, float) and value and abs(value) < 0.01:
        return f"{value:.3g}"  # a few Wh or grams must not print as 0.0000: three significant digits
    return fmt.format(value)


def _label(value: Any) -> str:
    """A label for display: missing ones named, control characters (terminal escapes) replaced."""
    if value is None:
        return "(none)"
    return "".join(c if c.isprintable() else "\ufffd" for c in str(value))


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_label(value: Any) -> str:
    """A label for a CSV cell that a spreadsheet will not run: text starting like a formula (``=HYPERLINK(...)``,
    ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe (OWASP, "CSV Injection").

    Only labels (project, team, ... names) pass through here; numbers are written as numbers."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(report: Report) -> str:
    """One line per group: its keys, then every total. No total line, so the file reads back as data."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*report.keys, *TOTALS])
    for row in report.rows:
        writer.writerow([*(csv_label(row[k]) for k in report.keys), *(repr(row[t]) for t in TOTALS)])
    return out.getvalue()


def _grid(report: Report) -> tuple[list[str], list[list[str]]]:
    header = [*report.keys, *(title for _, title, _ in _SHOWN)]
    lines = [[*(_label(row[k]) for k in report.keys), *(_cell(c, f, row) for c, _, f in _SHOWN)] for row in report.rows]
    total = {**report.total, "runs": int(report.total["runs"])}
    lines.append(["total", *([""] * (len(report.keys) - 1)), *(_cell(c, f, total) for c, _, f in _SHOWN)])
    if not report.keys:
        lines[-1] = lines[-1][1:]
    return header, lines


def _equivalents(report: Report) -> list[str]:
    values = report.equivalents.to_dict()
    return [f"{values[k]:,.1f} {LABELS[k]}" for k in LABELS]


def to_table(report: Report) -> str:
    """Aligned columns for a terminal: labels left, numbers right, a total line."""
    if not report.rows:
        return "no runs match\n"
    header, lines = _grid(report)
    nkeys = len(report.keys)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < nkeys else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [fmt(header), "  ".join("-" * w for w in widths)]
    out += [fmt(r) for r in lines[:-1]]
    out += ["  ".join("-" * w for w in widths), fmt(lines[-1])]
    out.append("")
    out.append("equivalent to " + "; ".join(_equivalents(report)))
    return "\n".join(out) + "\n"


_MD_ESCAPES = str.maketrans(
    {
        **{c: "\\" + c for c in "\\`*_[]|~#!"},  # emphasis, code, links, images, table cells, headings
        "&": "&amp;",  # entities
        "<": "&lt;",  # HTML
        "\n": " ",
        "\r": " ",
    }
)


def _md(text: str) -> str:
    """Text shown as itself in Markdown: pipes and line breaks would break the table, ``*``/``_``/`` ` ``
    emphasise or quote, ``[...]`` links, ``&`` entities and ``<`` HTML would be rendered (CommonMark allows a
    backslash before any ASCII punctuation)."""
    return text.translate(_MD_ESCAPES)


def to_markdown(report: Report) -> str:
    header, lines = _grid(report)
    align = ["---" if i < len(report.keys) else "---:" for i in range(len(header))]
    out = ["| " + " | ".join(_md(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    for i, line in enumerate(lines):
        cells = [_md(c) for c in line]
        if i == len(lines) - 1:
            cells = [f"**{c}**" if c else c for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    out.append("Equivalent to " + "; ".join(_equivalents(report)) + ".")
    return "\n".join(out) + "\n"
