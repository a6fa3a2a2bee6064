"""The sampler: one daemon thread per process, shared by every run and span.

It owns the meters (one per measurement configuration), ticks each active meter every interval, and parks when
no run is active. It never raises: a fault is logged once and the sources' chains move on. After ``fork()``
the child gets a fresh sampler (threads do not survive a fork).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracker.forks import after_fork
from tracker.measure.meter import Meter
from tracker.measure.sources.chains import log_once

if TYPE_CHECKING:
    from tracker.measure.meter import Subscriber

logger = logging.getLogger(__name__)

HOOK_RETRY_S = 60.0  # a hook that raised is called again this much later


class Sampler:
    """Ticks active meters; created lazily by :func:`get_sampler`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # guards the meters and their run lists
        # the thread sleeps on this lock; releasing it wakes the thread early. A bare lock with a timeout
        # costs less per wake-up than a Condition (measured ~115 vs ~135 µs of CPU on this 2-vCPU VM).
        self._wake = threading.Lock()
        self._wake.acquire()
        self._meters: dict[Any, Meter] = {}
        self._thread: threading.Thread | None = None
        self._version = 0  # bumped whenever a meter or a run comes or goes: the steady loop looks again
        self.ticks = 0
        # Work that is due at a time rather than every tick (the runs' checkpoints, tracker.core.checkpoints): the
        # loop calls ``hook(self, t)`` at its first tick at or after ``hook_at`` (a float compared per tick, nothing
        # more). The hook sets ``hook_at`` again itself, under its own lock (a run's start may lower it meanwhile).
        self.hook: Callable[[Sampler, float], None] | None = None
        self.hook_at = math.inf

    def meter(self, key: Any, factory: Callable[[], Meter]) -> Meter:
        """The meter for a measurement configuration, created and started on first use."""
        with self._lock:
            meter = self._meters.get(key)
            if meter is None:
                meter = factory()
                meter.start()
                self._meters[key] = meter
                self._version += 1
            return meter

    def attach(self, meter: Meter, profile: Subscriber) -> None:
        """Start sampling ``meter`` for a run's span ``profile`` (re-taking the baseline if the meter was idle)."""
        with self._lock:
            if not meter.profiles:
                meter.rebase()
            meter.profiles.append(profile)
            self._version += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="tracker-sampler", daemon=True)
                self._thread.start()
        self._poke()

    def _poke(self) -> None:
        if not self._wake.locked():  # already released (the thread is not parked): no exception per run
            return
        try:
            self._wake.release()
        except RuntimeError:  # released by another thread between the two lines: the thread wakes anyway
            return

    def detach(self, meter: Meter, profile: Subscriber) -> None:
        """Stop feeding a run's profile; the meter keeps its timeline only as far back as its other runs need."""
        with self._lock:
            if profile in meter.profiles:
                meter.profiles.remove(profile)
            self._version += 1
        meter.trim()

    def _due(self) -> tuple[list[Meter], float, list[Meter]]:
        """The meters due for a tick now, the seconds until the next tick (3600: none active, park), and the
        meters that tick then."""
        due: list[Meter] = []
        upcoming: list[Meter] = []
        wait = 3600.0
        clock = None
        for meter in self._meters.values():
            if not meter.profiles:
                continue
            if clock is None:
                clock = meter.clock()
            left = meter.last + meter.interval - clock
            if left <= 0:
                due.append(meter)
            elif left < wait:
                wait, upcoming = left, [meter]
            elif left == wait:
                upcoming.append(meter)
        return due, (0.0 if due else wait), upcoming

    def _loop(self) -> None:
        while True:
            with self._lock:
                version = self._version
                due, wait, upcoming = self._due()
                active = sum(1 for meter in self._meters.values() if meter.profiles)
            if not due:
                if wait >= 3600.0:  # parked: no active run; attach() releases the lock to wake us
                    self._wake.acquire()
                    continue
                # the meters found due after the sleep are known before it: no second look with cold caches
                time.sleep(wait)
                due = [meter for meter in upcoming if meter.profiles]
                if not due:
                    continue
            t = -math.inf
            for meter in due:
                t = self._tick(meter)
            if t >= self.hook_at:
                self._call_hook(t)
            if active == 1 and len(due) == 1 and self._version == version:  # never while another meter waits
                self._steady(due[0], version)

    def _tick(self, meter: Meter) -> float:
        try:
            t = meter.tick()
        except Exception as exc:  # the sampler must survive anything a source does
            log_once(logging.ERROR, f"sampling failed: {exc!r}; the run goes on")
            t = meter.last = meter.clock()  # not due again at once: a failing tick must not spin
        self.ticks += 1
        return t

    def _call_hook(self, t: float) -> None:
        """Run the hook that is due (it hands its work to a thread of its own: a tick must stay short)."""
        hook = self.hook
        try:
            if hook is None:
                self.hook_at = math.inf
                return
            hook(self, t)
        except Exception as exc:
            log_once(logging.ERROR, f"sampler hook failed: {exc!r}; the runs go on")
            self.hook_at = t + HOOK_RETRY_S  # not due again at once: a failing hook must not spin

    def _steady(self, meter: Meter, version: int) -> None:
        """The common case, one meter with runs and nothing coming or going: tick it every interval without
        taking the lock or looking at the meters again. Any attach or detach (the version moves) hands back
        to :meth:`_loop`, which looks again. Measured on this project's 2-vCPU VM, the general loop cost
        ~40 µs of CPU a tick more than this one (benchmarks/overhead.py, "sampler")."""
        sleep, clock, interval = time.sleep, meter.clock, meter.interval
        while True:
            wait = meter.last + interval - clock()
            if wait > 0:
                sleep(wait)
            if self._version != version:
                return
            try:  # _tick() written out: one call less per tick
                t = meter.tick()
            except Exception as exc:
                log_once(logging.ERROR, f"sampling failed: {exc!r}; the run goes on")
                t = meter.last = clock()  # not due again at once: a failing tick must not spin
            self.ticks += 1
            if t >= self.hook_at:
                self._call_hook(t)

    def thread_cpu_seconds(self) -> float:
        """CPU time the sampler thread has used so far, read from outside it (benchmarks/).

        Read through the thread's CPU clock rather than timed inside the loop: two clock reads per tick are
        two system calls, a measurable share of a tick on a virtual machine.
        """
        thread = self._thread
        if thread is None or thread.ident is None:
            return 0.0
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (AttributeError, OSError):  # not on this platform, or the thread has ended
            return 0.0


_sampler: Sampler | None = None
_lock = threading.Lock()


def _reset_after_fork() -> None:
    global _sampler
    _sampler = None


def get_sampler() -> Sampler:
    """The process's sampler, created on first use (never at import)."""
    global _sampler
    if _sampler is None:
        with _lock:
            if _sampler is None:
                after_fork(_reset_after_fork)
                _sampler = Sampler()
    return _sampler
