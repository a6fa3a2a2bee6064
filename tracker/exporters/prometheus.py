"""Prometheus: a ``/metrics`` endpoint (``metrics_port``) and pushes to a pushgateway (``pushgateway``).

Needs the optional extra ``tracker[prometheus]`` (prometheus-client), imported only when a run asks for it.
Metric names and labels are documented in ``docs/metrics.md``; the values are read from the watch list of
:mod:`tracker.exporters.live` at scrape or push time, so the sampler does no work for them.

Pushes: each run is its own pushgateway group (``job="tracker"``, ``run=<run id>``, that run's figures), pushed every
:data:`PUSH_EVERY_S` seconds while it runs and once more, with its final figures, at its end: the gateway keeps a
finished run's last values, as it is meant to for batch jobs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from tracker.exporters import live
from tracker.forks import after_fork

logger = logging.getLogger(__name__)

PUSH_EVERY_S = 15.0
PUSH_TIMEOUT_S = 3.0
JOB = "tracker"
# The metric labels (docs/metrics.md): few on purpose, since every label value makes its own series, kept for the
# server's whole retention. By default a series per project / experiment / team whose counters accumulate across
# runs; the run id (``run``) only for runs that ask for it (``metrics_run_label``).
LABELS = ("project", "experiment", "team")
RUN_LABEL = "run"

_servers: dict[tuple[str, int], Any] = {}  # (host, requested port) -> the running WSGI server
_lock = threading.Lock()


class TrackerCollector:
    """Builds the metric families from a snapshot of the watched runs, on every collection."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id  # only this run (for its pushgateway group), else every watched run

    def describe(self) -> list[Any]:
        return []  # no fixed series: do not collect at registration time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        readings = live.snapshot(self.run_id) if self.run_id is not None else live.series()
        names = (*LABELS, RUN_LABEL) if any(r.run_id for r in readings) else LABELS
        energy = CounterMetricFamily(
            "tracker_energy_joules",
            "Energy used since the process began exporting, per component (IT energy, before PUE).",
            labels=(*names, "component"),
        )
        power = GaugeMetricFamily(
            "tracker_power_watts",
            "Average power over the last sampling interval of the runs measuring now, per component.",
            labels=(*names, "component"),
        )
        emissions = CounterMetricFamily(
            "tracker_emissions_grams",
            "Location-based emissions since the process began exporting (gCO2e, after PUE).",
            labels=names,
        )
        active = GaugeMetricFamily("tracker_run_active", "How many runs are measuring now.", labels=names)
        for reading in readings:
            labels = reading.labels
            values = [labels.get(name, "") for name in names]
            for component, joules, watts in zip(live.COMPONENTS, reading.joules, reading.watts, strict=True):
                energy.add_metric([*values, component], joules)
                power.add_metric([*values, component], watts)
            emissions.add_metric(values, reading.grams)
            active.add_metric(values, float(reading.active))
        yield from (energy, power, emissions, active)
        if self.run_id is None:  # web services' per-endpoint series (tracker.integrations.web), when any
            from tracker.exporters import requests

            yield from requests.families()


def registry(run_id: str | None = None) -> Any:
    """A registry holding only the tracker's metrics (no process or platform collectors)."""
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(TrackerCollector(run_id))  # type: ignore[arg-type]
    return reg


def serve(port: int, host: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` on ``host:port`` (once per process; port 0 picks a free port). Returns the bound port."""
    from prometheus_client import start_http_server

    with _lock:
        server = _servers.get((host, port))
        if server is None:
            server, _thread = start_http_server(port, addr=host, registry=registry())
            _servers[(host, port)] = server
            logger.info("serving metrics on http://%s:%d/metrics", host, server.server_port)
        return int(server.server_port)


def bound_port(port: int, host: str = "127.0.0.1") -> int | None:
    """The port actually bound for a requested one (differs for port 0), or ``None`` when not serving."""
    with _lock:
        server = _servers.get((host, port))
        return None if server is None else int(server.server_port)


def push(gateway: str, run_id: str) -> None:
    """Push one run's current figures to its group on the gateway (replacing the group's previous values)."""
    from prometheus_client import push_to_gateway

    if not live.snapshot(run_id):  # stopping right now, or a parent's run seen from a forked child: keep the group
        return
    push_to_gateway(gateway, job=JOB, registry=registry(run_id), grouping_key={"run": run_id}, timeout=PUSH_TIMEOUT_S)


class ServiceCollector:
    """A web service's pushgateway group: its current interval run's figures and its own per-endpoint series."""

    def __init__(self, run_id: str | None, source: Any) -> None:
        self.run_id = run_id
        self.source = source  # () -> list[RequestSeries]: this service's only (not every service's in the process)

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from tracker.exporters import requests

        if self.run_id is not None and live.snapshot(self.run_id):
            yield from TrackerCollector(self.run_id).collect()
        yield from requests.families(self.source())


def push_service(gateway: str, group: dict[str, str], run_id: str | None, source: Any) -> None:
    """Push a web service under its one group (``job="tracker"`` and ``group``), replacing its previous values."""
    from prometheus_client import CollectorRegistry, push_to_gateway

    reg = CollectorRegistry(auto_describe=False)
    reg.register(ServiceCollector(run_id, source))  # type: ignore[arg-type]
    push_to_gateway(gateway, job=JOB, registry=reg, grouping_key=group, timeout=PUSH_TIMEOUT_S)


def delete_group(gateway: str, group: dict[str, str]) -> None:
    """Delete a group from the gateway (a web service that stopped cleanly has no series left)."""
    from prometheus_client import delete_from_gateway

    delete_from_gateway(gateway, job=JOB, grouping_key=group, timeout=PUSH_TIMEOUT_S)


def shutdown() -> None:
    """Stop every server this process started (tests)."""
    with _lock:
        for server in _servers.values():
            server.shutdown()
            server.server_close()
        _servers.clear()


class Pusher:
    """The one thread that pushes the running runs every :data:`PUSH_EVERY_S` seconds; stops when none is left."""

    def __init__(self, every: float = PUSH_EVERY_S) -> None:
        self.every = every
        self._runs: dict[str, str] = {}  # run id -> gateway
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: set[str] = set()

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._runs = {}
        self._thread = None

    def add(self, run_id: str, gateway: str) -> None:
        after_fork(self._forget)  # the parent pushes its own runs
        with self._lock:
            self._runs[run_id] = gateway
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="tracker-push", daemon=True)
                self._thread.start()

    def remove(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)
            if not self._runs:
                self._wake.set()

    def push_now(self, gateway: str, run_id: str) -> str | None:
        """Push, logging a failure once per gateway; returns the failure's text (for the record) or ``None``."""
        try:
            push(gateway, run_id)
        except Exception as exc:  # an unreachable gateway never breaks the run
            if gateway not in self._failed:
                self._failed.add(gateway)
                logger.warning("could not push metrics to %s: %s", gateway, exc)
            return f"metrics: push to pushgateway {gateway} failed: {exc}"
        return None

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.every)
            with self._lock:
                self._wake.clear()
                runs = dict(self._runs)
                if not runs:
                    self._thread = None
                    return
            for run_id, gateway in runs.items():
                failure = self.push_now(gateway, run_id)
                watched = live.entry(run_id) if failure else None
                if watched is not None and failure not in watched.notes:
                    watched.notes.append(failure)  # type: ignore[arg-type]


pusher = Pusher()
