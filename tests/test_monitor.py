"""``tracker monitor``: contiguous interval records until SIGTERM or Ctrl-C, and its duration parser."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import tracker
from tracker.cli.monitor import _Stop, parse_duration
from tracker.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900.0), ("1s", 1.0), ("2h", 7200.0), ("90", 90.0), ("0.5s", 0.5), (" 3M ", 180.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-1m", "1d", "m", "1.5.2s"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match="every"):
        parse_duration(text)


def monitor(store: str, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    cmd = [sys.executable, "-m", "tracker", "monitor", "--every", "1s", "--interval", "0.2", "--store", store]
    cmd += ["--cpu-watts", "10", "--ram-watts", "2", "--gpu-watts", "0", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")])
def test_monitor_writes_contiguous_intervals_and_the_partial_one_on_a_signal(
    tmp_path: Path, sig: signal.Signals, status: str
) -> None:
    store = str(tmp_path / "monitor.db")
    proc = monitor(store)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("tracker monitor: measuring")
    time.sleep(2.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    runs = tracker.load_runs(store).sort_values("started_at").reset_index(drop=True)
    assert runs["status"].tolist() == ["completed", "completed", status]
    assert runs["duration_s"].iloc[:2].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert 0.2 <= runs["duration_s"].iloc[2] <= 0.95
    starts, ends = runs["started_at"].tolist(), runs["ended_at"].tolist()
    assert starts[1:] == ends[:-1]  # contiguous: each interval begins at the instant the previous one ends
    assert all(a < b for a, b in zip(starts, ends, strict=True))
    assert set(runs["project"]) == {"monitor"}
    assert set(runs["attribution"]) == {"machine"}
    assert [json.loads(tags) for tags in runs["tags"]] == [{"monitor": platform.node()}] * 3
    joules = runs["energy_kwh"] * 3.6e6
    assert joules.tolist() == pytest.approx((12.0 * runs["duration_s"]).tolist(), rel=1e-6)
    assert signal.Signals(sig).name in runs["error"].iloc[2]
    assert len(out.strip().splitlines()) == 3  # after the start line: a line per record


def test_monitor_refuses_process_mode(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tracker", "monitor", "--mode", "process", "--store", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "machine mode" in out.stderr


@pytest.mark.slow
def test_monitor_serves_metrics_while_it_runs(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = monitor(str(tmp_path / "m.db"), "--metrics-port", str(port))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("tracker monitor: measuring")
        time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    cpu = [
        s
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "tracker_energy_joules_total" and s.labels["component"] == "cpu"
    ]
    assert len(cpu) == 1
    assert cpu[0].labels["project"] == "monitor"
    assert cpu[0].value > 0
    assert proc.returncode == 0


def test_the_stop_signal_wakes_the_wait_and_other_signals_do_not_end_it() -> None:
    """The monitor's wait ends on SIGTERM/SIGINT at any moment (even one sent before the wait began), and only
    then; its handler takes no lock (a signal landing inside Event.wait could otherwise deadlock)."""
    usr1 = signal.signal(signal.SIGUSR1, lambda signum, frame: None)  # another handled signal
    stop = _Stop()
    previous = stop.install()
    try:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        t = time.perf_counter()
        assert stop.wait_until(t + 0.4) is False  # SIGUSR1 woke the select, not the monitor
        assert time.perf_counter() - t >= 0.39
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM)).start()
        t = time.perf_counter()
        assert stop.wait_until(t + 10.0) is True
        assert time.perf_counter() - t < 5.0 and stop.signum == signal.SIGTERM
    finally:
        stop.uninstall(previous)
        signal.signal(signal.SIGUSR1, usr1)
    assert signal.getsignal(signal.SIGTERM) is previous[signal.SIGTERM]


def test_a_stop_signal_before_the_wait_is_not_lost() -> None:
    stop = _Stop()
    previous = stop.install()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        t = time.perf_counter()
        assert stop.wait_until(t + 10.0) is True and time.perf_counter() - t < 1.0
        assert stop.signum == signal.SIGINT
    finally:
        stop.uninstall(previous)
