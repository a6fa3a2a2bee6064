"""Concurrent runs share energy, they do not multiply it (issue 12 point 4): with ``overlap="split"`` each tick's
energy is divided among the runs on the meter by their threads' CPU time."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

import tracker
from tracker.measure.share import CpuShare, split_tick
from tracker.measure.timeline import Timeline

WALL = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc).timestamp()  # the ticks lie inside one UTC hour


class Clock:
    """A thread's CPU clock that the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.gone = False

    def __call__(self) -> float:
        if self.gone:
            raise OSError("no such thread")
        return self.seconds


def tick(timeline: Timeline, t: float, joules: float) -> None:
    timeline.append(t, joules, 0.0, 0.0)


def test_a_tick_is_shared_by_the_cpu_time_each_runs_thread_used() -> None:
    timeline = Timeline()
    timeline.append(0.0, 0.0, 0.0, 0.0)
    first, second = Clock(), Clock()
    a, b = CpuShare("thread-a", first, 0.0), CpuShare("thread-b", second, 0.0)
    first.seconds, second.seconds = 0.3, 0.1
    tick(timeline, 1.0, 100.0)
    split_tick(timeline, [a, b], WALL)
    assert a.joules[0] == pytest.approx(75.0) and b.joules[0] == pytest.approx(25.0)
    # no CPU at all in the next tick: shared equally; the shares always add up to the tick
    tick(timeline, 2.0, 40.0)
    split_tick(timeline, [a, b], WALL)
    assert a.joules[0] == pytest.approx(95.0) and b.joules[0] == pytest.approx(45.0)
    assert sum(h[0] for h in a.hours.values()) == pytest.approx(95.0)


def test_runs_of_one_thread_divide_its_time_and_an_ended_thread_gets_nothing_more() -> None:
    timeline = Timeline()
    timeline.append(0.0, 0.0, 0.0, 0.0)
    loop, worker = Clock(), Clock()
    tasks = [CpuShare("loop", loop, 0.0) for _ in range(3)]  # three asyncio tasks' runs on one event loop thread
    other = CpuShare("worker", worker, 0.0)
    loop.seconds, worker.seconds = 0.6, 0.2
    tick(timeline, 1.0, 80.0)
    split_tick(timeline, [*tasks, other], WALL)
    assert [t.joules[0] for t in tasks] == pytest.approx([20.0, 20.0, 20.0]) and other.joules[0] == pytest.approx(20.0)
    worker.gone = True
    loop.seconds = 0.9
    tick(timeline, 2.0, 30.0)
    split_tick(timeline, [*tasks, other], WALL)
    assert other.joules[0] == pytest.approx(20.0) and other.dead
    assert sum(t.joules[0] for t in tasks) == pytest.approx(90.0)


def test_a_run_that_starts_mid_tick_gets_only_the_part_after_its_start() -> None:
    timeline = Timeline()
    timeline.append(0.0, 0.0, 0.0, 0.0)
    clock = Clock()
    late = CpuShare("t", clock, 0.5)
    clock.seconds = 0.1
    tick(timeline, 1.0, 100.0)
    split_tick(timeline, [late], WALL)
    assert late.joules[0] == pytest.approx(50.0)  # alone on the meter, but only from 0.5 s


def test_two_busy_threads_in_their_own_runs_together_get_the_machines_energy_not_twice() -> None:
    """On the real host, with a constant 100 W so that the machine's energy over any interval is exact."""
    settings = {"save": False, "cpu_watts": 100.0, "gpu_watts": 0.0, "ram_watts": 0.0, "interval": 0.05}
    records: list[tracker.Run] = []
    ready = threading.Barrier(2)

    def busy(overlap: str) -> None:
        ready.wait(5)
        with tracker.track(overlap=overlap, **settings) as run:
            deadline = time.perf_counter() + 1.0
            while time.perf_counter() < deadline:
                pass
        records.append(run)

    for overlap, expected_sum in (("split", 1.0), ("whole", 2.0)):
        records.clear()
        threads = [threading.Thread(target=busy, args=(overlap,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        start = min(r.started_at for r in records)
        end = max(r.ended_at for r in records)
        machine_j = 100.0 * (end - start).total_seconds()
        total_j = sum(r.cpu_energy_kwh for r in records) * 3.6e6
        assert total_j == pytest.approx(expected_sum * machine_j, rel=0.1), overlap
        if overlap == "split":
            assert all("overlap=split" in " ".join(r.notes) for r in records)
            shares = sorted(r.cpu_energy_kwh for r in records)
            assert shares[0] > 0.25 * shares[1]  # both threads were busy: neither gets (nearly) nothing
