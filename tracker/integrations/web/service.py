"""A web service's energy, interval by interval, shared among its endpoints and written to the store.

The service is measured by a chain of ordinary runs, one per interval (``interval_s``, default 60 s), contiguous
as ``tracker monitor``'s are: each ends at the instant the next begins. Their own records are not stored
(``save`` off): when one ends, its record (measured energy, emissions accounted hour by hour, provenance) is split
among the interval's endpoints by :func:`tracker.integrations.web.attribution.attribute`, and those records, one
per endpoint and status class plus ``(unattributed)``, go to the configured store and CSV. So the store holds one
row per endpoint per interval, never one per request, and the rows of an interval add up to the service.

Whoever ends an interval's run writes its endpoints' records: the service's thread at each interval's end, the
middleware at shutdown (ASGI lifespan, :meth:`WebService.stop`), ``atexit`` for a WSGI server, and the package's
SIGTERM and exit handlers (``tracker.core.lifecycle``), which stop every active run, this one included. Nothing
counted is lost.

The attribution mode defaults to ``process`` (the service's process's share of the machine): a service's energy
is its own, not the machine's. A ``mode`` set explicitly (a keyword, ``TRACKER_MODE``, a config file) is kept.

One service per process (:func:`service_for`): a second middleware with the same settings shares the first's
service (a nested one passes its requests through), one with other settings is a :class:`ConfigError`, since each
would attribute the whole process's energy to its own requests.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import logging
import math
import os
import socket
import threading
import time
import weakref
from typing import Any

from tracker import exporters
from tracker.config import resolve
from tracker.core.context import RunContext
from tracker.core.run import Run
from tracker.errors import ConfigError
from tracker.exporters import requests as request_metrics
from tracker.forks import after_fork
from tracker.integrations.web.aggregate import Aggregator
from tracker.integrations.web.attribution import IntervalSummary, attribute
from tracker.records.schema import RunRecord
from tracker.stores import spool

logger = logging.getLogger(__name__)

FOLD_EVERY_S = 1.0  # the service's thread folds the request queue this often (its memory: about a second's tuples)
KEEP_SUMMARIES = 64  # the last intervals' summaries kept for a reader; only the newest keeps its records
START_RETRY_S = 60.0  # after a failed start, the request path tries again this long after (it drops its counts)

_services: weakref.WeakSet[WebService] = weakref.WeakSet()  # for the exit and fork hooks, which keep none alive
_shared: weakref.ReferenceType[WebService] | None = None  # the process's service (service_for)
_shared_lock = threading.Lock()
_hooked = False


class _IntervalRun(Run):
    """One interval's run: at its end, whoever ends it, its service splits its record among the endpoints."""

    def __init__(self, service: WebService) -> None:
        super().__init__(service.run_config, name=service.name, context=service.context)
        self.service = service
        self.cpu0 = time.process_time()  # the process's CPU time at the start (set again at a boundary)
        self.cpu1: float | None = None  # ... and at the end, when the end is a boundary
        self.split = True  # False: the service could not start; the record is neither split nor written

    def stop(self, status: str = "completed", error: str | None = None, *, at: float | None = None) -> RunRecord:
        if self.cpu1 is None and self.active:  # the process's CPU time at the end, before the record is built
            self.cpu1 = time.process_time()
        return super().stop(status, error, at=at)

    def _end(self, t1: float, status: str, error: str | None) -> RunRecord:
        """As :meth:`Run._end`, but ``record`` is set only once the endpoints' records are written: a SIGTERM
        handler that interrupts the split (``_stop_all``) sees the run unfinished and ends it again itself."""
        from tracker.core import finish

        try:
            record = finish.finish(self, t1, status, error)
        except Exception as exc:  # never raise into the server, never lose the record
            logger.error("could not account run %s: %r; writing what is known", self.run_id, exc)
            record = finish.salvage(self, t1, status, error, exc)
        except BaseException as exc:
            if self.record is None:
                self.record = finish.salvage(self, t1, status, error, exc)
            raise
        if self.record is None and self.split:  # None unless a signal handler interrupted this and ended it
            self.service._interval_ended(self, record)  # never raises
        if self.record is None:
            self.record = record
        return self.record


class WebService:
    """The measuring side of the web middleware: counts (:attr:`aggregator`), interval runs, records, metrics.

    ``settings`` are the tracker's (``project=``, ``store=``, ``country=``, ``metrics_port=``, ...). A bad value
    raises :class:`tracker.ConfigError` here, before any request.
    """

    def __init__(
        self,
        *,
        interval_s: float = 60.0,
        sample_rate: float = 1.0,
        max_endpoints: int = 100,
        name: str | None = None,
        **settings: Any,
    ) -> None:
        if not (isinstance(interval_s, (int, float)) and math.isfinite(interval_s) and interval_s > 0):
            raise ConfigError("interval_s", interval_s, "the interval between records is a number of seconds > 0")
        if not (isinstance(sample_rate, (int, float)) and 0 < sample_rate <= 1):
            raise ConfigError("sample_rate", sample_rate, "the share of requests timed for CPU is in (0, 1]")
        if not (isinstance(max_endpoints, int) and max_endpoints >= 1):
            raise ConfigError("max_endpoints", max_endpoints, "the cap on distinct endpoints is an integer >= 1")
        config = resolve(dict(settings))
        if "mode" not in config.origins:  # no mode set by the user (keyword, environment, file): the process's
            config = resolve({**settings, "mode": "process"})
        exporters.check(config)  # a missing extra or a bad exporter value: a ConfigError now, not at startup
        self.config = config
        self.settings = (float(interval_s), float(sample_rate), max_endpoints, name, config)
        # the interval runs: their own records are split, not stored; the intervals are the checkpoints; the
        # service pushes itself under one group (a group per interval run would grow the gateway for ever)
        self.run_config = dataclasses.replace(config, save=False, csv=None, checkpoint_s=0.0, pushgateway=None)
        self.context = RunContext(self.config)
        self.interval_s = float(interval_s)
        self.sample_rate = float(sample_rate)
        self.name = name or self.config.project
        self.aggregator = Aggregator(max_endpoints)
        self.summaries: collections.deque[IntervalSummary] = collections.deque(maxlen=KEEP_SUMMARIES)
        self.running = False
        self._run: _IntervalRun | None = None
        self._boundary = math.inf
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._metrics: int | None = None
        self._warned: set[str] = set()
        self._retry_at = 0.0  # after a failed start: when the request path may try again
        self._pushed_at = 0.0
        self.ended = False  # stopped after running: its settings no longer hold the process
        _hook()
        _services.add(self)

    # -- life ------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin measuring (idempotent). The middleware calls it at ASGI lifespan startup or at the first request."""
        with self._lock:
            if self.running:
                return
            run = _IntervalRun(self)
            run.start()
            try:
                run.cpu0 = time.process_time()  # after the first run's start-up (detection): not the service's work
                self._run = run
                self._boundary = run.t0 + self.interval_s
                self._wake.clear()
                thread = threading.Thread(target=self._loop, name="tracker-web", daemon=True)
                self.running = True  # before the thread starts: its loop ends when it sees running off
                thread.start()
                self._thread = thread
            except BaseException:  # no thread (a process out of threads): back to not running, nothing left open
                self.running = False
                self._run = None
                self._thread = None
                run.split = False  # ended unsplit and unwritten: the service never ran
                run.stop("aborted")
                raise
            self.ended = False
            if self._metrics is None:
                self._metrics = request_metrics.register(self.aggregator.series)

    def ensure_started(self) -> None:
        """The request path's check, for a server that sent no lifespan startup (WSGI, or ASGI without it)."""
        if not self.running:
            if time.monotonic() < self._retry_at:  # a recent start failed: nothing folds the counts, drop them
                self.aggregator.items.clear()
                return
            try:
                self.start()
            except ConfigError:
                raise
            except Exception as exc:  # never break a request: log once, try again later, drop the counts meanwhile
                self._retry_at = time.monotonic() + START_RETRY_S
                self.aggregator.items.clear()
                self._warn("start", f"web: could not start measuring the service (next try in {START_RETRY_S:g} s; "
                                    f"requests until then are not counted): {exc!r}")  # fmt: skip

    def stop(self, status: str = "completed") -> IntervalSummary | None:
        """End measuring: the last, partial interval's records are written. Returns that interval's summary."""
        with self._lock:
            if not self.running:
                return None
            self.running = False
            self.ended = True
            run, self._run = self._run, None
            self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)
        if run is None or not run.active:
            return None
        run.stop(status)
        self._push(final=True)
        return self.summaries[-1] if self.summaries else None

    def flush(self) -> IntervalSummary | None:
        """End the current interval now (its records are written) and begin the next. Returns its summary."""
        with self._lock:
            old = self._run
            if not self.running or old is None or not old.active:
                return None
            boundary = time.perf_counter()
            cpu = time.process_time()
            following = _IntervalRun(self)
            following.cpu0 = cpu
            following.start(at=boundary, wall_offset=old.wall_offset)
            self._run = following
            self._boundary = boundary + self.interval_s
            old.cpu1 = cpu
            old.stop("completed", at=boundary)
            return self.summaries[-1] if self.summaries else None

    def _forget(self) -> None:
        """In a forked child: no thread, no run, no counts (the parent's), new locks (the parent's threads may have
        held them at the fork); the first request starts the child's own."""
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self.running = False
        self._run = None
        self._thread = None
        self._pushed_at = 0.0
        self.aggregator.reset()
        self.summaries.clear()

    def _loop(self) -> None:
        while True:
            wait = min(FOLD_EVERY_S, max(0.0, self._boundary - time.perf_counter()))
            if self._wake.wait(wait) or not self.running:
                return
            try:
                self.aggregator.fold()
                if time.perf_counter() >= self._boundary:
                    self.flush()
                self._push()
            except Exception as exc:  # the thread must survive: the next interval tries again
                self._warn("loop", f"web: the service's interval failed: {exc!r}")

    # -- an interval's end --------------------------------------------------------------------------------------------
    def _interval_ended(self, run: _IntervalRun, record: RunRecord) -> None:
        """Split the ended interval's record among its endpoints, write the records, update the metrics."""
        try:
            stats = self.aggregator.take()
            if run.record is not None:  # a signal handler interrupted this split and has written the interval
                return
            cpu1 = run.cpu1 if run.cpu1 is not None else time.process_time()
            summary = attribute(record, stats, max(0.0, cpu1 - run.cpu0))
            parts: tuple[RunRecord, ...] = summary.records
        except Exception as exc:  # the interval's energy is still written: the service's record, not split
            self._warn("interval", f"web: an interval's energy could not be split among its endpoints; its "
                                   f"record is written unsplit: {exc!r}")  # fmt: skip
            summary = None
            parts = (dataclasses.replace(record, notes=[*record.notes, f"web: not split among endpoints: {exc!r}"]),)
        try:
            self._write(parts)
            if summary is not None:
                self.aggregator.add_energy(summary.shares)
                if self.summaries:  # only the newest summary keeps its records (they are in the store)
                    self.summaries[-1] = dataclasses.replace(self.summaries[-1], records=(), shares={})
                self.summaries.append(summary)
        except Exception as exc:  # never raise into the server
            self._warn("write", f"web: the records of an interval could not be written: {exc!r}")

    def _write(self, parts: tuple[RunRecord, ...]) -> None:
        config = self.config
        for part in parts:
            if config.save:
                spool.deliver(part, "store", self.context.store_location())
            if config.csv:
                spool.deliver(part, "csv", config.csv)

    def _push(self, *, final: bool = False) -> None:
        """Push the service's request metrics to the pushgateway (when one is set): one group per service process,
        every ``PUSH_EVERY_S``; the group is deleted at a clean stop (a finished service has no series)."""
        gateway = self.config.pushgateway
        if not gateway:
            return
        from tracker.exporters import prometheus

        now = time.monotonic()
        if not final and now - self._pushed_at < prometheus.PUSH_EVERY_S:
            return
        self._pushed_at = now
        run = self._run
        group = {"service": self.name or "web", "instance": f"{socket.gethostname()}:{os.getpid()}"}
        try:
            if final:
                prometheus.delete_group(gateway, group)
            else:
                prometheus.push_service(gateway, group, run.run_id if run is not None else None, self.aggregator.series)
        except Exception as exc:  # an unreachable gateway never breaks the service
            self._warn("push", f"web: could not push the service's metrics to {gateway}: {exc}")

    def _warn(self, kind: str, text: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(text)
        else:
            logger.debug(text)

    def close(self) -> None:
        """Stop, and take the service's series off the metrics (tests; a server that builds apps repeatedly)."""
        self.stop()
        self.ended = True
        if self._metrics is not None:
            request_metrics.unregister(self._metrics)
            self._metrics = None


def service_for(**options: Any) -> WebService:
    """The process's web service: a new one, or the one a middleware already made with the same settings (two
    services would each attribute the whole process's energy). Other settings while that one is in use (not
    stopped): :class:`ConfigError`."""
    global _shared
    new = WebService(**options)  # validates the settings first
    with _shared_lock:
        old = _shared() if _shared is not None else None
        if old is not None and not old.ended:
            if old.settings == new.settings:
                logger.info("web: a second middleware shares this process's web service %r", old.name)
                return old
            raise ConfigError(
                "service_name",
                options.get("name"),
                f"this process already measures a web service ({old.name!r}) with other settings: one web "
                "service per process, whose middlewares all share its settings (close() the other first; "
                "docs/web.md)",
            )
        _shared = weakref.ref(new)
    return new


def _hook() -> None:
    """The exit and fork hooks, once: they reach the services through a weak set (none is kept alive by them)."""
    global _hooked
    if _hooked:
        return
    _hooked = True
    atexit.register(_stop_services)  # registered after the package's own exit handler: runs before it (LIFO)
    after_fork(_forget_services)  # a forked worker (gunicorn --preload) starts its own service lazily


def _stop_services() -> None:
    for service in list(_services):
        try:
            service.stop()
        except Exception as exc:  # at exit: the other services still write theirs
            logger.error("web: could not stop service %r: %r", service.name, exc)


def _forget_services() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for service in list(_services):
        service._forget()


class ServiceMiddleware:
    """What the ASGI and WSGI middleware share: the wrapped app, the process's service for these settings, and the
    sampling decision's inputs, read once here so that the request path reads attributes only."""

    def __init__(
        self,
        app: Any,
        *,
        interval_s: float = 60.0,
        sample_rate: float = 1.0,
        max_endpoints: int = 100,
        service_name: str | None = None,
        **settings: Any,
    ) -> None:
        self.app = app
        self.service = service_for(
            interval_s=interval_s, sample_rate=sample_rate, max_endpoints=max_endpoints, name=service_name, **settings
        )
        self._record = self.service.aggregator.record
        self._every = sample_rate >= 1.0
        self._rate = sample_rate
