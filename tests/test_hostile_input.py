"""Issue 14, hostile input: what others chose (labels, files, server replies, command lines) never becomes a
formula, a terminal command, a traceback, a leaked secret or a record that blocks the others."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pg_support import pg_database  # noqa: F401 - pg_database: the pg_url fixture
from runs_factory import make_record

from tracker.cli import main
from tracker.stores.csv import CsvStore
from tracker.stores.sqlite import SqliteStore

CR_FORMULA = "harmless\r=cmd|' /C calc'!A0"


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


# -- item 5: CSV formula / CR injection ------------------------------------------------------------------------


def _cells_of(text: str) -> list[list[str]]:
    """The cells as a spreadsheet splits them: a bare CR or LF outside quotes ends a row."""
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_carriage_return_in_a_label_does_not_start_a_formula_cell(tmp_path: Path, capsys) -> None:
    path = str(tmp_path / "p.db")
    store = SqliteStore(path)
    store.write(make_record(1, project=CR_FORMULA, organisation=CR_FORMULA))
    store.write(make_record(2, project="@SUM(A1)", organisation="-2+3"))
    report = _out(capsys, "report", "--store", path, "--format", "csv", "--by", "project")
    annual = _out(capsys, "report", "--store", path, "--annual", "2026", "--format", "csv")
    for text in (report, annual):
        rows = _cells_of(text)
        assert len(rows) == 3, rows  # the header and two lines: the CR did not split a row
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (cell, text)
        assert CR_FORMULA in {c for row in rows for c in row}  # quoted, kept whole (it starts with "h")


def test_the_csv_store_defuses_every_text_cell_and_reads_back_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    names = [CR_FORMULA, "=1+1", "'=quoted already", "'plain apostrophe", "-x", "\tt", "line\nbreak", 'q"uote,s']
    store = CsvStore(str(path))
    for i, name in enumerate(names):
        store.write(make_record(i, project=name, team=name, name=name))
    rows = _cells_of(path.read_text(encoding="utf-8"))
    assert len(rows) == len(names) + 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not cell.startswith("-") or _is_number(cell), cell
    back = {r["run_id"]: r for r in CsvStore(str(path)).rows()}
    for i, name in enumerate(names):
        row = back[f"run-{i:06d}"]
        assert (row["project"], row["team"], row["name"]) == (name, name, name)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- item 13: a password with an unencoded "/" never reaches notes or logs ----------------------------------------


def test_a_password_holding_a_slash_is_redacted_from_notes_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from tracker import Tracker
    from tracker.stores.locations import redact

    url = "postgresql://alice:hun/ter2@127.0.0.1:1/db"
    assert redact(url) == "postgresql://alice:***@127.0.0.1:1/db"
    assert redact(f"cannot reach {url}: refused") == "cannot reach postgresql://alice:***@127.0.0.1:1/db: refused"
    assert redact("postgresql://bob:p@ss/w@host/db") == "postgresql://bob:***@host/db"
    assert redact("http://host/path?mail=a@b") == "http://host/path?mail=a@b"  # no userinfo: unchanged
    caplog.set_level(logging.DEBUG)
    tracker = Tracker(store=url, cpu_watts=1.0, gpu_watts=0.0, ram_watts=0.0, country="FR")
    tracker.start()
    record = tracker.stop()
    text = "\n".join([*record.notes, caplog.text])
    assert "store postgresql://alice:***@" in text  # it did fail and say so
    assert "ter2" not in text


# -- item 14: an unknown TRACKER_* variable warns once per process ------------------------------------------------


def test_an_unknown_environment_variable_warns_once_per_process_not_per_run(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import os, tracker\nos.environ['TRACKER_FOO'] = '1'\n"
        "for _ in range(50):\n    tracker.Tracker(save=False, cpu_watts=1, gpu_watts=0, ram_watts=0).start().stop()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("TRACKER_FOO") == 1, done.stderr


# -- item 10: two `tracker sync` at once with a stale spool temporary ----------------------------------------------


def test_two_syncs_recovering_the_same_stale_temporary_do_not_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other sync renames the temporary between this one's read and its rename (made certain here by doing
    that rename inside this one's): this sync goes on, and the record is delivered once."""
    import os
    import time

    from tracker.paths import default_store
    from tracker.stores import open_store, spool

    whole = spool.put("store", default_store(), make_record(1))
    temporary = whole.parent / f".{whole.name}.4242.77.tmp"
    whole.rename(temporary)
    stale = time.time() - 2 * spool.STALE_TEMPORARY_S
    os.utime(temporary, (stale, stale))
    real_replace = os.replace

    def raced(source: object, target: object) -> None:
        real_replace(source, target)  # the other `tracker sync`
        real_replace(source, target)  # this one: the file is gone

    monkeypatch.setattr(spool.os, "replace", raced)
    assert main(["sync"]) == 0
    assert "1 delivered, 0 left" in capsys.readouterr().out
    assert [r["run_id"] for r in open_store(default_store()).rows()] == ["run-000001"]


# -- item 12: private directories and files; no secrets from the command line in the record ------------------------


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_data_and_spool_directories_and_store_files_are_private(tmp_path: Path, capsys) -> None:
    import sys

    from tracker.paths import data_dir
    from tracker.stores import open_store, spool

    csv_file = tmp_path / "also" / "runs.csv"
    command = [sys.executable, "-c", "pass", "--password=hunter2", "--api-key", "k3y", "DB_TOKEN=t0k", "--lr", "0.1"]
    assert main(["run", "--csv", str(csv_file), "--cpu-watts", "1", "--", *command]) == 0
    capsys.readouterr()
    db = data_dir() / "runs.db"
    assert _mode(data_dir()) == 0o700
    for path in (db, db.with_name("runs.db-wal"), db.with_name("runs.db-shm"), csv_file):
        assert _mode(path) == 0o600, path
    spool.put("store", "postgresql://u@127.0.0.1:1/db", make_record(9))
    assert _mode(spool.spool_dir()) == 0o700
    stored = open_store(str(db)).rows()[0]["name"]
    assert "--password=***" in stored and "--api-key ***" in stored and "DB_TOKEN=***" in stored
    assert "--lr 0.1" in stored
    for secret in ("hunter2", "k3y", "t0k"):
        assert secret not in stored
        assert secret not in csv_file.read_text()
        assert secret.encode() not in db.read_bytes() + db.with_name("runs.db-wal").read_bytes()


def test_a_fresh_data_directory_is_created_private_by_the_spool(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.paths import data_dir
    from tracker.stores import spool

    assert not data_dir().exists()
    spool.put("store", "postgresql://u@127.0.0.1:1/db", make_record(9))
    assert _mode(data_dir()) == 0o700 and _mode(spool.spool_dir()) == 0o700


# -- item 11: no terminal escapes on display; foreign error text capped and flattened in notes -----------------------

ESCAPES = ("\x1b", "\x07", "\x9b", "\x00")


def test_tracker_runs_shows_no_control_characters_of_stored_values(tmp_path: Path, capsys) -> None:
    path = str(tmp_path / "r.db")
    SqliteStore(path).write(make_record(1, project="\x1b]0;pwned\x07", team="t\x1b[2J", status="done\x1b[8m"))
    for argv in (["runs"], ["report", "--by", "project", "--by", "team", "--by", "status"]):
        out = _out(capsys, *argv, "--store", path)
        assert "pwned" in out and "[8m" in out and not any(c in out for c in ESCAPES), out


def test_an_electricity_maps_error_page_becomes_a_short_clean_note(capsys) -> None:
    from datetime import datetime, timedelta, timezone

    from tests.local_http import Answer, serve
    from tracker.cli.run import summary
    from tracker.grid import electricitymaps
    from tracker.grid.electricitymaps import Client
    from tracker.grid.intensity import EmbeddedIntensity, LiveIntensity
    from tracker.grid.location import Location

    electricitymaps.reset()
    page = "<html>\x1b]0;pwned\x07\r\n<body>" + "x" * 20_000 + "</body></html>"
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    try:
        with serve({("GET", "/v3/carbon-intensity/history"): Answer(418, page)}) as api:
            provider = LiveIntensity("lifecycle", Client(api_token="t", url=api.url + "/v3"), EmbeddedIntensity())
            (value,) = provider.intensities(Location("DE", "DE", "config"), [hour])
    finally:
        electricitymaps.reset()
    assert "live intensity unavailable" in value.note and "HTTP 418" in value.note
    assert not any(c in value.note for c in (*ESCAPES, "\r", "\n")), value.note
    assert len(value.note) < 500
    record = make_record(1, project="p", notes=["geo-IP said \x1b]0;pwned\x07"])
    shown = summary(record)
    assert "pwned" in shown and not any(c in shown for c in ESCAPES)


# -- item 3: labels no store can hold are refused at start; a record a store refuses as data is set aside -----------


@pytest.mark.parametrize(
    ("key", "value"),
    [("project", "caf\udce9"), ("team", "a\x00b"), ("experiment", "\x1b]0;pwned\x07"), ("organisation", "a\tb")],
)
def test_labels_a_store_cannot_hold_are_refused_at_start(key: str, value: str) -> None:
    import tracker

    with pytest.raises(tracker.ConfigError) as info:
        tracker.Tracker(**{key: value})
    assert info.value.key == key and info.value.value == value
    with pytest.raises(tracker.ConfigError, match=r"tags\.k"):
        tracker.Tracker(tags={"k": value})


def test_a_label_of_non_utf8_bytes_from_the_environment_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import tracker

    monkeypatch.setattr(os, "environ", {**os.environ, "TRACKER_PROJECT": b"caf\xe9".decode("utf-8", "surrogateescape")})
    with pytest.raises(tracker.ConfigError, match=r"project=.*UTF-8"):
        tracker.Tracker()
    assert tracker.Tracker(project="café ü 東京").config.project == "café ü 東京"  # any real text is fine


def _spool_four(location: str, bad_project: str) -> None:
    from tracker.stores import spool

    for i in (1, 2, 4):
        spool.put("store", location, make_record(i))
    spool.put("store", location, make_record(3, project=bad_project))


def _sync_sets_the_bad_one_aside(location: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tracker.stores import open_store, spool

    assert main(["sync"]) == 1  # said once: this sync set a record aside
    out = capsys.readouterr().out
    assert "3 delivered, 0 left" in out and "1 rejected" in out and str(spool.rejected_dir()) in out, out
    assert sorted(r["run_id"] for r in open_store(location).rows()) == ["run-000001", "run-000002", "run-000004"]
    (kept,) = spool.rejected_dir().iterdir()
    payload = json.loads(kept.read_text(encoding="utf-8"))
    assert payload["row"]["run_id"] == "run-000003" and payload["rejected"]["reason"]
    assert spool.pending() == []
    assert main(["sync"]) == 0  # the next sync has nothing left to do
    assert "nothing to deliver" in capsys.readouterr().out


def test_a_spooled_record_sqlite_cannot_encode_is_set_aside_and_the_others_delivered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = str(tmp_path / "runs.db")
    _spool_four(location, "caf\udce9")
    _sync_sets_the_bad_one_aside(location, capsys)


def test_a_spooled_record_postgresql_refuses_is_set_aside_and_the_others_delivered(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _spool_four(pg_url, "nul\x00byte")
    _sync_sets_the_bad_one_aside(pg_url, capsys)


def test_an_outage_is_not_mistaken_for_bad_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tracker.stores import spool

    _spool_four("postgresql://u@127.0.0.1:1/db", "fine")
    assert main(["sync"]) == 1
    assert "0 delivered, 4 left" in capsys.readouterr().out
    assert not spool.rejected_dir().exists() and len(spool.pending()) == 4


def test_a_run_s_record_refused_as_data_does_not_block_the_spool(tmp_path: Path) -> None:
    from tracker.stores import open_store, spool

    location = str(tmp_path / "runs.db")
    spool.put("store", location, make_record(1))  # waiting since an outage
    bad = make_record(2, name="argv holds caf\udce9")  # not a setting: no check at start
    assert spool.deliver(bad, "store", location) is False
    assert "refused the record" in bad.notes[-1]
    assert spool.deliver(make_record(3), "store", location) is True
    assert sorted(r["run_id"] for r in open_store(location).rows()) == ["run-000001", "run-000003"]
    assert [p.name.split(".")[0] for p in spool.rejected_dir().iterdir()] == ["run-000002"]


# -- item 9: clear errors instead of tracebacks -----------------------------------------------------------------

NUMERIC_KEYS = (
    "pue", "cpu_watts", "gpu_watts", "ram_watts", "cpu_tdp", "interval", "embodied_kg", "embodied_lifetime_years",
    "embodied_share", "metrics_port",
)  # fmt: skip


@pytest.mark.parametrize("key", NUMERIC_KEYS)
def test_a_number_no_float_holds_is_a_config_error(key: str) -> None:
    import tracker

    for value in (10**400, "1e309", "-1e400"):
        with pytest.raises(tracker.ConfigError) as info:
            tracker.Tracker(**{key: value})
        assert info.value.key == key


def test_a_pue_schedule_not_utf8_or_with_a_nul_is_a_config_error(tmp_path: Path) -> None:
    import tracker

    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"date,pue\n2026-01-01,1.2\xff\n")
    nul_inside = tmp_path / "nul.csv"
    nul_inside.write_bytes(b"date,pue\n2026-01-01,1.2\x00\n")
    for value in (str(latin), str(nul_inside), "sched\x00ule.csv"):
        with pytest.raises(tracker.ConfigError) as info:
            tracker.Tracker(pue_schedule=value)
        assert info.value.key == "pue_schedule"


def test_report_to_a_folder_or_a_missing_one_and_a_huge_monitor_interval_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for target in ("/proc/nope/x.html", str(tmp_path)):
        assert main(["report", "-o", target]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"tracker: cannot write {target}:") and "Traceback" not in err
    assert main(["monitor", "--every", "9999999999999999999"]) == 2
    assert "configuration error: every=" in capsys.readouterr().err


# -- item 8: the CodeCarbon import rejects impossible lines, imports the others; JSON output is always JSON -----------

CODECARBON_V3 = Path(__file__).parent / "data" / "codecarbon_v3.csv"
BAD_LINES = {
    "duration": ["-5", "1e20", "inf"],
    "energy_consumed": ["-0.1", "nan"],
    "emissions": ["inf"],
    "pue": ["-1"],
    "cpu_count": ["1e400"],
    "timestamp": ["0001-01-01T00:00:10", "9999-12-31T23:59:59", "yesterday"],
    "cpu_model": ["x" * (129 * 1024)],
}


def _strict_json(text: str) -> object:
    import json

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_codecarbon_import_rejects_each_bad_line_with_file_line_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with CODECARBON_V3.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, template = list(reader.fieldnames or []), next(reader)
    lines = [dict(template, run_id="good-1")]
    for column, values in BAD_LINES.items():
        lines.extend(dict(template, run_id=f"bad-{column}-{i}", **{column: v}) for i, v in enumerate(values))
    lines.append(dict(template, run_id="good-2"))
    source = tmp_path / "emissions.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(lines)
    db = str(tmp_path / "runs.db")
    assert main(["import", "codecarbon", str(source), "--store", db]) == 1
    err = capsys.readouterr().err
    bad = sum(len(v) for v in BAD_LINES.values())
    assert err.count("rejected ") == bad and "Traceback" not in err
    for number, column in ((3, "duration"), (6, "energy_consumed"), (8, "emissions"), (13, "timestamp")):
        assert f"{source}:{number}: {column}" in err, err
    assert f"{len(lines)} lines, 2 runs: 2 added" in err and f"{bad} lines rejected" in err
    assert len(SqliteStore(db).rows()) == 2
    for argv in (["runs", "--format", "json"], ["report", "--format", "json"]):
        _strict_json(_out(capsys, *argv, "--store", db))


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00", b"timestamp,project_name\n\xff\xfe caf\xe9\n"])
def test_a_binary_or_non_utf8_file_is_one_clear_error(tmp_path: Path, content: bytes, capsys) -> None:
    source = tmp_path / "emissions.csv"
    source.write_bytes(content)
    assert main(["import", "codecarbon", str(source), "--store", str(tmp_path / "x.db")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tracker: {source}: ") and "Traceback" not in err


def test_json_output_is_valid_json_whatever_a_store_holds(tmp_path: Path, capsys) -> None:
    path = str(tmp_path / "r.db")
    SqliteStore(path).write(make_record(1, emissions_kg=float("inf"), intensity_g_per_kwh=float("nan")))
    runs = _strict_json(_out(capsys, "runs", "--format", "json", "--store", path))
    assert isinstance(runs, list) and runs[0]["emissions_kg"] is None
    _strict_json(_out(capsys, "report", "--format", "json", "--store", path))
