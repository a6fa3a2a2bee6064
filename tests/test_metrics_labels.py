"""/metrics series: per project / experiment / team, counters accumulating across runs; the run id opt-in.

A series per run would live for the whole retention of the Prometheus server (its naming guide warns against
unbounded label values), so by default many runs make one series, and ``promtool check metrics`` accepts it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

import tracker
from tracker.exporters import live, prometheus

FORCED = {"cpu_watts": 10, "ram_watts": 2, "gpu_watts": 0, "interval": 0.05}


@pytest.fixture(autouse=True)
def clean_exporters() -> Iterator[None]:
    live.forget_all()
    yield
    prometheus.shutdown()
    live.forget_all()


def scrape() -> str:
    port = prometheus.bound_port(0)
    assert port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def families(text: str) -> dict[str, list]:
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def promtool_check(text: str) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        message = "promtool is not installed (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_many_runs_make_one_series_whose_counters_accumulate(store_path: str) -> None:
    labels = {"project": "p", "experiment": "e", "team": "t"}
    runs = []
    for _ in range(6):
        with tracker.track(metrics_port=0, store=store_path, **labels, **FORCED) as run:
            time.sleep(0.06)
        runs.append(run)
    after = scrape()
    samples = families(after)
    energy = [s for s in samples["tracker_energy_joules"] if s.name == "tracker_energy_joules_total"]
    assert {s.labels["component"] for s in energy} == {"cpu", "gpu", "ram"}
    assert len(energy) == 3  # one series per component, not one per run
    for sample in energy:
        assert "run" not in sample.labels
        assert {k: sample.labels[k] for k in labels} == labels
    cpu = next(s.value for s in energy if s.labels["component"] == "cpu")
    assert cpu == pytest.approx(sum(r.cpu_energy_kwh for r in runs) * 3.6e6, rel=1e-9)
    grams = [s for s in samples["tracker_emissions_grams"] if s.name == "tracker_emissions_grams_total"]
    assert len(grams) == 1 and grams[0].value == pytest.approx(sum(r.emissions_kg for r in runs) * 1000, rel=1e-9)
    assert [s.value for s in samples["tracker_run_active"]] == [0.0]
    promtool_check(after)

    # a running run adds what it has used so far; the counter never goes back
    with tracker.track(metrics_port=0, store=store_path, **labels, **FORCED) as run:
        time.sleep(0.2)
        during = families(scrape())
    running = next(
        s.value for s in during["tracker_energy_joules"] if s.labels.get("component") == "cpu" and "_total" in s.name
    )
    assert running > cpu
    assert [s.value for s in during["tracker_run_active"]] == [1.0]
    final = families(scrape())
    last = next(
        s.value for s in final["tracker_energy_joules"] if s.labels.get("component") == "cpu" and "_total" in s.name
    )
    assert last == pytest.approx(cpu + run.cpu_energy_kwh * 3.6e6, rel=1e-9)


def test_other_labels_are_other_series_and_the_run_id_is_opt_in(store_path: str) -> None:
    with tracker.track(metrics_port=0, project="a", store=store_path, **FORCED):
        time.sleep(0.06)
    with tracker.track(metrics_port=0, project="b", team="x", store=store_path, **FORCED):
        time.sleep(0.06)
    with tracker.track(metrics_port=0, project="c", metrics_run_label=True, store=store_path, **FORCED) as own:
        time.sleep(0.06)
        text = scrape()
    active = {
        (s.labels["project"], s.labels["team"], s.labels.get("run", "")): s.value
        for s in families(text)["tracker_run_active"]
    }
    assert active == {("a", "", ""): 0.0, ("b", "x", ""): 0.0, ("c", "", own.run_id): 1.0}
    promtool_check(text)  # one label set per family: run="" where a series has no run id
