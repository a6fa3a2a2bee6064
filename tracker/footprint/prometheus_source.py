"""Daily kWh per equipment from a Prometheus-compatible HTTP API (Prometheus, Grafana Mimir, VictoriaMetrics).

A fleet of 10,000 pieces of equipment at one sample a minute is 14.4 M samples a day: pulling them minute by minute
moves all of them over HTTP. Instead the integration is pushed into the query, so the metrics store's own
(distributed, for Mimir) query engine does the work and only daily figures travel, two numbers per series and day:

- ``sum_over_time(SELECTOR[1d] offset 1ms)``: the day's watt-minutes of each series;
- ``count_over_time(SELECTOR[1d] offset 1ms)``: the minutes each series sampled.

An equipment may have several series (one per power supply; or one series relabelled during the day, an exporter
restarted with a new ``instance``): they are added up per equipment (its ``equipment`` label, ``label=`` to
change it), here from the per-series figures:

- ``--integration sum``: the watt-minutes of all its series / 60 / 1000, the missing minutes as nothing; the file
  path with ``--max-gap 0`` gives the same number.
- ``--integration avg`` (the operator's method: mean power x 24 h): each series' missing minutes are counted at that
  series' mean power, an extrapolation (the file path interpolates short gaps linearly and leaves long ones out).
  When the series' minutes add up to at most a day they are taken as one after another (a relabel): the mean over
  all their minutes x 24 h; when they add up to more, as side by side (power supplies): the sum of each series'
  mean x 24 h. On a complete day of one series this is the file path's rectangle rule exactly.
- The missing minutes: a day minus the series' minutes (one after another), or the largest shortfall of any one
  series (side by side), so a power supply's 5-hour gap makes the day incomplete.

Each is one ``/api/v1/query_range`` call per category (a PromQL selector per category; default
``equipment_power_watts{category="compute"}`` ...), ``step`` one day, evaluated at each UTC midnight exactly (a
store that aligns ``start``/``end`` to the step, as VictoriaMetrics, Thanos and Mimir may, finds them aligned
already), the range written ``[1d] offset 1ms`` so that it holds ``(T - 1d - 1ms, T - 1ms]``: that day's minutes
00:00 .. 23:59 and not the next midnight's sample. Series of other equipment are left out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from tracker.errors import ConfigError, TrackerError
from tracker.footprint.inventory import CATEGORIES, Inventory
from tracker.footprint.power import EPOCH, MINUTES, DayPower

logger = logging.getLogger(__name__)

DEFAULT_METRIC = "equipment_power_watts"
TIMEOUT_S = 60.0  # one day-range query over a large fleet may take the store a while
LIMIT_BYTES = 256 * 1024 * 1024
INTEGRATIONS = ("avg", "sum")
WINDOW = "[1d] offset 1ms"  # evaluated at midnight T: the samples of (T - 1d - 1ms, T - 1ms], the day just ended


class PrometheusError(TrackerError):
    """The Prometheus API answered with an error, or not at all."""


def parse_selectors(items: Sequence[str]) -> dict[str, str]:
    """``category=PromQL`` pairs from the command line, the default selector for each category not given."""
    selectors = {c: f'{DEFAULT_METRIC}{{category="{c}"}}' for c in CATEGORIES}
    for item in items:
        category, sep, selector = item.partition("=")
        category = category.strip().lower()
        if not sep or category not in CATEGORIES or not selector.strip():
            raise ConfigError("selector", item, f"expected CATEGORY=PROMQL, CATEGORY one of {', '.join(CATEGORIES)}")
        selectors[category] = selector.strip()
    return selectors


class PrometheusSource:
    """Daily kWh per equipment, integrated by the metrics store."""

    def __init__(
        self, url: str, selectors: dict[str, str] | None = None, *, integration: str = "avg", label: str = "equipment"
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError("prometheus", url, "expected an http:// or https:// URL of the Prometheus API")
        if integration not in INTEGRATIONS:
            raise ConfigError("integration", integration, f"expected one of {', '.join(INTEGRATIONS)}")
        self.url = url.rstrip("/")
        self.selectors = selectors or parse_selectors(())
        self.integration = integration
        self.label = label

    def query_range(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """One ``/api/v1/query_range`` call: the ``result`` list of a matrix answer."""
        import json

        import requests

        from tracker.webio import ACCEPT_ENCODING, read_capped

        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        try:
            with requests.post(
                f"{self.url}/api/v1/query_range",
                data=params,
                timeout=TIMEOUT_S,
                stream=True,
                headers={"Accept-Encoding": ACCEPT_ENCODING},
            ) as answer:
                body = read_capped(answer.raw.read, LIMIT_BYTES, answer.headers.get("Content-Encoding"))
                status = answer.status_code
        except (requests.RequestException, ValueError) as exc:
            raise PrometheusError(f"{self.url}: {exc}") from exc
        try:
            data = json.loads(body)
        except ValueError:
            raise PrometheusError(f"{self.url}: HTTP {status}, not a Prometheus API answer") from None
        if not isinstance(data, dict) or data.get("status") != "success":
            error = data.get("error") if isinstance(data, dict) else None
            raise PrometheusError(f"{self.url}: HTTP {status}: {str(error or data)[:300]} (query {query})")
        result = data.get("data", {})
        if result.get("resultType") != "matrix":
            raise PrometheusError(f"{self.url}: expected a matrix answer, got {result.get('resultType')!r}")
        return list(result.get("result") or [])

    def days(
        self, inventory: Inventory, since: date, until: date, progress: Callable[[str], None] | None = None
    ) -> Iterator[DayPower]:
        """Each UTC day in ``[since, until)`` as :class:`DayPower`: two queries per category for the whole period."""
        import numpy as np

        ids = list(inventory.equipment)
        where = {ident: n for n, ident in enumerate(ids)}
        count = (until - since).days
        offset = (since - EPOCH).days
        # per (day, equipment): each series' (watt-minutes, minutes), keyed by the series' full label set
        series_of: dict[tuple[int, int], dict[str, list[float]]] = {}
        first = (offset + 1) * 86400.0  # the midnight that ends the first day
        last = first + (count - 1) * 86400
        categories = sorted({e.category for e in inventory.equipment.values()})
        for category in categories:
            selector = self.selectors[category]
            for slot, function in ((0, "sum_over_time"), (1, "count_over_time")):
                for series in self.query_range(f"{function}({selector}{WINDOW})", first, last, 86400):
                    labels = series.get("metric") or {}
                    ident = labels.get(self.label)
                    if ident not in where or inventory.equipment[ident].category != category:
                        continue
                    name = repr(sorted(labels.items()))
                    for stamp, value in series.get("values") or ():
                        day = round(float(stamp) / 86400) - 1 - offset
                        number = float(value)
                        if 0 <= day < count and math.isfinite(number):
                            figures = series_of.setdefault((day, where[ident]), {}).setdefault(name, [0.0, 0.0])
                            figures[slot] += number
            if progress is not None:
                progress(f"prometheus: {category}: {len(ids):,} pieces of equipment asked for {count} days")
        kwh = np.zeros((count, len(ids)))
        measured = np.zeros((count, len(ids)), dtype=np.int64)
        for (day, position), found in series_of.items():
            kwh[day, position], measured[day, position] = equipment_day(list(found.values()), self.integration)
        how = "sum of each series' watt-minutes" if self.integration == "sum" else "each series' mean x 24 h"
        source = (
            f"{self.url}: sum_over_time and count_over_time(SELECTOR{WINDOW}) per series (computed by the store), "
            f"{how} per equipment"
        )
        for day in range(count):
            yield DayPower(
                since + timedelta(days=day),
                ids,
                kwh[day],
                measured[day],
                np.zeros(len(ids), dtype=np.int64),
                source,
                extrapolated=self.integration == "avg",
            )


def equipment_day(series: list[list[float]], integration: str) -> tuple[float, int]:
    """One equipment's kWh and measured minutes of a day from its series' ``[watt-minutes, minutes]``.

    Series whose minutes add up to at most a day are one after another (a relabel): the missing minutes are the
    day's rest, and ``avg`` counts them at the mean of all their minutes. Series that add up to more are side by
    side (power supplies): the missing minutes are the largest shortfall of any one, and ``avg`` counts each one's
    missing minutes at its own mean. ``sum`` never counts a missing minute."""
    series = [(energy, minutes) for energy, minutes in series if minutes > 0]
    if not series:
        return 0.0, 0
    watt_minutes = sum(energy for energy, _ in series)
    total = sum(minutes for _, minutes in series)
    if total <= MINUTES:
        measured = int(total)
        if integration == "sum":
            return watt_minutes / 60_000, measured
        return watt_minutes / total * MINUTES / 60_000, measured
    measured = int(MINUTES - max(MINUTES - min(minutes, MINUTES) for _, minutes in series))
    if integration == "sum":
        return watt_minutes / 60_000, measured
    return sum(energy / minutes for energy, minutes in series) * MINUTES / 60_000, measured
