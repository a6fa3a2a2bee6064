"""Every call counted: which run a call belongs to is decided by its context (threads, asyncio tasks), blocks left
from another context stop their own run, and generators are measured for their whole iteration (issue 12)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

import tracker
from tracker.stores import open_store

QUIET = {"cpu_watts": 10.0, "gpu_watts": 0.0, "ram_watts": 0.0, "country": "FR"}


def runs_in(store_path: str) -> list[tracker.records.schema.RunRecord]:  # type: ignore[name-defined]
    return open_store(store_path).records()


# -- which run a call belongs to ------------------------------------------------------------------------------------


def test_a_thousand_gathered_calls_are_a_thousand_runs(store_path: str) -> None:
    @tracker.track(store=store_path, **QUIET)
    async def handler(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    async def main() -> list[int]:
        return list(await asyncio.gather(*(handler(i) for i in range(1000))))

    assert asyncio.run(main()) == list(range(1000))
    records = runs_in(store_path)
    assert len(records) == 1000
    assert all(r.status == "completed" and r.spans == [] for r in records)


def test_with_an_outer_run_the_gathered_calls_are_its_spans(store_path: str) -> None:
    @tracker.track
    async def handler(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    async def main() -> None:
        with tracker.track(store=store_path, **QUIET):  # tasks created here inherit the run
            await asyncio.gather(*(handler(i) for i in range(1000)))

    asyncio.run(main())
    (record,) = runs_in(store_path)
    (span,) = record.spans
    assert span.calls == 1000 and span.name.endswith("handler")


def test_32_threads_of_20_calls_are_640_runs(store_path: str) -> None:
    @tracker.track(store=store_path, **QUIET)
    def work(i: int) -> int:
        time.sleep(0.001)  # the threads' runs overlap
        return i * 2

    def worker() -> None:
        for i in range(20):
            work(i)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runs_in(store_path)) == 640


def test_a_call_in_another_thread_does_not_join_a_strangers_run(store_path: str) -> None:
    """The newest active run of the process used to take every call made anywhere while it ran."""

    @tracker.track(project="other", store=store_path, **QUIET)
    def work() -> None:
        pass

    with tracker.track(project="mine", store=store_path, **QUIET) as mine:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    records = {r.project: r for r in runs_in(store_path)}
    assert set(records) == {"mine", "other"}
    assert mine.spans == []


def test_work_handed_to_a_pool_joins_the_callers_run_through_propagate(store_path: str) -> None:
    @tracker.track
    def work(i: int) -> int:
        time.sleep(0.001)
        return i

    with tracker.track(store=store_path, **QUIET) as run:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            bound = tracker.propagate(work)
            assert sorted(pool.map(bound, range(640))) == list(range(640))
        threads = [threading.Thread(target=tracker.propagate(lambda: [work(i) for i in range(20)])) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(runs_in(store_path)) == 1
    (span,) = run.spans
    assert span.calls == 640 + 640


def test_to_thread_and_run_in_executor_join_the_callers_run(store_path: str) -> None:
    @tracker.task("blocking")
    def blocking() -> None:
        time.sleep(0.005)

    async def main() -> None:
        with tracker.track(store=store_path, **QUIET):
            await asyncio.to_thread(blocking)  # copies the context itself
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, tracker.propagate(blocking))  # does not: propagate carries the run

    asyncio.run(main())
    (record,) = runs_in(store_path)
    assert [(s.name, s.calls) for s in record.spans] == [("blocking", 2)]


def test_other_labels_start_a_run_of_their_own_the_same_labels_a_span(store_path: str) -> None:
    @tracker.track(project="billing", store=store_path, **QUIET)
    def bill() -> None:
        pass

    @tracker.track(project="vision")
    def step() -> None:
        pass

    with tracker.track(project="vision", store=store_path, **QUIET) as run:
        bill()
        step()
    records = {r.project: r for r in runs_in(store_path)}
    assert set(records) == {"vision", "billing"}
    assert [s.name for s in run.spans] == [step.__qualname__]
    assert records["billing"].name == bill.__qualname__


# -- leaving from elsewhere -----------------------------------------------------------------------------------------


def test_a_block_closed_by_another_thread_stops_its_own_run(store_path: str) -> None:
    block = tracker.track(store=store_path, **QUIET)
    for _ in range(100):
        stack = contextlib.ExitStack()
        run = stack.enter_context(block)
        closer = threading.Thread(target=stack.close)
        closer.start()
        closer.join()
        assert not run.active and run.status == "completed"
        assert tracker.current_run() is None  # the stopped run is no longer current here
    assert len(runs_in(store_path)) == 100


def test_an_async_generator_fixture_finalised_by_another_task_stops_its_own_run(store_path: str) -> None:
    block = tracker.track(store=store_path, **QUIET)

    async def fixture() -> AsyncIterator[tracker.Run]:
        with block as run:
            yield run

    async def main() -> None:
        for _ in range(100):
            agen = fixture()
            run = await asyncio.create_task(agen.__anext__())  # entered in one task
            await asyncio.create_task(agen.aclose())  # left in another
            assert not run.active and run.status == "completed"

    asyncio.run(main())
    assert len(runs_in(store_path)) == 100


def test_a_task_span_left_from_another_thread_ends_its_own_span(store_path: str) -> None:
    span = tracker.task("handed-over")
    with tracker.track(store=store_path, **QUIET) as run:
        span.__enter__()
        ender = threading.Thread(target=span.__exit__, args=(None, None, None))
        ender.start()
        ender.join()
    assert [(s.name, s.calls) for s in run.spans] == [("handed-over", 1)]


# -- all callables --------------------------------------------------------------------------------------------------


def test_a_generator_is_measured_for_its_whole_iteration(store_path: str) -> None:
    @tracker.track(store=store_path, **QUIET)
    def batches() -> Iterator[int]:
        for i in range(3):
            time.sleep(0.1)
            yield i

    assert list(batches()) == [0, 1, 2]
    (record,) = runs_in(store_path)
    assert record.duration_s >= 0.3 and record.status == "completed"


def test_a_generator_stopped_early_completes_and_its_run_is_current_only_inside_it(store_path: str) -> None:
    seen: list[object] = []

    @tracker.track(store=store_path, **QUIET)
    def numbers() -> Iterator[int]:
        for i in range(100):
            seen.append(tracker.current_run())
            time.sleep(0.05)
            yield i

    for i in numbers():
        assert tracker.current_run() is None  # the consumer's code is not inside the generator's run
        if i == 3:
            break
    (record,) = runs_in(store_path)
    assert record.status == "completed" and record.duration_s >= 0.15
    assert all(run is not None and run.run_id == record.run_id for run in seen)


def test_a_generator_inside_a_run_is_a_span_covering_its_iteration(store_path: str) -> None:
    @tracker.track
    def rows() -> Iterator[int]:
        for i in range(3):
            time.sleep(0.05)
            yield i

    with tracker.track(store=store_path, **QUIET) as run:
        assert sum(rows()) == 3
    (span,) = run.spans
    assert span.calls == 1 and span.duration_s >= 0.15


def test_an_async_generator_is_measured_for_its_whole_iteration_and_aclose(store_path: str) -> None:
    @tracker.track(store=store_path, **QUIET)
    async def ticks() -> AsyncIterator[int]:
        for i in range(100):
            await asyncio.sleep(0.05)
            yield i

    async def main() -> None:
        got = [i async for i in _take(ticks(), 4)]
        assert got == [0, 1, 2, 3]

    asyncio.run(main())
    (record,) = runs_in(store_path)
    assert record.status == "completed" and record.duration_s >= 0.2


async def _take(agen: AsyncIterator[int], n: int) -> AsyncIterator[int]:
    try:
        async for item in agen:
            yield item
            n -= 1
            if n == 0:
                break
    finally:
        await agen.aclose()  # type: ignore[attr-defined]


def test_an_async_generator_inside_a_run_is_a_span(store_path: str) -> None:
    @tracker.track
    async def pages() -> AsyncIterator[int]:
        for i in range(3):
            await asyncio.sleep(0.05)
            yield i

    async def main() -> tracker.Run:
        with tracker.track(store=store_path, **QUIET) as run:
            assert [p async for p in pages()] == [0, 1, 2]
        return run

    run = asyncio.run(main())
    (span,) = run.spans
    assert span.calls == 1 and span.duration_s >= 0.15


def test_task_on_a_coroutine_covers_the_awaited_time(store_path: str) -> None:
    @tracker.task("fetch")
    async def fetch() -> int:
        await asyncio.sleep(0.1)
        return 1

    async def main() -> tracker.Run:
        with tracker.track(store=store_path, **QUIET) as run:
            assert await fetch() == 1
        return run

    run = asyncio.run(main())
    (span,) = run.spans
    assert span.name == "fetch" and span.duration_s >= 0.1


def test_an_exception_in_a_generator_fails_its_run(store_path: str) -> None:
    @tracker.track(store=store_path, **QUIET)
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        list(broken())
    (record,) = runs_in(store_path)
    assert record.status == "failed" and "boom" in (record.error or "")


# -- no call dropped ------------------------------------------------------------------------------------------------


def test_a_span_ending_after_its_run_was_recorded_is_logged_with_its_name(
    store_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow() -> None:
        with tracker.task("straggler"):
            started.set()
            release.wait(5)

    with tracker.track(store=store_path, **QUIET) as run:
        worker = threading.Thread(target=tracker.propagate(slow))
        worker.start()
        started.wait(5)
    with caplog.at_level(logging.WARNING, logger="tracker"):
        release.set()
        worker.join()
    assert run.spans == []
    assert any("straggler" in r.getMessage() and run.run_id[:12] in r.getMessage() for r in caplog.records)


def test_a_span_ending_while_its_run_finishes_is_counted(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans that end before the run's last fold are counted (cut at the run's end), not lost."""
    from tracker.core.spans import SpanProfile

    run = tracker.Tracker(store=store_path, **QUIET).start()
    open_span = tracker.task("open-at-the-end")
    open_span.__enter__()
    real_close = SpanProfile.close

    def close_after_the_span_ends(self: SpanProfile, timeline: object, upto: float) -> None:
        open_span.__exit__(None, None, None)  # ends between the run's stop and its last fold
        real_close(self, timeline, upto)  # type: ignore[arg-type]

    monkeypatch.setattr(SpanProfile, "close", close_after_the_span_ends)
    record = run.stop()
    assert [(s.name, s.calls) for s in record.spans] == [("open-at-the-end", 1)]


# -- found in review ------------------------------------------------------------------------------------------------


def test_new_task_objects_in_a_loop_do_not_grow_the_context(store_path: str) -> None:
    import contextvars

    with tracker.track(store=store_path, **QUIET) as run:
        before = len(contextvars.copy_context())
        for _ in range(20_000):
            with tracker.task("step"):
                pass
        for _ in range(50):
            with tracker.track(save=False, **QUIET):
                pass
        after = len(contextvars.copy_context())
    assert after <= before + 1  # one variable for every open block and span, not one per object
    assert run.spans[0].calls == 20_000


def test_a_generator_keeps_the_run_it_makes_current_between_its_items() -> None:
    seen: list[str] = []

    @tracker.track(save=False, project="outer", **QUIET)
    def rows() -> Iterator[object]:
        with tracker.track(save=False, project="inner", **QUIET) as inner:
            for i in range(3):
                seen.append(tracker.current_run().config.project)  # type: ignore[union-attr]
                with tracker.task("step"):
                    pass
                yield i
        yield inner

    *_, inner = rows()
    assert seen == ["inner", "inner", "inner"]
    assert [(s.name, s.calls) for s in inner.spans] == [("step", 3)]  # type: ignore[attr-defined]


def test_a_cross_context_exit_never_stops_another_threads_live_block() -> None:
    shared = tracker.track(save=False, project="shared", **QUIET)
    inside, leave = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def worker() -> None:
        with shared as run:
            seen["worker"] = run
            inside.set()
            leave.wait(5)
            seen["worker_active_at_exit"] = run.active

    stack = contextlib.ExitStack()
    mine = stack.enter_context(shared)
    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    closer = threading.Thread(target=stack.close)  # hands the main thread's block over: the oldest is closed
    closer.start()
    closer.join()
    assert not mine.active and seen["worker"].active  # type: ignore[attr-defined]
    leave.set()
    thread.join()
    assert seen["worker_active_at_exit"] is True


def test_trackers_stopped_out_of_order_leave_the_later_one_current(store_path: str) -> None:
    a = tracker.Tracker(store=store_path, project="a", **QUIET)
    b = tracker.Tracker(store=store_path, project="b", **QUIET)
    a.start()
    second = b.start()
    a.stop()
    assert tracker.current_run() is second
    with tracker.task("work"):
        pass
    assert [s.name for s in b.stop().spans] == ["work"]


def test_a_decorator_can_name_its_runs(store_path: str) -> None:
    @tracker.track(name="nightly-batch", store=store_path, **QUIET)
    def job() -> int:
        return 7

    assert job() == 7
    (record,) = runs_in(store_path)
    assert record.name == "nightly-batch"


def test_the_last_fold_never_gives_a_span_negative_time_or_energy() -> None:
    from tracker.core.spans import SpanProfile
    from tracker.measure.timeline import Timeline

    timeline = Timeline()
    timeline.append(0.0, 0.0, 0.0, 0.0)
    timeline.append(3.0, 30.0, 0.0, 3.0)
    profile = SpanProfile()
    profile.add("late-start", round(2.5e9), round(3.0e9))  # began after the run's end at 2.0 s
    profile.close(timeline, 2.0)
    calls, seconds, *joules = profile.stats["late-start"]
    assert calls == 1 and seconds == 0.0 and all(j == 0.0 for j in joules)
