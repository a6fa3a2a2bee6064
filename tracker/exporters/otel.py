"""OpenTelemetry metrics (``otel = true``): observable instruments with the same names as the Prometheus ones.

Needs the optional extra ``tracker[otel]``. The instruments are registered once per meter provider (the global
one unless a provider is passed to :func:`install`); their callbacks read :mod:`tracker.exporters.live` when the
SDK collects, so nothing runs between collections. Wire the SDK's exporter (OTLP, Prometheus, console) as usual;
the tracker only creates instruments.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from tracker.exporters import live

logger = logging.getLogger(__name__)

METER_NAME = "tracker"
_installed: set[int] = set()  # id() of the providers that already have our instruments
_lock = threading.Lock()


def _energy(options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    for reading in live.series():
        for component, joules in zip(live.COMPONENTS, reading.joules, strict=True):
            yield Observation(joules, {**reading.labels, "component": component})


def _power(options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    for reading in live.series():
        for component, watts in zip(live.COMPONENTS, reading.watts, strict=True):
            yield Observation(watts, {**reading.labels, "component": component})


def _emissions(options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    for reading in live.series():
        yield Observation(reading.grams, reading.labels)


def _active(options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    for reading in live.series():
        yield Observation(reading.active, reading.labels)


def install(provider: Any | None = None) -> bool:
    """Register the instruments on ``provider`` (default: the global meter provider), once. True when added now."""
    from opentelemetry import metrics

    from tracker._version import __version__

    provider = provider or metrics.get_meter_provider()
    with _lock:
        if id(provider) in _installed:
            return False
        meter = provider.get_meter(METER_NAME, __version__)
        meter.create_observable_counter(
            "tracker_energy_joules_total",
            [_energy],
            unit="J",
            description="Energy since exporting began, per component.",
        )
        meter.create_observable_gauge(
            "tracker_power_watts", [_power], unit="W", description="Average power over the last sampling interval."
        )
        meter.create_observable_counter(
            "tracker_emissions_grams_total", [_emissions], unit="g", description="Location-based emissions (gCO2e)."
        )
        meter.create_observable_gauge(
            "tracker_run_active", [_active], unit="1", description="How many runs are measuring now."
        )
        _installed.add(id(provider))
        logger.info("OpenTelemetry instruments registered on %r", provider)
        return True
