"""Window arithmetic against hand-computed rolling averages (the Carbon Aware SDK's overlap-weighted method)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from tracker.errors import ConfigError
from tracker.grid.forecast import Forecast
from tracker.schedule.when import choose
from tracker.schedule.windows import Curve, NoWindow, best_starts_uniform, best_window

H = 3600.0
# hourly points: [0,1h) 100, [1h,2h) 200, [2h,3h) 50, [3h,4h) 300; horizon at 4 h
STARTS = [0.0, H, 2 * H, 3 * H]
DURS = [H] * 4
VALS = [100.0, 200.0, 50.0, 300.0]


def test_window_straddling_two_points_is_weighted_by_overlap() -> None:
    curve = Curve(STARTS, DURS, VALS)
    assert curve.average(0.5 * H, H) == pytest.approx(0.5 * 100 + 0.5 * 200)  # 150
    assert curve.average(0.75 * H, H) == pytest.approx(0.25 * 100 + 0.75 * 200)  # 175
    assert curve.average(1.5 * H, 1.5 * H) == pytest.approx((0.5 * 200 + 1.0 * 50) / 1.5)  # 100


def test_best_window_compares_now_and_point_starts() -> None:
    # 1.5 h from now = 0.5 h: [0.5,2) = 166.67, [1,2.5) = 150, [2,3.5) = 133.33; [3,4.5) crosses the horizon
    choice = best_window(STARTS, DURS, VALS, 1.5 * H, earliest_s=0.5 * H)
    assert choice.start_s == 2 * H
    assert choice.g_per_kwh == pytest.approx(200 / 1.5)
    assert choice.now_g_per_kwh == pytest.approx(250 / 1.5)
    assert choice.saved_g_per_kwh == pytest.approx(50 / 1.5)
    assert choice.saved_pct == pytest.approx(20.0)
    assert choice.candidates == 3


def test_window_ending_exactly_at_the_horizon_counts_and_one_past_it_is_refused() -> None:
    choice = best_window(STARTS, DURS, VALS, 2 * H, earliest_s=2 * H)
    assert (choice.start_s, choice.g_per_kwh) == (2 * H, pytest.approx((50 + 300) / 2))
    with pytest.raises(NoWindow, match="horizon"):
        best_window(STARTS, DURS, VALS, 2 * H, earliest_s=2.5 * H)
    with pytest.raises(NoWindow, match="not extrapolated"):
        Curve(STARTS, DURS, VALS).average(3 * H, 2 * H)
    # from 0: [0,2) 150, [1,3) 125, [2,4) 175: the window at the horizon loses to an earlier one
    assert best_window(STARTS, DURS, VALS, 2 * H, earliest_s=0.0).start_s == H


def test_deadline_inside_the_forecast_cuts_the_starts() -> None:
    assert best_window(STARTS, DURS, VALS, H, 0.0, latest_end_s=3 * H).start_s == 2 * H  # [2,3) = 50 ends in time
    tight = best_window(STARTS, DURS, VALS, H, 0.0, latest_end_s=2.9 * H)  # [2,3) would end too late
    assert (tight.start_s, tight.g_per_kwh, tight.candidates) == (0.0, pytest.approx(100.0), 2)
    with pytest.raises(NoWindow, match="deadline"):
        best_window(STARTS, DURS, VALS, 2 * H, 0.0, latest_end_s=1.5 * H)


def test_a_gap_in_the_forecast_is_never_filled() -> None:
    starts, durs, vals = [0.0, 2 * H], [H, H], [100.0, 50.0]  # nothing known in [1h, 2h)
    with pytest.raises(NoWindow):
        Curve(starts, durs, vals).average(0.0, 1.5 * H)
    assert best_window(starts, durs, vals, H, 0.0).start_s == 2 * H  # only whole-covered windows compete


def test_ties_go_to_the_earliest_start() -> None:
    assert best_window([0.0, H, 2 * H], [H] * 3, [80.0, 80.0, 80.0], H, 0.0).start_s == 0.0


def test_uniform_many_zones_matches_the_general_method() -> None:
    rng = np.random.default_rng(7)
    data = rng.uniform(20, 600, size=(20, 864))
    step, length = 300.0, 2 * H + 150.0  # 2 h 2.5 min: a window with a fractional last point
    best, averages = best_starts_uniform(data, step, length)
    starts = [i * step for i in range(864)]
    for row in range(20):
        choice = best_window(starts, [step] * 864, data[row], length, earliest_s=0.0)
        assert best[row] * step == choice.start_s
        assert averages[row] == pytest.approx(choice.g_per_kwh)


def test_choose_applies_within_and_deadline_from_now() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    data = Forecast("NL", tuple(t0.timestamp() + s for s in STARTS), tuple(DURS), tuple(VALS), "test")
    now = t0 + timedelta(minutes=30)
    window = choose(data, "1h30m", now=now)
    assert window.start == t0 + timedelta(hours=2) and window.end == t0 + timedelta(hours=3, minutes=30)
    assert window.delay_s == 5400.0 and window.saved_pct == pytest.approx(20.0)
    assert choose(data, "1h", within="2h", now=t0).start == t0  # over by 2 h: [2,3) is too late
    assert choose(data, "1h", deadline=t0 + timedelta(hours=3), now=t0).g_per_kwh == 50.0
    assert choose(data, 3600, deadline="2026-03-01T03:00:00Z", now=t0).start == t0 + timedelta(hours=2)
    with pytest.raises(ConfigError, match="duration"):
        choose(data, "two hours", now=t0)


def test_a_deadline_without_a_zone_is_local_time_like_the_scheduler_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `tracker when --format slurm` prints (local time) read back as --deadline is the same moment."""
    import time

    from tracker.schedule import formats, spans

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        now = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
        local = spans.moment("deadline", "2026-03-01T18:00", now)
        assert local == datetime(2026, 3, 1, 23, tzinfo=timezone.utc)  # EST is UTC-5
        assert spans.moment("deadline", "2026-03-01T18:00Z", now) == datetime(2026, 3, 1, 18, tzinfo=timezone.utc)
        assert formats.slurm(local) == "--begin=2026-03-01T18:00:00"
        assert spans.moment("deadline", formats.slurm(local).split("=")[1], now) == local
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
