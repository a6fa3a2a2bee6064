"""The sampled timeline of one meter: cumulative joules per component at each tick.

Energy between any two instants is read off by linear interpolation inside a tick, so a span needs only its
two timestamps; nested and overlapping spans are correct by construction. Times are ``perf_counter`` seconds.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator
from datetime import datetime, timezone

Joules = tuple[float, float, float]  # (cpu, gpu, ram)
ZERO: Joules = (0.0, 0.0, 0.0)


class Timeline:
    """Append-only samples; the meter holds its lock while appending and reading.

    Stored in ``array('d')``: 32 bytes a tick (about 2.8 MB a day at 1 s) instead of ~128 with lists of floats.
    """

    def __init__(self) -> None:
        self.t = array("d")
        self.cpu = array("d")
        self.gpu = array("d")
        self.ram = array("d")

    def __len__(self) -> int:
        return len(self.t)

    def append(self, t: float, cpu: float, gpu: float, ram: float) -> None:
        """Add a tick with the joules used since the previous one."""
        if self.t:
            cpu += self.cpu[-1]
            gpu += self.gpu[-1]
            ram += self.ram[-1]
        self.t.append(t)
        self.cpu.append(cpu)
        self.gpu.append(gpu)
        self.ram.append(ram)

    def reset(self, t: float) -> None:
        """Forget everything and start again at ``t`` (no run needs the old samples)."""
        self.t, self.cpu, self.gpu, self.ram = array("d", [t]), array("d", [0.0]), array("d", [0.0]), array("d", [0.0])

    def trim(self, before: float) -> None:
        """Drop samples no run can need: those older than the last sample at or before ``before``."""
        i = bisect.bisect_right(self.t, before) - 1
        if i > 0:
            del self.t[:i], self.cpu[:i], self.gpu[:i], self.ram[:i]

    def compact(self, before: float, keep: list[float], wall_offset: float) -> None:
        """Replace the samples older than ``before`` by points at UTC hour boundaries and at the ``keep`` times
        (the runs' starts), so that an open run's timeline stays small (a week at 1 s: a few hundred points for
        the old part instead of 600,000 ticks).

        Nothing a run reads changes: ``at()`` is linear between samples, so its value at each kept point is
        exactly the old one, and a run's energy (``between(t0, t)``) and hour buckets (``hours``, split at the
        same boundaries, ``wall_offset`` being the runs' offset) stay exact. Only a span that began before
        ``before`` and is still open gets its start interpolated within its hour.
        """
        ts = self.t
        last = bisect.bisect_right(ts, before) - 1  # the last sample at or before `before`: kept, with all after
        if last <= 1:
            return
        first = ts[0]
        end = ts[last]
        points = {first, end, *(k for k in keep if first < k < end)}
        start = first
        while True:  # the boundaries exactly as hours() computes them
            wall = start + wall_offset
            boundary = wall - wall % 3600 + 3600.0 - wall_offset
            if boundary <= start:
                boundary = start + 1e-6
            if boundary >= end:
                break
            points.add(boundary)
            start = boundary
        kept = sorted(points)
        values = [self.at(t) for t in kept]
        for column, new in (
            (self.t, kept),
            (self.cpu, [v[0] for v in values]),
            (self.gpu, [v[1] for v in values]),
            (self.ram, [v[2] for v in values]),
        ):
            column[: last + 1] = array("d", new)

    def at(self, t: float) -> Joules:
        """Cumulative joules at ``t``, interpolated; clamped to the first and last samples."""
        ts = self.t
        if not ts:
            return ZERO
        i = bisect.bisect_right(ts, t)
        if i == 0:
            return (self.cpu[0], self.gpu[0], self.ram[0])
        if i == len(ts):
            return (self.cpu[-1], self.gpu[-1], self.ram[-1])
        t0, t1 = ts[i - 1], ts[i]
        f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        return (
            self.cpu[i - 1] + f * (self.cpu[i] - self.cpu[i - 1]),
            self.gpu[i - 1] + f * (self.gpu[i] - self.gpu[i - 1]),
            self.ram[i - 1] + f * (self.ram[i] - self.ram[i - 1]),
        )

    def between(self, a: float, b: float) -> Joules:
        """Joules per component used in ``[a, b]``."""
        e0, e1 = self.at(a), self.at(b)
        return (e1[0] - e0[0], e1[1] - e0[1], e1[2] - e0[2])

    def last_rate(self) -> tuple[float, Joules, float]:
        """(start of the last tick, cumulative joules there, and the tick's end) for the span fast path."""
        return self.t[-2], (self.cpu[-2], self.gpu[-2], self.ram[-2]), self.t[-1]

    def hours(self, a: float, b: float, wall_offset: float) -> Iterator[tuple[datetime, float, Joules]]:
        """Split ``[a, b]`` at UTC hour boundaries: yields (hour start, seconds in it, joules in it).

        ``wall_offset`` converts perf-counter seconds to Unix time. Energy that changes intensity by the hour
        is accounted per bucket (see ``tracker.carbon.accounting``).
        """
        start = a
        while start < b:
            wall = start + wall_offset
            hour = wall - wall % 3600  # a whole number of seconds: the next hour is exactly 3600 s on
            end = min(b, hour + 3600.0 - wall_offset)
            if end <= start:  # float rounding at the boundary
                end = min(b, start + 1e-6)
            yield datetime.fromtimestamp(hour, tz=timezone.utc), end - start, self.between(start, end)
            start = end
