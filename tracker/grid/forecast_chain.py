"""The forecast providers the environment configures, tried in order: the first forecast wins.

Order: Electricity Maps' forecast (a token), the Carbon Aware SDK (``TRACKER_CARBON_AWARE_URL``), WattTime
(``WATTTIME_USER``/``WATTTIME_PASSWORD``, marginal), then a persistence forecast from Electricity Maps' history
(a token, no forecast plan). None of them: :data:`tracker.grid.forecast.YEARLY_ONLY`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tracker.errors import TrackerError
from tracker.grid.forecast import (
    HORIZON_HOURS,
    YEARLY_ONLY,
    ElectricityMapsForecast,
    Forecast,
    ForecastProvider,
    NoForecast,
    PersistenceForecast,
)
from tracker.safetext import redact_urls

logger = logging.getLogger(__name__)


def default_providers() -> list[ForecastProvider]:
    """The providers configured in the environment, best first (see the module docstring)."""
    from tracker.grid import electricitymaps
    from tracker.grid.forecast_web import configured_web_providers

    found: list[ForecastProvider] = []
    has_token = electricitymaps.token() is not None
    if has_token:
        found.append(ElectricityMapsForecast())
    found.extend(configured_web_providers())
    if has_token:
        found.append(PersistenceForecast())
    return found


def forecast(
    zone: str,
    providers: Sequence[ForecastProvider] | None = None,
    horizon_hours: int = HORIZON_HOURS,
    granularity: str = "hourly",
) -> Forecast:
    """The first forecast a provider gives for ``zone``; each failure is logged once, with its reason, and the
    next provider is tried. Every provider's requests have a short total timeout, so the chain is bounded.
    :class:`NoForecast` when none gives one (with no provider at all: :data:`YEARLY_ONLY`)."""
    chain = default_providers() if providers is None else list(providers)
    if not chain:
        raise NoForecast(zone, [YEARLY_ONLY])
    reasons = []
    for provider in chain:
        try:
            return provider.forecast(zone, horizon_hours=horizon_hours, granularity=granularity)
        except TrackerError as exc:
            reason = redact_urls(str(exc))  # a service URL in an error may carry credentials
            logger.info("no forecast from %s for %s: %s", provider.name, zone, reason)
            reasons.append(f"{provider.name}: {reason}")
    raise NoForecast(zone, reasons)
