"""The embedded CPU TDP table and the rule that matches a brand string to a row.

The table (``tracker/data/cpu_tdp.csv``) is built from CodeCarbon's and eco2ai's CPU lists; see
``tracker/data/PROVENANCE.md``. Matching is strict on model numbers: "Xeon Gold 6248" never matches "6248R".
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from tracker.cpu_names import model_tokens, normalize_cpu_name


@dataclass(frozen=True)
class CpuSpec:
    """One row of the table: the matched name, its TDP per socket in watts, and where the value came from."""

    name: str
    tdp_w: float
    source: str


@functools.cache
def _table() -> tuple[dict[str, CpuSpec], dict[frozenset[str], list[str]]]:
    rows: dict[str, CpuSpec] = {}
    by_model: dict[frozenset[str], list[str]] = {}
    with resources.files("tracker.data").joinpath("cpu_tdp.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            key = row["key"]
            rows[key] = CpuSpec(row["name"], float(row["tdp_w"]), row["source"])
            models = frozenset(model_tokens(key))
            if models:
                by_model.setdefault(models, []).append(key)
    return rows, by_model


def lookup(brand: str) -> CpuSpec | None:
    """Find the TDP row for a brand string, or ``None`` when no row matches without guessing.

    An exact match on the normalised name wins; otherwise a row whose model-number tokens are exactly the
    brand's and whose other tokens all appear in the brand (or the reverse), preferring the most tokens shared.
    """
    key = normalize_cpu_name(brand)
    rows, by_model = _table()
    if key in rows:
        return rows[key]
    models = frozenset(model_tokens(key))
    if not models:
        return None
    words = set(key.split())
    best: tuple[int, int, str] | None = None
    for candidate in by_model.get(models, []):
        cand_words = set(candidate.split())
        if not (cand_words <= words or words <= cand_words):
            continue
        score = (len(cand_words & words), -len(cand_words), candidate)
        if best is None or score > best:
            best = score
    return rows[best[2]] if best else None
