"""Recommendations: the same energy in the greenest comparable places, and the greener hours of the day.

For each place where runs used energy (a cloud region, else a grid zone), the alternatives are: for a cloud
region, the same provider's other regions (moving is one configuration change); for a zone, the neighbouring
zones (same interconnection family or country, :meth:`ZoneTable.neighbours`). Current and alternative use the
*embedded yearly* intensities of the same table and factor type, so the comparison is like for like even when
the runs themselves were accounted with live hourly data; the saving is the place's grid energy x the
difference. Greener hours come from Electricity Maps' last 24 hours for the zone when a token is configured
(``ELECTRICITYMAPS_API_TOKEN``); without one the recommendation says that hourly data is unavailable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tracker.errors import ConfigError, TrackerError
from tracker.reports.summary import summarize
from tracker.stores.base import Store

logger = logging.getLogger(__name__)

TOP = 3  # alternatives shown per place


@dataclass
class Alternative:
    place: str  # a zone key, or "provider region"
    zone: str
    g_per_kwh: float
    saved_kg: float
    saved_pct: float


@dataclass
class Recommendation:
    place: str
    zone: str
    energy_kwh: float  # drawn from the grid in this place by the runs considered
    emissions_kg: float  # as recorded (location-based)
    g_per_kwh: float  # the embedded yearly figure used for the comparison
    baseline_kg: float  # energy_kwh x g_per_kwh: what the savings are taken from (may differ from the recorded)
    basis: str  # where the figures come from
    alternatives: list[Alternative] = field(default_factory=list)
    compared: int = 0  # comparable places found in the embedded tables (cleaner or not)
    greener_hours_utc: list[int] | None = None  # the cleanest hours of the day, in order of the day
    hourly_note: str = ""


def recommend(
    store: Store, since: datetime | None = None, until: datetime | None = None, **labels: str | None
) -> list[Recommendation]:
    """One recommendation per place with energy, most emitting first."""
    from tracker.grid.zones import zone_table

    table = zone_table()
    filters = {k: v for k, v in labels.items() if v is not None}
    places = summarize(store=store, by=("zone", "cloud_provider", "cloud_region"), since=since, until=until, **filters)
    found = []
    for row in places.to_dict(orient="records"):
        energy = float(row["facility_energy_kwh"])
        if energy <= 0:
            continue
        provider, region = row["cloud_provider"], row["cloud_region"]
        try:
            if provider and region:
                item = _cloud(table, str(provider), str(region), energy)
            elif row["zone"]:
                item = _zone(table, str(row["zone"]), energy)
            else:
                continue
        except (ConfigError, KeyError) as exc:
            logger.info("no recommendation for %s/%s/%s: %s", row["zone"], provider, region, exc)
            continue
        item.emissions_kg = float(row["emissions_kg"])
        _hours(item)
        found.append(item)
    return sorted(found, key=lambda r: -r.emissions_kg)


def _saving(energy: float, current: float, alternative: float) -> tuple[float, float]:
    saved = energy * (current - alternative) / 1000.0
    return saved, (100.0 * (current - alternative) / current if current > 0 else 0.0)


def _zone(table: Any, zone: str, energy: float) -> Recommendation:
    key = table.canonical(zone)
    row = table.get(key)
    item = Recommendation(
        place=key,
        zone=key,
        energy_kwh=energy,
        emissions_kg=0.0,
        g_per_kwh=row.g_per_kwh,
        baseline_kg=energy * row.g_per_kwh / 1000.0,
        basis=f"{row.source} {row.year}, {row.factor_type}",
    )
    neighbours = table.neighbours(key)
    item.compared = len(neighbours)
    for other in neighbours:
        if other.g_per_kwh < row.g_per_kwh and len(item.alternatives) < TOP:
            saved, pct = _saving(energy, row.g_per_kwh, other.g_per_kwh)
            item.alternatives.append(Alternative(other.zone, other.zone, other.g_per_kwh, saved, pct))
    return item


def _cloud(table: Any, provider: str, region: str, energy: float) -> Recommendation:
    here = table.cloud(provider, region)
    current = table.get(table.canonical(here.zone))
    item = Recommendation(
        place=f"{here.provider} {here.region}",
        zone=current.zone,
        energy_kwh=energy,
        emissions_kg=0.0,
        g_per_kwh=current.g_per_kwh,
        baseline_kg=energy * current.g_per_kwh / 1000.0,
        basis=f"zone intensities ({current.source} {current.year}, {current.factor_type}) of each region's zone",
    )
    options = []
    compared = set()
    for other in table.cloud_regions(here.provider):
        if other.region == here.region:
            continue
        try:
            zone_row = table.get(table.canonical(other.zone))
        except (ConfigError, KeyError):
            continue
        if zone_row.factor_type != current.factor_type:
            continue
        compared.add(other.region)
        if zone_row.g_per_kwh < current.g_per_kwh:
            options.append((zone_row.g_per_kwh, other.region, zone_row))
    item.compared = len(compared)
    for g, name, zone_row in sorted(options)[:TOP]:
        saved, pct = _saving(energy, current.g_per_kwh, g)
        item.alternatives.append(Alternative(f"{here.provider} {name}", zone_row.zone, g, saved, pct))
    return item


def _hours(item: Recommendation) -> None:
    """Greener hours from the zone's last 24 hours, when Electricity Maps is configured."""
    from tracker.grid import electricitymaps

    if electricitymaps.token() is None:
        item.hourly_note = "hourly data unavailable (set ELECTRICITYMAPS_API_TOKEN for the greener hours of the day)"
        return
    try:
        readings = electricitymaps.Client().history(zone=item.zone)
    except TrackerError as exc:
        item.hourly_note = f"hourly data unavailable: {exc}"
        return
    if not readings:
        item.hourly_note = "hourly data unavailable: no readings for this zone"
        return
    ranked = sorted(readings, key=lambda r: (r.g_per_kwh, r.datetime))
    item.greener_hours_utc = sorted({r.datetime.hour for r in ranked[: max(1, len(ranked) // 4)]})
    low, high = ranked[0].g_per_kwh, ranked[-1].g_per_kwh
    item.hourly_note = f"Electricity Maps, last 24 hours: {low:.0f} to {high:.0f} g/kWh; the cleanest quarter of hours"


def render_recommendations(items: list[Recommendation], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"recommendations": [asdict(i) for i in items]}, indent=2)
    from tracker.reports.text import _label

    if not items:
        return "no runs with a known zone or cloud region\n"
    out = []
    for r in items:
        out.append(
            f"{_label(r.place)}: {r.energy_kwh:.4f} kWh, {r.emissions_kg:.4f} kg CO2e recorded; "
            f"{r.baseline_kg:.4f} kg at the yearly {r.g_per_kwh:.0f} g/kWh compared below ({r.basis})"
        )
        if not r.alternatives and r.compared:
            out.append(f"  already the greenest of {r.compared + 1} comparable places in the embedded tables")
        elif not r.alternatives:
            out.append(
                "  not compared: the embedded tables hold no comparable place for it (a neighbouring zone of "
                "the same country or interconnection family, or another region of the same cloud provider)"
            )
        for a in r.alternatives:
            out.append(
                f"  in {_label(a.place)} ({a.g_per_kwh:.0f} g/kWh): {a.saved_kg:.4f} kg less ({a.saved_pct:.0f}%)"
            )
        if r.greener_hours_utc:
            out.append(f"  greener hours (UTC): {', '.join(f'{h:02d}:00' for h in r.greener_hours_utc)}")
        out.append(f"  {r.hourly_note}")
    text = "\n".join(out) + "\n"
    if fmt == "markdown":
        return (
            "\n".join(
                f"- {line.strip()}" if not line.startswith(" ") else f"  - {line.strip()}" for line in text.splitlines()
            )
            + "\n"
        )
    return text
