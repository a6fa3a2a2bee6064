"""The electricity mix of a zone as shares: fossil, nuclear, renewable (Electricity Maps ``power-breakdown``).

Electricity Maps gives ``renewablePercentage`` and ``fossilFreePercentage`` of the consumption mix, and the
consumption per source in MW; nuclear is its ``nuclear`` MW over ``powerConsumptionTotal``, fossil is
100 − fossil-free. Consumption-based (imports included), as the carbon intensities are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tracker.errors import TrackerError


@dataclass(frozen=True)
class Mix:
    """Shares of the zone's electricity consumption, in percent."""

    zone: str
    datetime: str
    fossil_pct: float
    nuclear_pct: float
    renewable_pct: float
    source: str = "Electricity Maps power-breakdown (consumption)"
    is_estimated: bool | None = None


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
