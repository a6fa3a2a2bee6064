"""The embedded CPU TDP table and the rule that matches a brand string to a row.

The table (``tracker/data/cpu_tdp.csv``) is built from CodeCarbon's and eco2ai's CPU lists; see
``tracker/data/PROVENANCE.md``. Matching is strict on model numbers: "Xeon Gold 6248" never matches "6248R".
"""

from __future__ import annotations

import csv
import functools
from typing import NamedTuple

from tracker import data
from tracker.measure.cpu_names import model_tokens, normalize_cpu_name


class CpuSpec(NamedTuple):
    """One row of the table: the matched name, its TDP per socket in watts, and where the value came from."""

    name: str
    tdp_w: float
    source: str


@functools.cache
def _text() -> str:
    """The table's rows, each line starting with a newline (the header dropped), kept as one string.

    A lookup searches it with ``str.find`` rather than splitting ~6,000 rows into Python objects: splitting cost
    ~4 ms of every first run's start on this project's 2-vCPU VM, a search costs well under one.
    """
    text = data.read_text("cpu_tdp.csv")
    return text[text.find("\n") :]


def _line_at(text: str, i: int) -> tuple[str, int]:
    """The whole line containing position ``i``, and where it ends (its newline, or the end of the text)."""
    end = text.find("\n", i)
    end = len(text) if end == -1 else end
    return text[text.rfind("\n", 0, i) + 1 : end], end


def _spec(line: str) -> CpuSpec:
    _key, name, tdp, source = next(csv.reader([line]))
    return CpuSpec(name, float(tdp), source)


def lookup(brand: str) -> CpuSpec | None:
    """Find the TDP row for a brand string, or ``None`` when no row matches without guessing.

    A brand with no model number ("Intel(R) Xeon(R) Processor", as many VMs report) matches nothing: a generic
    row such as "Intel Xeon" would charge a whole socket's guess to any Xeon. Otherwise an exact match on the
    normalised name wins; else a row whose model-number tokens are exactly the brand's and whose other tokens all
    appear in the brand (or the reverse), preferring the most tokens shared.
    """
    key = normalize_cpu_name(brand)
    models = model_tokens(key)
    if not models:
        return None
    text = _text()
    exact = text.find(f"\n{key},")
    if exact != -1:
        return _spec(_line_at(text, exact + 1)[0])
    words = set(key.split())
    best: tuple[int, int, str] | None = None
    best_line = ""
    needle = max(sorted(models), key=len)  # every candidate holds every model token: search for the rarest
    i = text.find(needle)
    while i != -1:  # only the lines that mention it
        line, end = _line_at(text, i)
        i = text.find(needle, end)
        candidate = line.split(",", 1)[0]
        if not all(m in candidate for m in models):  # the token may sit in the name or source column only
            continue
        cand_words = set(candidate.split())
        if model_tokens(candidate) != models or not (cand_words <= words or words <= cand_words):
            continue
        score = (len(cand_words & words), -len(cand_words), candidate)
        if best is None or score > best:
            best, best_line = score, line
    return _spec(best_line) if best else None
