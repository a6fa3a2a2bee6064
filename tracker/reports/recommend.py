"""Recommendations: the same energy in the greenest comparable places, and the greener hours of the day.

For each place where runs used energy (a cloud region, else a grid zone, else the configured country), the
alternatives are: for a cloud region, the same provider's other regions in the same partition (moving is one
configuration change; GovCloud or the China regions are other clouds: :mod:`tracker.grid.partitions`); for
a zone or country, the neighbouring zones (same interconnection family or country, :meth:`ZoneTable.neighbours`).
Either way only places under the same law for data are suggested (:mod:`tracker.grid.jurisdictions`: within the
EU/EEA for a place there, else the same country): Poland -> Belarus or Frankfurt -> Canada is no default.
Current and alternative use the *embedded yearly* intensities of the same table and factor type, so the
comparison is like for like even when the runs themselves were accounted with live hourly data; the saving is
the place's grid energy x the difference. Greener hours come from Electricity Maps' last 24 hours for the zone
when a token is configured (``ELECTRICITYMAPS_API_TOKEN``); without one the recommendation says that hourly data
is unavailable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigError
from tracker.grid.jurisdictions import describe, same_jurisdiction
from tracker.grid.partitions import same_partition
from tracker.reports.shifting import ShiftSaving, shifting
from tracker.reports.summary import summarize
from tracker.stores.base import Store

if TYPE_CHECKING:
    from tracker.grid.intensity import Intensity, IntensityProvider

logger = logging.getLogger(__name__)

TOP = 3  # alternatives shown per place
HOURS = 24  # the hours of history the greener hours are taken from


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
    constraint: str = ""  # which places were allowed (data residency: tracker.grid.jurisdictions)
    compared: int = 0  # comparable places found in the embedded tables (cleaner or not)
    greener_hours_utc: list[int] | None = None  # the cleanest hours of the day, in order of the day
    hourly_source: str | None = None  # where the hourly values came from (when there were some)
    hourly_low_g_per_kwh: float | None = None  # the cleanest and dirtiest of those hours
    hourly_high_g_per_kwh: float | None = None
    hourly_unavailable: str | None = None  # why there are no greener hours (no hourly data, and why)


@dataclass
class Recommendations:
    """One :class:`Recommendation` per place with energy, most emitting first (iterable like a list); and per
    project what shifting the runs in time or place would have saved (:mod:`tracker.reports.shifting`)."""

    items: list[Recommendation]
    store: str = ""
    generated_at: str = ""
    shifting: list[ShiftSaving] = field(default_factory=list)

    def __iter__(self) -> Iterator[Recommendation]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def recommend(
    store: Store,
    since: datetime | None = None,
    until: datetime | None = None,
    provider: IntensityProvider | None = None,
    **labels: str | None,
) -> Recommendations:
    """One recommendation per place with energy, most emitting first.

    ``provider``: where the hourly history for the greener hours comes from (default: the configured one,
    :func:`tracker.grid.intensity.provider_for`)."""
    from tracker.grid.zones import zone_table

    if provider is None:
        from tracker.config import resolve
        from tracker.grid.intensity import provider_for

        provider = provider_for(resolve())
    table = zone_table()
    filters = {k: v for k, v in labels.items() if v is not None}
    places = summarize(
        store=store, by=("zone", "country", "cloud_provider", "cloud_region"), since=since, until=until, **filters
    )
    # One place, one recommendation: runs configured with zone="DE" and runs with only country="DE" draw from
    # the same grid, so the rows are merged on the place they resolve to (the cloud region, else the zone).
    merged: dict[tuple[str, ...], list[float]] = {}
    for row in places.to_dict(orient="records"):
        cloud, region = row["cloud_provider"], row["cloud_region"]
        try:
            if cloud and region:
                key: tuple[str, ...] = ("cloud", str(cloud), str(region))
            elif row["zone"] or row["country"]:
                key = ("zone", table.canonical(str(row["zone"] or row["country"])))
            else:
                continue
        except (ConfigError, KeyError) as exc:
            logger.info("no recommendation for %s/%s/%s: %s", row["zone"], cloud, region, exc)
            continue
        total = merged.setdefault(key, [0.0, 0.0])
        total[0] += float(row["facility_energy_kwh"])
        total[1] += float(row["emissions_kg"])
    found = []
    for key, (energy, emissions) in merged.items():
        if energy <= 0:
            continue
        try:
            item = _cloud(table, key[1], key[2], energy) if key[0] == "cloud" else _zone(table, key[1], energy)
        except (ConfigError, KeyError) as exc:
            logger.info("no recommendation for %s: %s", " ".join(key[1:]), exc)
            continue
        item.emissions_kg = emissions
        _hours(item, provider)
        found.append(item)
    return Recommendations(
        items=sorted(found, key=lambda r: -r.emissions_kg),
        store=store.location,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        shifting=shifting(store, provider, since=since, until=until, **filters),
    )


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
    item.constraint = describe(row.country)
    neighbours = [n for n in table.neighbours(key) if same_jurisdiction(row.country, n.country)]
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
    item.constraint = describe(here.country)
    options = []
    compared = set()
    for other in table.cloud_regions(here.provider):
        if other.region == here.region or not same_jurisdiction(here.country, other.country):
            continue
        if not same_partition(here.provider, here.region, other.region):  # GovCloud, China: another cloud
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


def _hours(item: Recommendation, provider: IntensityProvider) -> None:
    """The greener hours of the day from the provider's values for the zone's last :data:`HOURS` hours.

    An hour the provider can only answer with the embedded yearly value (the offline provider, or a live one
    falling back) is no hourly data, nor is a value carried over from another hour; with none left,
    :attr:`Recommendation.hourly_unavailable` says why."""
    from collections import Counter

    from tracker.grid.intensity import EmbeddedIntensity
    from tracker.grid.location import Location

    location = Location(item.zone, None, "config")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=ago) for ago in range(HOURS - 1, -1, -1)]
    values = provider.intensities(location, hours)
    yearly = EmbeddedIntensity().for_location(location)
    # a value carried over from another hour (not published yet: its note says so) is no reading of its own
    hourly = [(h, v) for h, v in zip(hours, values, strict=True) if not _is_yearly(v, yearly) and not v.note]
    if not hourly:
        fallback = next((v.note for v in values if v.note != yearly.note), "")  # a live provider's "why"
        item.hourly_unavailable = (
            fallback
            or "the configured intensity provider has yearly values only (set ELECTRICITYMAPS_API_TOKEN for "
            "hourly data)"
        )
        return
    ranked = sorted(hourly, key=lambda pair: (pair[1].g_per_kwh, pair[0]))
    item.greener_hours_utc = sorted({hour.hour for hour, _ in ranked[: max(1, len(ranked) // 4)]})
    item.hourly_low_g_per_kwh = ranked[0][1].g_per_kwh
    item.hourly_high_g_per_kwh = ranked[-1][1].g_per_kwh
    item.hourly_source = Counter(v.source for _, v in hourly).most_common(1)[0][0]


def _is_yearly(value: Intensity, yearly: Intensity) -> bool:
    """Whether ``value`` is the embedded yearly value (a fallback carries it with a note of its own)."""
    return value._replace(note="") == yearly._replace(note="")
