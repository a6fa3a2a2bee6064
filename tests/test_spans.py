"""Span attribution: energies of nested and overlapping spans against hand-computed values."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from datetime import datetime, timezone

import pytest

import tracker
from tracker.config import resolve
from tracker.core.run import Run
from tracker.measure.timeline import Timeline


def hand_timeline() -> Timeline:
    """Ticks at t = 0, 1, 2, 3 s. CPU draws 10 W, 30 W, 20 W in the three ticks; GPU 100 W in tick 2 only;
    RAM 1 W throughout. Cumulative CPU: 0, 10, 40, 60."""
    tl = Timeline()
    tl.append(0.0, 0.0, 0.0, 0.0)
    tl.append(1.0, 10.0, 0.0, 1.0)
    tl.append(2.0, 30.0, 100.0, 1.0)
    tl.append(3.0, 20.0, 0.0, 1.0)
    return tl


def test_timeline_interpolates_inside_a_tick() -> None:
    tl = hand_timeline()
    assert tl.between(0.0, 3.0) == pytest.approx((60.0, 100.0, 3.0))
    assert tl.between(0.5, 1.5) == pytest.approx((5.0 + 15.0, 50.0, 1.0))
    assert tl.between(1.25, 1.75) == pytest.approx((15.0, 50.0, 0.5))
    # clamped outside the sampled range: nothing is invented
    assert tl.between(-5.0, 0.0) == (0.0, 0.0, 0.0)
    assert tl.between(3.0, 9.0) == (0.0, 0.0, 0.0)


def test_timeline_hour_buckets_split_at_utc_hours() -> None:
    tl = Timeline()
    # perf-counter seconds 0..7200 mapped so that t=0 is 23:30 UTC: the run crosses midnight at t=1800
    wall0 = datetime(2026, 1, 1, 23, 30, tzinfo=timezone.utc).timestamp()
    tl.append(0.0, 0.0, 0.0, 0.0)
    tl.append(3600.0, 3600.0, 0.0, 0.0)  # 1 W
    buckets = list(tl.hours(0.0, 3600.0, wall0))
    assert [b[0].hour for b in buckets] == [23, 0]
    assert [b[1] for b in buckets] == pytest.approx([1800.0, 1800.0])
    assert [b[2][0] for b in buckets] == pytest.approx([1800.0, 1800.0])


def fold(spans: list[tuple[str, float, float]], tl: Timeline) -> dict[str, list[float]]:
    run = Run(resolve({}))
    for name, a, b in spans:
        run.add_span(name, round(a * 1e9), round(b * 1e9))
    run.profile.fold(tl, upto=3.0, final=True)
    return run.profile.stats


def test_nested_spans_each_get_their_interval() -> None:
    # outer [0.5, 2.5] contains inner [1.0, 2.0]
    profile = fold([("inner", 1.0, 2.0), ("outer", 0.5, 2.5)], hand_timeline())
    calls, seconds, cpu, gpu, ram = profile["outer"]
    assert (calls, seconds) == (1, pytest.approx(2.0))
    assert cpu == pytest.approx(5.0 + 30.0 + 10.0)  # half of tick 1, all of tick 2, half of tick 3
    assert gpu == pytest.approx(100.0)
    assert ram == pytest.approx(2.0)
    calls, seconds, cpu, gpu, ram = profile["inner"]
    assert cpu == pytest.approx(30.0) and gpu == pytest.approx(100.0) and ram == pytest.approx(1.0)


def test_overlapping_spans_share_the_energy_of_their_overlap() -> None:
    # a [0.0, 1.5] and b [1.0, 3.0] overlap in [1.0, 1.5]: each gets the energy of its whole interval
    profile = fold([("a", 0.0, 1.5), ("b", 1.0, 3.0)], hand_timeline())
    assert profile["a"][2] == pytest.approx(10.0 + 15.0)
    assert profile["b"][2] == pytest.approx(30.0 + 20.0)
    assert profile["a"][3] == pytest.approx(50.0)
    assert profile["b"][3] == pytest.approx(100.0)


def test_same_name_spans_aggregate_calls_time_and_energy() -> None:
    profile = fold([("step", 0.0, 0.5), ("step", 1.0, 1.5), ("step", 2.5, 3.0)], hand_timeline())
    calls, seconds, cpu, gpu, _ = profile["step"]
    assert calls == 3
    assert seconds == pytest.approx(1.5)
    assert cpu == pytest.approx(5.0 + 15.0 + 10.0)
    assert gpu == pytest.approx(50.0)


def test_spans_ending_after_the_last_tick_wait_for_the_next_one() -> None:
    tl = hand_timeline()
    run = Run(resolve({}))
    run.add_span("late", round(2.5e9), round(3.5e9))
    run.profile.fold(tl, upto=3.0)
    assert run.profile.stats == {}  # not attributed yet: its end lies beyond the last sample
    tl.append(4.0, 40.0, 0.0, 0.0)
    run.profile.fold(tl, upto=4.0)
    assert run.profile.stats["late"][2] == pytest.approx(10.0 + 20.0)


def test_fast_path_matches_general_interpolation() -> None:
    tl = hand_timeline()
    spans = [("s", 2.1, 2.4), ("s", 2.5, 2.9)]  # both inside the last tick: the linear fast path
    run = Run(resolve({}))
    for name, a, b in spans:
        run.add_span(name, round(a * 1e9), round(b * 1e9))
    run.profile.fold(tl, upto=3.0)
    expected = sum(tl.between(a, b)[0] for _, a, b in spans)
    assert run.profile.stats["s"][2] == pytest.approx(expected)


# -- through the public API, with a forced constant power so that energy = watts x seconds exactly ------


def constant_run(**extra: object) -> tracker.Tracker:
    return tracker.Tracker(project="spans", cpu_watts=100.0, gpu_watts=0.0, ram_watts=0.0, interval=0.05, **extra)


def test_task_and_decorated_functions_become_spans(store_path: str) -> None:
    @tracker.track
    def step() -> None:
        time.sleep(0.02)

    with tracker.track(project="p", cpu_watts=100.0, gpu_watts=0, ram_watts=0, interval=0.05, store=store_path) as run:
        with tracker.task("epoch"):
            for _ in range(3):
                step()
        with tracker.task("eval"):
            time.sleep(0.03)
    spans = {s.name: s for s in run.spans}
    assert set(spans) == {"epoch", "eval", "test_task_and_decorated_functions_become_spans.<locals>.step"}
    step_stat = spans["test_task_and_decorated_functions_become_spans.<locals>.step"]
    assert step_stat.calls == 3
    assert step_stat.duration_s >= 0.06
    for stat in spans.values():  # constant 100 W: energy is exactly 100 W x time
        assert stat.cpu_energy_kwh * 3.6e6 == pytest.approx(100.0 * stat.duration_s, rel=1e-6)
        assert stat.emissions_kg == pytest.approx(stat.energy_kwh * run.intensity_g_per_kwh / 1000, rel=1e-9)
    # nesting: the epoch contains its steps
    assert spans["epoch"].duration_s >= step_stat.duration_s
    assert spans["epoch"].energy_kwh >= step_stat.energy_kwh
    assert run.energy_kwh * 3.6e6 == pytest.approx(100.0 * run.duration_s, rel=1e-6)


def test_span_in_a_worker_thread_joins_the_run_that_handed_it_the_work(store_path: str) -> None:
    """A thread does not inherit the caller's context: work handed over through ``tracker.propagate`` joins the
    caller's run; a thread that was not handed the run does not join a stranger's run (issue 12)."""
    t = constant_run(store=store_path)
    t.start()

    def work() -> None:
        with tracker.task("in-thread"):
            pass

    worker = threading.Thread(target=tracker.propagate(work))
    worker.start()
    worker.join()
    stranger = threading.Thread(target=work)
    stranger.start()
    stranger.join()
    record = t.stop()
    assert [(s.name, s.calls) for s in record.spans] == [("in-thread", 1)]


def test_async_functions_are_tracked_and_nest(store_path: str) -> None:
    @tracker.track
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.01)
        return i

    @tracker.track(project="async", cpu_watts=50.0, gpu_watts=0, ram_watts=0, store=store_path)
    async def main() -> list[int]:
        return list(await asyncio.gather(*(fetch(i) for i in range(4))))

    assert asyncio.run(main()) == [0, 1, 2, 3]
    frame = tracker.load_runs(store_path)
    assert len(frame) == 1
    assert frame.loc[0, "project"] == "async"
    assert frame.loc[0, "name"].endswith("main")
    record = tracker.stores.open_store(store_path).records()[0]
    (fetch_stat,) = record.spans
    assert fetch_stat.calls == 4
    # the four calls overlap in time: their summed duration exceeds the run's, which attribution by time allows
    assert fetch_stat.duration_s >= 0.04


def test_spans_outside_a_run_do_nothing() -> None:
    with tracker.task("orphan") as span:
        pass
    assert span.name == "orphan"
    assert tracker.current_run() is None


def test_million_spans_keep_memory_bounded(store_path: str) -> None:
    """Spans are folded into the profile every tick, so the buffer never holds more than one interval's worth."""
    t = constant_run(store=store_path)
    run = t.start()
    peak = 0
    for i in range(200_000):
        with tracker.task("tiny"):
            pass
        if i % 10_000 == 0:
            peak = max(peak, len(run.profile.spans))
            time.sleep(0.06)  # let the sampler tick
    record = t.stop()
    assert record.spans[0].calls == 200_000
    assert peak <= 25_000  # at most ~one sleep-interval of spans waits in the buffer
    assert math.isfinite(record.spans[0].energy_kwh)


def test_record_lists_spans_in_the_order_they_were_first_entered(store_path: str) -> None:
    """Not in the order they ended (an inner span ends first) nor by energy (the last one uses the most)."""
    with constant_run(store=store_path) as run:
        with tracker.task("outer"), tracker.task("inner"):
            time.sleep(0.01)
        with tracker.task("second"):
            time.sleep(0.01)
        with tracker.task("inner"):  # a name seen before keeps its place
            time.sleep(0.01)
        with tracker.task("big"):
            time.sleep(0.15)
    assert [s.name for s in run.spans] == ["outer", "inner", "second", "big"]
    assert max(run.spans, key=lambda s: s.energy_kwh).name == "big"
    stored = tracker.load_runs(store_path)["spans"].iloc[0]
    names = [s["name"] for s in (json.loads(stored) if isinstance(stored, str) else stored)]
    assert names == ["outer", "inner", "second", "big"]
