"""The supplier mix: market-based Scope 2 emissions beside the location-based ones (GHG Protocol terms).

An organisation that buys its electricity from suppliers with known emission factors (contracts, certificates)
reports market-based emissions as facility energy x the share-weighted factor of its suppliers. The mix is
``[(name, share_percent, kg_co2e_per_kwh), ...]``; shares must add up to 100 %.

Worked example (DESIGN.md): 1,000 kWh x PUE 1.3 = 1,300 kWh; 80 % at 0.008 and 20 % at 0.01 kg/kWh gives
1300 x (0.8 x 0.008 + 0.2 x 0.01) = 10.92 kg CO2e.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.errors import ConfigError

_TOLERANCE = 1e-6  # percent: shares written with decimals (33.333333 x 3) still add up


@dataclass(frozen=True)
class Supplier:
    """One electricity supplier of the mix."""

    name: str
    share_percent: float
    kg_per_kwh: float


def parse_suppliers(value: Any) -> tuple[Supplier, ...]:
    """Read a mix from Python (tuples, dicts), TOML (arrays or tables) or text (``"A:80:0.008,B:20:0.01"``).

    Raises :class:`ConfigError` naming the bad entry; an empty mix is no mix.
    """
    if value is None or value == "" or value == [] or value == ():
        return ()
    if isinstance(value, str):
        entries: Iterable[Any] = [part.strip().split(":") for part in value.split(",") if part.strip()]
    elif isinstance(value, Mapping):
        raise ConfigError("suppliers", value, "expected a list of suppliers, not one table")
    elif isinstance(value, Iterable):
        entries = value
    else:
        raise ConfigError("suppliers", value, "expected a list of (name, share_percent, kg_co2e_per_kwh)")
    suppliers = tuple(_supplier(entry) for entry in entries)
    check_mix(suppliers)
    return suppliers


def _supplier(entry: Any) -> Supplier:
    if isinstance(entry, Supplier):
        return entry
    if isinstance(entry, Mapping):
        known = {str(k).lower(): v for k, v in entry.items()}
        name = known.get("name")
        share = known.get("share_percent", known.get("share"))
        factor = known.get("kg_co2e_per_kwh", known.get("kg_per_kwh", known.get("factor")))
    elif isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 3:
        name, share, factor = entry
    else:
        raise ConfigError("suppliers", entry, "each supplier is (name, share_percent, kg_co2e_per_kwh)")
    if name is None or not str(name).strip():
        raise ConfigError("suppliers", entry, "a supplier needs a name")
    numbers = []
    for label, raw in (("share_percent", share), ("kg_co2e_per_kwh", factor)):
        try:
            number = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError("suppliers", entry, f"{label} of {name!s} must be a number") from None
        except OverflowError:  # an integer of 10**309 or more (TOML and Python give one): no float holds it
            raise ConfigError("suppliers", entry, f"{label} of {name!s} must be a finite number") from None
        if isinstance(raw, bool) or not math.isfinite(number):
            raise ConfigError("suppliers", entry, f"{label} of {name!s} must be a finite number")
        numbers.append(number)
    share_value, factor_value = numbers
    if not 0 < share_value <= 100:
        raise ConfigError("suppliers", entry, f"the share of {name!s} must be above 0 and at most 100 (percent)")
    if factor_value < 0:
        raise ConfigError("suppliers", entry, f"the emission factor of {name!s} must be zero or positive (kg/kWh)")
    return Supplier(str(name).strip(), share_value, factor_value)


def check_mix(suppliers: Sequence[Supplier]) -> None:
    """Shares must add up to 100 %; names must be unique."""
    if not suppliers:
        return
    total = sum(s.share_percent for s in suppliers)
    if abs(total - 100.0) > _TOLERANCE:
        shares = " + ".join(f"{s.name} {s.share_percent:g}" for s in suppliers)
        raise ConfigError("suppliers", shares, f"supplier shares add up to {total:g} %, expected 100 %")
    names = [s.name for s in suppliers]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError("suppliers", ", ".join(duplicated), "a supplier is listed twice")


def mix_factor(suppliers: Sequence[Supplier]) -> float:
    """kg CO2e per kWh of the whole mix: the share-weighted mean of the suppliers' factors."""
    return sum(s.share_percent / 100.0 * s.kg_per_kwh for s in suppliers)


def describe(suppliers: Sequence[Supplier]) -> str:
    """For the record's ``market_source``: who supplied what share at which factor."""
    parts = ", ".join(f"{s.name} {s.share_percent:g} % at {s.kg_per_kwh:g} kg/kWh" for s in suppliers)
    return f"supplier mix: {parts}"
