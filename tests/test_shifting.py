"""What shifting would have saved, against hand-computed values; and in every format of ``--recommend`` and the
HTML report."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest

from tests.runs_factory import make_record
from tracker.cli import main
from tracker.grid.intensity import EmbeddedIntensity, Intensity
from tracker.grid.jurisdictions import same_jurisdiction
from tracker.grid.zones import zone_table
from tracker.reports.render import render
from tracker.reports.shifting import shifting
from tracker.stores.sqlite import SqliteStore

DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Hourly:
    """Hourly values (the intensity provider interface): 100 g/kWh from 02:00 to 06:00 UTC, 300 otherwise."""

    def intensity(self, zone, hour):  # pragma: no cover - not used
        raise AssertionError

    def intensities(self, location, hours):
        return [Intensity(100.0 if 2 <= h.hour < 6 else 300.0, "Fake hourly", 2026, location.zone or "") for h in hours]


def _best_neighbour(zone: str) -> float:
    table = zone_table()
    here = table.get(zone)
    return min([here.g_per_kwh, *(n.g_per_kwh for n in table.neighbours(zone) if same_jurisdiction("DE", n.country))])


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    s = SqliteStore(str(tmp_path / "s.db"))
    one = {"cpu_energy_kwh": 1.0, "ram_energy_kwh": 0.0}
    s.write(
        make_record(1, project="a", zone="DE", country="DE", started_at=DAY.replace(hour=10), duration_s=7200, **one)
    )
    s.write(make_record(2, project="a", zone="DE", country="DE", started_at=DAY.replace(hour=3, minute=30),
                        duration_s=3600, **one))  # fmt: skip
    s.write(make_record(3, project="b", zone=None, country="DE", started_at=DAY.replace(hour=23), duration_s=7200,
                        **one))  # fmt: skip
    return s


def test_savings_in_time_and_place_by_hand(store: SqliteStore) -> None:
    found = {s.project: s for s in shifting(store, Hourly())}
    a = found["a"]
    # run 1: 10:00-12:00 at 300, the day's best 2 h (02:00-04:00) at 100: 1 kWh x 200 g = 0.2 kg of 0.3 kg
    # run 2: 03:30-04:30 at 100, already the best: nothing; baseline 0.1 kg
    assert (a.runs, a.time_runs) == (2, 2)
    assert a.time_baseline_kg == pytest.approx(0.4) and a.time_saved_kg == pytest.approx(0.2)
    assert a.time_saved_pct == pytest.approx(50.0)
    g_de, g_best = zone_table().get("DE").g_per_kwh, _best_neighbour("DE")
    assert a.place_runs == 2 and a.place_saved_kg == pytest.approx(2 * (g_de - g_best) / 1000)
    assert a.place_saved_pct == pytest.approx(100 * (g_de - g_best) / g_de)
    # run 3 (configured by country): 23:00-01:00 crosses midnight at 300; the best 2 h of its day is 100
    b = found["b"]
    assert b.time_runs == 1 and b.time_saved_kg == pytest.approx(0.2) and b.place_runs == 1


def test_without_hourly_data_time_is_not_compared_and_says_why(store: SqliteStore) -> None:
    a = {s.project: s for s in shifting(store, EmbeddedIntensity())}["a"]
    assert a.time_runs == 0 and a.time_saved_pct is None and "hourly data unavailable" in a.time_note
    assert a.place_runs == 2  # places are still compared, on yearly figures


def test_every_format_of_recommend_carries_the_savings(store: SqliteStore, capsys: pytest.CaptureFixture[str]) -> None:
    path = store.location

    def out(*extra: str) -> str:
        assert main(["report", "--store", path, "--recommend", *extra]) == 0
        return capsys.readouterr().out

    data = json.loads(out("--format", "json"))
    assert {s["project"] for s in data["shifting"]} == {"a", "b"}
    assert all(s["place_saved_kg"] > 0 for s in data["shifting"])
    rows = list(csv.DictReader(io.StringIO(out("--format", "csv"))))
    shifts = [r for r in rows if r["kind"] == "shifting"]
    assert {r["shift_project"] for r in shifts} == {"a", "b"} and all(float(r["place_saved_kg"]) > 0 for r in shifts)
    assert {r["kind"] for r in rows} == {"alternative", "shifting"}
    html = out("--format", "html")
    assert html.lstrip().startswith("<!DOCTYPE html>") and 'id="shifting"' in html and 'data-project="a"' in html
    assert "## What shifting would have saved (per project)" in out("--format", "markdown")
    assert "What shifting would have saved (per project):" in out()


def test_the_html_report_has_the_section(store: SqliteStore, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "r.html"
    assert main(["report", "--store", store.location, "--format", "html", "-o", str(target)]) == 0
    page = target.read_text()
    assert '<h2 id="shifting">What shifting would have saved</h2>' in page and 'data-project="b"' in page


def test_rendering_needs_no_network(store: SqliteStore) -> None:
    from tracker.reports.recommend import recommend

    items = recommend(store, provider=Hourly())
    assert "in time (best window of each run's day" in render(items, "table")
