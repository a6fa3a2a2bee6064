"""What a place argument names: a grid zone (``NL``, ``US-CAL-CISO``), a country (``DE``, ``DEU``) or a cloud
region (``aws:eu-west-1``), resolved against the embedded tables to the zone whose grid it draws from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.grid.zones import PROVIDERS, zone_table


@dataclass(frozen=True)
class Place:
    """A candidate place and the grid zone it draws from."""

    label: str  # as the user will read it: "NL", "aws eu-west-1"
    zone: str  # the canonical zone key (forecasts are asked for it)
    country: str | None
    provider: str | None = None  # a cloud region's provider
    region: str | None = None


def place(text: str, key: str = "zone") -> Place:
    """The place ``text`` names; :class:`tracker.errors.ConfigError` naming ``key`` and the text when unknown."""
    table = zone_table()
    value = str(text).strip()
    for sep in (":", "/", " "):
        head, found, tail = value.partition(sep)
        if found and head.lower() in PROVIDERS:
            region = table.cloud(head, tail)
            zone = table.canonical(region.zone, key)
            return Place(f"{region.provider} {region.region}", zone, region.country, region.provider, region.region)
    zone = table.canonical(value, key)
    return Place(zone, zone, table.get(zone).country)


def configured(values: dict[str, Any] | None = None) -> Place | None:
    """The place a run would be accounted in, resolved as ``tracker run`` and ``tracker intensity`` resolve it
    (flags given in ``values``, then ``TRACKER_ZONE`` / ``TRACKER_COUNTRY`` / ``TRACKER_CLOUD``, the config file,
    detection): a scheduling command then waits for the grid the run will draw from. None when only the world
    average is known (no zone, country or cloud region)."""
    from tracker.config import resolve
    from tracker.grid import location

    found = location.resolve(resolve(values or {}))
    if found.cloud_provider and found.cloud_region:
        return place(f"{found.cloud_provider}:{found.cloud_region}")
    if found.zone or found.country:
        return place(str(found.zone or found.country))
    return None
