"""``tracker intensity`` and ``tracker zones``: output, JSON shape, live value and configuration errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.local_http import Answer, serve
from tracker.cli import main
from tracker.grid import electricitymaps, intensity, location
from tracker.grid.zones import zone_table


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    electricitymaps.reset()
    intensity._live_provider.cache_clear()
    location.reset()
    yield
    electricitymaps.reset()
    intensity._live_provider.cache_clear()


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_zone_text_shows_value_year_source_and_factor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["intensity", "--zone", "dk-dk1"]) == 0
    out = capsys.readouterr().out
    row = zone_table().get("DK-DK1")
    assert f"{row.g_per_kwh:g} gCO2e/kWh (lifecycle, {row.year})" in out
    assert row.source in out and "DK-DK1" in out
    assert "live       off" in out


def test_country_and_cloud_json(capsys: pytest.CaptureFixture[str]) -> None:
    country = run_json(capsys, "intensity", "--country", "FRA")
    assert country["location"]["country"] == "FR" and "Ember" in country["embedded"]["source"]
    cloud = run_json(capsys, "intensity", "--cloud", "gcp:europe-west4")
    assert cloud["location"]["zone"] == "NL" and cloud["location"]["cloud_region"] == "europe-west4"
    assert cloud["embedded"]["g_per_kwh"] == zone_table().cloud("gcp", "europe-west4").g_per_kwh  # Google's figure
    assert "Google" in cloud["embedded"]["source"]
    assert cloud["live"] is None


def test_us_state_is_reported_as_direct(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "intensity", "--zone", "US-STATE-TX")
    assert out["embedded"]["factor_type"] == "direct" and "eGRID" in out["embedded"]["source"]


def test_live_value_with_a_token(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    body = {
        "zone": "NL",
        "history": [
            {
                "zone": "NL",
                "carbonIntensity": 199,
                "datetime": (now - timedelta(hours=h)).isoformat(),
                "emissionFactorType": "lifecycle",
                "isEstimated": False,
            }
            for h in range(3)
        ],
    }
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, body)}) as api:
        monkeypatch.setenv(electricitymaps.TOKEN_ENV, "tok")
        monkeypatch.setenv(electricitymaps.URL_ENV, api.url + "/v3")
        out = run_json(capsys, "intensity", "--zone", "NL")
    assert out["live"]["g_per_kwh"] == 199 and "Electricity Maps API v3" in out["live"]["source"]
    assert api.seen[0].headers["auth-token"] == "tok"


def test_live_failure_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(401, {"error": "no"})}) as api:
        monkeypatch.setenv(electricitymaps.TOKEN_ENV, "bad")
        monkeypatch.setenv(electricitymaps.URL_ENV, api.url + "/v3")
        assert main(["intensity", "--zone", "NL"]) == 0
    out = capsys.readouterr().out
    assert "live intensity unavailable" in out and "auth" in out


@pytest.mark.parametrize("argv", [["--zone", "XX-NOPE"], ["--cloud", "aws:nowhere-1"], ["--cloud", "eu-west-1"]])
def test_bad_location_is_a_configuration_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(["intensity", *argv]) == 2
    assert "configuration error" in capsys.readouterr().err


def test_zones_lists_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    everything = run_json(capsys, "zones")
    kinds = {r["kind"] for r in everything["zones"]}
    assert kinds == {"country", "world", "zone", "us-state"}
    assert len(everything["cloud_regions"]) == len(zone_table().cloud_regions())
    states = run_json(capsys, "zones", "--kind", "us-state")
    assert len(states["zones"]) == 51 and states["cloud_regions"] == []
    assert all(r["factor_type"] == "direct" for r in states["zones"])


def test_zones_cloud_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zones", "--kind", "cloud", "--provider", "azure"]) == 0
    out = capsys.readouterr().out
    assert "westeurope" in out and "eu-west-1" not in out
    assert f"{len(zone_table().cloud_regions('azure'))} cloud regions" in out


def test_run_summary_names_the_zone_and_shows_market_based_and_embodied_apart() -> None:
    import tracker
    from tracker.cli.run import summary
    from tracker.reports.render.units import mass

    mix = [("wind co", 80, 0.008), ("grid co", 20, 0.01)]
    with tracker.track(zone="DK-DK1", suppliers=mix, embodied_kg=1000, cpu_watts=10, save=False) as run:
        pass
    text = summary(run.record)
    assert "(DK-DK1, 2025, lifecycle)" in text
    assert f"market-based {mass(run.emissions_market_kg)} CO2e  (supplier mix: wind co 80 %" in text
    assert f"embodied  {mass(run.embodied_kg)} CO2e" in text
    with tracker.track(default_zone="US-STATE-WA", save=False) as plain:
        pass
    text = summary(plain.record)
    assert "(US-STATE-WA, 2023, direct)" in text and "market-based" not in text and "embodied" not in text


def test_zones_piped_into_a_reader_that_leaves_early_ends_quietly() -> None:
    """`tracker zones --format json | head -1`: no BrokenPipeError traceback (220 kB: more than a pipe holds)."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "zones", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader leaves while the command still has a few hundred lines to print
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert first.strip() and "Traceback" not in err and "BrokenPipe" not in err
