"""Live readings, steps, prediction and budget (issue 16, items 1-3; docs/ml.md).

The deterministic tests drive a run whose meter reads a clock the test moves, with constant forced watts: every
step's energy is then known exactly (watts x seconds), whatever the machine's load.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_support import pg_database, require_server  # noqa: F401 - pg_database: the pg_url fixture

import tracker
from tracker.core.predict import predict, t975
from tracker.errors import BudgetExceeded, ConfigError
from tracker.records.steps import StepStat

WATTS = 250.0
J_PER_KWH = 3.6e6


class Clock:
    """A perf_counter the test moves by hand."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def driven() -> Iterator[tuple[tracker.Tracker, list[Clock]]]:
    """A tracker whose runs' meter reads a clock the test moves (interval 3600 s: the sampler never ticks)."""
    t = tracker.Tracker(cpu_watts=WATTS, ram_watts=0, gpu_watts=0, interval=3600, save=False, country="FR",
                        checkpoint_s=0)  # fmt: skip
    clocks: list[Clock] = []
    yield t, clocks
    for c in clocks:  # the meter is shared by key: give it the real clock back
        c.restore()  # type: ignore[attr-defined]


def start_driven(t: tracker.Tracker, clocks: list[Clock]) -> tuple[tracker.Run, Clock]:
    run = t.start()
    meter = run.meter
    clock = Clock(run.t0)
    real = meter.clock
    clock.restore = lambda: setattr(meter, "clock", real)  # type: ignore[attr-defined]
    meter.clock = clock
    clocks.append(clock)
    return run, clock


def end(t: tracker.Tracker, run: tracker.Run, clock: Clock, status: str = "completed", error: str | None = None):
    """Stop a driven run at its clock's time (not the real clock's)."""
    run.stop(status, error, at=clock.t)
    return t.stop()


def test_live_readings_follow_the_run_and_the_record_is_unchanged(driven) -> None:
    t, clocks = driven
    run, clock = start_driven(t, clocks)
    assert run.energy_kwh == 0.0 and run.power_w == 0.0
    clock.t += 10.0
    run.meter.sample()  # a tick, as the sampler's
    assert run.energy_kwh == pytest.approx(WATTS * 10 / J_PER_KWH, rel=1e-9)
    assert run.cpu_energy_kwh == pytest.approx(WATTS * 10 / J_PER_KWH, rel=1e-9)
    assert run.ram_energy_kwh == 0.0 and run.gpu_energy_kwh == 0.0
    assert run.power_w == pytest.approx(WATTS, rel=1e-9)
    assert run.duration_s == pytest.approx(10.0)
    live_kg = run.emissions_kg
    assert live_kg > 0
    clock.t += 5.0
    assert run.energy_kwh == pytest.approx(WATTS * 10 / J_PER_KWH, rel=1e-9)  # up to the last tick ...
    assert run.reading(fresh=True).energy_kwh == pytest.approx(WATTS * 15 / J_PER_KWH, rel=1e-9)  # ... or now
    record = end(t, run, clock)
    # the record: the same figures as a run nobody read (energy over the run, emissions from the same factors)
    assert record.energy_kwh == pytest.approx(WATTS * (clock.t - run.t0) / J_PER_KWH, rel=1e-6)
    assert record.emissions_kg == pytest.approx(live_kg * record.energy_kwh / (WATTS * 10 / J_PER_KWH), rel=1e-6)
    assert run.energy_kwh == record.energy_kwh  # after the run: the record's
    assert run.power_w == pytest.approx(WATTS, rel=1e-6)


def test_a_run_not_started_says_so() -> None:
    run = tracker.Run(tracker.Tracker(save=False).config)
    with pytest.raises(AttributeError, match="has not finished"):
        _ = run.energy_kwh
    with pytest.raises(tracker.TrackerError):
        run.step("epoch")


def test_live_readings_on_a_real_run_match_its_record() -> None:
    """A real sampler at 50 ms: the reading grows with the run, and the final record is at least the last one."""
    with tracker.track(save=False, interval=0.05, country="DE") as run:
        time.sleep(0.3)
        first = run.energy_kwh
        time.sleep(0.3)
        second = run.reading()
        assert 0 < first < second.energy_kwh
        assert second.emissions_kg > 0 and second.power_w > 0
    assert run.energy_kwh >= second.energy_kwh
    assert run.emissions_kg == pytest.approx(run.energy_kwh * run.intensity_g_per_kwh / 1000 * run.pue, rel=1e-6)


def test_steps_carry_energy_duration_and_metrics_and_add_up_to_the_run(driven) -> None:
    t, clocks = driven
    run, clock = start_driven(t, clocks)
    seconds = [3.0, 5.0, 7.0]
    for i, s in enumerate(seconds):
        clock.t += s
        step = run.step("epoch", loss=1.0 / (i + 1), samples=100, tokens=2000, note="x")
        assert isinstance(step, StepStat) and step.step == i
        assert step.energy_kwh == pytest.approx(WATTS * s / J_PER_KWH, rel=1e-9)
        assert step.duration_s == pytest.approx(s)
        assert step.metrics == {"loss": 1.0 / (i + 1), "note": "x"}
        assert step.per("samples") == pytest.approx(step.energy_kwh / 100)
    clock.t += 0.5  # the tail after the last step, before the run's end
    record = end(t, run, clock)
    assert [s.name for s in record.steps] == ["epoch"] * 3
    total = sum(s.energy_kwh for s in record.steps)
    assert record.energy_kwh - total == pytest.approx(WATTS * 0.5 / J_PER_KWH, rel=1e-6)
    assert sum(s.emissions_kg for s in record.steps) == pytest.approx(
        record.emissions_kg * total / record.energy_kwh, rel=1e-6
    )


def _stored_run(store: str) -> tracker.Run:
    with tracker.track(store=store, interval=0.05, country="FR") as run:
        for i in range(3):
            time.sleep(0.05)
            run.step("epoch", loss=1.0 / (i + 1), accuracy=0.5 + i / 10, samples=64, tokens=640)
        time.sleep(0.05)
        run.step("eval", accuracy=0.9)
    return run


def _check_frame(run: tracker.Run, store: str) -> None:
    df = tracker.load_steps(run.run_id, store=store)
    assert list(df["step"]) == [0, 1, 2, 3]
    assert list(df["name"]) == ["epoch", "epoch", "epoch", "eval"]
    assert list(df["loss"][:3]) == [1.0, 0.5, pytest.approx(1 / 3)] and math.isnan(df["loss"][3])
    assert df["energy_kwh"].tolist() == pytest.approx([s.energy_kwh for s in run.steps], rel=1e-12)
    assert df["energy_kwh_per_sample"][:3].tolist() == pytest.approx((df["energy_kwh"][:3] / 64).tolist())
    assert df["emissions_kg_per_token"][:3].tolist() == pytest.approx((df["emissions_kg"][:3] / 640).tolist())
    assert math.isnan(df["energy_kwh_per_sample"][3])
    assert df["energy_kwh"].sum() <= run.energy_kwh
    assert tracker.load_steps("no-such-run", store=store).empty


def test_steps_are_stored_with_the_run_in_sqlite(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    run = _stored_run(store)
    _check_frame(run, store)
    import sqlite3

    conn = sqlite3.connect(store)
    assert conn.execute("SELECT count(*) FROM steps WHERE run_id = ?", (run.run_id,)).fetchone() == (4,)


def test_steps_are_stored_with_the_run_in_csv(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.csv")
    run = _stored_run(store)
    _check_frame(run, store)
    assert (tmp_path / "runs.steps.csv").exists()
    assert tracker.load_runs(store=store)["run_id"].tolist() == [run.run_id]  # the runs file is as before


def test_steps_are_stored_with_the_run_in_postgres(pg_url: str) -> None:
    run = _stored_run(pg_url)
    _check_frame(run, pg_url)


def _checkpoint_then_final(store: str) -> None:
    from tracker.core import checkpoints
    from tracker.stores import open_store

    with tracker.track(store=store, interval=0.05) as run:
        time.sleep(0.1)
        run.step("epoch", loss=1.0)
        time.sleep(0.1)
        assert checkpoints.write(run) is not None
        assert [r["step"] for r in open_store(store).steps(run.run_id)] == [0]
        run.step("epoch", loss=0.5)
        time.sleep(0.06)
    rows = open_store(store).steps(run.run_id)
    assert [r["step"] for r in rows] == [0, 1]
    assert [r["energy_kwh"] for r in rows] == pytest.approx([s.energy_kwh for s in run.steps], rel=1e-12)
    # a checkpoint landing after the final record (they race) changes nothing
    late = run.record.__class__(**{**run.record.__dict__, "status": "running", "steps": run.steps[:1]})
    open_store(store).write(late)
    assert [r["step"] for r in open_store(store).steps(run.run_id)] == [0, 1]
    assert open_store(store).rows(run_id=run.run_id)[0]["status"] == "completed"


def test_a_checkpoint_stores_the_steps_so_far_and_the_final_record_replaces_them(tmp_path: Path) -> None:
    _checkpoint_then_final(str(tmp_path / "runs.db"))


def test_a_checkpoint_and_the_final_record_in_postgres(pg_url: str) -> None:
    _checkpoint_then_final(pg_url)


def test_a_spooled_record_keeps_its_steps() -> None:
    record = _stored_run_record()
    row = record.to_row()  # what the spool writes, and reads back for a later delivery
    back = tracker.records.schema.RunRecord.from_row(row)
    assert len(back.steps) == 1 and math.isnan(back.steps[0].metrics["loss"])
    assert back.to_row()["steps"] == row["steps"]
    assert back.steps[0].energy_kwh == record.steps[0].energy_kwh > 0


def _stored_run_record():
    with tracker.track(save=False, interval=0.05) as run:
        time.sleep(0.06)
        run.step("epoch", loss=float("nan"), samples=3)
    return run.record


# -- prediction and budget ---------------------------------------------------------------------------------------


def test_prediction_is_within_5_percent_after_10_percent_of_the_steps(driven) -> None:
    """A synthetic run of 50 steps whose energies vary (±20 % around 4 s at 250 W): after 5 steps the prediction is
    within 5 % of the run's final energy, and the final energy lies inside the interval."""
    t, clocks = driven
    run, clock = start_driven(t, clocks)
    seconds = [4.0 * (1 + 0.2 * math.sin(i * 1.7)) for i in range(50)]
    predictions = []
    for s in seconds:
        clock.t += s
        run.step("epoch", total=50)
        predictions.append(run.prediction)
    record = end(t, run, clock)
    at_10 = predictions[4]
    assert at_10.steps_done == 5 and at_10.steps_total == 50
    assert abs(at_10.energy_kwh - record.energy_kwh) / record.energy_kwh < 0.05
    assert at_10.energy_kwh_low <= record.energy_kwh <= at_10.energy_kwh_high
    assert predictions[-1].energy_kwh == pytest.approx(record.energy_kwh, rel=1e-6)
    assert any(n.startswith("predicted after 1/50 steps") for n in record.notes)  # logged once, kept in the record
    assert sum(n.startswith("predicted") for n in record.notes) == 1


def test_predict_is_carbontrackers_product_for_equal_steps_with_an_interval_from_their_spread() -> None:
    p = predict([2.0, 2.0, 2.0], 10, 6.0, 3.0)
    assert p.energy_kwh == 20.0 and p.energy_kwh_low == p.energy_kwh_high == 20.0
    assert p.emissions_kg == 10.0
    q = predict([1.0, 3.0], 4, 4.0, 4.0)
    half = t975(1) * math.sqrt(2.0 * (2 + 4 / 2))
    assert q.energy_kwh == 8.0 and q.energy_kwh_high == pytest.approx(8.0 + half)
    assert q.energy_kwh_low == 4.0  # never below what was measured


def test_budget_stop_fires_at_the_first_boundary_after_the_prediction_crosses_it(driven) -> None:
    """Steps grow longer; the prediction first exceeds the budget at a boundary the test computes itself with the
    same rule, and the run raises there, not before and not after."""
    clocks = driven[1]
    seconds = [2.0 + 0.5 * i for i in range(20)]
    budget_kwh = WATTS * 2.0 * 20 * 1.25 / J_PER_KWH  # 25 % above the first step's naive product
    expected = next(
        i for i in range(20)
        if predict([WATTS * s / J_PER_KWH for s in seconds[: i + 1]], 20,
                   WATTS * sum(seconds[: i + 1]) / J_PER_KWH, 0.0).energy_kwh > budget_kwh
    )  # fmt: skip
    assert 0 < expected < 19
    t2 = tracker.Tracker(cpu_watts=WATTS, ram_watts=0, gpu_watts=0, interval=3600, save=False, checkpoint_s=0,
                         budget_kwh=budget_kwh, on_budget="stop", total_steps=20)  # fmt: skip
    run, clock = start_driven(t2, clocks)
    done = 0
    with pytest.raises(BudgetExceeded) as caught:
        for s in seconds:
            clock.t += s
            run.step("epoch")
            done += 1
    assert done == expected  # the step at index `expected` raised: it is recorded, the loop stopped there
    assert len(run.steps) == expected + 1
    assert caught.value.what == "energy_kwh" and caught.value.predicted > budget_kwh
    record = end(t2, run, clock, "failed", repr(caught.value))
    assert any("budget" in n and "stopped" in n for n in record.notes)


def test_budget_warns_once_and_goes_on(driven, caplog) -> None:
    t = tracker.Tracker(cpu_watts=WATTS, ram_watts=0, gpu_watts=0, interval=3600, save=False, checkpoint_s=0,
                        budget_kg=1e-9)  # fmt: skip
    run, clock = start_driven(t, driven[1])
    for _ in range(3):
        clock.t += 1.0
        run.step("epoch")  # no total: the measured figures are checked
    end(t, run, clock)
    assert sum("exceeds the budget" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [("budget_kwh", -1), ("budget_kg", "lots"), ("on_budget", "explode"), ("total_steps", 2.5), ("predict_after", 0)],
)
def test_a_bad_ml_setting_is_a_config_error(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        tracker.Tracker(**{key: value})


# -- the per-step report -------------------------------------------------------------------------------------------


def test_tracker_steps_html_draws_a_chart_per_step_and_the_table(tmp_path: Path) -> None:
    import re

    from tracker.cli import main

    store = str(tmp_path / "runs.db")
    run = _stored_run(store)
    out = tmp_path / "steps.html"
    assert main(["steps", run.run_id, "--store", store, "--format", "html", "--output", str(out)]) == 0
    html = out.read_text()
    assert 'id="chart-step-energy"' in html and html.count("<rect") >= 4  # a column per step
    assert "loss per step" in html and "accuracy per step" in html  # the user's metrics, a line each
    values = [float(v) for v in re.findall(r'<tr data-step="\d+"><td class="n">\d+</td><td>[^<]*</td><td class="n">'
                                          r'[^<]*</td><td class="n" data-value="([^"]+)"', html)]  # fmt: skip
    assert values == pytest.approx([s.energy_kwh for s in run.steps], rel=1e-12)
    assert main(["steps", run.run_id, "--store", store, "--format", "json", "--output", str(tmp_path / "s.json")]) == 0
    import json

    assert [r["step"] for r in json.loads((tmp_path / "s.json").read_text())] == [0, 1, 2, 3]
    assert main(["steps", "nope", "--store", store, "--format", "html"]) == 1  # no such run: said, exit 1


def test_the_prediction_follows_the_steps_the_total_counts_not_a_warm_up_step(driven) -> None:
    """Review finding 3: one long warm-up step, then ten epochs with ``total=10``. The mean step is the epochs'
    (the warm-up is in the energy measured so far): the prediction is exact, and a budget between the real total
    and the warm-up-based one stops nothing."""
    final_kwh = WATTS * (20.0 + 10 * 2.0) / J_PER_KWH
    t = tracker.Tracker(cpu_watts=WATTS, ram_watts=0, gpu_watts=0, interval=3600, save=False, checkpoint_s=0,
                        budget_kwh=final_kwh * 1.3, on_budget="stop")  # fmt: skip
    run, clock = start_driven(t, driven[1])
    clock.t += 20.0
    run.step("warmup")
    for _ in range(10):
        clock.t += 2.0
        run.step("epoch", total=10)  # with the warm-up's mean this predicted 20 + 10 x 20 s and stopped here
        assert run.prediction.energy_kwh == pytest.approx(final_kwh, rel=1e-9)
        assert run.prediction.steps_total == 10
    record = end(t, run, clock)
    assert record.energy_kwh == pytest.approx(final_kwh, rel=1e-9)
    assert not any("budget" in n for n in record.notes)


def test_one_slow_first_step_does_not_stop_the_run_on_its_own(driven) -> None:
    """Review finding 7: with ``predict_after=1`` the first step's product is a point estimate; the budget is
    checked against the prediction from the second step of the series on (before: the measured figures)."""
    t = tracker.Tracker(cpu_watts=WATTS, ram_watts=0, gpu_watts=0, interval=3600, save=False, checkpoint_s=0,
                        budget_kwh=WATTS * 60.0 / J_PER_KWH, on_budget="stop", total_steps=10)  # fmt: skip
    run, clock = start_driven(t, driven[1])
    clock.t += 10.0  # a first epoch with compilation: 10 x 10 s would exceed the 60 s budget (2 steps: 55 s)
    run.step("epoch")
    assert run.prediction.energy_kwh > WATTS * 60.0 / J_PER_KWH
    for _ in range(9):
        clock.t += 1.0
        run.step("epoch")
    record = end(t, run, clock)
    assert record.energy_kwh == pytest.approx(WATTS * 19.0 / J_PER_KWH, rel=1e-9)
    assert not any("budget" in n for n in record.notes)


def test_csv_checkpoints_append_only_the_new_steps(tmp_path: Path) -> None:
    """ML review finding 8: every checkpoint appended all the run's steps again (a checkpoint after each of 10
    steps: 65 lines). Now the new ones and the last one again (its metrics may have been completed since)."""
    import csv

    from tracker.core import checkpoints
    from tracker.stores import open_store

    store = str(tmp_path / "runs.csv")
    with tracker.track(store=store, interval=0.05, checkpoint_s=0) as run:
        for i in range(10):
            run.step("epoch", loss=float(i))
            assert checkpoints.write(run) is not None
        run.steps[-1].metrics["late"] = 1.0  # completed after the boundary, as the Trainer's loss is
    with open(tmp_path / "runs.steps.csv", newline="") as fh:
        lines = list(csv.reader(fh))[1:]
    assert len(lines) <= 2 * 10
    rows = open_store(store).steps(run.run_id)
    assert [int(r["step"]) for r in rows] == list(range(10))
    assert [r["energy_kwh"] for r in rows] == pytest.approx([s.energy_kwh for s in run.steps], rel=1e-12)
    assert '"late"' in rows[-1]["metrics"]


def test_t975_falls_smoothly_past_the_table() -> None:
    """ML review finding 8: the quantile jumped from 2.042 (30 degrees of freedom) to 1.96 (31). Reference values:
    NIST/SEMATECH e-Handbook table 1.3.6.7.2 (40, 60, 100) and R's qt(0.975, df) (31, 120, 1000)."""
    expected = {31: 2.03951, 40: 2.02108, 60: 2.00030, 100: 1.98397, 120: 1.97993, 1000: 1.96234}
    for df, value in expected.items():
        assert t975(df) == pytest.approx(value, abs=2e-5), df
    values = [t975(df) for df in range(1, 2000)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert values[-1] > 1.96
