"""The ``tracker`` command, run as a real subprocess where it matters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

import tracker
from tests.machine import CPU_MODEL
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
        "--cpu-tdp",  # the TDP curve on every machine (a VM's vCPU model has a flatter one: idle 25 % of full)
        "100",
        "--",
        sys.executable,
        "-c",
        BUSY.format(s=1.5),
        store=store_path,
    )
    cli(
        "run", "--project", "idle", "--interval", "0.1", "--cpu-tdp", "100", "--",
        sys.executable, "-c", "import time; time.sleep(1.5)",
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
    assert "cpu power" in text and ("tdp" if CPU_MODEL == "tdp-model" else "vcpu") in text.lower()
    assert "gpu power    none" in text
    assert "Germany" in text and "pue          1.2" in text
    assert main(["detect", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["methods"] == {"cpu": CPU_MODEL, "gpu": "none", "ram": "ram-model"}
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


# -- the configuration flags come from the settings' declarations ------------------------------------------------

# A flag's text for each declared key with a flag, and the value the resolved Config must then hold; a key that
# gains a flag must be added here.
FLAG_SAMPLES: dict[str, tuple[list[str], Any]] = {
    "project": (["--project", "p"], "p"),
    "experiment": (["--experiment", "e"], "e"),
    "team": (["--team", "t"], "t"),
    "organisation": (["--organisation", "o"], "o"),
    "tags": (["--tag", "a=1", "--tag", "b=2"], {"a": "1", "b": "2"}),
    "country": (["--country", "fra"], "FR"),
    "pue": (["--pue", "1.25"], 1.25),
    "cpu_watts": (["--cpu-watts", "40"], 40.0),
    "cpu_tdp": (["--cpu-tdp", "95"], 95.0),
    "instance_type": (["--instance-type", "m5.large"], "m5.large"),
    "gpu_watts": (["--gpu-watts", "0"], 0.0),
    "ram_watts": (["--ram-watts", "3.5"], 3.5),
    "mode": (["--mode", "process"], "process"),
    "overlap": (["--overlap", "split"], "split"),
    "interval": (["--interval", "0.5"], 0.5),
    "store": (["--store", "STORE"], "STORE"),
    "csv": (["--csv", "out.csv"], "out.csv"),
    "zone": (["--zone", "NL"], "NL"),
    "cloud_provider": (["--cloud", "AWS:eu-west-1"], "aws"),
    "cloud_region": ([], "eu-west-1"),  # set by the same --cloud
    "cloud_metadata": (["--cloud-metadata", "off"], "off"),
    "geoip": (["--geoip"], True),
    "default_zone": (["--default-zone", "DE"], "DE"),
    "live": (["--live", "off"], "off"),
    "emission_factor_type": (["--factor", "direct"], "direct"),
    "intensity_g_per_kwh": (["--intensity-g-per-kwh", "380"], 380.0),
    "intensity_source": (["--intensity-source", "UBA 2024"], "UBA 2024"),
    "intensity_year": (["--intensity-year", "2024"], 2024),
    "pue_schedule": (["--pue-schedule", "SCHEDULE"], "SCHEDULE"),
    "suppliers": (["--supplier", "wind:80:0.01", "--supplier", "grid:20:0.4"], ("wind", 80.0, 0.01, "grid", 20.0, 0.4)),
    "embodied_kg": (["--embodied-kg", "1200"], 1200.0),
    "embodied_lifetime_years": (["--embodied-lifetime-years", "5"], 5.0),
    "embodied_share": (["--embodied-share", "0.25"], 0.25),
    "functional_unit": (["--functional-unit", "requests"], "requests"),
    "functional_units": (["--functional-units", "1200"], 1200.0),
    "metrics_port": (["--metrics-port", "9464"], 9464),
    "metrics_host": (["--metrics-host", "0.0.0.0"], "0.0.0.0"),
    "pushgateway": (["--pushgateway", "http://127.0.0.1:9091"], "http://127.0.0.1:9091"),
    "otel": (["--otel"], True),
    "metrics_run_label": (["--metrics-run-label"], True),
    "checkpoint_s": (["--checkpoint-s", "120"], 120.0),
}
OWN_OPTIONS = {
    "run": set(),
    "detect": {"--format"},
    "monitor": {"--every"},
    "intensity": {"--format", "--history", "--forecast"},
}


def subparser(command: str) -> Any:
    import argparse

    from tracker.cli import parser

    (action,) = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[command]


def test_every_setting_has_a_flag_or_is_declared_without_one() -> None:
    """A declared flag is on every command it names; the keys declared without one are on none."""
    from tracker.cli._common import options
    from tracker.config import SETTINGS

    strings = {command: set(subparser(command)._option_string_actions) for command in OWN_OPTIONS}
    for option in options():
        for command in option.flag.commands:
            assert option.name in strings[command], (option.keys, command)
    flagless = {key for key, declaration in SETTINGS.items() if declaration.flag is None}
    # the ML settings act on run.step() in the measured process itself, never on a command's own run
    assert flagless == {"save", "total_steps", "predict_after", "budget_kwh", "budget_kg", "on_budget"}
    for command, names in strings.items():
        assert "--save" not in names and "--no-save" not in names, command


@pytest.mark.parametrize("command", ["run", "detect", "monitor", "intensity"])
def test_a_commands_configuration_flags_are_exactly_the_declared_ones(command: str) -> None:
    from tracker.cli._common import options

    names = set(subparser(command)._option_string_actions) - {"-h", "--help"} - OWN_OPTIONS[command]
    assert names == {option.name for option in options(command)}


@pytest.mark.parametrize("command", ["run", "detect", "monitor"])
def test_a_flag_for_every_declared_key_reaches_the_config_coerced(command: str, tmp_path: Any) -> None:
    """Each key with a flag on this command: its flag, parsed, gives the configuration the coerced value."""
    from tracker.cli import parser
    from tracker.cli._common import options, settings
    from tracker.config import resolve

    schedule = tmp_path / "pue.csv"
    schedule.write_text("date,pue\n2026-01,1.3\n", encoding="utf-8")
    paths = {"STORE": str(tmp_path / "runs.db"), "SCHEDULE": str(schedule)}
    keys = [key for option in options(command) for key in option.keys]
    assert set(keys) <= set(FLAG_SAMPLES), "add a sample for the new flag"
    argv = [command] + [paths.get(arg, arg) for key in keys for arg in FLAG_SAMPLES[key][0]]
    config = resolve(settings(parser().parse_args(argv)))
    for key in keys:
        value = getattr(config, key)
        if key == "suppliers":
            value = tuple(
                field for supplier in value for field in (supplier.name, supplier.share_percent, supplier.kg_per_kwh)
            )
        expected = FLAG_SAMPLES[key][1]
        assert value == (paths.get(expected, expected) if isinstance(expected, str) else expected), key
        assert config.origins[key] == "argument", key
    assert set(config.origins) - set(keys) <= {"pue_source"}  # nothing else was set


def test_intensity_takes_the_location_flags_from_the_declarations() -> None:
    from tracker.cli import parser
    from tracker.cli._common import settings

    args = parser().parse_args(["intensity", "--cloud", "gcp:europe-west4", "--live", "off", "--factor", "direct"])
    assert settings(args) == {
        "cloud_provider": "gcp",
        "cloud_region": "europe-west4",
        "live": "off",
        "emission_factor_type": "direct",
    }
    with pytest.raises(SystemExit):  # one place at a time
        parser().parse_args(["intensity", "--zone", "NL", "--country", "FR"])


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["--cpu-watts", "lots"], "cpu_watts='lots'"),
        (["--interval", "0"], "interval=0.0"),
        (["--embodied-share", "2"], "embodied_share=2.0"),
        (["--cloud", "aws"], "cloud='aws'"),
        (["--cloud", "ibm:eu-1"], "cloud_provider='ibm'"),
    ],
)
def test_a_bad_flag_value_is_a_configuration_error_naming_the_key(
    argv: list[str], key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["detect", *argv]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and key in err


def test_detect_with_cpu_tdp_models_the_cpu_with_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--cpu-tdp", "95", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["methods"]["cpu"] == "tdp-model"
    assert "TDP 95 W" in info["sources"]["cpu"]
    assert info["settings_from"]["cpu_tdp"] == "argument"
    assert any("95 W per socket from configuration (cpu_tdp)" in note for note in info["notes"])
    assert main(["detect", "--cpu-tdp", "-1"]) == 2
    assert "cpu_tdp=-1.0" in capsys.readouterr().err
