"""The public API contract: track (decorator and block), Tracker, statuses, labels, load_runs columns."""

from __future__ import annotations

import time

import pytest

import tracker
from tests.machine import CPU_MODEL
from tracker.records.schema import COLUMNS

CONTRACT = [
    "run_id", "project", "experiment", "team", "organisation", "started_at", "ended_at", "duration_s",
    "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh", "energy_kwh", "pue", "facility_energy_kwh",
    "intensity_g_per_kwh", "intensity_source", "intensity_year", "country", "emissions_kg", "cpu_method",
    "gpu_method", "ram_method", "host", "cpu_model", "gpu_model", "tracker_version", "status",
]  # fmt: skip


def test_block_result_holds_every_figure_and_its_provenance(store_path: str) -> None:
    with tracker.track(project="demo", country="FR", pue=1.5, store=store_path, interval=0.05) as run:
        time.sleep(0.15)
    assert run.status == "completed"
    assert run.duration_s == pytest.approx(0.15, abs=0.05)
    assert run.energy_kwh == pytest.approx(run.cpu_energy_kwh + run.gpu_energy_kwh + run.ram_energy_kwh)
    assert run.energy_kwh > 0
    assert run.facility_energy_kwh == pytest.approx(run.energy_kwh * 1.5)
    assert run.country == "FR"
    assert run.intensity_year >= 2022
    assert "Ember" in run.intensity_source
    assert run.emissions_kg == pytest.approx(run.facility_energy_kwh * run.intensity_g_per_kwh / 1000)
    assert run.cpu_method == CPU_MODEL and run.ram_method == "ram-model" and run.gpu_method == "none"
    assert run.cpu_power_w == pytest.approx(run.cpu_energy_kwh * 3.6e6 / run.duration_s)
    assert run.tracker_version == tracker.__version__


def test_result_is_not_available_before_the_run_ends(store_path: str) -> None:
    """Only the record's other fields wait for the end: energy, emissions and power so far read live (issue 16)."""
    with tracker.track(store=store_path) as run:
        assert run.energy_kwh >= 0 and run.emissions_kg >= 0  # live readings (tracker.core.live)
        with pytest.raises(AttributeError, match="has not finished"):
            _ = run.cpu_method
    assert run.energy_kwh >= 0 and run.cpu_method


def test_bare_and_configured_decorators_start_runs(store_path: str) -> None:
    @tracker.track
    def bare(x: int) -> int:
        return x * 2

    @tracker.track(project="configured", team="ml", store=store_path, tags={"gpu": "none"})
    def configured() -> str:
        return "ok"

    assert bare(21) == 42
    assert bare.__name__ == "bare"
    assert configured() == "ok"
    frame = tracker.load_runs(store_path)
    assert list(frame["project"]) == ["configured"]
    assert frame.loc[0, "team"] == "ml"
    assert tracker.load_runs()["project"].tolist() == ["default"]  # the bare one went to the default store


def test_exceptions_propagate_and_the_record_says_failed(store_path: str) -> None:
    @tracker.track(store=store_path)
    def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        broken()
    with pytest.raises(KeyboardInterrupt), tracker.track(store=store_path):
        raise KeyboardInterrupt
    frame = tracker.load_runs(store_path).sort_values("started_at")
    assert frame["status"].tolist() == ["failed", "interrupted"]
    assert frame["error"].iloc[0] == "ValueError: boom"


def test_tracker_start_stop_and_restart_make_new_runs(store_path: str) -> None:
    t = tracker.Tracker(project="loop", experiment="e1", organisation="acme", store=store_path)
    first = t.start()
    assert tracker.current_run() is first
    record1 = t.stop()
    assert tracker.current_run() is None
    second = t.start()
    record2 = t.stop()
    assert record1.run_id != record2.run_id
    assert first.run_id == record1.run_id and second.run_id == record2.run_id
    assert t.stop() is record2  # stopping twice returns the same record and writes nothing more
    frame = tracker.load_runs(store_path)
    assert len(frame) == 2
    assert set(frame["organisation"]) == {"acme"}
    assert set(frame["experiment"]) == {"e1"}


def test_starting_a_running_tracker_is_an_error(store_path: str) -> None:
    t = tracker.Tracker(store=store_path)
    t.start()
    with pytest.raises(tracker.TrackerError):
        t.start()
    t.stop()
    with pytest.raises(tracker.TrackerError):
        tracker.Tracker(store=store_path).stop()


def test_nested_blocks_are_separate_runs_and_decorators_inside_are_spans(store_path: str) -> None:
    @tracker.track
    def inner() -> None:
        time.sleep(0.001)

    with tracker.track(project="outer", store=store_path) as outer:
        inner()
        with tracker.track(project="nested", store=store_path) as nested:
            inner()
            inner()
    assert [s.calls for s in outer.spans] == [1]
    assert [s.calls for s in nested.spans] == [2]
    assert set(tracker.load_runs(store_path)["project"]) == {"outer", "nested"}


def test_load_runs_has_the_contract_columns_and_filters(store_path: str) -> None:
    for project in ("a", "b", "a"):
        with tracker.track(project=project, team="t", store=store_path):
            pass
    frame = tracker.load_runs(store_path)
    for column in CONTRACT:
        assert column in frame.columns, column
    assert list(frame.columns) == list(COLUMNS)
    assert str(frame["started_at"].dt.tz) == "UTC"
    assert (frame["ended_at"] >= frame["started_at"]).all()
    assert (frame["facility_energy_kwh"] == frame["energy_kwh"] * frame["pue"]).all()
    assert len(tracker.load_runs(store_path, project="a")) == 2
    assert len(tracker.load_runs(store_path, limit=1)) == 1


def test_store_from_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "env.db"
    monkeypatch.setenv("TRACKER_STORE", str(target))
    with tracker.track(project="env"):
        pass
    assert target.exists()
    assert tracker.load_runs()["project"].tolist() == ["env"]


def test_csv_output_on_request(tmp_path, store_path: str) -> None:
    csv_path = tmp_path / "out" / "runs.csv"
    with tracker.track(project="csv", store=store_path, csv=str(csv_path)) as run:
        pass
    frame = tracker.load_runs(str(csv_path))
    assert frame["run_id"].tolist() == [run.run_id]
    assert frame.loc[0, "energy_kwh"] == pytest.approx(run.energy_kwh)
    assert len(tracker.load_runs(store_path)) == 1


def test_a_broken_store_never_loses_the_record(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with tracker.track(project="lost?", store=str(blocker / "runs.db")) as run:
        pass
    assert run.status == "completed"
    assert any("failed" in note for note in run.notes)
    (spooled,) = (tmp_path / "home" / "data" / "tracker" / "spool").glob("*.json")
    assert run.run_id in spooled.read_text()  # waits there for a later run or `tracker sync`
    assert "could not write run" in caplog.text


def test_process_mode_attributes_a_share(store_path: str) -> None:
    with tracker.track(mode="process", store=store_path, interval=0.05) as run:
        deadline = time.perf_counter() + 0.3
        while time.perf_counter() < deadline:
            pass
    assert run.attribution == "process"
    with tracker.track(mode="machine", store=store_path, interval=0.05) as machine:
        time.sleep(0.3)
    # the busy process is charged power; its RAM share is its RSS, far below the machine's installed RAM
    assert run.cpu_energy_kwh > 0
    assert run.ram_power_w < machine.ram_power_w / 5
