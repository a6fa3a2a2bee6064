"""The renderer layer: one ``render(obj, fmt)`` for every report object and format; annual and recommend give
data only; recommendations take their hourly history from the configured intensity provider; the HTML chart
follows ``--by`` and draws a trend per group."""

from __future__ import annotations

import json
import re
from dataclasses import fields, is_dataclass
from datetime import datetime, timezone

import pytest
from runs_factory import generated_runs, make_record

from tracker.cli import main
from tracker.errors import ConfigError
from tracker.grid.intensity import EmbeddedIntensity, Intensity
from tracker.reports.annual import AnnualStatement, annual_statement
from tracker.reports.data import build_report
from tracker.reports.recommend import Recommendation, Recommendations, recommend
from tracker.reports.render import format_names, render
from tracker.stores.sqlite import SqliteStore

FORMATS = ("csv", "html", "json", "markdown", "table")


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    store = SqliteStore(str(tmp_path / "r.db"))
    store.write_many(generated_runs())
    when = datetime(2026, 2, 1, tzinfo=timezone.utc)
    store.write(make_record(99_999, zone="DE", cloud_provider="aws", cloud_region="eu-central-1", started_at=when))
    return store


def test_every_format_is_one_module_and_renders_every_kind_of_object(store):
    assert format_names() == FORMATS
    objects = [
        build_report(store, by=("team",), period="month", charts=True),
        annual_statement(store, 2026),
        recommend(store, provider=EmbeddedIntensity()),
    ]
    for obj in objects:
        for fmt in FORMATS:
            text = render(obj, fmt)
            assert text.endswith("\n") and len(text) > 40, (type(obj).__name__, fmt)
            if fmt == "json":
                json.loads(text)
            if fmt not in ("json", "csv"):  # what a person reads (not the data-value attributes): no 2.83e-05
                assert not re.search(r"\de[-+]\d", re.sub(r"<[^>]*>", " ", text)), (type(obj).__name__, fmt)
    with pytest.raises(ConfigError, match="expected one of csv, html, json, markdown, table"):
        render(objects[0], "pdf")
    with pytest.raises(TypeError):
        render(object(), "table")


def test_annual_and_recommend_return_data_only(store):
    statement = annual_statement(store, 2026)
    items = recommend(store, provider=EmbeddedIntensity())
    assert isinstance(statement, AnnualStatement) and isinstance(items, Recommendations)
    for obj in (statement, items):
        assert is_dataclass(obj)
        assert not [name for name in dir(obj) if name.startswith(("render", "to_json", "to_markdown", "_html"))]
    assert {f.name for f in fields(Recommendation)} >= {"hourly_source", "hourly_unavailable", "greener_hours_utc"}
    assert "hourly_note" not in {f.name for f in fields(Recommendation)}  # a sentence: the renderers write it
    assert [r.place for r in items] == [r.place for r in items.items] and len(items) == len(items.items)


class HourlyProvider:
    """An intensity provider with hourly values: clean from 01:00 to 06:00 UTC, dirty otherwise."""

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, int]] = []

    def intensity(self, zone, hour):
        raise AssertionError("recommendations ask for the hours of a location")

    def intensities(self, location, hours):
        self.asked.append((location.zone, len(hours)))
        return [
            Intensity(40.0 + h.hour if 1 <= h.hour <= 6 else 300.0, "Fake hourly", h.year, location.zone or "")
            for h in hours
        ]


def test_greener_hours_come_from_the_given_provider_not_from_a_client_of_its_own(store, monkeypatch):
    from tracker.grid import electricitymaps

    def no_client(*args, **kwargs):
        raise AssertionError("recommend must not build an Electricity Maps client")

    monkeypatch.setattr(electricitymaps.Client, "__init__", no_client)
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "tok")  # a token alone does not make it build one
    provider = HourlyProvider()
    items = recommend(store, provider=provider)
    greener = [(zone, n) for zone, n in provider.asked if n == 24]  # the last 24 hours, per place
    # the rest: spans of the runs' days for the shifting savings (48 h from a day's start, up to 10 days at once)
    assert greener and all(n == 24 or (n % 24 == 0 and 48 <= n <= 240) for _, n in provider.asked)
    assert {zone for zone, _ in greener} == {r.zone for r in items}
    for r in items:
        assert r.greener_hours_utc == [1, 2, 3, 4, 5, 6]
        assert (r.hourly_low_g_per_kwh, r.hourly_high_g_per_kwh, r.hourly_source) == (41.0, 300.0, "Fake hourly")
        assert r.hourly_unavailable is None
    text = render(items, "table")
    assert "greener hours (UTC): 01:00, 02:00, 03:00, 04:00, 05:00, 06:00" in text
    assert "Fake hourly, last 24 hours: 41 to 300 g/kWh" in text


def test_the_offline_provider_gives_no_greener_hours_and_says_why(store):
    items = recommend(store, provider=EmbeddedIntensity())
    assert items and all(r.greener_hours_utc is None for r in items)
    assert all("yearly values only" in r.hourly_unavailable for r in items)
    data = json.loads(render(items, "json"))["recommendations"]
    assert all(r["hourly_note"].startswith("hourly data unavailable: ") for r in data)


def test_report_recommend_follows_the_configured_provider(tmp_path, capsys, monkeypatch):
    """live=off: no request to Electricity Maps even with a token (the old code asked whenever a token was set)."""
    from tests.local_http import Answer, serve
    from tracker.grid import electricitymaps

    path = str(tmp_path / "c.db")
    SqliteStore(path).write(make_record(1, zone="US-CAL-CISO", cpu_energy_kwh=1.0))
    electricitymaps.reset()
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, {"zone": "x", "history": []})}) as api:
        monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "tok-123")
        monkeypatch.setenv("ELECTRICITYMAPS_API_URL", api.url + "/v3")
        monkeypatch.setenv("TRACKER_LIVE", "off")
        assert main(["report", "--store", path, "--recommend", "--format", "json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)["recommendations"]
    assert api.seen == []
    assert item["greener_hours_utc"] is None and "yearly values only" in item["hourly_unavailable"]


def _page(store, tmp_path, capsys, *by: str) -> str:
    out = tmp_path / "page.html"
    args = ["report", "--store", store.location, "--format", "html", "-o", str(out)]
    for name in by:
        args += ["--by", name]
    assert main(args) == 0
    capsys.readouterr()
    return out.read_text(encoding="utf-8")


def test_html_chart_follows_by_with_a_trend_per_group(store, tmp_path, capsys):
    data = json.loads(render(build_report(store, by=("team",)), "json"))
    page = _page(store, tmp_path, capsys, "team")
    bars = re.search(r'<svg id="svg-teams".*?</svg>', page, re.S).group(0)
    shown = {
        t: float(v)
        for t, v in re.findall(
            r"<title>([^:<]+): [^<]*</title><text[^>]*>[^<]*</text><rect[^>]*data-value=\"([^\"]+)\"", bars
        )
    }
    assert shown == {(r["team"] or "(none)"): r["emissions_kg"] for r in data["rows"]}
    assert 'id="svg-projects"' not in page and "Emissions by team" in page
    trend = re.search(r'<svg id="svg-trend".*?</svg>', page, re.S).group(0)
    groups = re.findall(r'<g class="series" data-group="([^"]+)">', trend)
    assert sorted(groups) == sorted((r["team"] or "(none)") for r in data["rows"])
    months = json.loads(render(build_report(store, by=(), period="month"), "json"))["rows"]
    per_team = json.loads(render(build_report(store, by=("team",), period="month"), "json"))["rows"]
    for team in groups:
        block = re.search(rf'<g class="series" data-group="{re.escape(team)}">.*?</g>', trend, re.S).group(0)
        points = dict(re.findall(r'data-period="([^"]+)" data-value="([^"]+)"', block))
        assert list(points) == [m["period"] for m in months]  # every month of the report, empty ones as 0
        expected = {r["period"]: r["emissions_kg"] for r in per_team if (r["team"] or "(none)") == team}
        assert {p: float(v) for p, v in points.items()} == {p: expected.get(p, 0.0) for p in points}
    default = _page(store, tmp_path, capsys)
    assert 'id="svg-projects"' in default and "Emissions per month by project" in default


def test_trend_sums_the_groups_it_does_not_draw(tmp_path, capsys):
    store = SqliteStore(str(tmp_path / "many.db"))
    for i in range(9):
        store.write(make_record(i, project=f"p{i}", emissions_kg=(i + 1) / 64))
    page = _page(store, tmp_path, capsys, "project")
    trend = re.search(r'<svg id="svg-trend".*?</svg>', page, re.S).group(0)
    groups = re.findall(r'<g class="series" data-group="([^"]+)">', trend)
    assert groups == ["p8", "p7", "p6", "p5", "p4", "other 4 groups"]
    other = re.search(r'data-group="other 4 groups">.*?</g>', trend, re.S).group(0)
    assert sum(float(v) for v in re.findall(r'data-value="([^"]+)"', other)) == (1 + 2 + 3 + 4) / 64


def test_people_read_units_that_fit_and_programs_the_raw_values(tmp_path, capsys):
    path = str(tmp_path / "t.db")
    run = make_record(
        1, project="tiny", cpu_energy_kwh=2.5e-6, ram_energy_kwh=0.0, emissions_kg=2.83e-5, duration_s=3.03
    )
    run.emissions_market_kg = 2.83e-5
    SqliteStore(path).write(run)
    table = _report(capsys, "--store", path)
    assert "28.3 mg" in table and "2.5 mWh" in table and "3.03 s" in table
    assert "< 1 m driven by an average car" in table and "0.0 km" not in table
    assert main(["report", "--store", path, "--format", "html", "-o", str(tmp_path / "p.html")]) == 0
    capsys.readouterr()
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert "28.3 mg" in page and "2.83e-05" in page  # shown, and exact in data-value
    assert not re.search(r">[^<]*\de-0\d[^<]*<", page)  # no exponent in any text a person reads
    data = json.loads(_report(capsys, "--store", path, "--format", "json"))
    assert data["rows"][0]["emissions_kg"] == 2.83e-5 and data["rows"][0]["duration_s"] == 3.03
    csv_text = _report(capsys, "--store", path, "--format", "csv")
    assert "2.83e-05" in csv_text.splitlines()[1]


def _report(capsys, *args: str) -> str:
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def test_annual_html_and_markdown_from_the_same_statement(store):
    statement = annual_statement(store, 2026)
    html, markdown = render(statement, "html"), render(statement, "markdown")
    assert render(statement, "table") == markdown
    for org in statement.organisations:
        assert f"Methods and data sources: {org.organisation or '(none)'}" in markdown
        assert f'data-value="{org.energy_mwh!r}"' in html
    empty = annual_statement(store, 2019)
    assert "No runs started in this year." in render(empty, "html") and render(empty, "json").count("[]") == 1


def test_recommendations_html_and_csv(store):
    items = recommend(store, provider=EmbeddedIntensity())
    page = render(items, "html")
    lines = render(items, "csv").splitlines()
    assert lines[0].startswith("place,zone,energy_kwh")
    for r in items:
        assert f'data-place="{r.place}"' in page
        for a in r.alternatives:
            assert f'data-value="{a.saved_kg!r}"' in page
            assert any(line.startswith(f"{r.place},") and f",{a.place}," in line for line in lines[1:])
    assert "<script" not in page


def test_started_at_is_shown_in_utc_in_the_trend(tmp_path, capsys):
    store = SqliteStore(str(tmp_path / "w.db"))
    store.write(make_record(1, project="a", started_at=datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc)))
    store.write(make_record(2, project="a", started_at=datetime(2026, 3, 1, 0, 30, tzinfo=timezone.utc)))
    page = _page(store, tmp_path, capsys, "project")
    trend = re.search(r'<svg id="svg-trend".*?</svg>', page, re.S).group(0)
    assert re.findall(r'data-period="([^"]+)"', trend) == ["2026-01", "2026-02", "2026-03"]


def test_a_value_carried_over_from_another_hour_is_not_an_hour_of_its_own(store):
    """A live provider fills the current hour, not published yet, with the latest value and says so in its note:
    that copy must not count as one more clean hour."""

    class CarriedOver(HourlyProvider):
        def intensities(self, location, hours):
            values = super().intensities(location, hours)
            values[-1] = values[-1]._replace(g_per_kwh=1.0, note="hour not published yet: the latest value was used")
            return values

    (item, *_) = recommend(store, provider=CarriedOver())
    current = datetime.now(timezone.utc).hour
    clean = [h for h in range(1, 7) if h != current]  # 23 hours of readings left: the cleanest 23 // 4 = 5
    assert item.hourly_low_g_per_kwh == 40.0 + clean[0]  # not the 1.0 of the copy (nor the current hour's reading)
    assert item.greener_hours_utc == clean[:5]
