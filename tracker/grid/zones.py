"""The embedded grid zones, countries and cloud regions, with the provenance of every value.

Three tables ship in ``tracker/data`` (built by ``scripts/build_tables.py``; origins and licences in
``tracker/data/PROVENANCE.md``):

* ``country_intensity.csv`` -- Ember / Our World in Data, lifecycle, production-based, one row per country
  plus ``WORLD``;
* ``zones.csv`` -- Electricity Maps zones (lifecycle, consumption-based yearly averages; keys such as ``NL``,
  ``DK-DK1``, ``US-CAL-CISO``) and US states from EPA eGRID under the key ``US-STATE-XX`` (direct,
  combustion-only factors: never silently averaged with lifecycle ones);
* ``cloud_regions.csv`` -- AWS, GCP and Azure regions mapped to a zone and a country (plus Google's own
  yearly figure for GCP regions).

A zone key that is both an Electricity Maps zone and a country (``FR``) names the Electricity Maps row when
asked for as a zone, and the Ember row when asked for as a country (:meth:`ZoneTable.country`): the two
differ in method (consumption vs production), and the record says which one was used.

Nothing is read at import: :func:`zone_table` parses the CSVs on first use (a few milliseconds) and keeps
the result for the process, so a run that configures no zone never pays for it.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from dataclasses import dataclass

from tracker import data
from tracker.errors import ConfigError

WORLD = "WORLD"
KINDS = ("country", "zone", "us-state", "cloud")
PROVIDERS = ("aws", "gcp", "azure")
US_STATE_PREFIX = "US-STATE-"


@dataclass(frozen=True)
class ZoneRow:
    """One embedded intensity: a grid zone, a US state or a country, with where the number comes from."""

    zone: str
    name: str
    country: str | None  # ISO alpha-2; None for WORLD
    g_per_kwh: float
    year: int
    source: str
    factor_type: str  # "lifecycle" | "direct"
    kind: str = "zone"  # "zone" (Electricity Maps) | "us-state" (eGRID) | "country" (Ember) | "world"


@dataclass(frozen=True)
class CloudRegion:
    """A cloud provider's region: where it is, which zone feeds it, and the provider's own figure if any."""

    provider: str
    region: str
    zone: str
    country: str
    location: str
    g_per_kwh: float | None  # the provider's own location-based figure (Google publishes one per region)
    year: int | None
    source: str


COMPACT_COUNTRY_ZONES = 15  # Spain (with its islands) has 14 zones, the US 60

# Land borders between countries (ISO alpha-2), from the CIA World Factbook's "Land boundaries" field (public
# domain, 2024 edition), for Europe and North America, where moving a workload across a border is common; plus
# Great Britain-Ireland-France, joined by grid interconnectors (and the Channel Tunnel) rather than land.
_BORDERS = """
AD ES FR; AL GR ME MK; AT CH CZ DE HU IT LI SI SK; BA HR ME RS; BE DE FR LU NL; BG GR MK RO RS TR;
BY LT LV PL RU UA; CH DE FR IT LI; CZ DE PL SK; DE DK FR LU NL PL; EE LV RU; ES FR PT; FI NO RU SE;
FR IT LU MC; GB FR IE; GR MK TR; HR HU ME RS SI; HU RO RS SI SK UA; IT SI SM VA; LT LV PL RU; LV RU;
MD RO UA; ME RS; MK RS; NO RU SE; PL RU SK UA; RO RS UA; SK UA; CA US; MX US GT BZ
"""


def borders(country: str | None) -> tuple[str, ...]:
    """The countries that share a border with ``country`` (see ``_BORDERS``); empty when none is listed."""
    if country is None:
        return ()
    return _border_map().get(country.upper(), ())


@functools.cache
def _border_map() -> dict[str, tuple[str, ...]]:
    pairs: dict[str, set[str]] = {}
    for group in filter(None, (g.split() for g in _BORDERS.replace("\n", " ").split(";"))):
        head, *others = group
        for other in others:
            pairs.setdefault(head, set()).add(other)
            pairs.setdefault(other, set()).add(head)
    return {country: tuple(sorted(near)) for country, near in pairs.items()}


def zone_family(zone: str) -> str:
    """The group a zone belongs to: ``US-NW-BPAT`` -> ``US-NW``, ``DK-DK1`` -> ``DK``, ``NL`` -> ``NL``.

    Electricity Maps keys read country, then region, then operator; the first two parts name the
    interconnected area (the US interconnection regions), which is what "a neighbouring zone" means here.
    """
    parts = zone.upper().split("-")
    if zone.upper().startswith(US_STATE_PREFIX):
        return "US-STATE"
    if len(parts) >= 3:
        return "-".join(parts[:2])
    return parts[0]


class ZoneTable:
    """Lookups over the three embedded tables (zones, countries, cloud regions)."""

    def __init__(
        self,
        zones: list[ZoneRow] | Callable[[], list[ZoneRow]],
        countries: list[ZoneRow],
        clouds: list[CloudRegion] | Callable[[], list[CloudRegion]],
        alpha3: dict[str, str] | None = None,
    ) -> None:
        self._countries = {r.zone: r for r in countries}
        self._alpha3 = dict(alpha3 or {})
        self._zone_source = zones
        self._cloud_source = clouds

    @functools.cached_property
    def _zones(self) -> dict[str, ZoneRow]:
        """Zone rows, parsed on first use: a run on the world average or a country never reads zones.csv."""
        rows = self._zone_source() if callable(self._zone_source) else self._zone_source
        return {r.zone: r for r in rows}

    @functools.cached_property
    def _clouds(self) -> dict[tuple[str, str], CloudRegion]:
        rows = self._cloud_source() if callable(self._cloud_source) else self._cloud_source
        return {(c.provider, c.region): c for c in rows}

    def canonical(self, text: str, key: str = "zone") -> str:
        """The table's key for a zone or country spelling (any case); :class:`ConfigError` when unknown.

        Accepts an Electricity Maps zone key (``US-CAL-CISO``, ``dk-dk1``), an eGRID US state
        (``US-STATE-CA``), an ISO alpha-2 or alpha-3 country code (``FR``, ``FRA``) and ``WORLD``.
        """
        value = str(text).strip().upper()
        if value in self._zones or value in self._countries:
            return value
        if len(value) == 3 and value in self._alpha3:
            return self._alpha3[value]
        raise ConfigError(key, text, f"unknown zone: {text!r}; see `tracker zones` for the embedded zones")

    def get(self, zone: str) -> ZoneRow:
        """The row for a canonical key: the zone row if there is one, else the country row (KeyError if none)."""
        if zone in self._zones:
            return self._zones[zone]
        return self._countries[zone]

    def country(self, alpha2: str) -> ZoneRow:
        """The Ember country row (``WORLD`` for the world average)."""
        return self._countries[alpha2]

    def has_zone(self, zone: str) -> bool:
        """Whether an Electricity Maps zone or eGRID state row exists (not only a country row)."""
        return zone in self._zones

    def world(self) -> ZoneRow:
        """The labelled world average."""
        return self._countries[WORLD]

    def cloud(self, provider: str, region: str) -> CloudRegion:
        """The region's zone and country; :class:`ConfigError` naming the region when unknown."""
        name = str(provider).strip().lower()
        found = self._clouds.get((name, str(region).strip().lower()))
        if found is None:
            known = ", ".join(sorted(r for p, r in self._clouds if p == name)[:8])
            reason = f"unknown {name} region; known ones include {known} ... (see `tracker zones --kind cloud`)"
            if name not in PROVIDERS:
                reason = f"unknown cloud provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
            raise ConfigError("cloud_region", region, reason)
        return found

    def rows(self, kind: str | None = None) -> list[ZoneRow]:
        """Every embedded intensity row, or those of one kind (``country``, ``zone``, ``us-state``)."""
        everything = [*self._countries.values(), *self._zones.values()]
        chosen = [r for r in everything if kind is None or r.kind == kind or (kind == "country" and r.kind == "world")]
        return sorted(chosen, key=lambda r: (r.kind, r.zone))

    def cloud_regions(self, provider: str | None = None) -> list[CloudRegion]:
        """The embedded cloud regions, all or one provider's, sorted."""
        chosen = [c for c in self._clouds.values() if provider is None or c.provider == provider]
        return sorted(chosen, key=lambda c: (c.provider, c.region))

    def neighbours(self, zone: str) -> list[ZoneRow]:
        """Zones near ``zone``, cleanest first: same family (``US-NW-*``) or same country prefix.

        Kept deliberately simple (no geography): a recommendation such as "the neighbouring zone
        SE-SE1 is 10x cleaner" only needs zones a workload could plausibly move to. Rows of another
        factor type are left out (eGRID states are never compared with lifecycle zones), and so is
        ``zone`` itself.
        """
        key = self.canonical(zone)
        base = self.get(key)
        family = zone_family(key)
        country = base.country
        rows = [r for r in self._zones.values() if r.zone != key and r.factor_type == base.factor_type]
        per_country: dict[str | None, int] = {}
        for r in rows:
            per_country[r.country] = per_country.get(r.country, 0) + 1
        # a country split into a few zones (SE, NO, IT, JP) is one neighbourhood; a continent-sized one (the US
        # with 60 zones, Canada with 14) is not: there only the zone's own family (US-NW, US-CAL) is near
        compact = country is not None and per_country.get(country, 0) + 1 <= COMPACT_COUNTRY_ZONES
        near = set(borders(country)) if compact else set()
        found = [
            r
            for r in rows
            if zone_family(r.zone) == family
            or (compact and r.country == country)
            or (r.country in near and per_country.get(r.country, 0) <= COMPACT_COUNTRY_ZONES)
        ]
        return sorted(found, key=lambda r: (r.g_per_kwh, r.zone))


def _float_or_none(text: str) -> float | None:
    return float(text) if text.strip() else None


def _load_zones() -> list[ZoneRow]:
    return [
        ZoneRow(
            r["zone"],
            r["name"],
            r["country"] or None,
            float(r["g_per_kwh"]),
            int(r["year"]),
            r["source"],
            r["factor_type"],
            r["kind"],
        )
        for r in csv.DictReader(data.read_text("zones.csv").splitlines())
    ]


def _load_clouds() -> list[CloudRegion]:
    return [
        CloudRegion(
            r["provider"],
            r["region"],
            r["zone"],
            r["country"],
            r["location"],
            _float_or_none(r["g_per_kwh"]),
            int(r["year"]) if r["year"] else None,
            r["source"],
        )
        for r in csv.DictReader(data.read_text("cloud_regions.csv").splitlines())
    ]


@functools.cache
def zone_table() -> ZoneTable:
    """The embedded tables: the country table now, zones and cloud regions on first use; one per process."""
    countries: list[ZoneRow] = []
    alpha3: dict[str, str] = {}
    for r in csv.DictReader(data.read_text("country_intensity.csv").splitlines()):
        world = r["alpha2"] == WORLD
        countries.append(
            ZoneRow(
                r["alpha2"],
                r["name"],
                None if world else r["alpha2"],
                float(r["g_per_kwh"]),
                int(r["year"]),
                r["source"],
                r["factor_type"],
                "world" if world else "country",
            )
        )
        if not world:
            alpha3[r["alpha3"]] = r["alpha2"]
    return ZoneTable(_load_zones, countries, _load_clouds, alpha3)
