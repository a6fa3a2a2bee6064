"""One JSON GET for the forecast services other than Electricity Maps, with that client's rules.

The same rules as :mod:`tracker.grid.electricitymaps`: a short timeout for the whole exchange (the request runs
on a daemon thread and the caller waits at most ``timeout``), the body read within a size limit (gzip bombs
included, :mod:`tracker.webio`), redirects followed only within the configured origin (credentials never go to
another host), and a cool-down per service after a network failure, 429 (``Retry-After``) or 5xx, so a dead
service is not asked again for every run. 401/403 are raised as ``auth`` for the caller (WattTime logs in again
once); errors carry a message a person can act on.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tracker.errors import TrackerError
from tracker.webio import get_capped, origin, retry_after

TIMEOUT_S = 2.0
COOLDOWN_S = 600.0
MAX_BODY_BYTES = 10 * 2**20  # a 72 h forecast at 5-minute steps is ~100 KB; anything near this is not one
ERROR_BODY_BYTES = 4096
MAX_REDIRECTS = 3

_lock = threading.Lock()
_blocked: dict[str, tuple[float, str]] = {}  # service origin -> (until monotonic, reason)


class WebError(TrackerError):
    """A call failed; ``kind``: auth | rate-limit | server | network | malformed | redirect | off."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


def reset() -> None:
    """Forget cool-downs (tests)."""
    with _lock:
        _blocked.clear()


def _key(url: str) -> str:
    scheme, host, port = origin(url)
    return f"{scheme}://{host}:{port}"


def get_json(
    service: str,
    url: str,
    params: dict[str, Any] | list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> Any:
    """The JSON answer of ``GET url``; :class:`WebError` naming ``service`` otherwise."""
    import requests

    key = _key(url)
    with _lock:
        until, reason = _blocked.get(key, (0.0, ""))
    if time.monotonic() < until:
        raise WebError("off", f"{service}: not asked again yet after: {reason}")
    outcome: dict[str, Any] = {}

    def fetch() -> None:
        try:
            outcome["answer"] = _exchange(requests, url, params, headers or {}, auth, timeout)
        except Exception as exc:  # handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=fetch, name="tracker-forecast", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        _block(key, COOLDOWN_S, f"no complete answer within {timeout:g} s")
        raise WebError("network", f"{service}: no complete answer within {timeout:g} s")
    error = outcome.get("error")
    if isinstance(error, requests.RequestException):
        _block(key, COOLDOWN_S, f"network error: {type(error).__name__}")
        raise WebError("network", f"{service}: network error: {type(error).__name__}") from error
    if error is not None:
        raise error
    status, response_headers, raw = outcome["answer"]
    if status in (401, 403):
        raise WebError("auth", f"{service}: HTTP {status}: the credentials were refused")
    if status == 429:
        wait = _retry_after(response_headers.get("Retry-After"))
        _block(key, wait, "HTTP 429")
        raise WebError("rate-limit", f"{service}: HTTP 429: rate limit reached; not asking again for {wait:.0f} s")
    if status >= 500:
        _block(key, COOLDOWN_S, f"HTTP {status}")
        raise WebError("server", f"{service}: HTTP {status}")
    if status != 200:
        raise WebError("malformed", f"{service}: HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WebError("malformed", f"{service}: the answer is not JSON") from exc


def _exchange(
    requests: Any, url: str, params: Any, headers: dict[str, str], auth: tuple[str, str] | None, timeout: float
) -> tuple[int, Any, bytes]:
    return get_capped(
        requests,
        url,
        params=params,
        headers=headers,
        auth=auth,
        timeout=timeout,
        max_body=MAX_BODY_BYTES,
        max_error_body=ERROR_BODY_BYTES,
        max_redirects=MAX_REDIRECTS,
        error=WebError,
    )


def _block(key: str, seconds: float, reason: str) -> None:
    with _lock:
        _blocked[key] = (time.monotonic() + seconds, reason)


def _retry_after(header: str | None) -> float:
    return retry_after(header, COOLDOWN_S)
