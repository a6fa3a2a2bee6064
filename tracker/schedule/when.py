"""``tracker.best_window``: when to start a run of a given length in a zone, from the zone's forecast.

The arithmetic is :mod:`tracker.schedule.windows` (the Carbon Aware SDK's overlap-weighted rolling average);
this module fetches the forecast (:func:`tracker.grid.forecast.forecast`), applies ``within`` and ``deadline``
and returns a :class:`Window` that says what was compared and where the numbers come from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from tracker.grid.forecast import Forecast, ForecastProvider
from tracker.grid.forecast_chain import forecast
from tracker.schedule import spans
from tracker.schedule.windows import best_window as _best


@dataclass(frozen=True)
class Window:
    """The best time to start, with the intensity expected over the run and the one if started now."""

    zone: str
    start: datetime
    end: datetime
    duration_s: float
    g_per_kwh: float  # the forecast's overlap-weighted average over [start, end)
    now_g_per_kwh: float  # the same for a run started now
    saved_g_per_kwh: float
    saved_pct: float
    signal: str  # "average" (gCO2e/kWh) or "marginal" (WattTime's MOER, in g/kWh): never compared with the other
    source: str
    horizon: datetime  # the forecast's end: windows crossing it were refused
    compared: int  # the starts compared
    notes: tuple[str, ...] = field(default_factory=tuple)
    earliest: datetime | None = None  # the start compared as "now"

    @property
    def delay_s(self) -> float:
        """How long to wait from the earliest start (0 when now is best)."""
        return max(0.0, (self.start - self.earliest).total_seconds()) if self.earliest else 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("start", "end", "horizon", "earliest"):
            out[key] = out[key].isoformat() if out[key] else None
        out["notes"] = list(self.notes)
        out["delay_s"] = self.delay_s
        return out


def choose(
    data: Forecast,
    duration: object,
    within: object = None,
    deadline: object = None,
    now: datetime | None = None,
) -> Window:
    """The best window in an already fetched forecast (see :func:`best_window`)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    length = spans.seconds("duration", duration)
    ends = []
    if within is not None:
        ends.append(now.timestamp() + spans.seconds("within", within))
    if deadline is not None:
        ends.append(spans.moment("deadline", deadline, now).timestamp())
    latest_end = min(ends) if ends else None
    choice = _best(data.starts_s, data.durations_s, data.values, length, now.timestamp(), latest_end)
    notes = list(data.notes)
    if data.starts_s[0] > now.timestamp():
        notes.append(f"the forecast begins at {data.first.isoformat()}: 'now' is compared from there")
    return Window(
        zone=data.zone,
        start=datetime.fromtimestamp(choice.start_s, tz=timezone.utc),
        end=datetime.fromtimestamp(choice.end_s, tz=timezone.utc),
        duration_s=length,
        g_per_kwh=choice.g_per_kwh,
        now_g_per_kwh=choice.now_g_per_kwh,
        saved_g_per_kwh=choice.saved_g_per_kwh,
        saved_pct=choice.saved_pct,
        signal=data.signal,
        source=data.source,
        horizon=data.horizon,
        compared=choice.candidates,
        notes=tuple(notes),
        earliest=datetime.fromtimestamp(max(now.timestamp(), data.starts_s[0]), tz=timezone.utc),
    )


def best_window(
    zone: str,
    duration: object,
    within: object = None,
    deadline: object = None,
    *,
    now: datetime | None = None,
    providers: Sequence[ForecastProvider] | None = None,
    granularity: str = "hourly",
) -> Window:
    """When to start a run of ``duration`` in ``zone`` so that the forecast intensity over it is lowest.

    ``duration``, ``within`` (the run must be over this long from now): ``timedelta``, seconds or text such as
    ``"2h"``; ``deadline``: the run must be over by then (a ``datetime``, ISO text, or a duration from now).
    Windows that cross the forecast's horizon are refused (:class:`tracker.schedule.windows.NoWindow`); with no
    forecast at all, :class:`tracker.grid.forecast.NoForecast` says why (with yearly data only: no time can
    be chosen).
    """
    spans.seconds("duration", duration)  # a wrong argument is a ConfigError before any request
    data = forecast(zone, providers=providers, granularity=granularity)
    return choose(data, duration, within=within, deadline=deadline, now=now)
