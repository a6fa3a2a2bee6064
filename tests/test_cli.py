"""The ``tracker`` command, run as a real subprocess where it matters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import tracker
from tracker.cli import main
from tracker.records.schema import COLUMNS


def cli(*args: str, store: str, check_code: int | None = 0) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("tracker")
    command = [exe] if exe else [sys.executable, "-m", "tracker"]
    env = {**os.environ, "TRACKER_STORE": store}
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120)
    if check_code is not None:
        assert done.returncode == check_code, done.stderr
    return done


BUSY = "import time\nt = time.perf_counter() + {s}\nwhile time.perf_counter() < t: pass\n"


@pytest.mark.slow
def test_run_tracks_the_command_and_passes_its_exit_code(store_path: str) -> None:
    done = cli(
        "run", "--project", "cli", "--tag", "kind=busy", "--interval", "0.1", "--",
        sys.executable, "-c", BUSY.format(s=1.0) + "raise SystemExit(3)",
        store=store_path, check_code=3,
    )  # fmt: skip
    assert "tracker: failed" in done.stderr and "energy" in done.stderr
    (record,) = tracker.stores.open_store(store_path).records()
    assert record.project == "cli"
    assert record.tags == {"kind": "busy"}
    assert record.status == "failed" and record.error == "exit status 3"
    assert record.attribution == "process"
    assert record.duration_s >= 1.0
    assert record.name.startswith(sys.executable)


@pytest.mark.slow
def test_run_charges_a_busy_command_more_than_an_idle_one(store_path: str) -> None:
    cli(
        "run",
        "--project",
        "busy",
        "--interval",
        "0.1",
        "--",
        sys.executable,
        "-c",
        BUSY.format(s=1.5),
        store=store_path,
    )
    cli(
        "run", "--project", "idle", "--interval", "0.1", "--", sys.executable, "-c", "import time; time.sleep(1.5)",
        store=store_path,
    )  # fmt: skip
    frame = tracker.load_runs(store_path).set_index("project")
    assert frame.loc["busy", "status"] == frame.loc["idle", "status"] == "completed"
    # one busy core out of the machine's CPUs: its share of CPU power dwarfs a sleeping process's
    assert frame.loc["busy", "cpu_energy_kwh"] > 5 * frame.loc["idle", "cpu_energy_kwh"]


def test_run_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--project", "x"]) == 2
    assert "give a command" in capsys.readouterr().err


def test_run_with_a_missing_program(store_path: str) -> None:
    assert main(["run", "--store", store_path, "--", "/nonexistent/program"]) == 127
    assert tracker.load_runs(store_path)["status"].tolist() == ["failed"]


@pytest.mark.slow
def test_runs_json_lists_records_with_the_contract_columns(store_path: str) -> None:
    for project in ("one", "two", "three"):
        with tracker.track(project=project, store=store_path):
            pass
    done = cli("runs", "--format", "json", "--limit", "2", store=store_path)
    rows = json.loads(done.stdout)
    assert [r["project"] for r in rows] == ["three", "two"]  # newest first
    assert set(COLUMNS) <= set(rows[0])
    assert rows[0]["started_at"].endswith("+00:00")
    table = cli("runs", store=store_path).stdout
    assert "one" in table and "energy Wh" in table


def test_detect_says_what_would_be_measured(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--country", "DE", "--pue", "1.2"]) == 0
    text = capsys.readouterr().out
    assert "cpu power" in text and "tdp" in text.lower()
    assert "gpu power    none" in text
    assert "Germany" in text and "pue          1.2" in text
    assert main(["detect", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["methods"] == {"cpu": "tdp-model", "gpu": "none", "ram": "ram-model"}
    assert info["intensity"]["zone"] == "WORLD"


@pytest.mark.slow
def test_python_dash_m_tracker_works() -> None:
    done = subprocess.run([sys.executable, "-m", "tracker", "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"tracker {tracker.__version__}"


@pytest.mark.slow
def test_ctrl_c_reaches_the_command_once_and_the_run_is_interrupted(store_path: str, tmp_path) -> None:
    """Ctrl-C goes to the whole foreground process group: the command sees one SIGINT, tracker records it."""
    import signal
    import time

    counter = tmp_path / "sigints"
    child = (
        "import signal, sys, time\n"
        f"path = {str(counter)!r}\n"
        "def on_int(signum, frame):\n"
        "    with open(path, 'a') as fh: fh.write('x')\n"
        "    time.sleep(0.3)\n"  # a second SIGINT, if forwarded, would arrive while we wait
        "    sys.exit(130)\n"
        "signal.signal(signal.SIGINT, on_int)\n"
        "open(path + '.ready', 'w').close()\n"
        "time.sleep(30)\n"
    )
    exe = shutil.which("tracker")
    command = [exe] if exe else [sys.executable, "-m", "tracker"]
    env = {**os.environ, "TRACKER_STORE": store_path}
    proc = subprocess.Popen(
        [*command, "run", "--interval", "0.1", "--", sys.executable, "-c", child],
        env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (tmp_path / "sigints.ready").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the command did not start"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert counter.read_text() == "x"  # exactly one SIGINT reached the command
    (record,) = tracker.stores.open_store(store_path).records()
    assert record.status == "interrupted" and record.error == "exit status 130"
