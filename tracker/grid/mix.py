"""The electricity mix of a zone as shares: fossil, nuclear, renewable (Electricity Maps ``power-breakdown``).

Electricity Maps gives ``renewablePercentage`` and ``fossilFreePercentage`` of the consumption mix, and the
consumption per source in MW; nuclear is its ``nuclear`` MW over ``powerConsumptionTotal``, fossil is
100 − fossil-free. Consumption-based (imports included), as the carbon intensities are.

Offline, :func:`country_mix` gives a country's yearly *generation* mix from the embedded ``country_mix.csv``
(OWID / Ember via CodeCarbon 3.3.2, see ``tracker/data/PROVENANCE.md``): production in the country, imports
left out, so it is labelled ``basis="generation"``. :func:`read_mix_csv` reads a user's own mix per zone.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import ConfigError, TrackerError


@dataclass(frozen=True)
class Mix:
    """Shares of the zone's electricity, in percent: of its consumption (Electricity Maps) or of its generation
    (the embedded yearly table, ``basis="generation"``); ``datetime`` is the year for a yearly mix."""

    zone: str
    datetime: str
    fossil_pct: float
    nuclear_pct: float
    renewable_pct: float
    source: str = "Electricity Maps power-breakdown (consumption)"
    is_estimated: bool | None = None
    basis: str = "consumption"  # "consumption" (imports included) | "generation" (production in the zone)


def _pct(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} is {value!r}")
    if not 0 <= value <= 100:
        raise ValueError(f"{name} is {value!r}, not a percentage")
    return float(value)


def parse_mix(body: Any, zone: str) -> Mix:
    """A :class:`Mix` from a ``power-breakdown/latest`` answer; :class:`TrackerError` when it is not one."""
    try:
        renewable = _pct(body["renewablePercentage"], "renewablePercentage")
        fossil_free = _pct(body["fossilFreePercentage"], "fossilFreePercentage")
        total = body.get("powerConsumptionTotal")
        nuclear_mw = (body.get("powerConsumptionBreakdown") or {}).get("nuclear") or 0.0
        nuclear = 100.0 * float(nuclear_mw) / float(total) if total else 0.0
        return Mix(
            zone=str(body.get("zone") or zone),
            datetime=str(body.get("datetime") or ""),
            fossil_pct=100.0 - fossil_free,
            nuclear_pct=min(max(nuclear, 0.0), fossil_free),
            renewable_pct=renewable,
            is_estimated=body.get("isEstimated") if isinstance(body.get("isEstimated"), bool) else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as exc:
        raise TrackerError(f"unexpected power-breakdown answer: {exc}") from exc


@functools.cache
def _embedded() -> dict[str, Mix]:
    """``country_mix.csv`` by alpha-2, read on first use (a run never reads it; only the annual statement)."""
    from tracker import data

    return {
        r["country"]: Mix(
            zone=r["country"],
            datetime=r["year"],
            fossil_pct=float(r["fossil_pct"]),
            nuclear_pct=float(r["nuclear_pct"]),
            renewable_pct=float(r["renewable_pct"]),
            source=r["source"],
            basis="generation",
        )
        for r in csv.DictReader(data.read_text("country_mix.csv").splitlines())
    }


def country_mix(country: str | None) -> Mix | None:
    """The embedded yearly generation mix of an ISO alpha-2 country, or None when the table has none."""
    if not country:
        return None
    return _embedded().get(country.strip().upper())


MIX_CSV_COLUMNS = ("zone", "fossil_pct", "nuclear_pct", "renewable_pct", "source")


def read_mix_csv(path: str | Path) -> dict[str, Mix]:
    """A user's mix per zone (or country) from a CSV with :data:`MIX_CSV_COLUMNS`; :class:`ConfigError` naming
    the file and the bad line when it cannot be read or a share is not a percentage."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError("mix", str(path), f"cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in MIX_CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        expected = ",".join(MIX_CSV_COLUMNS)
        raise ConfigError("mix", str(path), f"missing columns {', '.join(missing)} (expected {expected})")
    out: dict[str, Mix] = {}
    for line, row in enumerate(reader, start=2):
        zone = (row["zone"] or "").strip().upper()
        try:
            if not zone:
                raise ValueError("zone is empty")
            shares = [_pct(float(row[c]), c) for c in MIX_CSV_COLUMNS[1:4]]
        except (TypeError, ValueError) as exc:
            raise ConfigError("mix", str(path), f"line {line}: {exc}") from None
        source = (row["source"] or "").strip() or f"mix file {Path(path).name}"
        out[zone] = Mix(zone, "", *shares, source=source, basis="as given")
    return out
