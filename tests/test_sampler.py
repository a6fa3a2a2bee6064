"""Deferred ticks: with modelled sources, a tick notes /proc/stat and the energy is worked out later, identically."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tracker import usage
from tracker.hardware import Machine
from tracker.meter import DEFER_TICKS, Meter
from tracker.sources.base import Component, NullSource
from tracker.sources.cpu_model import CpuModel
from tracker.sources.detect import SourceChain
from tracker.sources.ram import RamModel
from tracker.usage import UsageProbe

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

    class RunWithSpan:
        def __init__(self) -> None:
            self.t0 = 0.0
            self._spans = [("step", 0, 1)]
            self.folded = 0

        def fold_spans(self, timeline: object, upto: float, final: bool = False) -> None:
            self.folded += 1

    run = RunWithSpan()
    meter.runs.append(run)  # type: ignore[arg-type]
    drive(fake_stat, meter, clock, STEPS[:3], eager=False)
    assert len(meter.timeline) == 4 and run.folded == 3


def test_deferred_ticks_are_worked_out_at_least_every_defer_ticks(fake_stat: Path) -> None:
    clock = Clock()
    meter = make_meter(clock)
    meter.start()
    steps = [(10 * i, 20 * i) for i in range(1, DEFER_TICKS + 2)]
    drive(fake_stat, meter, clock, steps, eager=False)
    assert len(meter._raw_t) < DEFER_TICKS and len(meter.timeline) > DEFER_TICKS  # the batch was worked out


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
