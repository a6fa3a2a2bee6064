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


ASYNC_CTRL_C = """
import asyncio, logging, signal, sys, time
import tracker
from tracker.grid.forecast import Forecast

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a test runner's child may ignore it)

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


class Later:
    name = "fixed"

    def forecast(self, zone, horizon_hours=72, granularity="hourly"):
        now = time.time()
        return Forecast(zone, (now - 60, now + 3 * 3600), (3 * 3600 + 60, 3600), (500.0, 50.0), "fixed forecast")


@tracker.when_green("NL", 100, "6h", providers=[Later()])
async def job():
    return 1


asyncio.run(job())
"""


def test_ctrl_c_ends_an_async_wait_at_once(tmp_path) -> None:
    """Ctrl-C under asyncio.run cancels the task; the waiting thread must not sleep on (asyncio.run waits for
    its executor's threads before it returns)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "ctrl_c.py"
    script.write_text(ASYNC_CTRL_C)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        line = proc.stderr.readline()
        assert "waiting" in line and "greener grid" in line
        proc.send_signal(signal.SIGINT)
        began = time.monotonic()
        rest = proc.communicate(timeout=20)[1]
        assert time.monotonic() - began < 10
        assert proc.returncode != 0 and "KeyboardInterrupt" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_run_longer_than_the_forecast_starts_now_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    clock, provider = Clock(), Hourly([400, 100, 300])
    with caplog.at_level(logging.INFO):
        waited = wait("NL", None, "12h", duration="6h", providers=[provider], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by, clock.sleeps) == (0.0, "no-window", [])
    assert waited.as_scheduled().scheduled_by.startswith("no-window: fixed forecast")
    said = [r for r in caplog.records if "no 6:00:00 window fits" in r.message]
    assert len(said) == 1 and said[0].levelno == logging.WARNING


def test_a_forecast_with_a_duplicate_point_still_schedules() -> None:
    from datetime import datetime, timezone

    from tracker.grid.forecast import points_from

    times = [datetime.fromtimestamp(T0 + i * H, tz=timezone.utc) for i in (0, 1, 1, 2, 3)]
    starts, durations, values = points_from(times, [300.0, 250.0, 90.0, 300.0, 300.0], H)
    assert starts == tuple(T0 + i * H for i in range(4)) and durations == (H,) * 4 and values[1] == 90.0

    class Duplicated(Hourly):
        def forecast(self, zone: str, horizon_hours: int = 72, granularity: str = "hourly") -> Forecast:
            return Forecast(zone, starts, durations, values, "fixed forecast")

    clock = Clock()
    waited = wait("NL", None, "3h", duration="1h", providers=[Duplicated([])], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by) == (H, "best-window")


@pytest.mark.parametrize("bad", ["green", [100], float("nan"), -1, True])
def test_a_bad_max_intensity_is_a_config_error(bad: object) -> None:
    from tracker.errors import ConfigError

    with pytest.raises(ConfigError, match="max_intensity"):
        wait("NL", bad, "1h", providers=[Hourly([100])])  # type: ignore[arg-type]


class Marginal(Hourly):
    """A marginal-signal provider (WattTime's MOER), answering what Electricity Maps cannot."""

    name = "watttime"

    def forecast(self, zone: str, horizon_hours: int = 72, granularity: str = "hourly") -> Forecast:
        self.asked += 1
        n = len(self.values)
        return Forecast(zone, tuple(T0 + i * H for i in range(n)), (H,) * n, tuple(self.values), "WattTime",
                        signal="marginal")  # fmt: skip


class CoolingDown(Hourly):
    """An average-signal provider that answers once, then fails (a 429 cool-down)."""

    def forecast(self, zone: str, horizon_hours: int = 72, granularity: str = "hourly") -> Forecast:
        if self.asked:
            self.asked += 1
            raise TrackerError("HTTP 429: rate limit reached")
        return super().forecast(zone, horizon_hours, granularity)


def test_one_signal_kind_for_the_whole_wait() -> None:
    """Electricity Maps answers first (average), then cools down and WattTime's MOER (marginal, 50 g/kWh at
    once) would answer: the threshold is never compared with it; the first forecast is kept until its green."""
    clock = Clock()
    first, backup = CoolingDown([400] * 5 + [150] * 5), Marginal([50] * 10)
    waited = wait("NL", 200, "12h", providers=[first, backup], clock=clock, sleep=clock.sleep, poll_s=1800)
    assert (waited.waited_s, waited.scheduled_by, waited.signal) == (5 * H, "threshold", "average")
    assert backup.asked > 0 and waited.forecast_g_per_kwh == 150.0


def test_a_marginal_forecast_is_not_compared_with_an_average_threshold_unless_asked() -> None:
    clock = Clock()
    waited = wait("NL", 200, "12h", providers=[Marginal([400, 400, 100])], clock=clock, sleep=clock.sleep)
    assert (waited.waited_s, waited.scheduled_by) == (0.0, "no-forecast") and "marginal" in waited.source
    asked = wait("NL", 200, "12h", providers=[Marginal([400, 400, 100])], clock=clock, sleep=clock.sleep,
                 signal="marginal")  # fmt: skip
    assert (asked.waited_s, asked.scheduled_by, asked.signal) == (2 * H, "threshold", "marginal")
