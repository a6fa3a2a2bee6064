"""An open run's timeline stays bounded: old ticks become hour points, the run's energy and hours stay exact."""

from __future__ import annotations

import math

import pytest

from tracker.measure import meter as meter_module
from tracker.measure.meter import Meter
from tracker.measure.sources.base import Component, NullSource
from tracker.measure.sources.chains import SourceChain
from tracker.measure.timeline import Timeline
from tracker.measure.usage import UsageProbe

WEEK_S = 7 * 24 * 3600
OFFSET = 1_700_000_123.25  # Unix time minus the clock: hours fall at a fractional clock time


class Profile:
    """A subscriber: a run's start, no spans."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.spans: list = []
        self.marks: dict = {}

    def fold(self, timeline: Timeline, upto: float, final: bool = False) -> None:
        return


def bare_meter() -> Meter:
    chains = {c: SourceChain(c, [lambda c=c: NullSource(c)]) for c in Component}
    meter = Meter(chains, UsageProbe("machine"), 1.0, clock=lambda: 0.0)
    meter.wall_offset = OFFSET
    return meter


def watts(t: float) -> tuple[float, float, float]:
    """Power that changes all the time (so any interpolation error would show)."""
    return 50 + 40 * math.sin(t / 700.0), 120 + 100 * math.sin(t / 3000.0) ** 2, 3 + (int(t) % 17) / 10


def test_a_week_at_one_second_stays_small_and_the_run_exact() -> None:
    meter = bare_meter()
    reference = Timeline()
    t0 = 1000.0
    meter.timeline.reset(t0)
    reference.reset(t0)
    run = Profile(t0 + 0.5)  # a run that began just after the meter's first tick, still open after a week
    meter.profiles.append(run)
    longest = 0
    t = t0
    for _ in range(WEEK_S):
        t += 1.0
        cpu, gpu, ram = watts(t)
        meter.timeline.append(t, cpu, gpu, ram)
        reference.append(t, cpu, gpu, ram)
        if len(meter.timeline.t) >= meter.compact_at:  # what sample() and catch_up() do after appending
            meter.compact()
        longest = max(longest, len(meter.timeline))
    # 2 h of ticks, one hour's worth of slack, and an hour point per hour of the week: not 604,800 ticks
    bound = meter_module.COMPACT_AFTER_S + meter_module.COMPACT_EVERY + WEEK_S / 3600 + 10
    assert longest <= bound
    assert len(meter.timeline) * 32 < 400_000  # bytes: about 350 KB, against 19 MB uncompacted

    compacted, full = meter.timeline, reference
    assert compacted.between(run.t0, t) == pytest.approx(full.between(run.t0, t), rel=1e-12)
    hours = list(compacted.hours(run.t0, t, OFFSET))
    expected = list(full.hours(run.t0, t, OFFSET))
    assert len(hours) == len(expected) == 169
    for (hour, seconds, joules), (hour_ref, seconds_ref, joules_ref) in zip(hours, expected, strict=True):
        assert hour == hour_ref and seconds == seconds_ref
        assert joules == pytest.approx(joules_ref, rel=1e-9, abs=1e-6)
    # the recent part is tick for tick: a span inside the last two hours is exact
    assert compacted.between(t - 3000.5, t - 10.25) == pytest.approx(full.between(t - 3000.5, t - 10.25), rel=1e-12)


def test_a_run_that_starts_later_keeps_its_start_exact() -> None:
    meter = bare_meter()
    reference = Timeline()
    meter.timeline.reset(0.0)
    reference.reset(0.0)
    first, second = Profile(0.0), Profile(30_000.3)
    meter.profiles.append(first)
    for i in range(1, 60_000):
        cpu, gpu, ram = watts(float(i))
        for timeline in (meter.timeline, reference):
            timeline.append(float(i), cpu, gpu, ram)
        if i == 30_000:
            meter.profiles.append(second)
        if len(meter.timeline.t) >= meter.compact_at:
            meter.compact()
    end = 59_999.0
    assert len(meter.timeline) < 12_000
    for run in (first, second):
        assert meter.timeline.between(run.t0, end) == pytest.approx(reference.between(run.t0, end), rel=1e-12)
    meter.profiles.remove(first)
    meter.timeline.trim(second.t0)  # what detach does when the first run ends: the second's start is a point
    assert meter.timeline.t[0] <= second.t0
    assert meter.timeline.between(second.t0, end) == pytest.approx(reference.between(second.t0, end), rel=1e-12)
