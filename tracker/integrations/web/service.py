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
is its own, not the machine's. Any other ``mode`` may be set.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import logging
import math
import threading
import time
from typing import Any

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
KEEP_SUMMARIES = 64  # the last intervals' summaries kept for a reader (tests, a status page)


class _IntervalRun(Run):
    """One interval's run: at its end, whoever ends it, its service splits its record among the endpoints."""

    def __init__(self, service: WebService) -> None:
        super().__init__(service.run_config, name=service.name, context=service.context)
        self.service = service
        self.cpu0 = time.process_time()  # the process's CPU time at the start (set again at a boundary)
        self.cpu1: float | None = None  # ... and at the end, when the end is a boundary

    def stop(self, status: str = "completed", error: str | None = None, *, at: float | None = None) -> RunRecord:
        if self.cpu1 is None and self.active:  # the process's CPU time at the end, before the record is built
            self.cpu1 = time.process_time()
        return super().stop(status, error, at=at)

    def _end(self, t1: float, status: str, error: str | None) -> RunRecord:
        record = super()._end(t1, status, error)
        self.service._interval_ended(self, record)  # never raises
        return record


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
        settings = dict(settings)
        settings.setdefault("mode", "process")
        self.config = resolve(settings)
        # the interval runs: their own records are split, not stored; the intervals are the checkpoints
        self.run_config = dataclasses.replace(self.config, save=False, csv=None, checkpoint_s=0.0)
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
        self._atexit = False

    # -- life ------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Begin measuring (idempotent). The middleware calls it at ASGI lifespan startup or at the first request."""
        with self._lock:
            if self.running:
                return
            after_fork(self._forget)  # a forked worker (gunicorn --preload) starts its own service lazily
            run = _IntervalRun(self)
            run.start()
            run.cpu0 = time.process_time()  # after the first run's start-up (detection): not the service's work
            self._run = run
            self._boundary = run.t0 + self.interval_s
            self._wake.clear()
            self._thread = threading.Thread(target=self._loop, name="tracker-web", daemon=True)
            self.running = True
            self._thread.start()
            if self._metrics is None:
                self._metrics = request_metrics.register(self.aggregator.series)
            if not self._atexit:  # registered after the package's own exit handler: runs before it (LIFO)
                self._atexit = True
                atexit.register(self.stop)

    def ensure_started(self) -> None:
        """The request path's check, for a server that sent no lifespan startup (WSGI, or ASGI without it)."""
        if not self.running:
            try:
                self.start()
            except ConfigError:
                raise
            except Exception as exc:  # never break a request: log once, count anyway
                self._warn("start", f"web: could not start measuring the service: {exc!r}")

    def stop(self, status: str = "completed") -> IntervalSummary | None:
        """End measuring: the last, partial interval's records are written. Returns that interval's summary."""
        with self._lock:
            if not self.running:
                return None
            self.running = False
            run, self._run = self._run, None
            self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10.0)
        if run is None or not run.active:
            return None
        run.stop(status)
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
        """In a forked child: no thread, no run (the parent's); the first request starts the child's own."""
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self.running = False
        self._run = None
        self._thread = None
        self.aggregator.items.clear()

    def _loop(self) -> None:
        while True:
            wait = min(FOLD_EVERY_S, max(0.0, self._boundary - time.perf_counter()))
            if self._wake.wait(wait) or not self.running:
                return
            try:
                self.aggregator.fold()
                if time.perf_counter() >= self._boundary:
                    self.flush()
            except Exception as exc:  # the thread must survive: the next interval tries again
                self._warn("loop", f"web: the service's interval failed: {exc!r}")

    # -- an interval's end --------------------------------------------------------------------------------------------
    def _interval_ended(self, run: _IntervalRun, record: RunRecord) -> None:
        """Split the ended interval's record among its endpoints, write the records, update the metrics."""
        try:
            stats = self.aggregator.take()
            cpu1 = run.cpu1 if run.cpu1 is not None else time.process_time()
            summary = attribute(record, stats, max(0.0, cpu1 - run.cpu0))
            self.aggregator.add_energy(summary.shares)
            self.summaries.append(summary)
            config = self.config
            for part in summary.records:
                if config.save:
                    spool.deliver(part, "store", self.context.store_location())
                if config.csv:
                    spool.deliver(part, "csv", config.csv)
        except Exception as exc:  # never raise into the server; the counts of a failed interval are logged
            self._warn("interval", f"web: the records of an interval could not be built: {exc!r}")

    def _warn(self, kind: str, text: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(text)
        else:
            logger.debug(text)

    def close(self) -> None:
        """Stop, and take the service's series off the metrics (tests; a server that builds apps repeatedly)."""
        self.stop()
        if self._metrics is not None:
            request_metrics.unregister(self._metrics)
            self._metrics = None
