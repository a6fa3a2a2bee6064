"""``tracker when`` and ``tracker wait`` against a loopback Electricity Maps forecast."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tracker.stores
from tests.local_http import Answer, LocalServer, serve
from tracker.cli import main
from tracker.grid import electricitymaps
from tracker.schedule import formats

HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def body(points: list[tuple[datetime, float]]) -> dict:
    return {
        "zone": "NL",
        "forecast": [{"carbonIntensity": v, "datetime": _z(t)} for t, v in points],
        "updatedAt": _z(HOUR),
    }


@pytest.fixture
def em(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """A forecast server the environment points at; set ``em.routes`` per test."""
    electricitymaps.reset()
    with serve() as server:
        monkeypatch.setenv(electricitymaps.TOKEN_ENV, "token")
        monkeypatch.setenv(electricitymaps.URL_ENV, server.url)
        yield server
    electricitymaps.reset()


def hourly(values: list[float]) -> Answer:
    return Answer(body=body([(HOUR + timedelta(hours=i), v) for i, v in enumerate(values)]))


def test_when_prints_the_best_start_in_each_format(em: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    em.routes[("GET", "/carbon-intensity/forecast")] = hourly([400, 380, 90, 110, 500, 500, 500, 500])
    assert main(["when", "--zone", "NL", "--duration", "2h", "--within", "8h", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    best = HOUR + timedelta(hours=2)
    assert out["start"] == best.isoformat() and out["g_per_kwh"] == 100.0 and out["place"] == "NL"
    assert out["signal"] == "average" and out["source"] == "Electricity Maps forecast"
    assert out["delay_s"] == pytest.approx((best - datetime.now(timezone.utc)).total_seconds(), abs=30)

    assert main(["when", "--zone", "NL", "--duration", "2h", "--within", "8h"]) == 0
    text = capsys.readouterr().out
    assert f"start      {best.strftime('%Y-%m-%d %H:%M UTC')}" in text and "expected   100 gCO2e/kWh" in text

    assert main(["when", "--zone", "NL", "--duration", "2h", "--within", "8h", "--format", "slurm"]) == 0
    slurm = capsys.readouterr().out.strip()
    assert re.fullmatch(r"--begin=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", slurm)
    assert datetime.fromisoformat(slurm.split("=")[1]).astimezone(timezone.utc) == best  # local time, as sbatch
    assert main(["when", "--zone", "NL", "--duration", "2h", "--within", "8h", "--format", "at"]) == 0
    assert capsys.readouterr().out.strip() == f"-t {best.astimezone().strftime('%Y%m%d%H%M')}"
    assert main(["when", "--zone", "NL", "--duration", "2h", "--within", "8h", "--format", "cron"]) == 0
    local = best.astimezone()
    assert capsys.readouterr().out.strip() == f"{local.minute} {local.hour} {local.day} {local.month} *"


def test_when_a_window_past_the_horizon_is_refused(em: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    em.routes[("GET", "/carbon-intensity/forecast")] = hourly([100, 100, 100])
    assert main(["when", "--zone", "NL", "--duration", "4h"]) == 1
    assert "refused" in capsys.readouterr().err


def test_when_with_yearly_data_only_says_no_time_can_be_chosen(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["when", "--zone", "aws:eu-west-1", "--duration", "1h"]) == 1
    assert "no time of day can be chosen" in capsys.readouterr().err


def test_scheduler_formats_round_up_and_use_local_time() -> None:
    start = datetime(2026, 3, 1, 13, 59, 30, 500, tzinfo=timezone.utc)
    local = start.astimezone()
    assert formats.slurm(start) == f"--begin={(local.replace(microsecond=0) + timedelta(seconds=1)):%Y-%m-%dT%H:%M:%S}"
    up = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    assert formats.at(start) == f"-t {up:%Y%m%d%H%M}"
    assert formats.cron(start, "make") == f"{up.minute} {up.hour} {up.day} {up.month} * make"


def _tracker(*args: str) -> list[str]:
    exe = shutil.which("tracker")
    return [*([exe] if exe else [sys.executable, "-m", "tracker"]), *args]


@pytest.mark.slow
def test_wait_starts_the_command_when_the_forecast_crosses_the_threshold(
    em: LocalServer, store_path: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    crossing = now + timedelta(seconds=4)
    em.routes[("GET", "/carbon-intensity/forecast")] = Answer(
        body=body([(now - timedelta(minutes=1), 450.0), (crossing, 120.0)])
    )
    stamp = tmp_path / "started"
    child = f"import time; open({str(stamp)!r}, 'w').write(repr(time.time())); raise SystemExit(3)"
    done = subprocess.run(
        _tracker("wait", "--zone", "NL", "--max-intensity", "200", "--deadline", "1h", "--", sys.executable, "-c",
                 child),
        env={**os.environ, "TRACKER_STORE": store_path}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # the command's own exit code
    assert float(stamp.read_text()) >= crossing.timestamp()  # not before the forecast crossed 200 g/kWh
    assert "waiting" in done.stderr
    (record,) = tracker.stores.open_store(store_path).records()
    assert record.status == "failed" and record.zone == "NL"
    assert record.scheduled_by == "threshold: Electricity Maps forecast"
    assert record.forecast_g_per_kwh == 120.0
    assert record.waited_s is not None and 2.0 < record.waited_s < 30


@pytest.mark.slow
def test_ctrl_c_while_waiting_exits_130_and_writes_nothing(em: LocalServer, store_path: str, tmp_path: Path) -> None:
    em.routes[("GET", "/carbon-intensity/forecast")] = hourly([450.0] * 6)  # never green enough
    marker = tmp_path / "ran"
    proc = subprocess.Popen(
        _tracker("-v", "wait", "--zone", "NL", "--max-intensity", "100", "--deadline", "3h", "--", sys.executable,
                 "-c", f"open({str(marker)!r}, 'w')"),
        env={**os.environ, "TRACKER_STORE": store_path}, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert proc.stderr is not None
    began = time.monotonic()
    for line in proc.stderr:  # the wait is logged once before it sleeps
        if "waiting" in line:
            break
        assert time.monotonic() - began < 30
    os.killpg(proc.pid, signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130, rest
    assert "nothing ran, nothing written" in rest
    assert not marker.exists()
    assert not Path(store_path).exists() or tracker.stores.open_store(store_path).records() == []


def test_wait_and_when_use_the_configured_location(
    em: LocalServer, store_path: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """TRACKER_ZONE (or the config file) says where, as for `tracker run` and `tracker intensity`."""
    em.routes[("GET", "/carbon-intensity/forecast")] = hourly([150.0, 400.0, 90.0, 500.0])
    monkeypatch.setenv("TRACKER_ZONE", "NL")
    monkeypatch.setenv("TRACKER_STORE", store_path)
    assert main(["wait", "--max-intensity", "200", "--", sys.executable, "-c", "pass"]) == 0
    (record,) = tracker.stores.open_store(store_path).records()
    assert record.zone == "NL" and record.scheduled_by == "now: Electricity Maps forecast"
    assert em.seen[0].query["zone"] == ["NL"]
    capsys.readouterr()
    assert main(["when", "--duration", "1h", "--within", "4h", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["place"] == "NL" and out["g_per_kwh"] == 90.0
    monkeypatch.delenv("TRACKER_ZONE")
    assert main(["wait", "--", sys.executable, "-c", "pass"]) == 2
    assert "say where" in capsys.readouterr().err
