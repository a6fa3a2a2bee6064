"""``tracker report``: every format parses and shows the same totals; HTML is well-formed, self-contained,
escapes hostile labels and renders in headless Chromium without console errors."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from runs_factory import generated_runs, make_record

from tracker.cli import main
from tracker.equivalents import CONSTANTS, Equivalents
from tracker.stores.sqlite import SqliteStore
from tracker.summary import TOTALS

HOSTILE = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "</svg><script>document.title='pwned'</script>",
    "a & b ' \" <b>bold</b>",
]


@pytest.fixture
def store_file(tmp_path) -> str:
    path = str(tmp_path / "runs.db")
    store = SqliteStore(path)
    runs = generated_runs()
    for i, name in enumerate(HOSTILE):
        runs.append(make_record(10_000 + i, project=name, organisation="acme", team="ml", emissions_kg=1 / 8))
    store.write_many(runs)
    store.close()
    return path


def _report(capsys, *args: str) -> str:
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def test_json_shape_and_totals_add_up(store_file, capsys):
    data = json.loads(
        _report(capsys, "--store", store_file, "--by", "project", "--period", "month", "--format", "json")
    )
    assert data["group_by"] == ["project"] and data["period"] == "month"
    for row in data["rows"]:
        assert {"project", "period", "runs", "duration_s", "energy_kwh", "emissions_kg", "emissions_market_kg"} <= set(
            row
        )
    for column in TOTALS:
        assert data["total"][column] == pytest.approx(sum(r[column] for r in data["rows"]), rel=1e-12)
    runs = generated_runs()
    assert data["total"]["runs"] == len(runs) + len(HOSTILE)
    assert data["total"]["emissions_kg"] == sum(r.emissions_kg for r in runs) + len(HOSTILE) / 8
    expected = Equivalents.of(data["total"]["facility_energy_kwh"], data["total"]["emissions_kg"]).to_dict()
    assert data["equivalents"] == pytest.approx(expected)


def test_filters_and_dates(store_file, capsys):
    data = json.loads(
        _report(
            capsys,
            "--store",
            store_file,
            "--format",
            "json",
            "--organisation",
            "acme",
            "--team",
            "ml",
            "--since",
            "2026-01-01",
            "--until",
            "2026-02-01",
            "--by",
            "team,project",
        )
    )
    runs = [
        r
        for r in generated_runs()
        if r.organisation == "acme" and r.team == "ml" and r.started_at.year == 2026 and r.started_at.month == 1
    ]
    assert data["total"]["runs"] == len(runs) > 0
    assert {row["team"] for row in data["rows"]} == {"ml"}
    assert data["filters"]["organisation"] == "acme"


def test_csv_reads_back(store_file, capsys):
    text = _report(capsys, "--store", store_file, "--format", "csv", "--by", "organisation", "--by", "project")
    rows = list(csv.DictReader(io.StringIO(text)))
    data = json.loads(_report(capsys, "--store", store_file, "--format", "json", "--by", "organisation,project"))
    assert len(rows) == len(data["rows"])
    for line, row in zip(rows, data["rows"], strict=True):
        assert line["project"] == row["project"]
        assert float(line["emissions_kg"]) == row["emissions_kg"]  # repr round-trips exactly
        assert int(line["runs"]) == row["runs"]
    assert HOSTILE[0] in {r["project"] for r in rows}


def test_markdown_and_table(store_file, capsys):
    md = _report(capsys, "--store", store_file, "--format", "markdown", "--by", "team")
    lines = [line for line in md.splitlines() if line.startswith("|")]
    assert len({line.count("|") - line.count("\\|") for line in lines}) == 1  # every line has the same cells
    assert lines[-1].startswith("| **total**")
    table = _report(capsys, "--store", store_file, "--by", "project")
    assert "total" in table and "smartphone charges" in table
    assert "\x1b" not in _report(capsys, "--store", store_file)


def test_markdown_escapes_pipes_and_html(tmp_path, capsys):
    path = str(tmp_path / "p.db")
    SqliteStore(path).write(make_record(1, project="a|b<script>"))
    md = _report(capsys, "--store", path, "--format", "markdown")
    assert "a\\|b&lt;script>" in md


class _Checker(HTMLParser):
    """Well-formedness for the elements we write: every opened element closed, in order."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append(dict(attrs))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append(dict(attrs))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _html(store_file, tmp_path, capsys, *extra: str) -> tuple[str, Path]:
    out = tmp_path / "report.html"
    assert main(["report", "--store", store_file, "--format", "html", "-o", str(out), *extra]) == 0
    capsys.readouterr()
    return out.read_text(encoding="utf-8"), out


def test_html_is_well_formed_self_contained_and_escaped(store_file, tmp_path, capsys):
    page, _ = _html(store_file, tmp_path, capsys)
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    assert "script" not in checker.tags and "img" not in checker.tags  # hostile labels stayed text
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)  # nothing fetched from anywhere
    assert "onerror" not in {k for a in checker.attrs for k in a}
    text = "".join(checker.text)
    for name in HOSTILE:
        assert name in text  # shown, as text
    assert checker.tags.count("svg") >= 3
    for constant in CONSTANTS:
        assert constant.source in text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(url: str, *flags: str) -> subprocess.CompletedProcess:
    binary = _chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI must install it: apt-get install chromium)")
        pytest.skip("chromium is not installed (set CI=1 to make this a failure)")
    args = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0", *flags, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_console_check_catches_errors(tmp_path):
    """The detector used below sees a console error and an uncaught exception (so its silence means something)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom-1'); throw new Error('boom-2')</script>")
    result = _run_chromium(bad.as_uri(), "--dump-dom")
    messages = "\n".join(_console(result.stderr))
    assert "boom-1" in messages and "Uncaught Error: boom-2" in messages


def test_html_renders_in_chromium_with_the_json_totals(store_file, tmp_path, capsys):
    _, out = _html(store_file, tmp_path, capsys, "--by", "project", "--period", "month")
    result = _run_chromium(out.as_uri(), "--dump-dom", "--virtual-time-budget=2000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console(result.stderr) == []
    dom = result.stdout
    assert "<script" not in dom  # no hostile label became an element after parsing
    for chart in ("svg-time", "svg-projects", "svg-components"):
        block = re.search(rf'<svg id="{chart}".*?</svg>', dom, re.S)
        assert block and block.group(0).count("<rect") >= 1, chart
    assert dom.count('data-equivalent="') == 4
    data = json.loads(
        _report(capsys, "--store", store_file, "--format", "json", "--by", "project", "--period", "month")
    )
    shown = dict(re.findall(r'data-total="(\w+)" data-value="([^"]+)"', dom))
    for key in ("runs", "emissions_kg", "emissions_market_kg", "facility_energy_kwh", "energy_kwh", "duration_s"):
        assert float(shown[key]) == data["total"][key], key
    months = {row["period"] for row in data["rows"]}
    assert len(re.findall(r'<svg id="svg-time".*?</svg>', dom, re.S)[0].split("<rect")) - 1 == len(months)
    shot = tmp_path / "shot.png"
    result = _run_chromium(out.as_uri(), f"--screenshot={shot}", "--window-size=1200,1600")
    assert shot.exists() and shot.stat().st_size > 10_000


def test_annual_statement(store_file, capsys):
    data = json.loads(_report(capsys, "--store", store_file, "--annual", "2026", "--format", "json"))
    runs = [r for r in generated_runs() if r.started_at.year == 2026]  # the hostile runs start in 2027
    orgs = {o["organisation"]: o for o in data["organisations"]}
    assert set(orgs) == {"acme", "globex"}
    for name, org in orgs.items():
        mine = [r for r in runs if r.organisation == name]
        assert org["runs"] == len(mine)
        assert org["energy_mwh"] == pytest.approx(sum(r.facility_energy_kwh for r in mine) / 1000, rel=1e-12)
        assert org["it_energy_mwh"] == pytest.approx(sum(r.energy_kwh for r in mine) / 1000, rel=1e-12)
        assert org["location_based_t"] == pytest.approx(sum(r.emissions_kg for r in mine) / 1000, rel=1e-12)
        assert org["market_based_t"] == pytest.approx(sum(r.emissions_market_kg for r in mine) / 1000, rel=1e-12)
        kinds = {s["kind"] for s in org["sources"]}
        assert {"intensity", "cpu_method", "pue_source", "market_source"} <= kinds
        intensity = [s for s in org["sources"] if s["kind"] == "intensity"]
        assert sum(s["energy_share"] for s in intensity) == pytest.approx(1.0)
    text = _report(capsys, "--store", store_file, "--annual", "2026")
    assert "market-based t CO2e" in text and "Methods and data sources: globex" in text
    assert (
        json.loads(_report(capsys, "--store", store_file, "--annual", "2019", "--format", "json"))["organisations"]
        == []
    )


def test_recommendations_for_a_cloud_region_and_a_zone(tmp_path, capsys):
    from tracker.zones import zone_table

    table = zone_table()
    path = str(tmp_path / "r.db")
    store = SqliteStore(path)
    store.write(make_record(1, zone="DE", cloud_provider="aws", cloud_region="eu-central-1"))
    store.write(make_record(2, zone="US-CAL-CISO", cpu_energy_kwh=1.0, ram_energy_kwh=0.0))
    data = json.loads(_report(capsys, "--store", path, "--recommend", "--format", "json"))["recommendations"]
    by_place = {r["place"]: r for r in data}
    aws = by_place["aws eu-central-1"]
    assert aws["alternatives"], "a cleaner AWS region exists"
    for alt in aws["alternatives"]:
        assert alt["place"].startswith("aws ")
        assert alt["g_per_kwh"] < aws["g_per_kwh"]
        assert alt["saved_kg"] == pytest.approx(aws["energy_kwh"] * (aws["g_per_kwh"] - alt["g_per_kwh"]) / 1000)
        assert alt["saved_pct"] == pytest.approx(100 * (1 - alt["g_per_kwh"] / aws["g_per_kwh"]))
    cal = by_place["US-CAL-CISO"]
    neighbours = {z.zone for z in table.neighbours("US-CAL-CISO")}
    assert cal["alternatives"] and all(a["zone"] in neighbours for a in cal["alternatives"])
    assert cal["greener_hours_utc"] is None and "hourly data unavailable" in cal["hourly_note"]
