"""Grid carbon intensity: the provider interface, the embedded provider and the Electricity Maps provider.

A provider answers "what intensity applied to this location during this hour?" with an :class:`Intensity`
that says where the value came from. Three providers:

* :class:`EmbeddedIntensity` -- offline yearly values (``tracker/grid/zones.py``): the location's zone row
  (Electricity Maps yearly zone, or an eGRID US state, flagged ``direct``), else the cloud region's own
  figure (Google) when the region has no zone row, else the country row (Ember / OWID), else the labelled
  world average.
* :class:`LiveIntensity` -- hourly values from the Electricity Maps API (``tracker/grid/electricitymaps.py``),
  one request for all the hours of a run where possible, falling back hour by hour to the embedded provider
  with a note saying why.

* :class:`ConfiguredIntensity` -- the user's own factor (``intensity_g_per_kwh=``, with ``intensity_source=`` and
  ``intensity_year=``), for every hour and location: it replaces the other two, and the record says so.

:func:`provider_for` picks one from the configuration (``live``: auto = when ``ELECTRICITYMAPS_API_TOKEN``
is set). Factor types are carried, never mixed silently: each :class:`Intensity` says ``lifecycle`` or
``direct``, and a fallback of another type says so in its ``note`` (``direct`` asked without live data too).
"""

from __future__ import annotations

import csv
import functools
import logging
import os
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from tracker import data
from tracker.errors import ConfigError

if TYPE_CHECKING:
    from tracker.grid.location import Location
    from tracker.grid.zones import ZoneTable

logger = logging.getLogger(__name__)

WORLD = "WORLD"
OLD_YEAR = 2022  # rows older than this get a note (Ember has two: CF 2012, EH 2009)


class Intensity(NamedTuple):
    """One grid intensity value with its provenance."""

    g_per_kwh: float
    source: str
    year: int | None
    zone: str  # a zone key (Electricity Maps, US-STATE-XX), an ISO alpha-2 country, or "WORLD"
    factor_type: str = "lifecycle"  # or "direct" (combustion only)
    label: str = ""
    note: str = ""  # why this value and not a better one (a fallback), empty when nothing to say


class IntensityProvider(Protocol):
    """Anything that can say which intensity applied to a zone at a moment."""

    def intensity(self, zone: str | None, hour: datetime) -> Intensity: ...

    def intensities(self, location: Location, hours: list[datetime]) -> list[Intensity]: ...


class CountryRow(NamedTuple):
    alpha2: str
    alpha3: str
    name: str
    g_per_kwh: float
    year: int
    source: str
    factor_type: str


class CountryTable:
    """The embedded country intensities, indexed by alpha-2 and alpha-3 code."""

    def __init__(self, rows: list[CountryRow]) -> None:
        self.rows = {r.alpha2: r for r in rows}
        self._alpha3 = {r.alpha3: r.alpha2 for r in rows if r.alpha2 != WORLD}

    def canonical(self, code: str) -> str:
        """The alpha-2 code for an alpha-2 or alpha-3 code (any case); :class:`ConfigError` when unknown."""
        text = str(code).strip().upper()
        if len(text) == 2 and text in self.rows:
            return text
        if len(text) == 3 and text in self._alpha3:
            return self._alpha3[text]
        raise ConfigError(
            "country", code, "unknown country: expected an ISO 3166 alpha-2 or alpha-3 code listed by `tracker zones`"
        )

    def get(self, alpha2: str) -> CountryRow:
        return self.rows[alpha2]


@functools.cache
def country_table() -> CountryTable:
    rows = [
        CountryRow(
            r["alpha2"],
            r["alpha3"],
            r["name"],
            float(r["g_per_kwh"]),
            int(r["year"]),
            r["source"],
            r["factor_type"],
        )
        for r in csv.DictReader(data.read_text("country_intensity.csv").splitlines())
    ]
    return CountryTable(rows)


@functools.cache
def default_provider() -> IntensityProvider:
    """The offline provider (one per process); :func:`provider_for` is the configured choice."""
    return EmbeddedIntensity()


def _old(year: int, zone: str) -> str:
    return f"the latest embedded value for {zone} is from {year}" if year < OLD_YEAR else ""


class EmbeddedIntensity:
    """Yearly values from the embedded tables; the world average, labelled, when nothing is known.

    ``asked``: the factor type the configuration asked for where no live data answers it (``direct`` without a
    token); a value of another type carries a note with ``why``, so the record says what it used.
    """

    def __init__(self, table: ZoneTable | None = None, asked: str | None = None, why: str = "") -> None:
        self._table = table
        self._memo: dict[Location, Intensity] = {}
        self.asked = asked
        self.why = why

    def _as_asked(self, value: Intensity) -> Intensity:
        if self.asked is None or value.factor_type == self.asked:
            return value
        note = f"emission_factor_type={self.asked}, but {self.why}: the embedded {value.factor_type} value was used"
        return value._replace(note="; ".join(n for n in (value.note, note) if n))

    @property
    def table(self) -> ZoneTable:
        if self._table is None:
            from tracker.grid.zones import zone_table

            self._table = zone_table()
        return self._table

    def intensity(self, zone: str | None, hour: datetime) -> Intensity:
        """A zone key or country code (None: the world average)."""
        if zone is None:
            return self._as_asked(self.world("world average (no country configured)"))
        row = self.table.get(self.table.canonical(zone))
        old = _old(row.year, zone)
        return self._as_asked(Intensity(row.g_per_kwh, row.source, row.year, row.zone, row.factor_type, row.name, old))

    def world(self, label: str, note: str = "") -> Intensity:
        # country_table(), not the zone table: the default path (no location) must not parse zones.csv
        row = country_table().get(WORLD)
        return Intensity(row.g_per_kwh, row.source, row.year, WORLD, row.factor_type, label, note)

    def for_location(self, location: Location) -> Intensity:
        """The best embedded value for a location (provider's figure > zone row > country > world)."""
        if not (location.zone or location.cloud_region) and location.country in country_table().rows:
            row = country_table().get(location.country)  # a country alone: no need for the zone table
            return Intensity(
                row.g_per_kwh, row.source, row.year, row.alpha2, row.factor_type, row.name, _old(row.year, row.alpha2)
            )
        if not (location.zone or location.cloud_region or location.country):
            return self.world("world average (no location configured or detected)")
        table = self.table
        if location.cloud_provider and location.cloud_region:
            # the provider's own published figure for the region (Google's, for GCP) is the most specific value
            try:
                cloud = table.cloud(location.cloud_provider, location.cloud_region)
            except ConfigError:
                cloud = None
            if cloud is not None and cloud.g_per_kwh is not None and cloud.year is not None:
                return Intensity(
                    cloud.g_per_kwh,
                    cloud.source.split("; region location")[0],
                    cloud.year,
                    cloud.zone or cloud.country,
                    "lifecycle",
                    f"{cloud.provider} {cloud.region} ({cloud.location}), the provider's own figure",
                )
        if location.zone:
            try:
                key = table.canonical(location.zone)
                row = table.get(key)
                return Intensity(
                    row.g_per_kwh, row.source, row.year, row.zone, row.factor_type, row.name, _old(row.year, key)
                )
            except (ConfigError, KeyError):
                pass
        if location.country:
            try:
                row = table.country(location.country)
                return Intensity(
                    row.g_per_kwh,
                    row.source,
                    row.year,
                    row.zone,
                    row.factor_type,
                    row.name,
                    _old(row.year, row.zone),
                )
            except KeyError:
                pass
        return self.world("world average (no location configured or detected)")

    def intensities(self, location: Location, hours: list[datetime]) -> list[Intensity]:
        """The same yearly value for every hour (remembered per location: every run's end asks)."""
        value = self._memo.get(location)
        if value is None:
            value = self._as_asked(self.for_location(location))
            if len(self._memo) < 256:
                self._memo[location] = value
        return [value for _ in hours]


# Kept for callers written before zones existed.
EmbeddedCountryIntensity = EmbeddedIntensity


def _hour_start(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


class LiveIntensity:
    """Hourly Electricity Maps values, one request per run where possible; embedded values as fallback."""

    def __init__(self, factor_type: str = "lifecycle", client: Any = None, fallback: EmbeddedIntensity | None = None):
        self.factor_type = factor_type
        self._client = client
        self.fallback = fallback or EmbeddedIntensity()
        self._logged: set[str] = set()

    @property
    def client(self) -> Any:
        if self._client is None:
            from tracker.grid.electricitymaps import Client

            self._client = Client()
        return self._client

    def _target(self, location: Location) -> dict[str, Any] | None:
        """What to ask the API for: an Electricity Maps zone, else coordinates; None when neither."""
        table = self.fallback.table
        zone = location.zone
        if zone and table.has_zone(zone) and table.get(zone).kind == "zone":
            return {"zone": zone}
        if location.latitude is not None and location.longitude is not None:
            return {"lat": location.latitude, "lon": location.longitude}
        if not zone and location.country and table.has_zone(location.country):
            return {"zone": location.country}
        return None

    def intensity(self, zone: str | None, hour: datetime) -> Intensity:
        from tracker.grid.location import Location

        return self.intensities(Location(zone, None, "config"), [hour])[0]

    def _fallback(self, location: Location, hours: list[datetime], why: str) -> list[Intensity]:
        from tracker.safetext import foreign_error

        why = foreign_error(why)  # a server's error page: one line, no terminal escapes, capped (for the note)
        if why not in self._logged:
            self._logged.add(why)
            logger.warning("Electricity Maps: %s; using the embedded yearly value", why)
        base = self.fallback.for_location(location)
        note = f"live intensity unavailable ({why}): embedded yearly value used"
        if base.factor_type != self.factor_type:
            note += f"; it is a {base.factor_type} factor, {self.factor_type} was asked"
        return [base._replace(note="; ".join(n for n in (base.note, note) if n)) for _ in hours]

    def intensities(self, location: Location, hours: list[datetime]) -> list[Intensity]:
        """One value per hour start (UTC); never raises."""
        if not hours:
            return []
        try:
            return self._live(location, hours)
        except Exception as exc:  # any failure: the embedded value, with a note
            kind = getattr(exc, "kind", type(exc).__name__)
            return self._fallback(location, hours, f"{kind}: {exc}")

    def _live(self, location: Location, hours: list[datetime]) -> list[Intensity]:
        target = self._target(location)
        if target is None:
            return self._fallback(location, hours, "no Electricity Maps zone or coordinates for this location")
        starts = [_hour_start(h) for h in hours]
        now = datetime.now(timezone.utc)
        readings: dict[datetime, Any] = {}
        past = [s for s in starts if s <= now]
        future = [s for s in starts if s > now]
        client = self.client
        if past:
            if min(past) >= _hour_start(now) - timedelta(hours=23):  # the 24 hour starts `history` covers
                points = client.history(factor=self.factor_type, **target)
            else:
                points = client.past_range(min(past), max(past) + timedelta(hours=1), factor=self.factor_type, **target)
            readings.update((_hour_start(p.datetime), p) for p in points)
        if future:
            readings.update((_hour_start(p.datetime), p) for p in client.forecast(factor=self.factor_type, **target))
        latest_known = max(readings) if readings else None
        out: list[Intensity] = []
        for hour, start in zip(hours, starts, strict=True):
            point = readings.get(start)
            note = ""
            recent = latest_known is not None and timedelta(0) < start - latest_known <= timedelta(hours=3)
            if point is None and recent and latest_known is not None:
                point = readings[latest_known]  # the current hour is often not published yet
                note = f"hour {start:%H}:00 not published yet: the latest value ({latest_known:%H}:00 UTC) was used"
            if point is None:
                out.extend(self._fallback(location, [hour], f"no value for {start:%Y-%m-%d %H}:00 UTC"))
                continue
            estimated = f", estimated ({point.estimation_method})" if point.is_estimated else ""
            kind = "forecast" if start > now else "hourly"
            out.append(
                Intensity(
                    point.g_per_kwh,
                    f"Electricity Maps API v3, {kind}, {point.emission_factor_type}{estimated}",
                    start.year,
                    point.zone or target.get("zone", ""),
                    point.emission_factor_type,
                    f"{point.zone} live ({start:%Y-%m-%d %H}:00 UTC)",
                    note,
                )
            )
        return out


class ConfiguredIntensity:
    """The user's own factor (``intensity_g_per_kwh=``, e.g. a national agency's annual figure): the same value for
    every hour and every location, its source, year and factor type as the configuration gives them."""

    def __init__(self, g_per_kwh: float, source: str, year: int | None, factor_type: str, note: str) -> None:
        self.value = Intensity(g_per_kwh, source, year, "", factor_type, "your own factor", note)

    def intensity(self, zone: str | None, hour: datetime) -> Intensity:
        return self.value._replace(zone=zone or "")

    def intensities(self, location: Location, hours: list[datetime]) -> list[Intensity]:
        value = self.value._replace(zone=location.zone or location.country or "")
        return [value for _ in hours]


def configured(config: Any) -> ConfiguredIntensity:
    """The provider of ``intensity_g_per_kwh``: the record's source says it is the user's, and which."""
    g_per_kwh = float(config.intensity_g_per_kwh)
    label = config.intensity_source or "no intensity_source given"
    origin = getattr(config, "origins", {}).get("intensity_g_per_kwh", "argument")
    return ConfiguredIntensity(
        g_per_kwh,
        f"{label} (user-set intensity_g_per_kwh)",
        config.intensity_year,
        config.emission_factor_type,
        f"grid intensity {g_per_kwh:g} g/kWh set by the user (intensity_g_per_kwh, from {origin}): "
        "the location's embedded and live values were not used",
    )


def live_enabled(config: Any) -> bool:
    """Whether the configuration asks for live data (auto: when a token is set).

    Reads the environment directly (``tracker.grid.electricitymaps.TOKEN_ENV``) so that the default path does not
    import the client.
    """
    mode = getattr(config, "live", "auto")
    return mode == "on" or (mode == "auto" and bool(os.environ.get("ELECTRICITYMAPS_API_TOKEN", "").strip()))


def provider_for(config: Any) -> IntensityProvider:
    """The provider the configuration asks for (cached per relevant settings): the user's own factor, else live
    data, else the embedded values (with a note on each value that is not of the factor type asked)."""
    if getattr(config, "intensity_g_per_kwh", None) is not None:
        return configured(config)
    if not live_enabled(config):
        asked = getattr(config, "emission_factor_type", "lifecycle")
        if asked == "lifecycle":  # what every embedded row but eGRID's is: the shared provider, no notes
            return default_provider()
        off = getattr(config, "live", "auto") == "off"
        why = "live data is off (live=off)" if off else "ELECTRICITYMAPS_API_TOKEN is not set"
        return _asked_provider(asked, why)
    from tracker.grid.electricitymaps import base_url, token

    return _live_provider(getattr(config, "emission_factor_type", "lifecycle"), base_url(), token())


@functools.lru_cache(maxsize=8)
def _live_provider(factor_type: str, url: str, api_token: str | None) -> IntensityProvider:
    from tracker.grid.electricitymaps import Client

    return LiveIntensity(factor_type, Client(api_token=api_token, url=url), default_provider())  # type: ignore[arg-type]


@functools.lru_cache(maxsize=4)
def _asked_provider(asked: str, why: str) -> IntensityProvider:
    return EmbeddedIntensity(asked=asked, why=why)
