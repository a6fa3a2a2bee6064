"""What every format for people says the same way: the columns of a report's table, the everyday equivalents,
the note on a recommendation's hourly data. JSON and CSV carry the raw values beside them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracker.reports.render import units
from tracker.reports.render.labels import label

if TYPE_CHECKING:
    from tracker.carbon.equivalents import Equivalents
    from tracker.reports.data import Report
    from tracker.reports.recommend import Recommendation

# The columns the table, Markdown and HTML forms show (CSV and JSON carry every total): (total, title, format).
COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("runs", "runs", units.count),
    ("duration_s", "duration", units.duration),
    ("energy_kwh", "energy", units.energy),
    ("facility_energy_kwh", "facility energy", units.energy),
    ("emissions_kg", "CO2e", units.mass),
    ("emissions_market_kg", "market-based CO2e", units.mass),
)


def cells(row: dict[str, Any]) -> list[str]:
    """A row's totals as :data:`COLUMNS` shows them."""
    return [show(row[column]) for column, _, show in COLUMNS]


def grid(report: Report) -> tuple[list[str], list[list[str]]]:
    """The header and the lines of a report's table; the last line is the total (``total`` in the first
    column, or no label column when the report has no keys)."""
    header = [*report.keys, *(title for _, title, _ in COLUMNS)]
    lines = [[*(label(row[k]) for k in report.keys), *cells(row)] for row in report.rows]
    total = {**report.total, "runs": int(report.total["runs"])}
    lines.append([*(["total", *[""] * (len(report.keys) - 1)] if report.keys else []), *cells(total)])
    return header, lines


# What each equivalent is, after its amount (``28 m`` + ``driven by an average car``).
EQUIVALENTS: dict[str, tuple[Callable[[float], str], str]] = {
    "car_km": (units.distance, "driven by an average car"),
    "tv_hours": (lambda hours: units.duration(hours * 3600.0), "of TV"),
    "household_days": (lambda days: units.duration(days * 86400.0), "of an average household's electricity"),
    "smartphone_charges": (units.number, "smartphone charges"),
}


def equivalents(values: Equivalents) -> list[tuple[str, str, str]]:
    """(key, amount, what) per equivalent: ``("car_km", "28 m", "driven by an average car")``."""
    raw = values.to_dict()
    return [(key, show(raw[key]), what) for key, (show, what) in EQUIVALENTS.items()]


def equivalents_sentence(values: Equivalents) -> str:
    """``28 m driven by an average car; 2.1 h of TV; ...``"""
    return "; ".join(f"{amount} {what}" for _, amount, what in equivalents(values))


def hourly_note(item: Recommendation) -> str:
    """Where the greener hours come from, or why there are none."""
    if item.greener_hours_utc is None or item.hourly_low_g_per_kwh is None:
        return f"hourly data unavailable: {item.hourly_unavailable or 'no readings for this zone'}"
    return (
        f"{item.hourly_source}, last 24 hours: {units.number(item.hourly_low_g_per_kwh)} to "
        f"{units.intensity(item.hourly_high_g_per_kwh)}; the cleanest quarter of hours"
    )
