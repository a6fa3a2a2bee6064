"""Daily kWh per equipment from a Prometheus-compatible HTTP API (Prometheus, Grafana Mimir, VictoriaMetrics).

A fleet of 10,000 pieces of equipment at one sample a minute is 14.4 M samples a day: pulling them minute by minute
moves all of them over HTTP. Instead the integration is pushed into the query, so the metrics store's own
(distributed, for Mimir) query engine does the work and only daily sums travel, two numbers per equipment and day:

- ``avg_over_time(SELECTOR[1d]) * 24 / 1000``: kWh, the day's mean power x 24 h (``--integration avg``, the
  operator's method). On a complete day this is the file path's rectangle rule exactly. At gaps it differs: the
  missing minutes count at the day's mean power (an extrapolation), where the file path interpolates short gaps
  linearly and leaves long ones out.
- ``sum_over_time(SELECTOR[1d]) / 60 / 1000``: kWh with the missing minutes as nothing (``--integration sum``);
  the file path with ``--max-gap 0`` gives the same number.
- ``count_over_time(SELECTOR[1d])``: the minutes sampled, so the day says which share is missing either way.

Each is one ``/api/v1/query_range`` call per category (a PromQL selector per category; default
``equipment_power_watts{category="compute"}`` ...), ``step`` one day, evaluated one millisecond before each UTC
midnight, so that the range ``(T - 1d, T]`` holds exactly that day's minutes 00:00 .. 23:59. Series are matched to
the inventory by their ``equipment`` label (``label=`` to change it); series of other equipment are left out.
Recording rules that already hold daily sums can be used the same way: give the rule as the selector and
``--integration`` accordingly.
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
INTEGRATIONS = {
    "avg": "avg_over_time({selector}[1d]) * 24 / 1000",
    "sum": "sum_over_time({selector}[1d]) / 60 / 1000",
}


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
        kwh = np.zeros((count, len(ids)))
        measured = np.zeros((count, len(ids)), dtype=np.int64)
        first = (since - EPOCH).days * 86400 + 86400 - 0.001
        last = first + (count - 1) * 86400
        categories = sorted({e.category for e in inventory.equipment.values()})
        for category in categories:
            selector = self.selectors[category]
            energy_query = INTEGRATIONS[self.integration].format(selector=selector)
            for target, query in ((kwh, energy_query), (measured, f"count_over_time({selector}[1d])")):
                for series in self.query_range(query, first, last, 86400):
                    ident = (series.get("metric") or {}).get(self.label)
                    if ident not in where or inventory.equipment[ident].category != category:
                        continue
                    for stamp, value in series.get("values") or ():
                        day = round((float(stamp) + 0.001) / 86400) - 1 - (since - EPOCH).days
                        number = float(value)
                        if 0 <= day < count and math.isfinite(number):
                            target[day, where[ident]] += number
            if progress is not None:
                progress(f"prometheus: {category}: {len(ids):,} series asked for {count} days")
        source = f"{self.url}: {INTEGRATIONS[self.integration].format(selector='SELECTOR')} (computed by the store)"
        for day in range(count):
            taken = np.minimum(measured[day], MINUTES)
            yield DayPower(
                since + timedelta(days=day), ids, kwh[day], taken, np.zeros(len(ids), dtype=np.int64), source
            )
