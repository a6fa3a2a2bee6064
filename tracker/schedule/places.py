"""What a place argument names: a grid zone (``NL``, ``US-CAL-CISO``), a country (``DE``, ``DEU``) or a cloud
region (``aws:eu-west-1``), resolved against the embedded tables to the zone whose grid it draws from."""

from __future__ import annotations

from dataclasses import dataclass

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
