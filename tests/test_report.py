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

from tracker.carbon.equivalents import CONSTANTS, Equivalents
from tracker.cli import main
from tracker.records.schema import TOTALS
from tracker.reports.periods import period_labels
from tracker.reports.render.units import intensity, mass
from tracker.stores.sqlite import SqliteStore

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


def test_markdown_shows_labels_as_text_not_emphasis_links_or_entities(tmp_path, capsys):
    path = str(tmp_path / "p.db")
    SqliteStore(path).write(make_record(1, project="*bold* _it_ `code` [x](http://evil) &amp; ~s~"))
    md = _report(capsys, "--store", path, "--format", "markdown")
    assert "\\*bold\\* \\_it\\_ \\`code\\` \\[x\\](http://evil) &amp;amp; \\~s\\~" in md


def test_csv_labels_that_look_like_formulas_are_not_formulas(tmp_path, capsys):
    """A spreadsheet would run =HYPERLINK(...) from a project name (CSV injection): such labels get an apostrophe;
    numbers, negative ones included, stay numbers."""
    path = str(tmp_path / "p.db")
    store = SqliteStore(path)
    for i, name in enumerate(['=HYPERLINK("http://evil","x")', "+1", "-2", "@SUM(A1)", "plain"]):
        store.write(make_record(i, project=name, organisation=name))
    text = _report(capsys, "--store", path, "--format", "csv", "--by", "project")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["project"] for r in rows) == sorted(
        ['\'=HYPERLINK("http://evil","x")', "'+1", "'-2", "'@SUM(A1)", "plain"]
    )
    assert all(float(r["emissions_kg"]) > 0 for r in rows)
    annual = list(csv.DictReader(io.StringIO(_report(capsys, "--store", path, "--annual", "2026", "--format", "csv"))))
    assert '\'=HYPERLINK("http://evil","x")' in {r["organisation"] for r in annual}
    assert not any(r["organisation"].startswith(("=", "+", "-", "@")) for r in annual)


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
    months = sorted({row["period"] for row in data["rows"]})  # 2025-11 .. 2026-04, then the hostile runs' 2027-02
    bars = re.findall(r'<svg id="svg-time".*?</svg>', dom, re.S)[0].split("<rect")[1:]
    assert len(bars) == len(period_labels(months[0], months[-1], "month")) == 16  # the months between shown empty
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
    from tracker.grid.zones import zone_table

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


def _history(zone: str, clean_hours: set[int]) -> dict:
    """Electricity Maps v3 ``history``: the last 24 hours, 50 g/kWh in ``clean_hours`` (UTC), 400 otherwise."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    points = []
    for ago in range(23, -1, -1):
        when = now - timedelta(hours=ago)
        points.append(
            {
                "zone": zone,
                "carbonIntensity": 50 + when.hour if when.hour in clean_hours else 400,
                "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "updatedAt": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "createdAt": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "emissionFactorType": "lifecycle",
                "isEstimated": False,
                "estimationMethod": None,
                "temporalGranularity": "hourly",
            }
        )
    return {"zone": zone, "history": points}


def test_recommendations_give_greener_hours_from_a_local_electricity_maps(tmp_path, capsys, monkeypatch):
    from tests.local_http import Answer, serve
    from tracker.grid import electricitymaps

    clean = {2, 3, 4, 13, 14, 15}  # a quarter of the day
    path = str(tmp_path / "h.db")
    SqliteStore(path).write(make_record(1, zone="DE", cloud_provider="aws", cloud_region="eu-central-1"))
    SqliteStore(path).write(make_record(2, zone="US-CAL-CISO", cpu_energy_kwh=1.0, ram_energy_kwh=0.0))

    def answer(seen):
        zone = seen.query["zone"][0]
        return Answer(200, _history(zone, clean if zone == "DE" else {20, 21, 22, 23, 0, 1}))

    electricitymaps.reset()
    with serve({("GET", "/v3/carbon-intensity/history"): answer}) as api:
        monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "tok-123")
        monkeypatch.setenv("ELECTRICITYMAPS_API_URL", api.url + "/v3")
        data = json.loads(_report(capsys, "--store", path, "--recommend", "--format", "json"))["recommendations"]
        text = _report(capsys, "--store", path, "--recommend")
    assert {s.headers.get("auth-token") for s in api.seen} == {"tok-123"}
    assert {s.query["zone"][0] for s in api.seen} == {"DE", "US-CAL-CISO"}
    by_place = {r["place"]: r for r in data}
    aws, cal = by_place["aws eu-central-1"], by_place["US-CAL-CISO"]
    assert aws["zone"] == "DE" and aws["greener_hours_utc"] == sorted(clean)
    assert cal["greener_hours_utc"] == [0, 1, 20, 21, 22, 23]
    assert "Electricity Maps" in aws["hourly_note"] and "52 to 400 g/kWh" in aws["hourly_note"]
    assert "greener hours (UTC): 02:00, 03:00, 04:00, 13:00, 14:00, 15:00" in text


def test_recommendations_survive_a_failing_electricity_maps(tmp_path, capsys, monkeypatch):
    from tests.local_http import Answer, serve
    from tracker.grid import electricitymaps

    path = str(tmp_path / "f.db")
    SqliteStore(path).write(make_record(1, zone="US-CAL-CISO", cpu_energy_kwh=1.0))
    electricitymaps.reset()
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(500, {"error": "down"})}) as api:
        monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "tok-123")
        monkeypatch.setenv("ELECTRICITYMAPS_API_URL", api.url + "/v3")
        data = json.loads(_report(capsys, "--store", path, "--recommend", "--format", "json"))["recommendations"]
    electricitymaps.reset()
    assert data[0]["alternatives"] and data[0]["greener_hours_utc"] is None
    assert data[0]["hourly_note"].startswith("hourly data unavailable: ")


def test_a_zone_without_neighbours_is_not_called_the_greenest(tmp_path, capsys):
    """MT (an island, no zone family) has no neighbour: that is "not compared", not "already the greenest"."""
    from tracker.grid.zones import zone_table

    table = zone_table()
    cleanest = table.neighbours("US-CAL-CISO")[0].zone  # the cleanest of its family: nothing cleaner nearby
    assert table.neighbours("MT") == []
    path = str(tmp_path / "n.db")
    store = SqliteStore(path)
    store.write(make_record(1, zone="MT", cpu_energy_kwh=1.0, emissions_kg=2.0))
    store.write(make_record(2, zone=cleanest, cpu_energy_kwh=1.0, emissions_kg=1.0))
    data = json.loads(_report(capsys, "--store", path, "--recommend", "--format", "json"))["recommendations"]
    by_place = {r["place"]: r for r in data}
    assert by_place["MT"]["alternatives"] == [] and by_place["MT"]["compared"] == 0
    assert by_place[cleanest]["alternatives"] == []
    assert by_place[cleanest]["compared"] == len(table.neighbours(cleanest)) > 0
    text = _report(capsys, "--store", path, "--recommend")
    pl_block, clean_block = text.split(f"{cleanest}:")  # MT emitted more, so it comes first
    assert "greenest" not in pl_block and "not compared" in pl_block
    assert "already the greenest of" in clean_block


def test_annual_statement_html_is_a_real_page_with_the_json_figures(store_file, tmp_path, capsys):
    from datetime import datetime, timezone

    store = SqliteStore(store_file)
    for i, name in enumerate(HOSTILE):
        store.write(make_record(20_000 + i, organisation=name, started_at=datetime(2026, 6, 1, i, tzinfo=timezone.utc)))
    store.close()
    out = tmp_path / "annual.html"
    assert main(["report", "--store", store_file, "--annual", "2026", "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == [] and "pre" not in checker.tags  # tables, not Markdown in a <pre>
    assert "script" not in checker.tags and "img" not in checker.tags
    text = "".join(checker.text)
    for name in HOSTILE:
        assert f"Methods and data sources: {name}" in text
    data = json.loads(_report(capsys, "--store", store_file, "--annual", "2026", "--format", "json"))
    shown = re.findall(r'<tr data-organisation="([^"]*)">(.*?)</tr>', page)
    assert len(shown) == len(data["organisations"]) == 2 + len(HOSTILE)
    for (_, row), org in zip(shown, data["organisations"], strict=True):
        values = dict(re.findall(r'data-field="(\w+)" data-value="([^"]+)"', row))
        assert int(values.pop("runs")) == org["runs"]
        assert {k: float(v) for k, v in values.items()} == {k: org[k] for k in values}
        assert set(values) == {"energy_mwh", "it_energy_mwh", "location_based_t", "market_based_t", "embodied_t"}
    assert "E1-6" in text and "market-based" in text and "all organisations" in text


def test_time_chart_has_round_gridlines_above_the_largest_bar():
    from tracker.reports.render.charts import axis_ticks, column_chart

    assert axis_ticks(212.0) == [0, 50, 100, 150, 200, 250]
    assert axis_ticks(0.0034) == [0, 0.001, 0.002, 0.003, 0.004]
    assert axis_ticks(0.0) == [0, 1]
    for top in (0.37, 1.0, 7.3, 99.0, 1234.5, 2e6):
        ticks = axis_ticks(top)
        assert ticks[0] == 0 and ticks[-1] >= top and 3 <= len(ticks) <= 6
    svg = column_chart([("2026-01", 212.0), ("2026-02", 40.0)], "kg CO2e", "t")
    assert re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', svg) == ["0", "50", "100", "150", "200", "250"]
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert heights[0] == pytest.approx(190 * 212 / 250, abs=0.1)  # bars scale to the top gridline


def test_time_chart_shows_months_without_runs_as_empty(tmp_path, capsys):
    from datetime import datetime, timezone

    from tracker.reports.periods import period_labels

    assert period_labels("2026-W52", "2027-W01", "week") == ["2026-W52", "2026-W53", "2027-W01"]
    assert period_labels("2025-Q4", "2026-Q2", "quarter") == ["2025-Q4", "2026-Q1", "2026-Q2"]
    assert period_labels("2026-12-31", "2027-01-01", "day") == ["2026-12-31", "2027-01-01"]
    path = str(tmp_path / "gap.db")
    store = SqliteStore(path)
    store.write(make_record(1, started_at=datetime(2026, 1, 10, tzinfo=timezone.utc)))
    store.write(make_record(2, started_at=datetime(2026, 4, 10, tzinfo=timezone.utc)))
    page, _ = _html(path, tmp_path, capsys)
    block = re.search(r'<svg id="svg-time".*?</svg>', page, re.S).group(0)
    assert re.findall(r"<title>([\d-]+):", block) == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert [float(v) for v in re.findall(r'data-value="([^"]+)"', block)][1:3] == [0.0, 0.0]


def test_savings_are_stated_against_the_figure_they_come_from(tmp_path, capsys):
    """Recorded emissions (e.g. imported, or live hourly) may be below the yearly figure: the saving must not
    appear larger than what it is taken from."""
    path = str(tmp_path / "b.db")
    SqliteStore(path).write(
        make_record(
            1, zone="DE", cloud_provider="aws", cloud_region="eu-central-1", cpu_energy_kwh=1.0, emissions_kg=0.01
        )
    )
    (aws,) = json.loads(_report(capsys, "--store", path, "--recommend", "--format", "json"))["recommendations"]
    assert aws["baseline_kg"] == pytest.approx(aws["energy_kwh"] * aws["g_per_kwh"] / 1000)
    assert all(0 < a["saved_kg"] < aws["baseline_kg"] for a in aws["alternatives"])
    assert any(a["saved_kg"] > aws["emissions_kg"] for a in aws["alternatives"])  # why the baseline is shown
    text = _report(capsys, "--store", path, "--recommend")
    assert f"{mass(aws['baseline_kg'])} at the yearly {intensity(aws['g_per_kwh'])}" in text


def test_equivalents_against_hand_computed_values_and_documented_sources():
    e = Equivalents.of(energy_kwh=0.19, emissions_kg=1.75)
    assert e.car_km == pytest.approx(10.0)  # 175 g/km
    assert e.smartphone_charges == pytest.approx(10.0)  # 0.019 kWh a charge
    assert e.tv_hours == pytest.approx(190 / (138 / 6.5))  # 138 Wh a day for 6.5 h
    assert e.household_days == pytest.approx(0.19 * 365 / 10_715)  # 10,715 kWh a year
    doc = (Path(__file__).parents[1] / "docs" / "methodology.md").read_text(encoding="utf-8")
    section = doc[doc.index("## 6. Equivalents") :]
    for needle in ("175 g CO2e/km", "138 Wh/day", "10,715 kWh", "0.019 kWh", "DEFRA", "ADEME", "EIA", "EPA"):
        assert needle in section, needle
    rows = {
        w: next(line for line in section.splitlines() if line.startswith("|") and w in line)
        for w in ("car", "TV", "household", "smartphone")
    }
    for constant, word in zip(CONSTANTS, rows, strict=True):
        assert str(constant.year) in rows[word].rsplit("|", 2)[1], constant.name  # the source column has the year


def test_tiny_runs_are_not_shown_as_zero(tmp_path, capsys):
    """A run of a few milliwatt-hours must read as such in the table, not as 0.0000 (nor as 6.99e-06 kWh)."""
    path = str(tmp_path / "tiny.db")
    tiny = make_record(1, project="tiny", cpu_energy_kwh=6.99e-6, ram_energy_kwh=0.0, emissions_kg=3.48e-7)
    tiny.emissions_market_kg = 3.48e-7
    SqliteStore(path).write(tiny)
    table = _report(capsys, "--store", path)
    row = next(line for line in table.splitlines() if line.startswith("tiny"))
    assert "6.99 mWh" in row and "348 µg" in row and "0.0000" not in row and "e-0" not in row


def test_html_by_team_renders_in_chromium_with_a_chart_and_a_trend_per_team(store_file, tmp_path, capsys):
    _, out = _html(store_file, tmp_path, capsys, "--by", "team", "--period", "month")
    result = _run_chromium(out.as_uri(), "--dump-dom", "--virtual-time-budget=2000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console(result.stderr) == []
    dom = result.stdout
    teams = {
        row["team"] or "(none)"
        for row in json.loads(_report(capsys, "--store", store_file, "--format", "json", "--by", "team"))["rows"]
    }
    bars = re.search(r'<svg id="svg-teams".*?</svg>', dom, re.S).group(0)
    assert set(re.findall(r'<g class="bar"><title>([^:<]+):', bars)) == teams
    trend = re.search(r'<svg id="svg-trend".*?</svg>', dom, re.S).group(0)
    assert set(re.findall(r'<g class="series" data-group="([^"]+)">', trend)) == teams
    assert trend.count("<polyline") == len(teams)
    shot = tmp_path / "teams.png"
    _run_chromium(out.as_uri(), f"--screenshot={shot}", "--window-size=1200,1600")
    assert shot.exists() and shot.stat().st_size > 10_000
