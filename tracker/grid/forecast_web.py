"""Forecast providers besides Electricity Maps: the Carbon Aware SDK Web API and WattTime v3.

**Carbon Aware SDK** (Green Software Foundation), a web service you run: ``TRACKER_CARBON_AWARE_URL``.
``GET /emissions/forecasts/current?location=..&dataStartAt=..&dataEndAt=..&windowSize=..`` answers a list of
``EmissionsForecastDTO``: ``{"generatedAt", "requestedAt", "location", "dataStartAt", "dataEndAt", "windowSize",
"optimalDataPoints": [...], "forecastData": [{"location", "timestamp", "duration" (minutes), "value"}]}`` (values
in gCO2e/kWh); ``GET /emissions/bylocations/best?location=a&location=b&time=..`` a list of ``EmissionsData``
``{"location", "time", "rating", "duration"}``. What the values mean depends on the SDK's own data source: an SDK
fed by WattTime answers marginal rates, so ``TRACKER_CARBON_AWARE_SIGNAL=marginal`` labels them so (default
``average``).

**WattTime v3**: ``WATTTIME_USER`` / ``WATTTIME_PASSWORD`` (the names WattTime's own client reads).
``GET /login`` with HTTP basic auth answers ``{"token"}`` (valid 30 minutes); ``GET /v3/forecast?region=..&
signal_type=co2_moer&horizon_hours=..`` with ``Authorization: Bearer`` answers ``{"data": [{"point_time",
"value"}], "meta": {"region", "signal_type", "units": "lbs_co2_per_mwh", "data_point_period_seconds",
"generated_at", ...}}``. The marginal operating emissions rate (MOER) is converted to g/kWh (1 lb/MWh =
0.45359237 g/kWh, the pound's definition) and labelled ``marginal``: never ranked against average intensities.
WattTime names grid regions its own way (``CAISO_NORTH``); ``WATTTIME_REGIONS="US-CAL-CISO=CAISO_NORTH,..."``
maps zones to them, else the zone is sent as it is.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from tracker.errors import ConfigError
from tracker.grid.forecast import HORIZON_HOURS, Forecast, points_from
from tracker.grid.webjson import TIMEOUT_S, WebError, get_json
from tracker.safetext import redact_urls

CARBON_AWARE_URL_ENV = "TRACKER_CARBON_AWARE_URL"
CARBON_AWARE_SIGNAL_ENV = "TRACKER_CARBON_AWARE_SIGNAL"
WATTTIME_USER_ENV, WATTTIME_PASSWORD_ENV = "WATTTIME_USER", "WATTTIME_PASSWORD"
WATTTIME_URL_ENV = "WATTTIME_API_URL"
WATTTIME_REGIONS_ENV = "WATTTIME_REGIONS"
WATTTIME_URL = "https://api.watttime.org"
LB_PER_MWH_IN_G_PER_KWH = 0.45359237  # 1 lb = 0.45359237 kg exactly (international pound, 1959); MWh -> kWh
TOKEN_LIFE_S = 25 * 60.0  # WattTime tokens last 30 minutes: renewed a little before


def _time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"a time is not text: {text!r}")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} is {value!r}")
    return float(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class CarbonAwareForecast:
    """The Carbon Aware SDK Web API's current forecast for a location."""

    name = "carbon-aware-sdk"

    def __init__(
        self, url: str, signal: str = "average", timeout: float = TIMEOUT_S, now: Callable[[], datetime] | None = None
    ) -> None:
        self.url = url.rstrip("/")
        # A query in the configured URL (an API gateway's ``?code=KEY``) is sent with every request; the paths
        # are appended to the URL without it.
        parts = urlsplit(url)
        self._base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self._query = parse_qsl(parts.query, keep_blank_values=True)
        self.signal = signal
        self.timeout = timeout
        self._now = now or (lambda: datetime.now(timezone.utc))

    def forecast(self, zone: str, horizon_hours: int = HORIZON_HOURS, granularity: str = "hourly") -> Forecast:
        # Neither dataStartAt nor dataEndAt is sent: the SDK refuses (HTTP 400) bounds outside its forecast data
        # ("Must be within the forecast data point timestamps", EmissionsForecast validation), and its data
        # often ends well before our horizon (24 h for most sources). All points come back; trimmed here.
        now = self._now().timestamp()
        params = [("location", zone), *self._query]
        body = get_json("Carbon Aware SDK", f"{self._base}/emissions/forecasts/current", params, timeout=self.timeout)
        try:
            if not isinstance(body, list) or not body or not isinstance(body[0], dict):
                raise ValueError("not a list of forecasts")
            first = body[0]
            items = first["forecastData"]
            if not isinstance(items, list) or not items:
                raise ValueError("forecastData is empty")
            times = [_time(p["timestamp"]) for p in items]
            values = [_number(p["value"], "value") for p in items]
            step = _number(items[0].get("duration", 0), "duration") * 60.0 or None
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise WebError("malformed", f"Carbon Aware SDK: unexpected forecast: {exc}") from exc
        starts, durations, vals = points_from(times, values, step)
        end = now + horizon_hours * 3600.0
        kept = [i for i, (a, d) in enumerate(zip(starts, durations, strict=True)) if a + d > now and a < end]
        if not kept:
            raise WebError("malformed", "Carbon Aware SDK: the forecast has no point from now on")
        starts, durations, vals = (tuple(seq[i] for i in kept) for seq in (starts, durations, vals))
        return Forecast(
            zone=str(first.get("location") or zone),
            starts_s=starts,
            durations_s=durations,
            values=vals,
            source=f"Carbon Aware SDK forecast ({redact_urls(self.url)})",
            signal=self.signal,
            factor_type="marginal" if self.signal == "marginal" else "as the SDK's data source",
            generated_at=first.get("generatedAt") if isinstance(first.get("generatedAt"), str) else None,
        )

    def best_location(self, locations: list[str], at: datetime | None = None) -> tuple[str, float]:
        """``/emissions/bylocations/best``: the location with the lowest rating (at ``at``, else now)."""
        params: list[tuple[str, str]] = [("location", loc) for loc in locations]
        if at is not None:
            params.append(("time", _iso(at)))
        params.extend(self._query)
        body = get_json("Carbon Aware SDK", f"{self._base}/emissions/bylocations/best", params, timeout=self.timeout)
        try:
            if not isinstance(body, list) or not body:
                raise ValueError("no location in the answer")
            best = min(body, key=lambda e: _number(e["rating"], "rating"))
            return str(best["location"]), _number(best["rating"], "rating")
        except (KeyError, TypeError, ValueError) as exc:
            raise WebError("malformed", f"Carbon Aware SDK: unexpected answer: {exc}") from exc


class WattTimeForecast:
    """WattTime v3 ``co2_moer`` forecasts (marginal), logging in for a bearer token."""

    name = "watttime"

    def __init__(
        self,
        user: str,
        password: str,
        url: str = WATTTIME_URL,
        regions: dict[str, str] | None = None,
        timeout: float = TIMEOUT_S,
    ) -> None:
        self.user, self.password = user, password
        self.url = url.rstrip("/")
        self.regions = {k.upper(): v for k, v in (regions or {}).items()}
        self.timeout = timeout
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def token(self, renew: bool = False) -> str:
        with self._lock:
            if self._token is not None and not renew and time.monotonic() < self._token[1]:
                return self._token[0]
        body = get_json("WattTime login", f"{self.url}/login", auth=(self.user, self.password), timeout=self.timeout)
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise WebError("malformed", "WattTime login: no token in the answer")
        with self._lock:
            self._token = (token, time.monotonic() + TOKEN_LIFE_S)
        return token

    def forecast(self, zone: str, horizon_hours: int = HORIZON_HOURS, granularity: str = "hourly") -> Forecast:
        region = self.regions.get(zone.upper(), zone)
        params = {"region": region, "signal_type": "co2_moer", "horizon_hours": str(min(int(horizon_hours), 72))}
        url = f"{self.url}/v3/forecast"
        try:
            body = get_json("WattTime", url, params, {"Authorization": f"Bearer {self.token()}"}, timeout=self.timeout)
        except WebError as exc:
            if exc.kind != "auth":
                raise
            body = get_json(  # an expired token: log in once more, then give up
                "WattTime", url, params, {"Authorization": f"Bearer {self.token(renew=True)}"}, timeout=self.timeout
            )
        try:
            meta = body["meta"]
            units = meta.get("units", "lbs_co2_per_mwh")
            if units != "lbs_co2_per_mwh":
                raise ValueError(f"units {units!r}, expected lbs_co2_per_mwh")
            if meta.get("signal_type", "co2_moer") != "co2_moer":
                raise ValueError(f"signal_type {meta.get('signal_type')!r}")
            items = body["data"]
            if not isinstance(items, list) or not items:
                raise ValueError("data is empty")
            times = [_time(p["point_time"]) for p in items]
            values = [_number(p["value"], "value") * LB_PER_MWH_IN_G_PER_KWH for p in items]
            period = meta.get("data_point_period_seconds")
            step = float(period) if isinstance(period, (int, float)) and period > 0 else None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise WebError("malformed", f"WattTime: unexpected forecast: {exc}") from exc
        starts, durations, vals = points_from(times, values, step)
        return Forecast(
            zone=zone,
            starts_s=starts,
            durations_s=durations,
            values=vals,
            source=f"WattTime co2_moer forecast ({region}), marginal",
            signal="marginal",
            factor_type="marginal (MOER)",
            generated_at=meta.get("generated_at") if isinstance(meta.get("generated_at"), str) else None,
        )


def _regions(text: str) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs if k.strip() and v.strip()}


def configured_web_providers() -> list[Any]:
    """The Carbon Aware SDK and WattTime providers the environment configures (see the module docstring)."""
    found: list[Any] = []
    url = os.environ.get(CARBON_AWARE_URL_ENV, "").strip()
    if url:
        signal = os.environ.get(CARBON_AWARE_SIGNAL_ENV, "average").strip().lower()
        if signal not in ("average", "marginal"):
            raise ConfigError(CARBON_AWARE_SIGNAL_ENV, signal, "expected average or marginal")
        found.append(CarbonAwareForecast(url, signal))
    user, password = os.environ.get(WATTTIME_USER_ENV, ""), os.environ.get(WATTTIME_PASSWORD_ENV, "")
    if user and password:
        url = os.environ.get(WATTTIME_URL_ENV, "").strip() or WATTTIME_URL
        found.append(WattTimeForecast(user, password, url, _regions(os.environ.get(WATTTIME_REGIONS_ENV, ""))))
    return found
