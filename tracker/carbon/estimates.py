"""Carbon for energy measured elsewhere: a meter reading, a data-centre day, a figure from a bill.

``tracker.estimate(1000, start=day, end=day + timedelta(days=1), pue=1.3, suppliers=[...], country="FR")``
goes through the same configuration, location, intensity and accounting as a tracked run, so the numbers and
their provenance are the same as a run's. The energy is spread evenly over the UTC hours between ``start`` and
``end`` (give hourly figures with ``hourly=`` when you have them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from tracker.carbon.accounting import Carbon
from tracker.config import resolve
from tracker.errors import ConfigError
from tracker.grid.location import Location


@dataclass(frozen=True)
class Estimate:
    """The carbon of some energy, location- and market-based, with where every factor came from."""

    energy_kwh: float  # IT energy, before PUE
    facility_energy_kwh: float
    pue: float
    pue_source: str
    emissions_kg: float  # location-based
    emissions_market_kg: float
    market_source: str
    embodied_kg: float
    intensity_g_per_kwh: float
    intensity_source: str
    intensity_year: int | None
    intensity_factor_type: str
    zone: str | None
    country: str | None
    location_source: str
    cloud_provider: str | None
    cloud_region: str | None
    notes: tuple[str, ...]
    carbon: Carbon  # the per-hour detail
    start: datetime | None = None  # the period the energy was used in (UTC; hourly: first hour to the last one's end)
    end: datetime | None = None


def _hours(energy_kwh: float, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Spread ``energy_kwh`` evenly over ``[start, end)``, split at UTC hour boundaries."""
    seconds = (end - start).total_seconds()
    buckets: list[tuple[datetime, float]] = []
    moment = start
    while moment < end:
        hour = moment.replace(minute=0, second=0, microsecond=0)
        upto = min(end, hour + timedelta(hours=1))
        buckets.append((hour, energy_kwh * (upto - moment).total_seconds() / seconds))
        moment = upto
    return buckets


def _utc(moment: datetime, key: str) -> datetime:
    if moment.tzinfo is None:
        raise ConfigError(key, moment, "give an aware datetime (e.g. with tzinfo=timezone.utc)")
    return moment.astimezone(timezone.utc)


def estimate(
    energy_kwh: float | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    hourly: Sequence[tuple[datetime, float]] | None = None,
    isolated: bool = False,
    **settings: Any,
) -> Estimate:
    """The carbon of ``energy_kwh`` of IT energy used between ``start`` and ``end`` (default: the last hour).

    ``settings`` are the configuration keys of a run (``country``, ``zone``, ``cloud_provider`` +
    ``cloud_region``, ``pue``, ``pue_schedule``, ``suppliers``, ``embodied_kg``...), resolved with the same
    precedence; a bad value raises :class:`tracker.ConfigError`. ``isolated=True``: the ``settings`` alone, no
    environment variable and no configuration file (a data-centre site's factors are the site files', never the
    user's ``TRACKER_PUE_SCHEDULE``, country or supplier mix).
    """
    from tracker.carbon.accounting import carbon_columns, carbon_of
    from tracker.carbon.pue import model_for
    from tracker.grid import location
    from tracker.grid.intensity import provider_for

    config = resolve(settings, environ={}, files=False) if isolated else resolve(settings)
    if hourly is not None:
        hours = [(_utc(hour, "hourly"), float(kwh)) for hour, kwh in hourly]
        if not hours:
            raise ConfigError("hourly", hourly, "give at least one (hour, kWh) pair")
        duration = 3600.0 * len(hours)
        start, end = min(h for h, _ in hours), max(h for h, _ in hours) + timedelta(hours=1)
    else:
        if energy_kwh is None or not energy_kwh >= 0:
            raise ConfigError("energy_kwh", energy_kwh, "give the energy used, in kWh (zero or more)")
        end = _utc(end, "end") if end is not None else datetime.now(timezone.utc)
        start = _utc(start, "start") if start is not None else end - timedelta(hours=1)
        if not start < end:
            raise ConfigError("start", start, "start must be before end")
        hours = _hours(float(energy_kwh), start, end)
        duration = (end - start).total_seconds()
    notes: list[str] = []
    place: Location = location.resolve(config)
    pue = model_for(config.pue, config.pue_source, config.pue_schedule)
    carbon = carbon_of(hours, place, config, provider_for(config), pue, notes)
    return Estimate(
        energy_kwh=carbon.it_kwh,
        facility_energy_kwh=carbon.facility_kwh,
        **carbon_columns(carbon, place, config, pue, duration),
        notes=tuple(notes),
        carbon=carbon,
        start=start,
        end=end,
    )
