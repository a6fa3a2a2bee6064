"""Concurrent runs that split a meter's energy by their CPU time, tick by tick (``overlap="split"``).

By default a run gets the energy of everything its meter measures while it runs (``overlap="whole"``): one run at
a time gets what a user expects, but N runs covering the same second each get the whole second. With
``overlap="split"`` each tick's energy is shared among the runs attached to the meter in proportion to the CPU
time of the thread each run was started in (the thread's CPU clock, ``pthread_getcpuclockid``), read at every
tick. Runs started in the same thread (asyncio tasks, nested runs) divide that thread's CPU time equally: for
asyncio tasks that is a wall-time share, which is all the event loop tells. When no run's thread used any CPU in
a tick, the tick is shared equally. So the runs' energies add up to the meter's, never more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.measure.timeline import Timeline


def thread_clock() -> tuple[Any, Callable[[], float]]:
    """(a key naming the calling thread, a function reading its CPU seconds from any thread)."""
    ident = threading.get_ident()
    try:
        clockid = time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):  # not on this platform: wall time stands in (an equal share per tick)
        return ident, time.perf_counter
    return clockid, lambda: time.clock_gettime(clockid)


class CpuShare:
    """One run's part of a split meter: its thread's clock, and its joules so far, in total and per UTC hour."""

    __slots__ = ("clock", "dead", "hours", "joules", "key", "last", "t0")

    def __init__(self, key: Any, clock: Callable[[], float], t0: float) -> None:
        self.key = key
        self.clock = clock
        self.t0 = t0  # the run's start (perf_counter seconds): energy before it is not the run's
        self.last = self._read()
        self.dead = False  # the thread ended: it uses no more CPU
        self.joules = [0.0, 0.0, 0.0]
        self.hours: dict[datetime, list[float]] = {}

    def _read(self) -> float:
        try:
            return self.clock()
        except OSError:  # the thread has ended
            self.dead = True
            return self.last if hasattr(self, "last") else 0.0

    def hour_buckets(self) -> list[tuple[datetime, float]]:
        """(hour, joules of all components) in time order, for the accounting."""
        return [(hour, sum(j)) for hour, j in sorted(self.hours.items())]


def split_tick(timeline: Timeline, shares: Iterable[CpuShare], wall_offset: float) -> None:
    """Share the timeline's last tick among ``shares`` by the CPU time their threads used in it (call with the
    meter's lock held, right after the tick was appended)."""
    shares = list(shares)
    if not shares or len(timeline) < 2:
        return
    a, b = timeline.t[-2], timeline.t[-1]
    by_thread: dict[Any, list[CpuShare]] = {}
    for share in shares:
        by_thread.setdefault(share.key, []).append(share)
    used: dict[int, float] = {}
    for group in by_thread.values():
        for share in group:
            now = share._read()
            used[id(share)] = max(0.0, now - share.last) / len(group)
            share.last = now
    total = sum(used.values())
    for share in shares:
        fraction = used[id(share)] / total if total > 0 else 1.0 / len(shares)
        if fraction <= 0.0:
            continue
        start = max(a, share.t0)
        if start >= b:
            continue
        for hour, _, joules in timeline.hours(start, b, wall_offset):
            bucket = share.hours.get(hour)
            if bucket is None:
                bucket = share.hours[hour] = [0.0, 0.0, 0.0]
            for i in range(3):
                part = joules[i] * fraction
                bucket[i] += part
                share.joules[i] += part
