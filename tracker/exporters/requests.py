"""Per-request metrics of web services (``tracker.integrations.web``) for the Prometheus exporter.

The web middleware registers a *source* here: a callable giving the cumulative figures of its endpoints at the
moment of a scrape (:class:`RequestSeries`). The collector of :mod:`tracker.exporters.prometheus` turns every
registered source's series into counters and histograms; this module knows nothing of web frameworks, so the
exporter never looks up at the integrations (data flows one way: ``docs/architecture.md``).

Metric names, labels and buckets: ``docs/web.md``. Series with the same labels from several sources (two apps in
one process) are added together, so a scrape never shows a series twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Request duration buckets (seconds): prometheus_client's DEFAULT_BUCKETS (prometheus/client_python, metrics.py,
# 2024), the buckets a Python service's latency histogram usually has, so dashboards line up with them.
DURATION_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
# Energy per request buckets (joules): a decade each from 1 µJ (a trivial handler's share at ~10 W) to 100 J (a
# request that keeps a 100 W machine busy for a second). Our own choice (2026), documented in docs/web.md.
ENERGY_BUCKETS_J: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0, 100.0)

LABELS = ("route", "method", "status_class")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestSeries:
    """One endpoint's cumulative figures since its service began (counters never go down).

    ``duration_counts`` and ``energy_counts`` are per bucket (not cumulative), one more than the bucket bounds
    (the last is above the highest bound). The energy histogram holds the sampled requests whose energy is known,
    i.e. those of the intervals already closed; ``joules`` is the endpoint's attributed energy of those intervals.
    """

    route: str
    method: str
    status_class: str
    requests: int
    joules: float
    duration_counts: tuple[int, ...]
    duration_sum_s: float
    energy_counts: tuple[int, ...]
    energy_sum_j: float


Source = Callable[[], list[RequestSeries]]

_sources: dict[int, Source] = {}
_lock = threading.Lock()
_failed: set[int] = set()  # sources whose failure was logged (once each)


def register(source: Source) -> int:
    """Add a source of series; returns a handle for :func:`unregister`."""
    with _lock:
        handle = max(_sources, default=0) + 1
        _sources[handle] = source
        return handle


def unregister(handle: int) -> None:
    with _lock:
        _sources.pop(handle, None)


def series() -> list[RequestSeries]:
    """Every registered source's series, those with the same labels added together. A failing source is skipped
    (a scrape must not fail because one service's figures could not be read)."""
    with _lock:
        sources = list(_sources.items())
    merged: dict[tuple[str, str, str], RequestSeries] = {}
    for handle, source in sources:
        try:
            found = source()
        except Exception as exc:  # one broken service: the others are still shown; said once per source
            if handle not in _failed:
                _failed.add(handle)
                logger.warning("web: a service's request metrics could not be read; skipped: %r", exc)
            else:
                logger.debug("web: a service's request metrics could not be read: %r", exc)
            continue
        for s in found:
            key = (s.route, s.method, s.status_class)
            old = merged.get(key)
            merged[key] = s if old is None else _add(old, s)
    return [merged[k] for k in sorted(merged)]


def _add(a: RequestSeries, b: RequestSeries) -> RequestSeries:
    return RequestSeries(
        a.route,
        a.method,
        a.status_class,
        a.requests + b.requests,
        a.joules + b.joules,
        tuple(x + y for x, y in zip(a.duration_counts, b.duration_counts, strict=True)),
        a.duration_sum_s + b.duration_sum_s,
        tuple(x + y for x, y in zip(a.energy_counts, b.energy_counts, strict=True)),
        a.energy_sum_j + b.energy_sum_j,
    )


def _buckets(bounds: tuple[float, ...], counts: tuple[int, ...]) -> list[tuple[str, float]]:
    """Prometheus' cumulative ``le`` buckets, ``+Inf`` last."""
    out, running = [], 0
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        out.append((repr(float(bound)), running))
    out.append(("+Inf", running + counts[-1]))
    return out


def families(found: list[RequestSeries] | None = None) -> Iterator[Any]:
    """The request metric families of ``found`` (default: every registered service's; nothing when none)."""
    if found is None:
        found = series()
    if not found:
        return
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    energy = CounterMetricFamily(
        "tracker_request_energy_joules",
        "Energy attributed to the requests of an endpoint, by their CPU time (IT energy, before PUE); moves at each "
        "interval's end.",
        labels=LABELS,
    )
    requests = CounterMetricFamily("tracker_requests", "Requests served, every one counted.", labels=LABELS)
    duration = HistogramMetricFamily(
        "tracker_request_duration_seconds", "Request duration, to the last body byte sent.", labels=LABELS
    )
    per_request = HistogramMetricFamily(  # not tracker_request_energy_joules: the counter above has that name
        "tracker_request_energy_per_request_joules",
        "Energy per sampled request (its CPU time's share of the service's energy), known at each interval's end.",
        labels=LABELS,
    )
    for s in found:
        values = [s.route, s.method, s.status_class]
        energy.add_metric(values, s.joules)
        requests.add_metric(values, float(s.requests))
        duration.add_metric(values, _buckets(DURATION_BUCKETS_S, s.duration_counts), s.duration_sum_s)
        per_request.add_metric(values, _buckets(ENERGY_BUCKETS_J, s.energy_counts), s.energy_sum_j)
    yield from (energy, requests, duration, per_request)
