"""Live metrics exporters (Prometheus ``/metrics`` and pushgateway, OpenTelemetry): the one place runs call.

``Run.start`` calls :func:`check` then :func:`attach` only when ``metrics_port``, ``pushgateway`` or ``otel``
is set, and ``finish`` calls :func:`finished` with the record; with none of them set nothing here is imported
and no run or tick pays anything. Values are pulled at scrape time from :mod:`tracker.exporters.live`.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING

from tracker.errors import ConfigError

if TYPE_CHECKING:
    from tracker.config import Config
    from tracker.core.state import RunState
    from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)

_EXTRAS = {
    "metrics_port": ("prometheus_client", "prometheus"),
    "pushgateway": ("prometheus_client", "prometheus"),
    "otel": ("opentelemetry.sdk", "otel"),
}


def wanted(config: Config) -> bool:
    """Whether a run with this configuration exports live metrics."""
    return config.metrics_port is not None or bool(config.pushgateway) or config.otel


def check(config: Config) -> None:
    """Raise :class:`ConfigError` at start when an exporter is configured but its package is not installed."""
    for key, (module, extra) in _EXTRAS.items():
        value = getattr(config, key)
        if value is None or value is False or value == "":
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise ConfigError(key, value, f"needs the optional extra: pip install 'tracker[{extra}]'")
    if config.pushgateway and not config.pushgateway.startswith(("http://", "https://")):
        raise ConfigError("pushgateway", config.pushgateway, "expected an http:// or https:// URL")


def _port(config: Config, run: RunState) -> int:
    """The port to serve on: ``metrics_port``, plus the local rank in a multi-rank job (one port per process)."""
    assert config.metrics_port is not None
    job = run.meter.job if run.meter is not None else None
    if job is None or config.metrics_port == 0:
        return config.metrics_port
    return config.metrics_port + job.local_rank


def attach(run: RunState) -> None:
    """Start exporting a run that has just started. Faults are logged, noted in the record, never raised."""
    from tracker.exporters import live

    config = run.config
    entry = live.watch(run)
    if config.metrics_port is not None:
        try:
            from tracker.exporters import prometheus

            prometheus.serve(_port(config, run), config.metrics_host)
        except Exception as exc:  # a port in use must not stop the run: say so in the log and the record
            logger.error("could not serve metrics on port %s: %s", config.metrics_port, exc)
            entry.notes.append(f"metrics: could not serve /metrics on port {config.metrics_port}: {exc}")
    if config.pushgateway:
        from tracker.exporters import prometheus

        prometheus.pusher.add(run.run_id, config.pushgateway)
    if config.otel:
        try:
            from tracker.exporters import otel

            otel.install()
        except Exception as exc:
            logger.error("could not register OpenTelemetry instruments: %r", exc)
            entry.notes.append(f"metrics: OpenTelemetry instruments not registered: {exc!r}")


def finished(run: RunState, record: RunRecord) -> None:
    """A run's end: freeze its final figures, push them, and put any exporter fault in the record's notes."""
    from tracker.exporters import live

    entry = live.entry(run.run_id)
    if entry is None:
        return
    live.finished(run, record)
    gateway = run.config.pushgateway
    if gateway:
        from tracker.exporters import prometheus

        prometheus.pusher.remove(run.run_id)
        failure = prometheus.pusher.push_now(gateway, run.run_id)
        if failure:
            entry.notes.append(failure)
    record.notes.extend(entry.notes)
