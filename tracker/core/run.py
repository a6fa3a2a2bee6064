"""Runs and spans: the public ``track``, ``Tracker`` and ``task``.

A run is one tracked execution and ends as one record. Spans (``task("name")``, or ``@track`` on a function called
while a run is active) record two timestamps on the hot path and nothing else; the sampler later attributes
their energy from the timeline. See ``docs/architecture.md``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from tracker import logs
from tracker.config import Config, resolve
from tracker.core import lifecycle
from tracker.core.context import RunContext
from tracker.core.state import RunState
from tracker.errors import TrackerError
from tracker.records.schema import RunRecord

if TYPE_CHECKING:
    from tracker.core.live import Reading
    from tracker.measure.sampler import Sampler
    from tracker.records.steps import StepStat

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

_current: ContextVar[Run | None] = ContextVar("tracker_current_run", default=None)
_active: list[Run] = []  # every active run in this process, oldest first (what exit and SIGTERM stop)
# runs whose stop() is under way: no longer active, but their record is not written yet. The exit and signal
# handlers still find them there, so a signal that lands while a run is ending does not lose its record.
_finishing: list[Run] = []
_active_lock = threading.RLock()  # re-entrant: the SIGTERM handler stops runs on the main thread
# How long the exit and signal handlers wait for another thread's stop() of a run before writing its record
# themselves: that thread may be waiting for a lock held by the frame the signal interrupted.
STOP_WAIT_S = 2.0
_perf_ns = time.perf_counter_ns


def current_run() -> Run | None:
    """The run that a span opened here belongs to: this context's run; when that one has ended (it may have been
    stopped from another thread), the run it was started in, and so on. ``None`` outside any run: what else runs
    in the process does not matter (``tracker.core.calls``)."""
    run = _current.get()
    while run is not None and not run.active:
        run = run.parent
    return run


def add_units(n: float = 1) -> bool:
    """Count ``n`` functional units (SCI's R) for this context's run (:func:`current_run`), for code that has no
    handle on its run (a handler inside a ``@track``-ed service). ``False``, counting nothing, outside any run."""
    run = current_run()
    if run is None:
        return False
    run.add_units(n)
    return True


def _stop_all(status: str) -> None:
    """Write the record of every run still going or still ending (at exit: ``aborted``; on SIGTERM or SIGHUP:
    ``terminated``), newest first. Waits for no lock without a bound."""
    with _active_lock:
        runs = [*_active, *_finishing]
    for run in reversed(runs):
        try:
            lock = run._stop_lock
            if lock.acquire(timeout=STOP_WAIT_S):  # re-entrant: at once when the interrupted frame holds it
                try:
                    run.stop(status)
                finally:
                    lock.release()
            elif run.record is None:  # another thread's stop() did not end in time: write what is known
                logger.warning("run %s: its stop() did not end within %g s; writing its record now", run.run_id,
                               STOP_WAIT_S)  # fmt: skip
                run._end(run.__dict__.get("_ending_at") or time.perf_counter(), status, None)
        except Exception as exc:  # at exit nothing may stop the other records from being written
            logger.error("could not finish run %s: %r", run.run_id, exc)


def _checkpoints_due(sampler: Sampler, now: float) -> None:
    """The sampler's hook (called at its first tick at or after ``sampler.hook_at``, never on a run's own path):
    hand the runs whose checkpoint is due to the checkpoint writer, and say when the next one is due. A run
    shorter than its ``checkpoint_s`` is never handed over: a loop of short runs starts no thread and writes
    nothing more."""
    due: list[Run] = []
    with _active_lock:  # Run.start lowers hook_at under this lock too: no lowering is lost
        upcoming = math.inf
        for run in _active:
            every = run.config.checkpoint_s
            if not every:
                continue
            at = run.__dict__.get("_checkpoint_at") or run.t0 + every
            if at <= now:
                due.append(run)
                at = run._checkpoint_at = now + every  # the next one a whole interval after this one
            upcoming = min(upcoming, at)
        sampler.hook_at = upcoming
    if due:
        from tracker.core import checkpoints

        checkpoints.submit(due)


def _forget_after_fork() -> None:
    """In a forked child: the parent's runs are the parent's (a child leaving their block writes nothing), and no
    lock the parent's threads held at the fork may stay held here."""
    global _active_lock
    _active_lock = threading.RLock()
    for run in (*_active, *_finishing):
        run.active = False
        run.forked = True  # the parent writes this run; the child's stop() returns quietly
        run._stop_lock = threading.RLock()
    _active.clear()
    _finishing.clear()
    _current.set(None)


class Run(RunState):
    """One tracked execution. While active it collects spans; after :meth:`stop` it holds its record.

    After the run, its record's fields read as attributes: ``run.energy_kwh``, ``run.emissions_kg``,
    ``run.cpu_method``, ``run.spans`` (see :class:`tracker.records.schema.RunRecord`). While it goes,
    ``run.add_units(n)`` counts the functional units it serves (``functional_unit="requests"``), and
    ``run.energy_kwh``, ``run.emissions_kg``, ``run.cpu_energy_kwh`` (gpu, ram), ``run.power_w`` and
    ``run.duration_s`` read the figures so far, up to the last tick (:mod:`tracker.core.live`, a few µs);
    ``run.step(name="epoch", loss=...)`` marks a step boundary (:mod:`tracker.core.steps`).
    """

    def __init__(
        self, config: Config, *, name: str | None = None, pid: int | None = None, context: RunContext | None = None
    ) -> None:
        super().__init__(config, name=name, pid=pid, context=context)
        self._stop_lock = threading.RLock()
        self.parent: Run | None = None  # the run of the context this one was started in

    def __getattr__(self, item: str) -> Any:
        record = self.__dict__.get("record")
        if record is not None and not item.startswith("_"):
            try:
                return getattr(record, item)
            except AttributeError:
                if item == "power_w":  # average IT power, as a live reading gives it
                    return record.energy_kwh * 3.6e6 / record.duration_s if record.duration_s > 0 else 0.0
        elif self.__dict__.get("active"):  # the figures so far (tracker.core.live: loaded at the first read)
            from tracker.core.live import LIVE, read

            if item in LIVE:
                return getattr(read(self), item)
        if record is None and item in RunRecord.__dataclass_fields__:
            raise AttributeError(f"run {self.__dict__.get('run_id')} has not finished yet: {item} is not known")
        raise AttributeError(item)

    def __repr__(self) -> str:
        state = "active" if self.active else (self.record.status if self.record else "new")
        return f"<Run {self.run_id[:8]} project={self.config.project!r} {state}>"

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, *, at: float | None = None, wall_offset: float | None = None) -> Run:
        """Begin measuring. ``at`` (a ``perf_counter`` time) and ``wall_offset`` let a run begin exactly where
        another ends (``tracker monitor``'s contiguous intervals); by default the run begins now."""
        if self.active or self.record is not None:
            raise TrackerError("a Run is started once; start a new Tracker run instead")
        logs.install()  # from here the library's warnings say "tracker:" when the app configured no logging
        from tracker.measure.sampler import get_sampler

        config = self.config
        exported = config.metrics_port is not None or bool(config.pushgateway) or config.otel
        if exported:  # live metrics (docs/metrics.md): a missing extra is a ConfigError, raised before any state
            from tracker import exporters

            exporters.check(config)
        sampler = get_sampler()
        key = (self.config.measurement_key(), self.pid, self.config.interval)
        config, pid = self.config, self.pid
        from tracker.measure.meter import Meter

        self.meter = sampler.meter(key, lambda: Meter.for_config(config, pid))
        from tracker.grid import location

        self.location = location.start(config)
        lifecycle.install(_stop_all, _forget_after_fork)
        profile = self.profile
        sampler.attach(self.meter, profile)
        profile.marks = self.meter.marks()
        now = time.perf_counter()
        self.t0 = profile.t0 = now if at is None else at
        if self.meter.split:  # overlap="split": this run's share of each tick, by its thread's CPU time
            from tracker.measure.share import CpuShare, thread_clock

            profile.share = CpuShare(*thread_clock(), self.t0)
        self.wall_offset = (time.time() - now) if wall_offset is None else wall_offset
        self.active = True
        every = config.checkpoint_s
        with _active_lock:
            _active.append(self)
            if every and self.t0 + every < sampler.hook_at:  # the first run, or one due sooner: a float compared
                sampler.hook, sampler.hook_at = _checkpoints_due, self.t0 + every
        if exported:
            self.exported = True
            exporters.attach(self)
        return self

    def reading(self, fresh: bool = False) -> Reading:
        """The figures so far in one object (energy per component, emissions, power, duration): up to the last
        tick, or with ``fresh`` to a sample taken now. After the run: its final figures."""
        from tracker.core.live import Reading, read

        if not self.active:
            record = self.record
            if record is None:
                raise TrackerError("this run was never started")
            j = 3.6e6
            return Reading(self.t0 + record.duration_s, record.duration_s, record.cpu_energy_kwh * j,
                           record.gpu_energy_kwh * j, record.ram_energy_kwh * j, record.emissions_kg)  # fmt: skip
        return read(self, fresh)

    def step(self, name: str = "step", *, total: int | None = None, **metrics: Any) -> StepStat:
        """Mark a step boundary (the end of an epoch, an evaluation, a logging interval) and return the step: the
        energy, emissions and duration since the previous boundary, with ``metrics`` (``loss=0.31``,
        ``accuracy=0.9``; ``samples=`` and ``tokens=`` give energy per sample / token). ``total``: how many steps
        of this name the run will have (else the ``total_steps`` setting): from ``predict_after`` steps on the
        run's total is predicted (``run.prediction``) and checked against ``budget_kwh`` / ``budget_kg``.

        Raises :class:`tracker.errors.BudgetExceeded` here, once, when the prediction first exceeds a budget and
        ``on_budget="stop"``; nothing else raises (a measurement fault reads up to the last tick). Outside an
        active run: :class:`TrackerError`."""
        if not self.active:
            raise TrackerError(f"run {self.run_id[:12]} is not active: a step marks a boundary inside a run")
        log = self.step_log
        if log is None:
            from tracker.core.steps import StepLog

            log = self.step_log = StepLog(self)
        return log.mark(name, total, metrics)

    def add_step_listener(self, listener: Callable[[Run, StepStat], None]) -> None:
        """Call ``listener(run, step)`` after each step is recorded (how ``tracker.integrations`` log each step to
        MLflow or W&B). A listener that raises is logged once and never stops the run."""
        log = self.step_log
        if log is None:
            from tracker.core.steps import StepLog

            log = self.step_log = StepLog(self)
        log.listeners.append(listener)

    @property
    def steps(self) -> list[StepStat]:
        """The steps marked so far, in order (after the run: its record's)."""
        record = self.record
        if record is not None:
            return record.steps
        log = self.step_log
        return log.snapshot() if log is not None else []

    def add_span(self, name: str, start_ns: int, end_ns: int) -> None:
        """Record a finished span (public for integrations that time work themselves)."""
        self.profile.spans.append((name, start_ns, end_ns))
        if not self.active:
            self.profile.late((name, start_ns, end_ns), self.run_id)

    def stop(self, status: str = "completed", error: str | None = None, *, at: float | None = None) -> RunRecord:
        """End the run, write its record to the store(s) and return it. Never raises for a measurement fault.

        ``at``: the ``perf_counter`` time the run ends (not later than now); by default, now."""
        with self._stop_lock:
            if not self.active:
                if self.forked:  # a forked child leaving the parent's block: the parent owns this run
                    logger.debug("run %s belongs to the parent process; not stopped in the child", self.run_id)
                    return self.record  # type: ignore[return-value]
                if self.record is not None:
                    return self.record
                ending = self.__dict__.get("_ending_at")
                if ending is None:
                    raise TrackerError("this run was never started")
                # a signal handler interrupted this run's own stop() before its record was written: write it here
                return self._end(ending, status, error)
            t1 = time.perf_counter() if at is None else at
            self._ending_at = t1
            self.active = False
            with _active_lock:  # still findable by the exit and signal handlers until the record is written
                if self in _active:
                    _active.remove(self)
                _finishing.append(self)
            try:
                return self._end(t1, status, error)
            finally:
                with _active_lock:
                    if self in _finishing:
                        _finishing.remove(self)

    def _end(self, t1: float, status: str, error: str | None) -> RunRecord:
        """Account the run, build its record and deliver it (the stores, else the spool, else the log)."""
        from tracker.core import finish

        try:
            self.record = finish.finish(self, t1, status, error)
        except Exception as exc:  # never raise into user code after start, never lose the record
            logger.error("could not account run %s: %r; writing what is known", self.run_id, exc)
            self.record = finish.salvage(self, t1, status, error, exc)
        except BaseException as exc:  # Ctrl-C (or an exit) while the record was being built: write what is known
            if self.record is None:
                interrupted = "interrupted" if isinstance(exc, KeyboardInterrupt) else status
                self.record = finish.salvage(self, t1, interrupted, error, exc)
            raise
        return self.record


class Tracker:
    """Start and stop runs explicitly, for code that cannot use a ``with`` block or a decorator.

    Settings are the keys of :class:`tracker.config.Config` (``project=``, ``country=``, ``pue=``, ...). A bad
    value raises :class:`tracker.ConfigError` here. ``stop()`` returns the run's record; ``start()`` again
    begins a new run.
    """

    def __init__(self, *, name: str | None = None, pid: int | None = None, **settings: Any) -> None:
        self.name = name
        self.pid = pid
        self._settings = settings
        self.config = resolve(settings)
        self.context = RunContext(self.config)  # shared by this tracker's runs: worked out once
        self.run: Run | None = None
        self._token: Token[Run | None] | None = None

    def start(self) -> Run:
        """Start a new run and make it this context's current run."""
        run = self.start_detached()
        self._token = _current.set(run)
        return run

    def start_detached(self) -> Run:
        """Start a new run without making it the current run here (a generator's run is current only while the
        generator's own code runs: ``tracker.core.calls``)."""
        if self.run is not None and self.run.active:
            raise TrackerError("this tracker is already running; stop() it first")
        run = Run(self.config, name=self.name, pid=self.pid, context=self.context)
        run.parent = current_run()
        self.run = run.start()
        return run

    def stop(self, status: str = "completed", error: str | None = None) -> RunRecord:
        if self.run is None:
            raise TrackerError("this tracker was never started")
        record = self.run.stop(status, error)
        if self._token is not None:
            # only where this run is still the current one: a run started later and still going stays current
            # (stopped out of order), and in another context (a thread, a callback) there is nothing to restore
            if _current.get() is self.run:
                with contextlib.suppress(ValueError):
                    _current.reset(self._token)
            self._token = None
        return record

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(*outcome(exc))


def outcome(exc: BaseException | None) -> tuple[str, str | None]:
    """The record's status (and error text) for the way a block ended."""
    if exc is None or isinstance(exc, GeneratorExit):  # a generator closed by its consumer: it had what it wanted
        return "completed", None
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return "completed", None
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    return status, f"{type(exc).__name__}: {exc}"[:2000]
