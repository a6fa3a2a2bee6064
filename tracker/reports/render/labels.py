"""Labels from the data (project, team, ... names) made safe for each kind of output.

A label is text someone else chose: it may hold terminal escapes, Markdown or HTML, or start like a spreadsheet
formula. Numbers never pass through here (:mod:`tracker.reports.render.units` formats them).
"""

from __future__ import annotations

import html
from typing import Any

from tracker.safetext import defuse, printable


def label(value: Any) -> str:
    """A label for display: missing ones named, control characters (terminal escapes) replaced."""
    return "(none)" if value is None else printable(value)


def group_label(row: dict[str, Any], keys: list[str]) -> str:
    """The labels of a row's group, joined: ``ml / vision``; ``all runs`` when there are no keys."""
    return " / ".join(label(row[k]) for k in keys) or "all runs"


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


_MD_ESCAPES = str.maketrans(
    {
        **{c: "\\" + c for c in "\\`*_[]|~#!"},  # emphasis, code, links, images, table cells, headings
        "&": "&amp;",  # entities
        "<": "&lt;",  # HTML
        "\n": " ",
        "\r": " ",
    }
)


def md(text: str) -> str:
    """Text shown as itself in Markdown: pipes and line breaks would break the table, ``*``/``_``/`` ` ``
    emphasise or quote, ``[...]`` links, ``&`` entities and ``<`` HTML would be rendered (CommonMark allows a
    backslash before any ASCII punctuation)."""
    return text.translate(_MD_ESCAPES)


def csv_label(value: Any) -> str:
    """A label for a CSV cell that a spreadsheet will not run: text starting like a formula (``=HYPERLINK(...)``,
    ``+``, ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe (OWASP, "CSV Injection").

    Only labels (project, team, ... names) pass through here; numbers are written as numbers."""
    return defuse("" if value is None else str(value))


def esc(value: Any) -> str:
    """Escaped for HTML text and for quoted attributes."""
    return html.escape(str(value), quote=True)
