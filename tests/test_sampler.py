"""Deferred ticks: with modelled sources, a tick notes /proc/stat and the energy is worked out later, identically."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from waiting import wait_for

from tracker.measure import usage
from tracker.measure.hardware import Machine
from tracker.measure.meter import DEFER_TICKS, Meter
from tracker.measure.sampler import Sampler
from tracker.measure.sources.base import Component, NullSource
from tracker.measure.sources.chains import SourceChain
from tracker.measure.sources.cpu_model import CpuModel
from tracker.measure.sources.ram import RamModel
from tracker.measure.usage import UsageProbe

MACHINE = Machine("host", "Test CPU", 1, 4, 8, 16 * 2**30, False)
# (busy, idle) jiffies after each tick: utilisation changes from tick to tick, so the curve's non-linearity shows
STEPS = [(100, 700), (150, 750), (400, 800), (410, 1590), (1200, 1600), (1300, 2300), (1900, 2400)]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def stat_line(busy: int, idle: int) -> bytes:
    # user nice system idle iowait irq softirq steal guest guest_nice: busy is user, idle is idle
    return f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n".encode()


@pytest.fixture
def fake_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/proc/stat replaced by a file whose content the test rewrites before each tick."""
    path = tmp_path / "stat"
    path.write_bytes(stat_line(0, 0))
    monkeypatch.setattr(usage, "_stat", usage._ProcStat(str(path)))
    return path


def make_meter(clock: Clock) -> Meter:
    def chain(component: Component, source: object) -> SourceChain:
        made = SourceChain(component, [lambda: source])
        return made

    chains = {
        Component.CPU: chain(Component.CPU, CpuModel(MACHINE, tdp_w=100.0)),
        Component.GPU: chain(Component.GPU, NullSource(Component.GPU)),
        Component.RAM: chain(Component.RAM, RamModel(MACHINE.memory_bytes)),
    }
    return Meter(chains, UsageProbe("machine"), 1.0, clock=clock)


def drive(fake_stat: Path, meter: Meter, clock: Clock, steps: list[tuple[int, int]], *, eager: bool) -> None:
    for i, (busy, idle) in enumerate(steps):
        clock.t += 1.0 + 0.1 * i  # uneven intervals
        fake_stat.write_bytes(stat_line(busy, idle))
        if eager:
            meter.sample()
        else:
            meter.tick()


def test_deferred_ticks_give_exactly_the_eager_timeline(fake_stat: Path) -> None:
    fake_stat.write_bytes(stat_line(*STEPS[0]))
    clock_a, clock_b = Clock(), Clock()
    deferred, eager = make_meter(clock_a), make_meter(clock_b)
    for meter in (deferred, eager):
        fake_stat.write_bytes(stat_line(*STEPS[0]))
        meter.start()
    assert deferred.deferrable and eager.deferrable
    drive(fake_stat, deferred, clock_a, STEPS[1:], eager=False)
    assert len(deferred.timeline) == 1  # nothing worked out yet: the ticks only noted /proc/stat
    drive(fake_stat, eager, clock_b, STEPS[1:], eager=True)
    deferred.catch_up()
    assert list(deferred.timeline.t) == list(eager.timeline.t)
    assert list(deferred.timeline.cpu) == pytest.approx(list(eager.timeline.cpu), rel=1e-12)
    assert list(deferred.timeline.ram) == pytest.approx(list(eager.timeline.ram), rel=1e-12)
    # and the CPU energy follows the curve tick by tick, not the mean utilisation
    utils = [(b1 - b0) / ((b1 + i1) - (b0 + i0)) for (b0, i0), (b1, i1) in itertools.pairwise(STEPS)]
    model = CpuModel(MACHINE, tdp_w=100.0)
    dts = [1.0 + 0.1 * i for i in range(len(utils))]
    assert deferred.timeline.cpu[-1] == pytest.approx(
        sum(model.power(u) * dt for u, dt in zip(utils, dts, strict=True))
    )


def test_a_waiting_span_makes_the_tick_work_out_energy_at_once(fake_stat: Path) -> None:
    clock = Clock()
    meter = make_meter(clock)
    meter.start()

    class ProfileWithSpan:
        def __init__(self) -> None:
            self.t0 = 0.0
            self.spans = [("step", 0, 1)]
            self.marks: dict[object, int] = {}
            self.folded = 0

        def fold(self, timeline: object, upto: float, final: bool = False) -> None:
            self.folded += 1

    run = ProfileWithSpan()
    meter.profiles.append(run)
    drive(fake_stat, meter, clock, STEPS[:3], eager=False)
    assert len(meter.timeline) == 4 and run.folded == 3


def test_deferred_ticks_are_worked_out_at_least_every_defer_ticks(fake_stat: Path) -> None:
    clock = Clock()
    meter = make_meter(clock)
    meter.start()
    steps = [(10 * i, 20 * i) for i in range(1, DEFER_TICKS + 2)]
    drive(fake_stat, meter, clock, steps, eager=False)
    assert len(meter._pending) < DEFER_TICKS and len(meter.timeline) > DEFER_TICKS  # the batch was worked out


def test_a_counter_source_is_read_at_every_tick(fake_stat: Path) -> None:
    """A hardware counter must be read when the tick happens: such a meter never defers."""
    clock = Clock()
    meter = make_meter(clock)

    class Counter(RamModel):
        deferrable = False

    meter.chains[Component.RAM] = SourceChain(Component.RAM, [lambda: Counter(MACHINE.memory_bytes)])
    meter._ordered = (meter.chains[Component.CPU], meter.chains[Component.GPU], meter.chains[Component.RAM])
    meter.start()
    assert not meter.deferrable
    drive(fake_stat, meter, clock, STEPS[:3], eager=False)
    assert len(meter.timeline) == 4


def test_process_mode_never_defers(fake_stat: Path) -> None:
    meter = make_meter(Clock())
    meter.probe = UsageProbe("process")
    meter.start()
    assert not meter.deferrable


def test_a_tick_noted_while_a_reader_sampled_is_dropped_not_counted_twice(fake_stat: Path) -> None:
    """The sampler notes ticks without the lock: one landing after a reader's sample, with an older time or
    older counters, must neither go back in time nor add its interval a second time."""
    clock = Clock()
    meter, eager = make_meter(clock), make_meter(Clock())
    fake_stat.write_bytes(stat_line(*STEPS[0]))
    meter.start()
    eager.start()
    clock.t += 1.0
    fake_stat.write_bytes(stat_line(*STEPS[1]))
    stale_t, stale_raw = clock.t, fake_stat.read_bytes()  # what a racing tick read ...
    clock.t += 0.5
    fake_stat.write_bytes(stat_line(*STEPS[2]))
    meter.sample()  # ... before a reader's sample took a later reading
    meter._pending.append((stale_t, stale_raw))  # and appended only afterwards
    newer_t_older_counters = (clock.t + 0.1, stale_raw)  # a later clock but counters read before the sample's
    meter._pending.append(newer_t_older_counters)
    clock.t += 1.0
    fake_stat.write_bytes(stat_line(*STEPS[3]))
    meter.tick()
    meter.catch_up()
    assert list(meter.timeline.t) == sorted(meter.timeline.t)
    assert len(meter.timeline) == 3  # start, the reader's sample, the last tick: both stale ticks dropped
    # the same readings without the race give the same energy
    for t, step in ((1001.5, STEPS[2]), (1002.5, STEPS[3])):
        eager.clock.t = t  # type: ignore[attr-defined]
        fake_stat.write_bytes(stat_line(*step))
        eager.sample()
    assert meter.timeline.cpu[-1] == pytest.approx(eager.timeline.cpu[-1], rel=1e-12)
    assert meter.timeline.ram[-1] == pytest.approx(eager.timeline.ram[-1], rel=1e-12)


class CountingMeter:
    """Stands in for a Meter in the sampler's loop: counts its ticks."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.profiles: list[object] = []
        self.last = 0.0
        self.clock = time.perf_counter
        self.ticks = 0

    def start(self) -> None:
        self.last = self.clock()

    def rebase(self) -> None:
        self.last = self.clock()

    def tick(self) -> float:
        self.ticks += 1
        self.last = self.clock()
        return self.last

    def trim(self) -> None:
        pass


def test_the_steady_loop_hands_back_when_meters_come_and_go() -> None:
    """One meter ticks in the steady loop; a second meter (another interval) attached meanwhile is ticked at its
    own pace; once every run has left, the thread parks and nothing ticks."""
    sampler = Sampler()
    slow, fast = CountingMeter(0.2), CountingMeter(0.02)
    sampler.meter("slow", lambda: slow)  # type: ignore[arg-type, return-value]
    sampler.meter("fast", lambda: fast)  # type: ignore[arg-type, return-value]
    sampler.attach(slow, "run-a")  # type: ignore[arg-type]
    assert wait_for(lambda: slow.ticks >= 2)  # steady on the one meter
    sampler.attach(fast, "run-b")  # type: ignore[arg-type]
    assert wait_for(lambda: fast.ticks >= 20), fast.ticks  # at its 20 ms pace, not the slow meter's 200 ms
    sampler.detach(fast, "run-b")  # type: ignore[arg-type]
    sampler.detach(slow, "run-a")  # type: ignore[arg-type]
    time.sleep(0.25)  # a tick already under way may finish
    parked = (slow.ticks, fast.ticks)
    time.sleep(0.5)
    assert (slow.ticks, fast.ticks) == parked
    sampler.attach(fast, "run-c")  # type: ignore[arg-type]  # and an attach wakes the parked thread
    before = fast.ticks
    assert wait_for(lambda: fast.ticks >= before + 5)
    sampler.detach(fast, "run-c")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second", "gap"),
    [
        (0.2, 0.02, 0.0),  # two intervals (e.g. a run with interval=0.2 and one with interval=0.02)
        (0.05, 0.05, 0.025),  # same interval, different phase (e.g. a machine-mode and a process-mode run)
    ],
)
def test_the_steady_loop_does_not_starve_another_active_meter(first: float, second: float, gap: float) -> None:
    """Two meters with runs: both keep ticking (the steady loop is for one meter with runs, not one meter due)."""
    sampler = Sampler()
    a, b = CountingMeter(first), CountingMeter(second)
    sampler.meter("a", lambda: a)  # type: ignore[arg-type, return-value]
    sampler.meter("b", lambda: b)  # type: ignore[arg-type, return-value]
    sampler.attach(a, "run-a")  # type: ignore[arg-type]
    assert wait_for(lambda: a.ticks >= 2, 3.0)
    time.sleep(gap)
    sampler.attach(b, "run-b")  # type: ignore[arg-type]
    try:
        time.sleep(0.3)  # settle: the loop has looked again after the attach
        before = (a.ticks, b.ticks)
        time.sleep(0.8)  # at least 4 intervals of the slower meter
        after = (a.ticks, b.ticks)
        assert after[0] - before[0] >= 2 and after[1] - before[1] >= 2, (before, after)
    finally:
        sampler.detach(a, "run-a")  # type: ignore[arg-type]
        sampler.detach(b, "run-b")  # type: ignore[arg-type]


def test_a_tick_that_fails_early_does_not_make_the_sampler_spin() -> None:
    class Failing(CountingMeter):
        def tick(self) -> float:
            self.ticks += 1
            raise RuntimeError("a source broke before the tick's time was noted")

    sampler = Sampler()
    meter = Failing(0.1)
    sampler.meter("failing", lambda: meter)  # type: ignore[arg-type, return-value]
    sampler.attach(meter, "run")  # type: ignore[arg-type]
    try:
        time.sleep(0.55)
        assert 2 <= meter.ticks <= 8, meter.ticks  # about one a 0.1 s interval, not thousands
    finally:
        sampler.detach(meter, "run")  # type: ignore[arg-type]
