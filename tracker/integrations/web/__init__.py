"""Energy and CO2 per request and per endpoint of a running web service (``docs/web.md``).

``TrackerASGIMiddleware`` (Starlette, FastAPI, any ASGI app), ``TrackerWSGIMiddleware`` and ``track_flask``
(Flask, any WSGI app), ``RouteMiddleware`` for Django. The shared parts: :mod:`.aggregate` (the per-endpoint
counts, framework-free), :mod:`.service` (the service's energy, interval by interval, and its records).
No web framework is imported here.
"""

from __future__ import annotations

from tracker.integrations.web.asgi import TrackerASGIMiddleware, threadpool_cpu
from tracker.integrations.web.service import IntervalSummary, WebService
from tracker.integrations.web.wsgi import RouteMiddleware, TrackerWSGIMiddleware, track_flask

__all__ = [
    "IntervalSummary",
    "RouteMiddleware",
    "TrackerASGIMiddleware",
    "TrackerWSGIMiddleware",
    "WebService",
    "threadpool_cpu",
    "track_flask",
]
