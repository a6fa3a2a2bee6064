"""Waiting for green with a fake clock: when the wait ends and why, how often the forecast is asked, and what
the run's record says afterwards (``waited_s``, ``scheduled_by``, ``forecast_g_per_kwh``)."""

from __future__ import annotations

import asyncio
import logging

import pytest

import tracker
from tracker.errors import TrackerError
from tracker.grid.forecast import Forecast
from tracker.schedule.waiting import wait

T0 = 1_800_000_000.0  # a fixed "now" (2027-01-15), on the hour
H = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Hourly:
    """A forecast provider with fixed hourly values from T0 (the provider interface, no HTTP: that is tested in
    test_forecast_providers.py)."""

    name = "fixed"

    def __init__(self, values: list[float], fail: bool = False) -> None:
        self.values = values
        self.fail = fail
        self.asked = 0

    def forecast(self, zone: str, horizon_hours: int = 72, granularity: str = "hourly") -> Forecast:
        self.asked += 1
        if self.fail:
            raise TrackerError("HTTP 429: rate limit reached")
        n = len(self.values)
        return Forecast(zone, tuple(T0 + i * H for i in range(n)), (H,) * n, tuple(self.values), "fixed forecast")


def test_waits_until_the_forecast_is_under_the_threshold() -> None:
    clock, provider = Clock(), Hourly([400, 350, 180, 90, 400])
    waited = wait("NL", 200, "12h", providers=[provider], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by, waited.forecast_g_per_kwh) == (2 * H, "threshold", 180.0)


def test_already_green_starts_at_once() -> None:
    clock = Clock()
    waited = wait("NL", 500, "12h", providers=[Hourly([400, 100])], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by, clock.sleeps) == (0.0, "now", [])


def test_the_deadline_ends_the_wait_when_green_never_comes() -> None:
    clock = Clock()
    waited = wait("NL", 50, "3h", providers=[Hourly([400] * 10)], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by, waited.forecast_g_per_kwh) == (3 * H, "deadline", 400.0)


def test_without_a_threshold_the_best_window_starts_the_run() -> None:
    clock = Clock()
    provider = Hourly([300, 200, 100, 120, 500, 500])
    waited = wait("NL", None, "5h", duration="2h", providers=[provider], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by) == (2 * H, "best-window")


def test_the_earlier_of_threshold_and_best_window_ends_the_wait() -> None:
    clock = Clock()
    never = wait("NL", 50, "8h", duration="1h", providers=[Hourly([300, 60, 300, 300])], clock=clock,
                 sleep=clock.sleep)  # fmt: skip
    assert (never.waited_s, never.scheduled_by) == (H, "best-window")  # 50 never comes; the best hour does
    clock = Clock()
    first = wait("NL", 130, "8h", duration="1h", providers=[Hourly([300, 120, 300, 40])], clock=clock,
                 sleep=clock.sleep)  # fmt: skip
    assert (first.waited_s, first.scheduled_by) == (H, "threshold")  # under 130 at 1 h, before the best (3 h)


def test_long_waits_ask_the_forecast_no_more_than_every_poll_interval() -> None:
    clock, provider = Clock(), Hourly([400] * 9 + [100])
    waited = wait("NL", 200, "12h", providers=[provider], clock=clock, sleep=clock.sleep, poll_s=1800)
    assert (waited.waited_s, waited.scheduled_by) == (9 * H, "threshold")  # a poll found it had come
    assert provider.asked == 18 and all(s <= 1800 for s in clock.sleeps)  # once per half hour of waiting


def test_no_forecast_starts_at_once_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with caplog.at_level(logging.WARNING):
        waited = wait("NL", 100, "6h", providers=[Hourly([], fail=True)], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by, waited.forecast_g_per_kwh) == (0.0, "no-forecast", None)
    assert "rate limit" in waited.source
    assert [r.message for r in caplog.records if "not waiting" in r.message]


def test_wait_for_green_puts_the_schedule_on_runs_started_inside(store_path: str) -> None:
    clock = Clock()
    green = tracker.wait_for_green("NL", 200, "6h", providers=[Hourly([300, 150])], clock=clock, sleep=clock.sleep)
    with green, tracker.track(project="green", store=store_path, interval=0.05) as run:
        pass
    with tracker.track(project="other", store=store_path, interval=0.05) as later:
        pass
    assert run.record.waited_s == H and run.record.forecast_g_per_kwh == 150.0
    assert run.record.scheduled_by == "threshold: fixed forecast"
    assert later.record.waited_s is None and later.record.scheduled_by is None  # outside the block: not scheduled
    stored = {r.project: r for r in tracker.stores.open_store(store_path).records()}
    assert stored["green"].scheduled_by == "threshold: fixed forecast" and stored["green"].waited_s == H


def test_when_green_decorates_functions_and_coroutines(store_path: str) -> None:
    clock = Clock()
    green = tracker.when_green("NL", 200, "6h", providers=[Hourly([300, 150])], clock=clock, sleep=clock.sleep)

    @green
    @tracker.track(project="sync", store=store_path, interval=0.05)
    def work(x: int) -> int:
        return tracker.current_run().scheduled.waited_s + x

    @green
    async def awork() -> float:
        with tracker.track(project="async", store=store_path, interval=0.05) as run:
            pass
        return run.record.forecast_g_per_kwh

    assert work(1) == H + 1
    clock.now = T0
    assert asyncio.run(awork()) == 150.0
    assert tracker.stores.open_store(store_path).records()[0].waited_s == H
