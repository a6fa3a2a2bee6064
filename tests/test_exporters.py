"""Live metrics: the Prometheus /metrics endpoint, a real pushgateway, OpenTelemetry, and their cost when off."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracker
from tests.waiting import wait_for
from tracker.errors import ConfigError
from tracker.exporters import live, prometheus
from tracker.records.schema import RunRecord

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
FORCED = {"cpu_watts": 10, "ram_watts": 2, "gpu_watts": 0, "interval": 0.05}


@pytest.fixture(autouse=True)
def clean_exporters() -> Iterator[None]:
    live.forget_all()
    yield
    prometheus.shutdown()
    live.forget_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def samples(text: str, name: str, run_id: str) -> dict[str, float]:
    """``{component or "": value}`` of one metric for one run, parsed from the exposition format."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("run") == run_id:
                found[sample.labels.get("component", "")] = sample.value
    return found


def test_metrics_endpoint_is_scraped_during_a_run_and_keeps_the_final_values(store_path: str) -> None:
    with tracker.track(
        project="scraped", experiment="e1", metrics_port=0, metrics_run_label=True, store=store_path, **FORCED
    ) as run:
        time.sleep(0.4)
        port = prometheus.bound_port(0)
        assert port is not None
        text = fetch(f"http://127.0.0.1:{port}/metrics")
        elapsed = time.perf_counter() - run.t0
    energy = samples(text, "tracker_energy_joules_total", run.run_id)
    assert 10 * 0.3 <= energy["cpu"] <= 10 * elapsed + 1e-6
    assert energy["ram"] == pytest.approx(energy["cpu"] / 5, rel=1e-6)
    assert energy["gpu"] == 0.0
    power = samples(text, "tracker_power_watts", run.run_id)
    assert power["cpu"] == pytest.approx(10.0, rel=1e-6)
    assert power["ram"] == pytest.approx(2.0, rel=1e-6)
    assert samples(text, "tracker_run_active", run.run_id) == {"": 1.0}
    assert samples(text, "tracker_emissions_grams_total", run.run_id)[""] > 0
    assert 'project="scraped"' in text and 'experiment="e1"' in text
    after = fetch(f"http://127.0.0.1:{port}/metrics")  # the finished run lingers with its record's figures
    final = samples(after, "tracker_energy_joules_total", run.run_id)
    assert final["cpu"] == pytest.approx(run.cpu_energy_kwh * 3.6e6, rel=1e-9)
    assert samples(after, "tracker_emissions_grams_total", run.run_id)[""] == pytest.approx(run.emissions_kg * 1000)
    assert samples(after, "tracker_run_active", run.run_id) == {"": 0.0}


def test_a_port_in_use_is_noted_and_the_run_goes_on(store_path: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with tracker.track(metrics_port=port, store=store_path, **FORCED) as run:
            time.sleep(0.1)
    assert run.status == "completed"
    assert any(f"could not serve /metrics on port {port}" in note for note in run.notes)
    assert run.cpu_energy_kwh > 0


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """A real pushgateway on a free loopback port; skipped only when the binary is missing outside CI."""
    if not os.path.exists(PUSHGATEWAY):
        message = f"{PUSHGATEWAY} is not installed (apt-get install prometheus-pushgateway)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={tmp_path / 'pgw.data'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                fetch(f"{url}/-/ready")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the pushgateway did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


def test_pushgateway_gets_periodic_pushes_and_the_final_values(
    pushgateway: str, store_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prometheus.pusher, "every", 0.2)
    with tracker.track(project="pushed", pushgateway=pushgateway, store=store_path, **FORCED) as run:
        deadline = time.monotonic() + 10
        while not samples(fetch(f"{pushgateway}/metrics"), "tracker_run_active", run.run_id):
            assert time.monotonic() < deadline, "no periodic push reached the gateway"
            time.sleep(0.1)
        during = fetch(f"{pushgateway}/metrics")
    assert samples(during, "tracker_run_active", run.run_id) == {"": 1.0}
    assert samples(during, "tracker_energy_joules_total", run.run_id)["cpu"] > 0
    after = fetch(f"{pushgateway}/metrics")
    assert samples(after, "tracker_run_active", run.run_id) == {"": 0.0}
    final = samples(after, "tracker_energy_joules_total", run.run_id)
    assert final["cpu"] == pytest.approx(run.cpu_energy_kwh * 3.6e6, rel=1e-9)
    assert final["ram"] == pytest.approx(run.ram_energy_kwh * 3.6e6, rel=1e-9)
    assert 'job="tracker"' in after and 'project="pushed"' in after
    assert not any("push" in note for note in run.notes)


def test_an_unreachable_pushgateway_is_noted_and_the_run_goes_on(store_path: str) -> None:
    gateway = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with tracker.track(pushgateway=gateway, store=store_path, **FORCED) as run:
        time.sleep(0.05)
    assert run.status == "completed"
    assert any(f"push to pushgateway {gateway} failed" in note for note in run.notes)


def test_opentelemetry_instruments_report_the_same_figures(store_path: str) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from tracker.exporters import otel

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    assert otel.install(provider)
    assert not otel.install(provider)  # once per provider

    def points(name: str, run_id: str) -> dict[str, float]:
        data = reader.get_metrics_data()
        found: dict[str, float] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            if point.attributes.get("run") == run_id:
                                found[str(point.attributes.get("component", ""))] = point.value
        return found

    with tracker.track(project="otel", otel=True, metrics_run_label=True, store=store_path, **FORCED) as run:
        time.sleep(0.3)
        during = points("tracker_energy_joules_total", run.run_id)
        power = points("tracker_power_watts", run.run_id)
    assert during["cpu"] >= 10 * 0.2
    assert power["cpu"] == pytest.approx(10.0, rel=1e-6)
    final = points("tracker_energy_joules_total", run.run_id)
    assert final["cpu"] == pytest.approx(run.cpu_energy_kwh * 3.6e6, rel=1e-9)
    assert points("tracker_emissions_grams_total", run.run_id)[""] == pytest.approx(run.emissions_kg * 1000)
    provider.shutdown()


def test_bad_exporter_settings_raise_at_start_and_leave_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="pushgateway"):
        tracker.Tracker(pushgateway="localhost:9091").start()
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "prometheus_client" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"tracker\[prometheus\]"):
        tracker.Tracker(metrics_port=0).start()
    assert tracker.current_run() is None


def test_no_exporter_configured_imports_nothing_and_watches_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, tracker\n"
        f"with tracker.track(store={str(tmp_path / 'x.db')!r}, cpu_watts=1):\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('tracker.exporters', 'prometheus', 'opentelemetry'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def live_grams_per_joule(**settings: object) -> tuple[float, RunRecord]:
    """A 1 W run's live emissions per joule, read as a scrape would mid-run, and the run's record."""
    run = tracker.Tracker(save=False, cpu_watts=1, gpu_watts=0, ram_watts=0, interval=0.05, **settings)
    started = run.start()
    live.watch(started)  # what exporters.attach does for a run with metrics configured
    try:
        assert wait_for(lambda: sum(live.snapshot(started.run_id)[0].joules) > 0)
        (figures,) = live.snapshot(started.run_id)
        return figures.grams / sum(figures.joules), run.stop()
    finally:
        if started.active:
            run.stop()
        live.forget_all()


def test_live_emissions_use_the_runs_zone_not_only_its_country() -> None:
    """Mid-run emissions follow the configured zone (here a US balancing authority), like the record will."""
    from tracker.grid.zones import zone_table

    rate, record = live_grams_per_joule(zone="US-CAL-CISO", pue=1.2)
    expected = zone_table().get("US-CAL-CISO").g_per_kwh * 1.2 / 3.6e6
    assert rate == pytest.approx(expected)
    assert record.intensity_g_per_kwh == pytest.approx(zone_table().get("US-CAL-CISO").g_per_kwh)


def test_live_emissions_follow_the_pue_schedule_and_the_live_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a run goes, its emissions are accounted as its record will be: the site's PUE for today (not the
    constant) and the live Electricity Maps intensity of the hour (not the embedded yearly figure)."""
    from datetime import datetime, timezone

    from tests.local_http import Answer, serve
    from tests.test_electricitymaps import NOW, history_body, point
    from tracker.grid import electricitymaps
    from tracker.grid.zones import zone_table

    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    schedule = tmp_path / "pue.csv"
    schedule.write_text(f"date,pue\n{today},1.5\n", encoding="utf-8")
    routes = {
        ("GET", "/v3/carbon-intensity/history"): Answer(200, history_body("DE")),
        ("GET", "/v3/carbon-intensity/latest"): Answer(200, point("DE", NOW, 100)),
    }
    electricitymaps.reset()
    with serve(routes) as api:
        monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "a-token")
        monkeypatch.setenv("ELECTRICITYMAPS_API_URL", api.url + "/v3")
        rate, record = live_grams_per_joule(zone="DE", pue_schedule=str(schedule), live="on")
    electricitymaps.reset()
    assert record.intensity_g_per_kwh == pytest.approx(100.0)  # the hour's live value, as the record says
    assert record.pue == pytest.approx(1.5)
    assert zone_table().get("DE").g_per_kwh != pytest.approx(100.0)  # the embedded figure would differ
    assert rate == pytest.approx(100.0 * 1.5 / 3.6e6)
