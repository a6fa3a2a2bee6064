"""Forecasts of grid carbon intensity, behind one interface, and the chain that tries them in order.

A :class:`Forecast` is a list of points (start, duration, value) for one zone, with what it is: the source, the
signal (``average``: grid-average gCO2e/kWh, Electricity Maps and the Carbon Aware SDK's usual sources;
``marginal``: WattTime's marginal operating emissions rate, converted from lbs/MWh) and the factor type. The two
signals are never mixed: a chain returns one provider's forecast, labelled, and comparisons across zones refuse
to rank a marginal figure against an average one.

Providers, in the default order (:func:`default_providers`):

The chain that tries them in order is :mod:`tracker.grid.forecast_chain`.

- :class:`ElectricityMapsForecast`: Electricity Maps v3 ``carbon-intensity/forecast`` through the existing client
  (token, disk cache, cool-down after 401/429/5xx, response-size cap, redirects only within the origin);
- the Carbon Aware SDK Web API and WattTime v3 when configured (``tracker.grid.forecast_web``);
- :class:`PersistenceForecast`: with an Electricity Maps token but no forecast (the free tier has none), the same
  hours of the last day(s) from the history endpoints, labelled as a persistence forecast.

With none of them (no token, no URL): :class:`NoForecast`, which says plainly that only yearly averages are
known, so no time can be chosen, and places can only be ranked (``tracker where``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any, Protocol

from tracker.errors import TrackerError

logger = logging.getLogger(__name__)

HORIZON_HOURS = 72  # Electricity Maps' longest forecast horizon (API v3: 6, 24, 48 or 72)
GRANULARITY_S = {"hourly": 3600.0, "15_minutes": 900.0, "5_minutes": 300.0}  # Electricity Maps' names
PERSISTENCE_DAYS = 3  # days of history a persistence forecast averages per hour of the day
YEARLY_ONLY = (
    "only yearly average intensities are known here (no forecast provider is configured: set "
    "ELECTRICITYMAPS_API_TOKEN, TRACKER_CARBON_AWARE_URL or WATTTIME_USER/WATTTIME_PASSWORD), so no time of day "
    "can be chosen; places can still be ranked (`tracker where`)"
)


class NoForecast(TrackerError):
    """No provider could give a forecast for the zone; the message says why for each one tried."""

    def __init__(self, zone: str, reasons: Sequence[str]) -> None:
        self.zone = zone
        self.reasons = list(reasons)
        super().__init__(f"no forecast for {zone}: " + "; ".join(self.reasons))


@dataclass(frozen=True)
class Forecast:
    """Forecast points for one zone: ``starts_s`` (Unix seconds, UTC), ``durations_s``, ``values`` (gCO2e/kWh)."""

    zone: str
    starts_s: tuple[float, ...]
    durations_s: tuple[float, ...]
    values: tuple[float, ...]
    source: str  # "Electricity Maps forecast", "persistence (Electricity Maps history, 3 days)", ...
    signal: str = "average"  # "average" | "marginal"
    factor_type: str = "lifecycle"
    generated_at: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def horizon(self) -> datetime:
        """The end of the last point: no window may cross it."""
        return _dt(self.starts_s[-1] + self.durations_s[-1])

    @property
    def first(self) -> datetime:
        return _dt(self.starts_s[0])

    def at(self, moment: datetime) -> float | None:
        """The value of the point covering ``moment``, or None outside the forecast."""
        t = moment.timestamp()
        for start, duration, value in zip(self.starts_s, self.durations_s, self.values, strict=True):
            if start <= t < start + duration:
                return value
        return None


class ForecastProvider(Protocol):
    """One source of forecasts. ``forecast`` raises :class:`tracker.errors.TrackerError` (with a message a
    person can act on) when it has none; the chain then tries the next provider."""

    name: str

    def forecast(self, zone: str, horizon_hours: int = HORIZON_HOURS, granularity: str = "hourly") -> Forecast: ...


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def points_from(times: Sequence[datetime], values: Sequence[float], step_s: float | None = None) -> tuple:
    """(starts, durations, values) from point start times: each point lasts until the next one; the last as
    long as ``step_s`` (the stated granularity), else as long as the one before it, else an hour.

    A timestamp sent twice (services do, around a forecast update) is kept once, with the later value in the
    answer: a duplicate would make a point of duration 0, and the window search refuses such a forecast whole."""
    unique = dict(zip((t.timestamp() for t in times), values, strict=True))  # the later value of a duplicate
    pairs = sorted(unique.items())
    starts = [p[0] for p in pairs]
    durations = [b - a for a, b in pairwise(starts)]
    if step_s is not None:
        durations = [min(d, step_s) for d in durations]  # a hole stays a hole, not a stretched point
    durations.append(step_s or (durations[-1] if durations else 3600.0))
    return tuple(starts), tuple(durations), tuple(float(p[1]) for p in pairs)


class _FromElectricityMaps:
    """A provider reading Electricity Maps: its client made at the first use (configured from the settings then),
    or the one given (tests, a shared client)."""

    def __init__(self, client: Any = None, factor: str = "lifecycle") -> None:
        self._client = client
        self.factor = factor

    @property
    def client(self) -> Any:
        if self._client is None:
            from tracker.grid.electricitymaps import Client

            self._client = Client()
        return self._client


class ElectricityMapsForecast(_FromElectricityMaps):
    """Electricity Maps v3 ``carbon-intensity/forecast`` (a paid plan: a 401/403 says so)."""

    name = "electricitymaps"

    def forecast(self, zone: str, horizon_hours: int = HORIZON_HOURS, granularity: str = "hourly") -> Forecast:
        readings = self.client.forecast(
            zone=zone, factor=self.factor, horizon_hours=horizon_hours, granularity=granularity
        )
        if not readings:
            raise TrackerError("Electricity Maps sent an empty forecast")
        starts, durations, values = points_from(
            [r.datetime for r in readings], [r.g_per_kwh for r in readings], GRANULARITY_S.get(granularity)
        )
        return Forecast(
            zone=readings[0].zone or zone,
            starts_s=starts,
            durations_s=durations,
            values=values,
            source="Electricity Maps forecast",
            factor_type=readings[0].emission_factor_type,
            generated_at=readings[0].updated_at,
        )


class PersistenceForecast(_FromElectricityMaps):
    """Tomorrow looks like the last days: each coming hour gets the mean of the same UTC hour over the last
    :data:`PERSISTENCE_DAYS` days (Electricity Maps ``past-range``), or of yesterday's (``history``, the last
    24 hours, the free tier's) when the range is refused. A weak forecast, labelled as such."""

    name = "persistence"

    def __init__(self, client: Any = None, factor: str = "lifecycle", days: int = PERSISTENCE_DAYS, now: Any = None):
        super().__init__(client, factor)
        self.days = days
        self._now = now or (lambda: datetime.now(timezone.utc))

    def forecast(self, zone: str, horizon_hours: int = HORIZON_HOURS, granularity: str = "hourly") -> Forecast:
        from tracker.grid.electricitymaps import ApiError

        hour = self._now().astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
        notes: list[str] = []
        try:
            readings = self.client.past_range(hour - timedelta(days=self.days), hour, zone=zone, factor=self.factor)
            label = f"{self.days} days"
        except ApiError as exc:
            if exc.kind in ("auth", "off"):
                raise
            notes.append(f"past-range unavailable ({exc}); the last 24 hours used")
            readings, label = [], ""
        if not readings:
            readings = self.client.history(zone=zone, factor=self.factor)
            label = "last 24 hours"
        by_hour: dict[int, list[float]] = {}
        for r in readings:
            by_hour.setdefault(r.datetime.hour, []).append(r.g_per_kwh)
        if not by_hour:
            raise TrackerError("Electricity Maps sent no history to repeat")
        times, values = [], []
        for ahead in range(min(horizon_hours, 24)):
            moment = hour + timedelta(hours=ahead)
            same = by_hour.get(moment.hour)
            if same:  # an hour the history lacks is a hole, not a guess
                times.append(moment)
                values.append(sum(same) / len(same))
        starts, durations, vals = points_from(times, values, 3600.0)
        return Forecast(
            zone=zone,
            starts_s=starts,
            durations_s=durations,
            values=vals,
            source=f"persistence forecast (Electricity Maps history, {label})",
            factor_type=readings[0].emission_factor_type,
            notes=(*notes, "a persistence forecast: each hour as it was at the same hour on the last days"),
        )
