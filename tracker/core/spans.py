"""A run's span profile: the spans it has recorded, and their energy folded per name.

The meter receives this object, as a sampling profiler's sampler receives a subscriber: at each tick it calls
:meth:`SpanProfile.fold` with its timeline, and it reads :attr:`SpanProfile.spans` (is anything waiting?) and
:attr:`SpanProfile.t0` (how far back the timeline must reach). It never sees the run itself, so the measuring
layer does not depend on the run's lifecycle.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.measure.share import CpuShare
    from tracker.measure.timeline import Timeline

logger = logging.getLogger(__name__)


class SpanProfile:
    """Finished spans waiting to be folded, and per span name: calls, seconds and joules per component.

    ``spans`` is appended to by any thread (``deque.append`` is atomic) and drained by :meth:`fold`, which the
    meter calls under its lock. ``entered`` keeps, per name, the start of its earliest span: a record lists names
    in that order (nested spans: the outer one first), not in the order they happened to end.
    """

    __slots__ = ("_lock", "_lost", "closed", "entered", "marks", "scale", "share", "spans", "stats", "t0")

    def __init__(self) -> None:
        self.spans: deque[tuple[str, int, int]] = deque()
        self.stats: dict[str, list[float]] = {}  # name -> [calls, seconds, cpu J, gpu J, ram J]
        self.entered: dict[str, int] = {}  # name -> the earliest start of its spans (perf_counter ns)
        self.t0 = 0.0  # the run's start (perf_counter seconds): the meter keeps its timeline from here
        self.marks: dict[Any, int] = {}  # how many sources each chain had used at the run's start
        self.closed = False  # the last fold is done: the record's spans are final
        self.share: CpuShare | None = None  # its part of a split meter's energy (overlap="split")
        self.scale = 1.0  # what the spans' energy is multiplied by: the run's part of the meter's (split runs)
        # orders close() and late(); re-entrant: a SIGTERM handler on this thread, landing inside close() (the
        # run's own stop), stops the run again and closes the profile again, which must not wait for ever
        self._lock = threading.RLock()
        self._lost: set[str] = set()  # names of spans that ended after close(), logged once each

    def add(self, name: str, start_ns: int, end_ns: int) -> None:
        """Record a finished span (``perf_counter_ns`` times)."""
        self.spans.append((name, start_ns, end_ns))

    def fold(self, timeline: Timeline, upto: float, final: bool = False) -> None:
        """Attribute the energy of spans that ended by ``upto`` from the timeline (the meter's call, under its
        lock). With ``final``, spans still open at ``upto`` are cut there (the run is ending)."""
        spans, stats, entered = self.spans, self.stats, self.entered
        if not spans:  # most ticks of most runs: nothing to fold
            return
        # a bounded pass: other threads keep appending while we fold, and spans ending after `upto` go back
        fast = timeline.last_rate() if len(timeline) >= 2 else None
        if fast is not None:
            t_prev, e_prev, t_last = fast
            e_last = (timeline.cpu[-1], timeline.gpu[-1], timeline.ram[-1])
            width = t_last - t_prev
            rates = tuple((e_last[i] - e_prev[i]) / width for i in range(3)) if width > 0 else (0.0, 0.0, 0.0)
        pending = []
        for _ in range(len(spans)):
            name, a_ns, b_ns = spans.popleft()
            a, b = a_ns / 1e9, b_ns / 1e9
            if b > upto:
                if final:  # cut at the run's end; a span that began after it adds a call and nothing else
                    b = upto
                    a = min(a, upto)
                else:
                    pending.append((name, a_ns, b_ns))
                    continue
            if fast is not None and a >= t_prev:  # the whole span lies in the last tick: linear
                d = b - a
                joules = (rates[0] * d, rates[1] * d, rates[2] * d)
            else:
                joules = timeline.between(a, b)
            stat = stats.get(name)
            if stat is None:
                stats[name] = [1, b - a, joules[0], joules[1], joules[2]]
                entered[name] = a_ns
            else:
                stat[0] += 1
                stat[1] += b - a
                stat[2] += joules[0]
                stat[3] += joules[1]
                stat[4] += joules[2]
                if a_ns < entered[name]:
                    entered[name] = a_ns
        spans.extend(pending)

    def close(self, timeline: Timeline, upto: float) -> None:
        """The run's last fold (its end, under the meter's lock): every span that has ended by now is counted, cut
        at ``upto``; a span that ends later is one :meth:`late` reports."""
        with self._lock:
            self.fold(timeline, upto, final=True)
            self.closed = True

    def late(self, span: tuple[str, int, int], run_id: str) -> None:
        """A span ended after its run stopped. If the run is still finishing, the last fold counts it; if the
        record was already built, it is taken back out and logged (once per name), never dropped silently."""
        with self._lock:
            if not self.closed:
                return  # close() has not run yet: it will fold this span
            try:
                self.spans.remove(span)
            except ValueError:
                return  # folded by close() after all
            name = span[0]
            if name not in self._lost:
                self._lost.add(name)
                logger.warning(
                    "span %r ended after run %s was recorded; it is not counted in that run", name, run_id[:12]
                )

    def in_entry_order(self) -> list[tuple[str, list[float]]]:
        """The per-name figures, ordered by when each name's first span was entered."""
        entered = self.entered
        return sorted(self.stats.items(), key=lambda item: entered[item[0]])
