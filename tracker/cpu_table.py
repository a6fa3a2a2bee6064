"""The embedded CPU TDP table and the rule that matches a brand string to a row.

The table (``tracker/data/cpu_tdp.csv``) is built from CodeCarbon's and eco2ai's CPU lists; see
``tracker/data/PROVENANCE.md``. Matching is strict on model numbers: "Xeon Gold 6248" never matches "6248R".
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass

from tracker import data
from tracker.cpu_names import model_tokens, normalize_cpu_name


@dataclass(frozen=True)
class CpuSpec:
    """One row of the table: the matched name, its TDP per socket in watts, and where the value came from."""

    name: str
    tdp_w: float
    source: str


@functools.cache
def _rows() -> tuple[tuple[str, str], ...]:
    """(key, raw CSV line) pairs. Parsing a row fully is deferred: a lookup touches one or a handful of rows.

    Building a token index over the ~6,000 rows cost ~50 ms at the first run's start; a string scan costs ~2 ms.
    """
    text = data.read_text("cpu_tdp.csv")
    lines = text.splitlines()[1:]
    return tuple((line.split(",", 1)[0], line) for line in lines if line)


def _spec(line: str) -> CpuSpec:
    _key, name, tdp, source = next(csv.reader([line]))
    return CpuSpec(name, float(tdp), source)


def lookup(brand: str) -> CpuSpec | None:
    """Find the TDP row for a brand string, or ``None`` when no row matches without guessing.

    An exact match on the normalised name wins; otherwise a row whose model-number tokens are exactly the
    brand's and whose other tokens all appear in the brand (or the reverse), preferring the most tokens shared.
    """
    key = normalize_cpu_name(brand)
    rows = _rows()
    for row_key, line in rows:
        if row_key == key:
            return _spec(line)
    models = model_tokens(key)
    if not models:
        return None
    words = set(key.split())
    best: tuple[int, int, str] | None = None
    best_line = ""
    for candidate, line in rows:
        if not all(m in candidate for m in models):  # cheap substring filter before tokenising
            continue
        cand_words = set(candidate.split())
        if model_tokens(candidate) != models or not (cand_words <= words or words <= cand_words):
            continue
        score = (len(cand_words & words), -len(cand_words), candidate)
        if best is None or score > best:
            best, best_line = score, line
    return _spec(best_line) if best else None
