"""Regression tests for faults found in review: each one once broke a promise of the design."""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

import pytest

import tracker
from tests.machine import CPU_MODEL
from tracker.config import resolve
from tracker.core import finish
from tracker.core.run import Run
from tracker.measure.sources.base import Component
from tracker.measure.timeline import Timeline
from tracker.measure.usage import UsageProbe


class GrowingDeque(deque):
    """A span buffer that another thread keeps filling while the sampler folds it."""

    def popleft(self):  # type: ignore[override]
        item = super().popleft()
        self.append(("late", 10**12, 2 * 10**12))  # ends long after the last tick: goes back to pending
        return item


def test_folding_is_a_bounded_pass_even_while_spans_keep_arriving() -> None:
    tl = Timeline()
    tl.append(0.0, 0.0, 0.0, 0.0)
    tl.append(1.0, 10.0, 0.0, 0.0)
    run = Run(resolve({}))
    run.profile.spans = GrowingDeque([("early", 0, 500_000_000)])
    run.profile.fold(tl, upto=1.0)  # used to loop for ever, holding the meter lock
    assert run.profile.stats["early"][0] == 1
    assert run.profile.stats["early"][2] == pytest.approx(5.0)


def test_one_track_object_shared_by_threads_stops_each_threads_own_run(store_path: str) -> None:
    block = tracker.track(project="shared", store=store_path, interval=0.05)
    results: dict[str, object] = {}
    a_in, b_in = threading.Event(), threading.Event()

    def worker(label: str, hold: float, entered: threading.Event, wait_for: threading.Event) -> None:
        with block as run:
            entered.set()
            wait_for.wait(5)
            time.sleep(hold)
        results[label] = run

    a = threading.Thread(target=worker, args=("a", 0.05, a_in, b_in))
    b = threading.Thread(target=worker, args=("b", 0.4, b_in, a_in))
    a.start()
    b.start()
    a.join()
    b.join()
    run_a, run_b = results["a"], results["b"]
    assert run_a.duration_s < 0.3 < run_b.duration_s  # each thread's exit stopped its own run


def test_one_task_object_reused_and_nested() -> None:
    step = tracker.task("step")
    with tracker.Tracker(cpu_watts=10, gpu_watts=0, ram_watts=0, save=False) as run, step:
        time.sleep(0.01)
        with step:  # the same object, nested
            time.sleep(0.01)
    (stat,) = run.spans
    assert stat.calls == 2
    assert stat.duration_s == pytest.approx(0.03, abs=0.02)


def test_process_tree_time_never_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = UsageProbe("process")
    probe.start()
    readings = iter([(100.0, 0.0), (91.0, 0.0), (101.0, 0.0)])  # a child vanished for one tick, then came back
    monkeypatch.setattr(probe, "_tree", lambda: next(readings))
    probe._tree_cpu = 90.0
    monkeypatch.setattr(
        "tracker.measure.usage.machine_cpu_seconds", iter([(1000.0, 2000.0), (1010, 2020), (1020, 2040)]).__next__
    )
    probe._busy, probe._total = 990.0, 1980.0
    shares = [probe.read(1.0).cpu_share for _ in range(3)]
    # 10 s of tree time in 10 busy seconds, then nothing new, then 1 s: not 10 s again
    assert shares == [pytest.approx(1.0), 0.0, pytest.approx(0.1)]


def test_accounting_failure_still_writes_a_record_and_never_raises(
    store_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(finish, "carbon_of", broken)  # the accounting step of the record builder
    with tracker.track(project="salvaged", store=store_path) as run:
        pass
    assert run.status == "completed"
    assert run.cpu_method == "failed"
    assert "accounting failed" in run.notes[0]
    assert tracker.load_runs(store_path)["project"].tolist() == ["salvaged"]
    with tracker.track(project="after", store=store_path):  # the meter was detached: the next run works
        pass


PROVENANCE = (
    *("project", "experiment", "team", "organisation", "tags", "attribution", "interval_s", "tracker_version"),
    *("zone", "country", "location_source", "cloud_provider", "cloud_region"),
    *("pue", "pue_source", "market_source", "host", "cpu_model", "cpu_count", "ram_total_gb"),
    *("job_id", "node", "rank", "local_rank", "world_size"),
)


@pytest.mark.parametrize(
    "settings",
    [
        {"country": "FR"},
        {"zone": "US-CAL-CISO", "pue": 1.3},
        {"cloud_provider": "aws", "cloud_region": "eu-west-1", "pue": "aws"},
        {"country": "DE", "suppliers": "green:80:0.008,grey:20:0.01", "team": "ml", "tags": "a=1"},
    ],
)
def test_a_salvaged_record_carries_the_same_provenance_as_a_measured_one(
    settings: dict[str, object], store_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both records come from one builder: when the accounting fails, only the figures are lost (the location
    source used to fall back to the world average although the country was configured)."""
    with tracker.track(project="p", store=store_path, **settings) as measured:
        pass

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(finish, "carbon_of", broken)
    with tracker.track(project="p", store=store_path, **settings) as salvaged:
        pass
    assert salvaged.cpu_method == "failed" and salvaged.energy_kwh == 0.0
    assert measured.cpu_method != "failed" and measured.location_source != "world-average"
    for column in PROVENANCE:
        expected = getattr(measured, column)
        if isinstance(expected, float):  # the measured run's PUE is facility / IT energy: equal up to rounding
            expected = pytest.approx(expected, rel=1e-12)
        assert getattr(salvaged, column) == expected, column
    stored = tracker.load_runs(store_path).set_index("run_id")
    for column in ("zone", "country", "location_source", "pue_source", "market_source"):
        assert stored.at[salvaged.run_id, column] == stored.at[measured.run_id, column], column


def test_no_home_directory_does_not_break_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.delenv("XDG_CONFIG_HOME")

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    with tracker.track(project="homeless") as run:
        pass
    assert run.status == "completed"
    assert tracker.load_runs()["run_id"].tolist() == [run.run_id]
    assert list((tmp_path / "tmp").glob("tracker-*/.local/share/tracker/runs.db"))


def test_csv_output_is_csv_whatever_the_extension(tmp_path: Path, store_path: str) -> None:
    target = tmp_path / "runs.txt"
    with tracker.track(project="txt", store=store_path, csv=str(target)) as run:
        pass
    assert target.read_text().startswith("run_id,")
    assert run.run_id in target.read_text()


def test_an_unknown_store_scheme_fails_at_start() -> None:
    with pytest.raises(tracker.ConfigError) as info:
        tracker.Tracker(store="mysql://db.example/runs")
    assert info.value.key == "store"


def test_method_says_only_what_happened_during_this_run(store_path: str) -> None:
    t = tracker.Tracker(store=store_path)
    first = t.start()
    chain = first.meter.chains[Component.CPU]
    chain.used.append("constant")  # as if the model had been replaced during this first run
    assert t.stop().cpu_method == f"{CPU_MODEL}>constant"
    second = t.start()
    assert second.meter is first.meter
    assert t.stop().cpu_method == "constant"  # the hand-over happened before this run began


def test_ctrl_c_while_a_record_is_being_built_still_writes_it(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyboardInterrupt inside the run's end (a store write, the location wait) used to lose the record."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(finish, "carbon_of", interrupted)  # the accounting step: a salvaged record skips it
    run = tracker.Tracker(project="ctrl-c", store=store_path).start()
    with pytest.raises(KeyboardInterrupt):
        run.stop()
    assert run.record is not None and run.record.status == "interrupted"
    assert tracker.load_runs(store_path)["project"].tolist() == ["ctrl-c"]
