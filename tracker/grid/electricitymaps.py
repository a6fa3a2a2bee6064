"""A small client for the Electricity Maps API v3: carbon intensity latest, history, past range, forecast, and
the power breakdown (the mix) now.

Why a client of our own: four GET endpoints and one header do not justify a dependency, and the failure
modes matter more than the happy path. Every call has a short timeout for the whole exchange (not only per
socket read); 401/403 on ``latest`` or ``history`` (a bad token) switches the client off for the process, but on
``forecast`` or ``past-range`` only that endpoint (kind ``plan``: the free tier answers 401/403 there, and live
intensity and the persistence forecast must go on working), 429 and 5xx and network failures for
a cool-down (``Retry-After`` when given), so a run's end never waits on a dead network twice. Answers are
cached on disk (``data_dir()/cache/electricitymaps``) with a time-to-live, so repeated runs in the same hour
cost one request.

Token: ``ELECTRICITYMAPS_API_TOKEN``, sent in the ``auth-token`` header (never written to the cache).
Base URL: ``https://api.electricitymap.org/v3``, or ``ELECTRICITYMAPS_API_URL`` (tests, proxies).
Response shapes (API v3): ``latest`` -> ``{"zone", "carbonIntensity", "datetime", "updatedAt",
"isEstimated", "estimationMethod", "emissionFactorType", "temporalGranularity"}``; ``history`` ->
``{"zone", "history": [...]}``; ``past-range`` -> ``{"zone", "data": [...]}``; ``forecast`` ->
``{"zone", "forecast": [{"carbonIntensity", "datetime"}], "updatedAt"}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tracker.errors import TrackerError
from tracker.paths import data_dir
from tracker.webio import get_capped, retry_after

logger = logging.getLogger(__name__)

BASE_URL = "https://api.electricitymap.org/v3"
TOKEN_ENV = "ELECTRICITYMAPS_API_TOKEN"
URL_ENV = "ELECTRICITYMAPS_API_URL"
TIMEOUT_S = 2.0  # per request, in all (connect, answer, body); a run's end must not hang (DESIGN.md, "Known traps")
COOLDOWN_S = 600.0  # after a network failure, 429 or 5xx (unless Retry-After says otherwise)
MAX_RANGE = timedelta(days=10)  # past-range accepts at most 10 days at hourly granularity
# Cache lifetimes: "latest" changes within the hour, history and forecasts hourly; a range that ended more
# than two days ago is settled data (Electricity Maps finalises hourly values within ~48 h).
TTL_S = {"latest": 300.0, "history": 900.0, "forecast": 1800.0, "past-range": 900.0}
SETTLED_TTL_S = 7 * 24 * 3600.0
# A year of forecast at 5-minute steps is ~105,000 points of ~60 bytes (about 6 MB): an answer that is, or
# inflates to, more than this is refused as malformed (gzip bombs included: tracker.webio).
MAX_BODY_BYTES = 10 * 2**20
ERROR_BODY_BYTES = 4096  # of an error answer, only the start is kept (for the note)
MAX_REDIRECTS = 3  # followed only within the configured base URL's scheme, host and port


# Endpoints that a valid token may lack (paid-plan features): a 401/403 there says "not in the plan", not
# "bad token" (Electricity Maps API v3 plans, 2025: the free tier has latest and history only).
PLAN_ENDPOINTS = frozenset({"forecast", "past-range"})


class ApiError(TrackerError):
    """A call to Electricity Maps failed; ``kind`` is auth | plan (401/403 on an endpoint the token's plan lacks)
    | rate-limit | server | network | malformed | redirect (to another host: not followed) | off."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class Reading:
    """One carbon-intensity value from the API."""

    zone: str
    g_per_kwh: float
    datetime: datetime  # start of the period, UTC
    emission_factor_type: str
    is_estimated: bool | None = None
    estimation_method: str | None = None
    updated_at: str | None = None
    granularity: str = "hourly"


def token() -> str | None:
    """The API token from the environment, or None."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    return value or None


def base_url() -> str:
    """The API base URL (environment override first)."""
    return (os.environ.get(URL_ENV) or BASE_URL).rstrip("/")


def _parse_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"datetime is not a string: {text!r}")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text_or_none(value: Any) -> str | None:
    """An optional text field: what is not a string (a number, a list) is not what the API sends, so none."""
    return value if isinstance(value, str) else None


def parse_reading(item: Any, zone: str, factor: str) -> Reading:
    """One point of any endpoint's answer; :class:`ApiError` (malformed) when a field is missing or wrong."""
    try:
        if not isinstance(item, dict):
            raise ValueError("not an object")
        value = item["carbonIntensity"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"carbonIntensity is {value!r}")
        return Reading(
            zone=str(item.get("zone") or zone),
            g_per_kwh=float(value),
            datetime=_parse_time(item["datetime"]),
            emission_factor_type=str(item.get("emissionFactorType") or factor),
            is_estimated=estimated if isinstance(estimated := item.get("isEstimated"), bool) else None,
            estimation_method=_text_or_none(item.get("estimationMethod")),
            updated_at=_text_or_none(item.get("updatedAt")),
            granularity=str(item.get("temporalGranularity") or "hourly"),
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # Overflow: 1e400 as an integer, year 0
        raise ApiError("malformed", f"unexpected carbon-intensity point: {exc}") from exc


_state_lock = threading.Lock()
_blocked: dict[str, tuple[float, str]] = {}  # base URL -> (until monotonic time, reason)
_not_in_plan: dict[tuple[str, str], str] = {}  # (base URL, endpoint) -> reason: refused for the process


def reset() -> None:
    """Forget cool-downs (tests)."""
    with _state_lock:
        _blocked.clear()
        _not_in_plan.clear()


class Client:
    """Electricity Maps v3 carbon-intensity endpoints, with a disk cache and a circuit breaker."""

    def __init__(
        self,
        api_token: str | None = None,
        url: str | None = None,
        timeout: float = TIMEOUT_S,
        cache_dir: Path | None = None,
    ) -> None:
        self.token = api_token if api_token is not None else token()
        self.url = (url or base_url()).rstrip("/")
        self.timeout = timeout
        self._cache_dir = cache_dir
        self.requests_made = 0  # HTTP requests actually sent (tests and `tracker intensity` use it)

    @property
    def cache_dir(self) -> Path:
        """``data_dir()/cache/electricitymaps`` unless given (looked up per call: the data dir may change)."""
        return self._cache_dir or data_dir() / "cache" / "electricitymaps"

    # -- public endpoints ------------------------------------------------------------------------------
    def latest(
        self, zone: str | None = None, lat: float | None = None, lon: float | None = None, factor: str = "lifecycle"
    ) -> Reading:
        """The most recent value for a zone (or coordinates)."""
        params = self._target(zone, lat, lon, factor)
        body = self._get("latest", params, TTL_S["latest"])
        return parse_reading(body, str(body.get("zone") or zone or ""), factor)

    def history(
        self, zone: str | None = None, lat: float | None = None, lon: float | None = None, factor: str = "lifecycle"
    ) -> list[Reading]:
        """The last 24 hours, hourly."""
        params = self._target(zone, lat, lon, factor)
        body = self._get("history", params, TTL_S["history"])
        return self._points(body, "history", zone, factor)

    def past_range(
        self,
        start: datetime,
        end: datetime,
        zone: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        factor: str = "lifecycle",
    ) -> list[Reading]:
        """Hourly values from ``start`` to ``end`` (split into 10-day requests when longer)."""
        readings: list[Reading] = []
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(end, chunk_start + MAX_RANGE)
            params = self._target(zone, lat, lon, factor)
            params.update(start=_iso(chunk_start), end=_iso(chunk_end), temporalGranularity="hourly")
            settled = datetime.now(timezone.utc) - chunk_end.astimezone(timezone.utc) > timedelta(hours=48)
            body = self._get("past-range", params, SETTLED_TTL_S if settled else TTL_S["past-range"])
            readings.extend(self._points(body, "data", zone, factor))
            chunk_start = chunk_end
        return readings

    def forecast(
        self,
        zone: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        factor: str = "lifecycle",
        horizon_hours: int | None = None,
        granularity: str | None = None,
    ) -> list[Reading]:
        """Forecast values for the coming hours (``horizonHours`` 6/24/48/72, ``temporalGranularity``
        ``hourly`` / ``15_minutes`` / ``5_minutes`` when given; the API's defaults otherwise)."""
        params = self._target(zone, lat, lon, factor)
        if horizon_hours is not None:
            params["horizonHours"] = str(int(horizon_hours))
        if granularity is not None:
            params["temporalGranularity"] = granularity
        body = self._get("forecast", params, TTL_S["forecast"])
        return self._points(body, "forecast", zone, factor)

    def power_breakdown(self, zone: str) -> dict[str, Any]:
        """``power-breakdown/latest``: the zone's electricity mix now (``powerConsumptionBreakdown`` in MW per
        source, ``powerConsumptionTotal``, ``fossilFreePercentage``, ``renewablePercentage``); the raw answer,
        read by :func:`tracker.grid.mix.parse_mix`."""
        return self._get("power-breakdown/latest", {"zone": zone}, TTL_S["latest"])

    # -- plumbing ----------------------------------------------------------------------------------------
    @staticmethod
    def _target(zone: str | None, lat: float | None, lon: float | None, factor: str) -> dict[str, str]:
        if zone:
            params = {"zone": zone}
        elif lat is not None and lon is not None:
            params = {"lat": f"{lat:.4f}", "lon": f"{lon:.4f}"}
        else:
            raise ApiError("malformed", "a zone or coordinates are needed")
        params["emissionFactorType"] = factor
        return params

    @staticmethod
    def _points(body: dict[str, Any], key: str, zone: str | None, factor: str) -> list[Reading]:
        items = body.get(key)
        if items is None and key in ("history", "data"):  # the two range endpoints, either spelling
            items = body.get("data" if key == "history" else "history")
        if not isinstance(items, list):
            raise ApiError("malformed", f"the answer has no {key!r} list")
        name = str(body.get("zone") or zone or "")
        return [parse_reading(item, name, factor) for item in items]

    def _cache_path(self, endpoint: str, params: dict[str, str]) -> Path:
        key = json.dumps([self.url, endpoint, sorted(params.items())])
        name = endpoint.replace("/", "-")
        return self.cache_dir / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def _from_cache(self, path: Path, ttl: float) -> dict[str, Any] | None:
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if time.time() - float(stored["fetched_at"]) <= ttl and isinstance(stored["body"], dict):
                return stored["body"]
        except (OSError, ValueError, KeyError, TypeError, OverflowError, RecursionError):  # unusable: a miss
            return None
        return None

    def _to_cache(self, path: Path, body: dict[str, Any]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"fetched_at": time.time(), "body": body}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a read-only home must not stop the run
            logger.debug("cannot write the Electricity Maps cache %s: %s", path, exc)

    def _get(self, endpoint: str, params: dict[str, str], ttl: float) -> dict[str, Any]:
        path = self._cache_path(endpoint, params)
        cached = self._from_cache(path, ttl)
        if cached is not None:
            return cached
        if not self.token:
            raise ApiError("off", f"no token ({TOKEN_ENV} is not set)")
        with _state_lock:
            until, reason = _blocked.get(self.url, (0.0, ""))
            refused = _not_in_plan.get((self.url, endpoint))
        if refused is not None:
            raise ApiError("plan", refused)
        if time.monotonic() < until:
            raise ApiError("off", f"not asked again yet after: {reason}")
        body = self._request(endpoint, params)
        self._to_cache(path, body)
        return body

    def _exchange(self, requests: Any, endpoint: str, params: dict[str, str]) -> tuple[int, Any, bytes]:
        """One GET of ``endpoint``: (status, headers, body), read within :data:`MAX_BODY_BYTES`, redirects followed
        only within the base URL's origin, so the token goes to the configured host and nowhere else
        (:func:`tracker.webio.get_capped`)."""
        return get_capped(
            requests,
            f"{self.url}/{endpoint if '/' in endpoint else 'carbon-intensity/' + endpoint}",
            params=params,
            headers={"auth-token": self.token or ""},
            timeout=self.timeout,
            max_body=MAX_BODY_BYTES,
            max_error_body=ERROR_BODY_BYTES,
            max_redirects=MAX_REDIRECTS,
            error=ApiError,
            name=self.url,
        )

    def _block(self, seconds: float, reason: str) -> None:
        with _state_lock:
            _blocked[self.url] = (time.monotonic() + seconds, reason)

    def _request(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        import requests  # imported here: only runs with live data pay for it

        self.requests_made += 1
        # requests' timeout bounds each socket operation, not the whole exchange: a server that sends a byte
        # now and then (or a resolver that hangs) would hold the run's end for as long as it likes. So the
        # request runs on a daemon thread and the caller waits at most `timeout` in all.
        outcome: dict[str, Any] = {}

        def fetch() -> None:
            try:
                outcome["response"] = self._exchange(requests, endpoint, params)
            except Exception as exc:  # handed over to the caller below
                outcome["error"] = exc

        worker = threading.Thread(target=fetch, name="tracker-electricitymaps", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            reason = f"network error: no complete answer within {self.timeout:g} s"
            self._block(COOLDOWN_S, reason)
            raise ApiError("network", reason)
        error = outcome.get("error")
        if isinstance(error, requests.RequestException):
            reason = f"network error: {type(error).__name__}"
            self._block(COOLDOWN_S, reason)
            raise ApiError("network", reason) from error
        if isinstance(error, ApiError):
            if error.kind == "redirect":
                self._block(COOLDOWN_S, str(error))
            raise error
        if error is not None:
            raise error
        status, headers, raw = outcome["response"]
        if status in (401, 403) and endpoint in PLAN_ENDPOINTS:
            reason = (
                f"HTTP {status}: the token was refused for carbon-intensity/{endpoint} (not in its plan?); "
                "the other endpoints are still used"
            )
            with _state_lock:
                _not_in_plan[(self.url, endpoint)] = reason
            raise ApiError("plan", reason)
        if status in (401, 403):
            self._block(math.inf, f"HTTP {status} (token refused)")
            raise ApiError("auth", f"HTTP {status}: the token was refused; check {TOKEN_ENV}")
        if status == 429:
            wait = _retry_after(headers.get("Retry-After"))
            self._block(wait, "HTTP 429 (rate limit)")
            raise ApiError("rate-limit", f"HTTP 429: rate limit reached; not asking again for {wait:.0f} s")
        if status >= 500:
            self._block(COOLDOWN_S, f"HTTP {status}")
            raise ApiError("server", f"HTTP {status} from Electricity Maps")
        if status != 200:
            raise ApiError("malformed", f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: arrays nested deeper than the parser goes
            raise ApiError("malformed", "the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise ApiError("malformed", "the answer is not a JSON object")
        return body


def _retry_after(header: str | None) -> float:
    return retry_after(header, COOLDOWN_S)
