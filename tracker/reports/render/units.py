"""Numbers for people: a unit that fits the value, three significant figures, no floating-point noise.

The stored figures are SI-style floats (kg, kWh, seconds) and may be tiny (a test run emits ``2.83e-05`` kg)
or carry binary noise (``1.3000000000000003``). Every table, Markdown and HTML form shows them through this
module, so a person reads ``28.3 mg``, ``3.03 s`` and ``PUE 1.3``; JSON and CSV keep the raw values.

Rules: the unit is the largest one in which the value is at least 1 (the smallest unit below that, the largest
above its range); three significant figures, trailing zeros dropped (``1.2 kWh``, not ``1.20``); thousands
separated by commas; never an exponent. ``None`` and NaN read ``n/a``; infinities ``inf``; the sign is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MISSING = "n/a"

# (size in the base unit, name), smallest first.
MASS_UNITS: tuple[tuple[float, str], ...] = (
    (1e-9, "µg"),
    (1e-6, "mg"),
    (1e-3, "g"),
    (1.0, "kg"),
    (1e3, "t"),
)  # base: kg
ENERGY_UNITS: tuple[tuple[float, str], ...] = (
    (1e-9, "µWh"),  # a decorated function's share of a millisecond run
    (1e-6, "mWh"),
    (1e-3, "Wh"),
    (1.0, "kWh"),
    (1e3, "MWh"),
    (1e6, "GWh"),
)  # base: kWh
DURATION_UNITS: tuple[tuple[float, str], ...] = ((1e-3, "ms"), (1.0, "s"), (60.0, "min"), (3600.0, "h"))  # base: s
DISTANCE_UNITS: tuple[tuple[float, str], ...] = ((1e-3, "m"), (1.0, "km"))  # base: km


def _odd(value: float | None) -> str | None:
    """The text for a value that is not a finite number, else None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


def round_sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant figures (0 stays 0)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def number(value: float | None, digits: int = 3) -> str:
    """Three significant figures, thousands separators, no exponent and no noise: ``0.000842``, ``1,230``."""
    odd = _odd(value)
    if odd is not None:
        return odd
    assert value is not None
    if value == 0:
        return "0"
    rounded = round_sig(float(value), digits)
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    text = f"{rounded:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def count(value: int | float | None) -> str:
    """A whole number with thousands separators (runs, calls)."""
    if value is None:
        return MISSING
    odd = _odd(float(value))
    return odd if odd is not None else f"{int(value):,}"


def pick(value: float, units: Sequence[tuple[float, str]], digits: int = 3) -> tuple[float, str, float]:
    """The unit that fits ``value`` (in the base unit) and the value in it, rounded to ``digits`` significant
    figures: (size, name, value in that unit)."""
    magnitude = abs(value)
    index = 0
    for i, (size, _) in enumerate(units):
        if magnitude >= size:
            index = i
    shown = round_sig(value / units[index][0], digits)
    # rounding may carry into the next unit: 999.96 g is 1 kg, 59.97 s is 1 min
    while index + 1 < len(units) and abs(shown) * units[index][0] >= units[index + 1][0]:
        shown = round_sig(shown * units[index][0] / units[index + 1][0], digits)
        index += 1
    return units[index][0], units[index][1], shown


def scaled(value: float | None, units: Sequence[tuple[float, str]], zero: str, digits: int = 3) -> str:
    """``value`` (in the base unit of ``units``) in the unit that fits, e.g. ``28.3 mg``; 0 in the ``zero`` unit."""
    odd = _odd(value)
    if odd is not None:
        return odd
    assert value is not None
    if value == 0:
        return f"0 {zero}"
    _, name, shown = pick(float(value), units, digits)
    return f"{number(shown, digits)} {name}"


def mass(kg: float | None) -> str:
    """A mass given in kg: mg, g, kg or t (``2.83e-05`` -> ``28.3 mg``)."""
    return scaled(kg, MASS_UNITS, "g")


def energy(kwh: float | None) -> str:
    """An energy given in kWh: mWh, Wh, kWh, MWh or GWh."""
    return scaled(kwh, ENERGY_UNITS, "Wh")


def quantity(value: float | None) -> str:
    """A count of things (functional units): a whole number exactly, with separators (``1,326``); any other
    with three significant figures (``2.5``)."""
    odd = _odd(value)
    if odd is not None:
        return odd
    assert value is not None
    return count(value) if float(value).is_integer() else number(value)


def duration(seconds: float | None) -> str:
    """A duration given in seconds: ms, s, min or h (``0.000842`` hours -> ``3.03 s``)."""
    return scaled(seconds, DURATION_UNITS, "s")


def distance(km: float | None) -> str:
    """A distance given in km: ``< 1 m`` below a metre (never ``0.0 km`` for something), m, else km."""
    odd = _odd(km)
    if odd is not None:
        return odd
    assert km is not None
    if 0 < abs(km) < 1e-3:
        return "< 1 m" if km > 0 else "> -1 m"
    return scaled(km, DISTANCE_UNITS, "m")


def intensity(g_per_kwh: float | None) -> str:
    """A grid intensity: ``254 g/kWh`` (not ``253.56000000000003``)."""
    odd = _odd(g_per_kwh)
    return odd if odd is not None else f"{number(g_per_kwh)} g/kWh"


def pue(value: float | None) -> str:
    """A PUE: ``1.3`` (not ``1.3000000000000003``)."""
    return number(value)


def percent(fraction: float | None) -> str:
    """A share given as a fraction: ``0.457`` -> ``45.7%``."""
    odd = _odd(fraction)
    if odd is not None:
        return odd
    assert fraction is not None
    return f"{number(fraction * 100.0)}%"


def scale_for(top: float, units: Sequence[tuple[float, str]]) -> tuple[float, str]:
    """One unit for a whole chart axis whose largest value is ``top`` (in the base unit): (size, name)."""
    if not top or not math.isfinite(top):
        return next((u for u in units if u[0] == 1.0), units[0])
    size, name, _ = pick(top, units)
    return size, name
