"""Issue 14 item 20: property-based fuzzing of what users, files and servers hand the package.

Configuration values (arguments and the environment), the supplier mix, a site's PUE schedule, CodeCarbon's
emissions.csv (the reader, the store and ``tracker import``) and Electricity Maps answers (the point parser, the
HTTP client against a loopback server, the disk cache, ``Retry-After``): any input gives a result that keeps the
parser's promises, or the package's documented error (``ConfigError``, ``ImportFormatError``, ``ApiError``), never
another exception.

Bounded for CI: each test runs a fixed number of examples (a few seconds in all), derandomised and without
Hypothesis's example database, so every CI run tries the same inputs. ``FUZZ_EXAMPLES=5000 python -m pytest
tests/test_fuzz.py`` runs that many examples per test with fresh random inputs (README, "Testing"); a failure prints
the smallest input found, to be added as an ``@example`` next to the fix. Each ``@example`` below is an input that
once failed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import string
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from local_http import Answer, LocalServer, serve

from tracker import config as tracker_config
from tracker.carbon.market import Supplier, parse_suppliers
from tracker.carbon.pue import PueSchedule
from tracker.cli import main
from tracker.config import KEYS, Config, resolve
from tracker.errors import ConfigError
from tracker.grid import electricitymaps as em
from tracker.importers.codecarbon import REQUIRED, ImportFormatError, import_codecarbon, read_checked
from tracker.records.schema import LABELS, RunRecord
from tracker.stores.sqlite import SqliteStore

FUZZ_ENV = "FUZZ_EXAMPLES"  # not TRACKER_*: the configuration would take (and warn about) that prefix


def fuzz(examples: int) -> settings:
    """``examples`` per test in CI (reproducible); ``FUZZ_EXAMPLES`` of them, random, when set."""
    longer = os.environ.get(FUZZ_ENV)
    return settings(
        max_examples=int(longer) if longer else examples,
        deadline=None,  # a loaded CI machine is slow now and then: a slow example is no finding
        derandomize=not longer,
        database=None,
        # the fixtures (a fresh home, a tmp folder, a store, a loopback server) are shared by a test's examples
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- building blocks ------------------------------------------------------------------------------------------

ANY_CHAR = st.characters(codec=None, exclude_categories=())  # controls, NUL and lone surrogates included
UTF8_CHAR = st.characters(codec="utf-8", exclude_characters="\x00")  # what a decoded text file can hold
hostile_text = st.text(ANY_CHAR, max_size=16)
HUGE = 10**400  # an integer no float holds (TOML and JSON both give one)
WORDS = [
    *("", " ", "\t", "\x00", "\udcff", "\x1b]0;x\x07", "é", "ß", "١٢", "1_000", "0x10", "=1+1"),
    *("nan", "NaN", "inf", "-inf", "1e308", "1e309", "1e400", "-1", "-0", "0", "0.005", "1", "1.0", "1.5", "65536"),
    *("true", "FALSE", "on", "off", "auto", "yes", "machine", "process", "lifecycle", "direct"),
    *("aws", "GCP", "industry", "x.csv", " x.CSV ", "~nosuchuser/pue.csv", "~nosuchuser", "/", ".", "..", "~"),
    *("DE", "fra", "US-CAL-CISO", "us-state-ca", "WORLD", "XX", "aws:eu-west-1", "aws", "eu-west-1", "mars"),
    *("A:80:0.008,B:20:0.01", "A:100:0", "A:50:1,A:50:1", "A:100:-1", "A:100:nan", ":100:1", "a=b,c=d", "=", "a="),
    *("runs.db", "x.sqlite", "sqlite:///x.db", "postgresql://u:p/w@h/db", "http://h/x", "ftp://x", "m.csv"),
]
words = st.sampled_from(WORDS)
texts = st.one_of(words, hostile_text, st.builds(str.__add__, words, hostile_text))
numbers = st.one_of(
    st.integers(), st.floats(), st.sampled_from([HUGE, -HUGE, 2**1024, 1e308, 5e-324, 0.0, -0.0, 1.0, 100.0])
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts, st.binary(max_size=4))
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.tuples(inner, inner, inner) | st.dictionaries(texts, inner, max_size=3)
    ),
    max_leaves=8,
)


def mostly(plausible: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any], odds: int = 3) -> st.SearchStrategy[Any]:
    """Plausible input ``odds`` times for each hostile one, so that the checks past the first field are reached."""
    return st.one_of(*[plausible] * odds, hostile)


def _has_control_or_surrogate(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def _check_config(config: Config) -> None:
    """What a Config promises whatever it was given: finite numbers in bounds, labels every store can hold."""
    assert isinstance(config, Config)
    for name in ("pue", "interval", "embodied_lifetime_years", "embodied_share"):
        value = getattr(config, name)
        assert isinstance(value, float) and math.isfinite(value), (name, value)
    assert config.pue >= 1.0 and 0.01 <= config.interval <= 3600
    for name in ("cpu_watts", "gpu_watts", "ram_watts", "cpu_tdp", "embodied_kg"):
        value = getattr(config, name)
        assert value is None or (isinstance(value, float) and math.isfinite(value) and value >= 0), (name, value)
    for name in LABELS:
        value = getattr(config, name)
        assert value is None or (value.strip() and not _has_control_or_surrogate(value)), (name, value)
    for name, text in config.tags.items():
        assert not _has_control_or_surrogate(name) and not _has_control_or_surrogate(text), (name, text)
    _check_suppliers(config.suppliers)
    assert config.metrics_port is None or (isinstance(config.metrics_port, int) and 0 <= config.metrics_port < 65536)


def _check_suppliers(suppliers: tuple[Supplier, ...]) -> None:
    if suppliers:
        assert abs(sum(s.share_percent for s in suppliers) - 100.0) <= 1e-6
        assert len({s.name for s in suppliers}) == len(suppliers)
    for s in suppliers:
        assert s.name.strip() and 0 < s.share_percent <= 100, s
        assert math.isfinite(s.kg_per_kwh) and s.kg_per_kwh >= 0, s


# -- configuration: arguments and the environment ------------------------------------------------------------

setting_names = st.sampled_from([*sorted(KEYS), "nope", "", "pue_source", "origins", "PUE"])


@fuzz(150)
@given(arguments=st.dictionaries(setting_names, values, max_size=4))
@example(arguments={"pue": "~nosuchuser/pue.csv"})  # pathlib: RuntimeError "Could not determine home directory"
@example(arguments={"pue_schedule": "~nosuchuser/pue.csv"})
@example(arguments={"suppliers": [("a", HUGE, 0.1)]})  # float(10**400): OverflowError
@example(arguments={"suppliers": [{"name": "a", "share": 100, "factor": -HUGE}]})
def test_any_arguments_give_a_valid_config_or_a_config_error(arguments: dict[str, Any]) -> None:
    try:
        config = resolve(arguments, environ={})
    except ConfigError:
        event("ConfigError")
        return
    event("a config")  # --hypothesis-show-statistics: how often each outcome was reached
    _check_config(config)


env_names = st.one_of(
    st.sampled_from([f"TRACKER_{key.upper()}" for key in sorted(KEYS)]),
    st.sampled_from(["TRACKER_CONFIG", "TRACKER_NOPE", "TRACKER_", "TRACKER_METADATA_AWS", "PATH"]),
    hostile_text.map(lambda s: "TRACKER_" + s),
)


@fuzz(150)
@given(environ=st.dictionaries(env_names, texts, max_size=4))
@example(environ={"TRACKER_PUE": "~nosuchuser/x.csv"})
@example(environ={"TRACKER_SUPPLIERS": "a:1e400:1"})
def test_any_environment_gives_a_valid_config_or_a_config_error(environ: dict[str, str]) -> None:
    try:
        config = resolve({}, environ=environ)
    except ConfigError:
        event("ConfigError")
        return
    event("a config")
    _check_config(config)


def _toml(value: Any) -> str:
    """A value as TOML writes it (TOML has no null: an empty string instead)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return json.dumps("" if value is None else value)  # a lone surrogate: \udcff, which TOML refuses


@fuzz(100)
@given(section=st.dictionaries(setting_names, values, max_size=4), raw=mostly(st.none(), st.binary(max_size=40)))
@example(section={"pue_schedule": "~nosuchuser/pue.csv"}, raw=None)  # pathlib: RuntimeError
@example(section={}, raw=b"[tool.tracker]\nproject = '\xff'\n")  # not UTF-8: UnicodeDecodeError
def test_any_pyproject_section_gives_a_valid_config_or_a_config_error(
    isolated: Path, section: dict[str, Any], raw: bytes | None
) -> None:
    """``[tool.tracker]`` in the working directory's pyproject.toml: any values, or a file that is no TOML."""
    text = "[tool.tracker]\n" + "".join(f"{json.dumps(key)} = {_toml(value)}\n" for key, value in section.items())
    (isolated / "pyproject.toml").write_bytes(text.encode() if raw is None else raw)
    tracker_config._toml_cache.clear()  # the file changes faster than its mtime may show
    try:
        config = resolve({}, environ={})
    except ConfigError:
        event("ConfigError")
        return
    event("a config")
    _check_config(config)


# -- the supplier mix ------------------------------------------------------------------------------------------

number_texts = st.one_of(
    st.floats(allow_nan=True).map(repr), st.integers().map(str), st.floats(0, 200).map(lambda f: f"{f:g}"), words
)
supplier_text = st.lists(st.tuples(texts, number_texts, number_texts).map(":".join), max_size=4).map(",".join)


@st.composite
def balanced_mix(draw: st.DrawFn) -> list[Any]:
    """Shares that do add up to 100, so that the checks past the sum are reached too."""
    count = draw(st.integers(1, 4))
    share = 100 / count
    names = draw(
        st.lists(mostly(st.text(string.ascii_letters, min_size=1, max_size=6), texts), min_size=count, max_size=count)
    )
    shares = st.sampled_from([share, str(share), f"{share:.6f}"])
    factors = mostly(st.floats(0, 2) | st.floats(0, 2).map(str), values)
    return [(name, draw(shares), draw(factors)) for name in names]


def _as_text(mix: list[Any]) -> str:
    """A mix as ``--supplier`` and ``TRACKER_SUPPLIERS`` write it: ``NAME:SHARE:FACTOR,...``."""
    return ",".join(":".join(str(part) for part in entry) for entry in mix)


supplier_entries = st.lists(
    st.one_of(
        st.tuples(values, values, values),
        st.dictionaries(st.sampled_from(["name", "NAME", "share", "share_percent", "kg_per_kwh", "factor"]), values),
        values,
    ),
    max_size=4,
)


@fuzz(150)
@given(
    mix=st.one_of(supplier_text, supplier_entries, balanced_mix(), balanced_mix(), balanced_mix().map(_as_text), values)
)
@example(mix=[("a", HUGE, 0.1)])
@example(mix=[("a", 100, HUGE)])
@example(mix="a:1e400:1")
def test_any_supplier_mix_gives_suppliers_or_a_config_error(mix: Any) -> None:
    try:
        suppliers = parse_suppliers(mix)
    except ConfigError:
        event("ConfigError")
        return
    event(f"{len(suppliers)} suppliers")
    assert isinstance(suppliers, tuple) and all(isinstance(s, Supplier) for s in suppliers)
    _check_suppliers(suppliers)


# -- a site's PUE schedule -------------------------------------------------------------------------------------

days = st.dates().map(lambda d: d.isoformat())
months = st.dates().map(lambda d: d.isoformat()[:7])
schedule_dates = mostly(days | months, st.one_of(st.dates().map(lambda d: f"{d.year}-{d.month}-{d.day}"), texts))
pue_texts = mostly(st.floats(1, 3).map(lambda f: f"{f:.3f}"), st.one_of(st.floats(0.5, 1.2).map(str), number_texts))
hostile_rows = st.one_of(
    st.tuples(schedule_dates, pue_texts).map(lambda t: f'"{t[0]}" , {t[1]}'),
    st.tuples(schedule_dates, pue_texts, texts).map(",".join),
    st.text(UTF8_CHAR, max_size=30),
)


@st.composite
def schedule_texts(draw: st.DrawFn) -> str:
    """A schedule: a header, rows of distinct days and months with sane values; now and then a row or a header
    that is not, or a date twice."""
    header = draw(mostly(st.sampled_from(["date,pue", "Date , PUE", "pue,date", '"date","pue"']), texts))
    dates = draw(st.lists(days | months, max_size=8, unique=True))
    rows = [f"{date},{draw(st.floats(1, 3)):.3f}" if header != "pue,date" else f"1.2,{date}" for date in dates]
    if draw(st.integers(0, 3)) == 0:
        rows.insert(draw(st.integers(0, len(rows))), draw(st.one_of(hostile_rows, st.sampled_from(rows or [""]))))
    return draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n"])).join([header, *rows])


@fuzz(150)
@given(content=mostly(schedule_texts().map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=200)))
@example(content=b"date,pue\n2024-01-01," + b"1" * 200_000)  # a field over the csv module's limit: _csv.Error
@example(content=b"date,pue\n0999-12-31,1.2\n")  # strftime("%Y") of a year before 1000 is not 4 digits: lost
def test_any_pue_schedule_file_gives_a_schedule_or_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "pue.csv"
    path.write_bytes(content)
    try:
        schedule = PueSchedule.load(str(path))
    except ConfigError:
        event("ConfigError")
        return
    event("a schedule")
    assert schedule.daily or schedule.monthly
    for table, pattern in ((schedule.daily, "%Y-%m-%d"), (schedule.monthly, "%Y-%m")):
        for key, pue in table.items():
            assert math.isfinite(pue) and pue >= 1.0, (key, pue)
            moment = datetime.strptime(key, pattern).replace(hour=12, tzinfo=timezone.utc)  # a month: its first day
            # a day's value is in force that day; a month's on its first day unless that day has its own
            assert schedule.value(moment) == pue or (pattern == "%Y-%m" and f"{key}-01" in schedule.daily), key


# -- CodeCarbon's emissions.csv ---------------------------------------------------------------------------------

OPTIONAL = [
    *("run_id", "experiment_id", "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region"),
    *("cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "cpu_count", "gpu_count"),
    *("ram_total_size", "pue", "tracking_mode", "cpu_model", "gpu_model", "codecarbon_version", "water_consumed"),
]
utc_offsets = st.builds(
    timezone, st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
)
timestamps = st.one_of(
    st.datetimes(min_value=datetime(1985, 1, 1), max_value=datetime(2105, 1, 1), timezones=st.none() | utc_offsets).map(
        lambda d: d.isoformat(sep=" ")
    ),
    st.datetimes(timezones=st.none() | utc_offsets).map(datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-05-01T12:00:00Z", "2024-05-01"]),
)
cc_cells = st.one_of(
    number_texts,
    st.floats(0, 1e4).map(repr),
    st.floats(0, 1e-300).map(repr),
    timestamps,
    st.text(UTF8_CHAR, max_size=12),
)
TEXT_COLUMNS = {"project_name", "run_id", "experiment_id", "country_name", "country_iso_code", "region"}
TEXT_COLUMNS |= {"cloud_provider", "cloud_region", "tracking_mode", "cpu_model", "gpu_model", "codecarbon_version"}
plausible_cells = {
    "timestamp": st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2095, 1, 1)).map(str),
    "pue": st.floats(1, 2).map(repr) | st.just(""),
    "country_iso_code": st.sampled_from(["FRA", "DEU", "USA", "XXX", ""]),
    **{c: st.text(string.ascii_letters + "-_ ", max_size=8) for c in TEXT_COLUMNS - {"country_iso_code"}},
}
plausible_number = st.one_of(
    st.floats(0, 1e3).map(repr), st.floats(0, 1e3).map(lambda f: f"{f:.3e}"), st.integers(0, 64).map(str)
)


@st.composite
def codecarbon_files(draw: st.DrawFn) -> bytes:
    """A CodeCarbon-like CSV: the required columns and some optional ones in any order, cells of any kind, lines
    too short or too long; now and then bytes that are no such file at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    columns = draw(st.permutations([*REQUIRED, *draw(st.lists(st.sampled_from(OPTIONAL), max_size=6, unique=True))]))
    if draw(st.integers(0, 9)) == 0:
        columns = columns[1:]  # a required column missing
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(columns)
    for _ in range(draw(st.integers(0, 4))):
        width = len(columns) + draw(st.sampled_from([0, 0, 0, -2, 1]))
        row = {c: draw(plausible_cells.get(c, plausible_number)) for c in columns}
        if draw(st.booleans()):  # one cell of the line is anything
            row[draw(st.sampled_from(columns))] = draw(cc_cells)
        if draw(st.integers(0, 3)) == 0:
            row["timestamp"] = draw(timestamps)
        writer.writerow([row.get(c, "") for c in columns][: max(width, 0)] + [""] * max(width - len(columns), 0))
    return buffer.getvalue().encode("utf-8", "surrogatepass")  # a lone surrogate: a file that is not UTF-8


FINITE_FIELDS = [name for name, kind in RunRecord.__annotations__.items() if kind in ("float", "float | None")]
BIG = b"timestamp,project_name,duration,emissions,energy_consumed\n"
BAD_RATIO = BIG + b"2024-05-01T12:00:00,p,10,1000000,1e-320\n"  # emissions / energy: an infinite intensity


def _check_import(records: list[RunRecord], rejected: list[str], lines: int) -> None:
    assert 0 <= len(rejected) <= lines and len(records) <= lines - len(rejected)
    for record in records:
        for name in FINITE_FIELDS:
            value = getattr(record, name)
            assert value is None or math.isfinite(value), (name, value, record.notes)
        assert record.duration_s >= 0 and record.pue >= 1.0 and record.started_at <= record.ended_at
        assert record.started_at.year >= 1990 and record.ended_at.year <= 2100


@fuzz(150)
@given(content=codecarbon_files())
@example(content=BAD_RATIO)
def test_any_codecarbon_file_gives_checked_records_or_a_format_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "emissions.csv"
    path.write_bytes(content)
    try:
        records, rejected, lines = read_checked(path)
    except ImportFormatError:
        event("ImportFormatError")
        return
    event(f"records: {min(len(records), 2)}, rejected: {min(len(rejected), 2)} (2: 2 or more)")
    _check_import(records, rejected, lines)


@pytest.fixture
def fuzz_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "fuzz.db"))
    yield store
    store.close()


@fuzz(50)
@given(content=codecarbon_files())
@example(content=BAD_RATIO)
def test_any_codecarbon_file_imports_into_a_store_or_gives_a_format_error(
    tmp_path: Path, fuzz_store: SqliteStore, content: bytes
) -> None:
    path = tmp_path / "emissions.csv"
    path.write_bytes(content)
    try:
        result = import_codecarbon(path, fuzz_store)
    except ImportFormatError:
        return
    assert result.added + result.updated + result.unchanged == result.records
    assert 0 <= len(result.rejected) <= result.lines


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@fuzz(25)
@given(content=codecarbon_files())
@example(content=BAD_RATIO)
def test_tracker_import_then_runs_json_never_gives_a_traceback_or_bad_json(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path, db = tmp_path / "emissions.csv", str(tmp_path / "cli.db")
    path.write_bytes(content)
    assert main(["import", "codecarbon", str(path), "--store", db]) in (0, 1)  # 1: lines left out, or not such a file
    assert main(["runs", "--store", db, "--format", "json", "--limit", "100000"]) == 0
    rows = _strict_json(capsys.readouterr().out)
    assert isinstance(rows, list)


# -- Electricity Maps answers ------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(ANY_CHAR, max_size=12), st.sampled_from([HUGE, -HUGE])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
zones = mostly(st.sampled_from(["DE", "FR", "US-CAL-CISO"]), json_values)
api_times = mostly(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ),
    st.one_of(
        st.datetimes(timezones=st.none() | utc_offsets).map(datetime.isoformat),
        st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-05-01T12:00:00Z", ""]),
        json_values,
    ),
    odds=8,
)
intensities = mostly(
    st.floats(0, 2000) | st.integers(0, 2000),
    st.one_of(st.floats(), st.integers(), st.sampled_from([HUGE, -1, True, "300", None]), json_values),
    odds=8,
)
points = st.fixed_dictionaries(
    {"carbonIntensity": intensities, "datetime": api_times},
    optional={
        "zone": zones,
        "isEstimated": mostly(st.booleans(), json_values),
        "estimationMethod": mostly(st.sampled_from(["TIME_SLICER_AVERAGE", "FORECASTS_HIERARCHY"]), json_values),
        "updatedAt": json_values,
        "emissionFactorType": mostly(st.sampled_from(["lifecycle", "direct"]), json_values),
        "temporalGranularity": json_values,
    },
)
point_lists = mostly(st.lists(points, max_size=4), st.lists(mostly(points, json_values), max_size=4))
answers = st.one_of(
    points,
    st.fixed_dictionaries({"zone": zones, "history": point_lists, "data": point_lists, "forecast": point_lists}),
    st.fixed_dictionaries(
        {"zone": json_values}, optional={"history": point_lists, "data": point_lists, "forecast": point_lists}
    ),
    st.dictionaries(
        st.sampled_from(["zone", "history", "data", "forecast", "carbonIntensity", "datetime"]), json_values
    ),
)


@st.composite
def api_answers(draw: st.DrawFn) -> tuple[str, Any]:
    """(endpoint's key, JSON body): mostly the shape that key's endpoint answers with, now and then any."""
    key = draw(st.sampled_from(["latest", "history", "data", "forecast"]))
    shaped = points if key == "latest" else st.fixed_dictionaries({"zone": zones, key: point_lists})
    return key, draw(mostly(shaped, answers))


POINT = {"carbonIntensity": 1, "datetime": "2024-05-01T12:00:00Z"}
BIG_INTENSITY = {"carbonIntensity": HUGE, "datetime": "2024-05-01T12:00:00Z"}  # math.isfinite(10**400): OverflowError
YEAR_ONE = {"carbonIntensity": 1, "datetime": "0001-01-01T00:00:00+01:00"}  # astimezone before year 1: OverflowError


def _check_reading(reading: em.Reading) -> None:
    assert isinstance(reading, em.Reading)
    assert isinstance(reading.g_per_kwh, float) and math.isfinite(reading.g_per_kwh) and reading.g_per_kwh >= 0
    assert reading.datetime.utcoffset() == timedelta(0)
    assert isinstance(reading.zone, str) and isinstance(reading.emission_factor_type, str)
    assert isinstance(reading.granularity, str)
    assert reading.is_estimated is None or isinstance(reading.is_estimated, bool), reading.is_estimated
    for text in (reading.estimation_method, reading.updated_at):
        assert text is None or isinstance(text, str), text


def _parsed(call: Callable[[], Any]) -> None:
    """``call``'s readings keep their promises, or it raised ApiError."""
    try:
        result = call()
    except em.ApiError as exc:
        event(f"ApiError {exc.kind}")
        return
    event("readings" if result else "no readings")
    for reading in result if isinstance(result, list) else [result]:
        _check_reading(reading)


@fuzz(200)
@given(answer=api_answers())
@example(answer=("latest", BIG_INTENSITY))
@example(answer=("latest", YEAR_ONE))
@example(answer=("history", {"history": [YEAR_ONE]}))
@example(answer=("latest", {**POINT, "isEstimated": [1], "estimationMethod": {"a": 1}}))  # typed fields stay typed
def test_any_json_answer_gives_readings_or_an_api_error(answer: tuple[str, Any]) -> None:
    key, body = answer
    if key == "latest":
        _parsed(lambda: em.parse_reading(body, "DE", "lifecycle"))
    else:
        _parsed(lambda: em.Client._points(body, key, "DE", "lifecycle"))


@pytest.fixture
def api_server() -> Iterator[LocalServer]:
    with serve() as server:
        yield server


DEEP = b"[" * 100_000 + b"]" * 100_000  # json.loads: RecursionError


@fuzz(50)
@given(
    answer=api_answers(),
    raw=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=64), st.sampled_from([DEEP, b"NaN", b"1" * 400])),
)
@example(answer=("latest", {}), raw=DEEP)
@example(answer=("latest", BIG_INTENSITY), raw=None)
def test_any_body_from_the_server_gives_readings_or_an_api_error(
    tmp_path: Path, api_server: LocalServer, answer: tuple[str, Any], raw: bytes | None
) -> None:
    """The answer's JSON, or (``raw``) bytes that may be no JSON at all."""
    key, value = answer
    endpoint = "history" if key == "data" else key  # the history endpoint answers with either key
    body = json.dumps(value).encode() if raw is None else raw
    api_server.routes[("GET", f"/carbon-intensity/{endpoint}")] = Answer(
        200, body, {"Content-Type": "application/json"}
    )
    em.reset()
    client = em.Client(api_token="t", url=api_server.url, cache_dir=tmp_path / f"cache-{time.monotonic_ns()}")
    _parsed(lambda: getattr(client, endpoint)(zone="DE"))


@fuzz(100)
@given(
    content=st.one_of(
        st.binary(max_size=64),
        mostly(points, answers).map(lambda b: json.dumps({"fetched_at": "NOW", "body": b}).encode()),
        json_values.map(lambda v: json.dumps({"fetched_at": v, "body": POINT}).encode()),
        st.sampled_from([DEEP, b'{"fetched_at": 1' + b"0" * 400 + b', "body": {}}']),
    )
)
@example(content=DEEP)
@example(content=b'{"fetched_at": 1' + b"0" * 400 + b', "body": {}}')  # float(10**400): OverflowError
def test_any_cache_file_gives_readings_or_an_api_error(tmp_path: Path, content: bytes) -> None:
    client = em.Client(api_token="", url="http://127.0.0.1:9", cache_dir=tmp_path / "cache")  # no token: no request
    params = client._target("DE", None, None, "lifecycle")
    path = client._cache_path("latest", params)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.replace(b'"NOW"', str(time.time()).encode()))
    _parsed(lambda: client.latest(zone="DE"))


@fuzz(100)
@given(header=st.one_of(st.none(), number_texts, st.text(st.characters(codec="latin-1"), max_size=12)))
@example(header="nan")  # max(nan, 1.0) is nan: a 429 without any cool-down
def test_any_retry_after_gives_a_wait_from_a_second_to_a_day(header: str | None) -> None:
    wait = em._retry_after(header)
    assert 1.0 <= wait <= 24 * 3600.0, wait


def test_the_fuzz_settings_are_bounded_for_ci() -> None:
    """CI runs a fixed, small number of examples per test, reproducibly; FUZZ_EXAMPLES raises it."""
    if os.environ.get(FUZZ_ENV):
        pytest.skip("FUZZ_EXAMPLES is set: a longer, random run")
    chosen = fuzz(10)
    assert chosen.max_examples == 10 and chosen.derandomize and chosen.database is None
