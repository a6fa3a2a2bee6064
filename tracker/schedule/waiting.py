"""Waiting for green: ``tracker.wait_for_green`` (a block), ``tracker.when_green`` (a decorator), ``tracker wait``.

The wait ends at the first of: the forecast falling to ``max_intensity`` or under (``threshold``), the best window
for ``duration`` beginning (``best-window``), or ``deadline`` (the latest *start*: ``deadline``). It is one sleep
until the chosen moment, re-asking the forecast no more often than :data:`POLL_S` (forecasts change hourly at
most: Electricity Maps updates its forecast hourly, and the client caches it for 30 min), so a long wait costs a
few requests. Ctrl-C interrupts it (``KeyboardInterrupt`` reaches the caller before anything ran). Without any
forecast the run is not held back: it starts at once, logged once, ``scheduled_by="no-forecast"``.

What the wait decided goes on the record of every run started inside the block or call
(:mod:`tracker.core.scheduled`): ``waited_s``, ``scheduled_by`` and the forecast intensity at the chosen start.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from tracker.core import scheduled
from tracker.errors import ConfigError, TrackerError
from tracker.grid.forecast import Forecast, ForecastProvider
from tracker.grid.forecast_chain import forecast
from tracker.safetext import redact_urls
from tracker.schedule import spans
from tracker.schedule.windows import NoWindow, best_window

logger = logging.getLogger(__name__)

POLL_S = 1800.0  # re-ask the forecast at most this often while waiting
MAX_WAIT_S = 24 * 3600.0  # with no deadline, never wait longer than this
F = TypeVar("F", bound=Callable[..., Any])
NO_WINDOW = "no-window"  # scheduled_by when no window of the run's length fits in the forecast: started at once


class _Cancelled(Exception):
    """Raised in the waiting thread of an async ``when_green`` whose task was cancelled (Ctrl-C)."""


@dataclass(frozen=True)
class Waited:
    """What a wait did: when the run may start, why, and after how long."""

    zone: str
    started_at: datetime
    waited_s: float
    scheduled_by: str  # threshold | best-window | deadline | now | no-forecast | no-window
    forecast_g_per_kwh: float | None  # at the chosen start
    source: str  # the forecast's source (or why there was none)
    signal: str = "average"

    def as_scheduled(self) -> scheduled.Scheduled:
        label = f"{self.scheduled_by}: {self.source}" if self.source else self.scheduled_by
        if self.signal == "marginal":
            label += " (marginal)"
        # a configured service URL may carry credentials (user:password@, ?code=): never onto the record
        return scheduled.Scheduled(self.waited_s, redact_urls(label), self.forecast_g_per_kwh)


def target(
    data: Forecast, now_s: float, max_intensity: float | None, latest_start_s: float, duration_s: float | None
) -> tuple[float, str]:
    """When to start (Unix seconds) and why, from one forecast: the earlier of the first moment at or under
    ``max_intensity`` and the best window's start (when a duration is given or no threshold), capped at
    ``latest_start_s``."""
    chosen: list[tuple[float, str]] = []
    if max_intensity is not None:
        for start, length, value in zip(data.starts_s, data.durations_s, data.values, strict=True):
            if start + length <= now_s or value > max_intensity:
                continue
            moment = max(start, now_s)
            if moment <= latest_start_s:
                chosen.append((moment, "now" if moment <= now_s else "threshold"))
            break
    no_window = False
    if duration_s is not None or max_intensity is None:
        length = duration_s or 3600.0
        try:
            choice = best_window(
                data.starts_s, data.durations_s, data.values, length, now_s, latest_end_s=latest_start_s + length
            )
            chosen.append((choice.start_s, "now" if choice.start_s <= now_s else "best-window"))
        except NoWindow as exc:
            # The run is longer than the forecast (or the forecast has a gap): no window can be chosen, so
            # waiting would only reach the deadline for nothing. Start now, saying why (the caller logs it).
            logger.debug("no best window: %s", exc)
            no_window = True
    if not chosen and no_window:
        return now_s, NO_WINDOW
    if not chosen:
        return max(now_s, latest_start_s), "deadline" if latest_start_s > now_s else "now"
    return min(chosen)


def wait(
    zone: str,
    max_intensity: float | None = None,
    deadline: object = None,
    duration: object = None,
    *,
    providers: Sequence[ForecastProvider] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = POLL_S,
    signal: str = "average",
) -> Waited:
    """Wait until the grid in ``zone`` is green enough (see the module docstring), then return what happened.

    ``deadline``: the latest start (a ``datetime``, ISO text or a duration from now such as ``"6h"``; default
    :data:`MAX_WAIT_S`). ``duration``: the run's expected length, for the best window. ``signal``: what
    ``max_intensity`` is (``average`` grid intensity, the default, or ``marginal``, a MOER in g/kWh). One kind of
    signal for the whole wait: a forecast of the other kind (WattTime's marginal rate answering while Electricity
    Maps cools down) is never compared with the threshold nor mixed with the first forecast; the last forecast of
    the right kind is kept. ``clock``/``sleep``: for tests. Raises only :class:`ConfigError` (a bad argument) and
    ``KeyboardInterrupt`` (Ctrl-C while waiting).
    """
    if signal not in ("average", "marginal"):
        raise ConfigError("signal", signal, "expected average or marginal")
    if max_intensity is not None:
        try:
            valid = not isinstance(max_intensity, bool) and float(max_intensity) >= 0  # type: ignore[arg-type]
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ConfigError("max_intensity", max_intensity, "expected gCO2e/kWh, zero or more")
    began = clock()
    now_dt = datetime.fromtimestamp(began, tz=timezone.utc)
    latest = spans.moment("deadline", deadline, now_dt).timestamp() if deadline is not None else began + MAX_WAIT_S
    length = spans.seconds("duration", duration) if duration is not None else None
    threshold = float(max_intensity) if max_intensity is not None else None
    data: Forecast | None = None
    wanted: str | None = None  # the signal kind of the whole wait
    refused: set[str] = set()  # reasons already logged
    logged = False
    planned = ""  # what the wait was for, when a later look at the forecast finds the moment has come
    while True:
        now = clock()
        try:
            fresh = forecast(zone, providers=providers)
            if wanted is None:  # with a threshold, its kind; else the first forecast's, for the whole wait
                wanted = signal if threshold is not None else fresh.signal
            if fresh.signal != wanted:
                raise TrackerError(
                    f"{fresh.source} is a {fresh.signal} signal, not compared with {wanted} values"
                    + (
                        " (max_intensity is average: pass signal='marginal' for a marginal threshold)"
                        if threshold is not None and wanted == "average"
                        else ""
                    )
                )
            data = fresh
        except TrackerError as exc:
            reason_text = redact_urls(str(exc))
            if data is None:
                logger.warning("not waiting for a greener grid in %s: %s", zone, reason_text)
                return Waited(zone, _dt(now), now - began, "no-forecast", None, reason_text[:200])
            if reason_text not in refused:
                refused.add(reason_text)
                logger.info("the forecast for %s could not be refreshed (%s): keeping the last one", zone, reason_text)
        moment, reason = target(data, now, threshold, latest, length)
        if reason == NO_WINDOW:
            logger.warning(
                "not waiting for a greener grid in %s: no %s window fits in the forecast (%s, to %s UTC); starting now",
                zone,
                _span(length or 3600.0),
                data.source,
                data.horizon.strftime("%Y-%m-%d %H:%M"),
            )
        if moment <= now:
            if reason == "now" and planned:
                reason = planned
            break
        planned = reason
        if not logged:
            logger.warning(
                "waiting %s for a greener grid in %s: %s at %s UTC, forecast %.0f g/kWh (%s)",
                _span(moment - now),
                zone,
                reason,
                _dt(moment).strftime("%Y-%m-%d %H:%M"),
                data.at(_dt(moment)) or float("nan"),
                data.source,
            )
            logged = True
        sleep(max(0.0, min(moment, now + poll_s) - now))
        if clock() >= moment:
            break
    now = clock()
    value = data.at(_dt(min(now, moment))) if data is not None else None
    return Waited(zone, _dt(now), now - began, reason, value, data.source, data.signal)


@contextmanager
def wait_for_green(
    zone: str, max_intensity: float | None = None, deadline: object = None, duration: object = None, **options: Any
) -> Iterator[Waited]:
    """``with tracker.wait_for_green(zone="NL", max_intensity=200, deadline="6h") as waited:`` waits on entry;
    the runs started inside the block carry ``waited_s``, ``scheduled_by`` and the forecast at the start."""
    waited = wait(zone, max_intensity, deadline, duration, **options)
    token = scheduled.pending.set(waited.as_scheduled())
    _mark_current(waited)
    try:
        yield waited
    finally:
        scheduled.pending.reset(token)


def when_green(
    zone: str, max_intensity: float | None = None, deadline: object = None, duration: object = None, **options: Any
) -> Callable[[F], F]:
    """``@tracker.when_green(zone="NL", max_intensity=200, deadline="6h")``: each call waits, then runs the
    function (a coroutine function waits in a worker thread, so the event loop goes on; cancelling the task, as
    Ctrl-C under ``asyncio.run`` does, ends that thread's sleep at once). Put it above ``@track``
    so that the wait is not measured as part of the run; the run's record says how long it waited."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                import asyncio

                # The wait runs in a worker thread (forecast requests block), but its sleep is an Event that a
                # cancelled task (Ctrl-C under asyncio.run) sets: the thread ends at once instead of sleeping on
                # while asyncio.run waits for its executor.
                stop = threading.Event()
                opts = dict(options)
                given = opts.pop("sleep", None)

                def sleep(seconds: float) -> None:
                    if given is not None:
                        given(seconds)
                    elif stop.wait(seconds):
                        raise _Cancelled
                    if stop.is_set():
                        raise _Cancelled

                try:
                    waited = await asyncio.to_thread(wait, zone, max_intensity, deadline, duration, sleep=sleep, **opts)
                except BaseException:
                    stop.set()
                    raise
                token = scheduled.pending.set(waited.as_scheduled())
                _mark_current(waited)
                try:
                    return await fn(*args, **kwargs)
                finally:
                    scheduled.pending.reset(token)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with wait_for_green(zone, max_intensity, deadline, duration, **options):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def _mark_current(waited: Waited) -> None:
    """A wait inside a run that is already going: that run's record says so too (its wait was measured)."""
    from tracker.core.run import current_run

    run = current_run()
    if run is not None and getattr(run, "scheduled", None) is None:
        run.scheduled = waited.as_scheduled()


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _span(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
