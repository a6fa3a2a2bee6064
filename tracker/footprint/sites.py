"""What a site's day is multiplied by: its PUE (per day or per month), its supplier mix and its grid factor.

Three small tables, CSV or Parquet, every row checked and named in errors:

- PUE: ``site``, ``date``, ``pue``. A ``YYYY-MM-DD`` date is that day's value (operated sites measure it daily), a
  ``YYYY-MM`` date the month's (colocation providers report monthly); a day's value wins over its month's, as in a
  run's PUE schedule (:class:`tracker.carbon.pue.PueSchedule`, reused here one per site).
- Suppliers: ``site``, ``valid_from`` (``YYYY-MM-DD``), ``supplier``, ``share_percent``, ``kg_co2e_per_kwh``. The
  rows of one site and date are one mix (shares add up to 100 %, checked by :mod:`tracker.carbon.market`); a day
  uses the latest mix that took effect on or before it (yearly factors: one mix per year).
- Sites: ``site``, ``zone`` or ``country`` (for the embedded location-based factors), and a factor of the user's
  own, ``intensity_g_per_kwh`` with ``intensity_source`` and ``intensity_year`` (for example a national agency's
  annual figure), which replaces the embedded one for that site. Every site needs a row with a location or its own
  factor: a site's factors never come from the environment, the configuration files or cloud metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tracker.carbon.market import Supplier, check_mix
from tracker.carbon.pue import PueSchedule, _bucket
from tracker.errors import ConfigError
from tracker.footprint.tables import number, read_rows


@dataclass
class Site:
    name: str
    zone: str | None = None
    country: str | None = None
    intensity_g_per_kwh: float | None = None
    intensity_source: str | None = None
    intensity_year: int | None = None


@dataclass
class SiteBook:
    """Every site's factors, by date."""

    sites: dict[str, Site] = field(default_factory=dict)
    pue: dict[str, PueSchedule] = field(default_factory=dict)
    mixes: dict[str, list[tuple[date, tuple[Supplier, ...], str]]] = field(default_factory=dict)  # sorted by date

    @property
    def names(self) -> set[str]:
        return set(self.sites) | set(self.pue) | set(self.mixes)

    def pue_on(self, site: str, day: date) -> tuple[float, str] | None:
        """The site's PUE for ``day`` and where it came from, or ``None`` when no row covers it."""
        schedule = self.pue.get(site)
        if schedule is None:
            return None
        key = day.isoformat()
        if key in schedule.daily:
            return schedule.daily[key], f"site {site} daily PUE {key} ({schedule.path})"
        if key[:7] in schedule.monthly:
            return schedule.monthly[key[:7]], f"site {site} monthly PUE {key[:7]} ({schedule.path})"
        return None

    def mix_on(self, site: str, day: date) -> tuple[tuple[Supplier, ...], str | None]:
        """The supplier mix in force on ``day`` (the latest that took effect on or before it) and its date."""
        chosen: tuple[Supplier, ...] = ()
        since = None
        for start, mix, _ in self.mixes.get(site, ()):
            if start <= day:
                chosen, since = mix, start.isoformat()
        return chosen, since

    def location_of(self, site: str) -> Site:
        """The site's row, which names a zone, a country or the site's own factor (else :class:`ConfigError`)."""
        info = self.sites.get(site)
        if info is None or not (info.zone or info.country or info.intensity_g_per_kwh is not None):
            raise ConfigError("sites", site, "this site has no zone, country or intensity_g_per_kwh in the sites file")
        return info

    def settings(self, site: str, day: date) -> tuple[dict[str, Any], str, list[str]]:
        """The configuration keys of :func:`tracker.estimate` for this site's day (given whole: the estimate is
        ``isolated``, so nothing of the user's environment, configuration files or cloud metadata joins in), where
        its PUE came from, and notes.

        A day no PUE row covers is a :class:`ConfigError` naming the site and the day (no silent PUE 1.0): the
        day's records are not written, and importing again once the PUE file has the row completes the period."""
        info = self.location_of(site)
        settings: dict[str, Any] = {"live": "off", "cloud_metadata": "off", "geoip": False, "pue_schedule": None}
        if info.zone:
            settings["zone"] = info.zone
        elif info.country:
            settings["country"] = info.country
        if info.intensity_g_per_kwh is not None:
            settings["intensity_g_per_kwh"] = info.intensity_g_per_kwh
            if info.intensity_source:
                settings["intensity_source"] = info.intensity_source
            if info.intensity_year is not None:
                settings["intensity_year"] = info.intensity_year
        found = self.pue_on(site, day)
        if found is None:
            raise ConfigError(
                "pue",
                f"site {site} on {day.isoformat()}",
                "no PUE row covers this day: add its day (YYYY-MM-DD) or month (YYYY-MM) to the PUE file",
            )
        settings["pue"], pue_source = found
        mix, _ = self.mix_on(site, day)
        settings["suppliers"] = mix  # none in force: market-based falls back to location-based, as for a run
        return settings, pue_source, []

    def check_days(self, sites: set[str], first: date, last: date) -> None:
        """Every site has a location and a PUE for every day of ``[first, last]``: a :class:`ConfigError` at start
        naming the first site and day that has not (instead of after the days before it were imported)."""
        for site in sorted(sites):
            day = first
            while day <= last:
                self.settings(site, day)
                day = date.fromordinal(day.toordinal() + 1)


def load_sites(pue: str | Path | None, suppliers: str | Path | None, sites: str | Path | None = None) -> SiteBook:
    book = SiteBook()
    if sites:
        for row in read_rows(sites, "sites"):
            name = row.get("site")
            if not name:
                raise ConfigError("sites", f"{row.where}: site", "each row names a site")
            if name in book.sites:
                raise ConfigError("sites", f"{row.where}: {name}", "this site appears twice")
            factor = number(row, "intensity_g_per_kwh", "sites", low=0, required=False)
            year = number(row, "intensity_year", "sites", low=1900, required=False)
            if not (row.get("zone") or row.get("country")) and factor is None:
                raise ConfigError(
                    "sites", f"{row.where}: {name}", "give the site's zone or country (or its own intensity_g_per_kwh)"
                )
            book.sites[name] = Site(
                name,
                row.get("zone") or None,
                row.get("country") or None,
                factor,
                row.get("intensity_source") or (f"site {name}'s own factor ({sites})" if factor is not None else None),
                int(year) if year is not None else None,
            )
    if pue:
        tables: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
        for row in read_rows(pue, "pue"):
            name = row.get("site")
            if not name:
                raise ConfigError("pue", f"{row.where}: site", "each row names a site")
            value = number(row, "pue", "pue", low=1.0)
            assert value is not None
            target = _bucket(row.get("date"), row.where)
            daily, monthly = tables.setdefault(name, ({}, {}))
            table = daily if len(target) == 10 else monthly
            if target in table:
                raise ConfigError("pue", f"{row.where}: {name} {target}", "this site and date appear twice")
            table[target] = value
        book.pue = {name: PueSchedule(str(pue), d, m) for name, (d, m) in tables.items()}
    if suppliers:
        groups: dict[tuple[str, date], list[tuple[Supplier, str]]] = {}
        for row in read_rows(suppliers, "suppliers"):
            name = row.get("site")
            if not name:
                raise ConfigError("suppliers", f"{row.where}: site", "each row names a site")
            try:
                start = date.fromisoformat(row.get("valid_from"))
            except ValueError:
                raise ConfigError("suppliers", f"{row.where}: valid_from", "expected a YYYY-MM-DD date") from None
            share = number(row, "share_percent", "suppliers", low=0)
            factor = number(row, "kg_co2e_per_kwh", "suppliers", low=0)
            supplier = row.get("supplier")
            if not supplier:
                raise ConfigError("suppliers", f"{row.where}: supplier", "each row names its supplier")
            assert share is not None and factor is not None
            groups.setdefault((name, start), []).append((Supplier(supplier, share, factor), row.where))
        for (name, start), entries in sorted(groups.items()):
            mix = tuple(s for s, _ in entries)
            try:
                check_mix(mix)
            except ConfigError as exc:
                raise ConfigError("suppliers", f"{entries[0][1]}: {name} from {start}", exc.reason) from None
            book.mixes.setdefault(name, []).append((start, mix, entries[0][1]))
    return book
