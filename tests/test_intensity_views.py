"""``tracker intensity --history``, ``--forecast``, ``--zone A,B,C`` and the mix, against a loopback
Electricity Maps speaking API v3 JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.local_http import Answer, Seen, serve
from tracker.cli import main
from tracker.errors import TrackerError
from tracker.grid import electricitymaps, intensity, location
from tracker.grid.mix import parse_mix

NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def breakdown(zone: str) -> dict:
    """``power-breakdown/latest`` as API v3 answers it (MW per source)."""
    return {
        "zone": zone, "datetime": _z(NOW), "updatedAt": _z(NOW),
        "powerConsumptionBreakdown": {
            "nuclear": 30000, "geothermal": 0, "biomass": 1000, "coal": 2000, "wind": 8000, "solar": 4000,
            "hydro": 5000, "gas": 9000, "oil": 1000, "unknown": 0, "hydro discharge": 0, "battery discharge": 0,
        },
        "powerConsumptionTotal": 60000, "powerProductionTotal": 62000, "powerImportTotal": 500,
        "powerExportTotal": 2500, "fossilFreePercentage": 80, "renewablePercentage": 30, "isEstimated": False,
        "estimationMethod": None,
    }  # fmt: skip


def history(seen: Seen) -> Answer:
    zone = seen.query["zone"][0]
    base = {"DE": 300, "FR": 40, "NL": 250}[zone]
    points = [
        {"zone": zone, "carbonIntensity": base + h, "datetime": _z(NOW - timedelta(hours=h)),
         "emissionFactorType": "lifecycle", "isEstimated": False, "temporalGranularity": "hourly"}
        for h in range(23, -1, -1)
    ]  # fmt: skip
    return Answer(body={"zone": zone, "history": points})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    electricitymaps.reset()
    intensity._live_provider.cache_clear()
    location.reset()
    routes = {
        ("GET", "/carbon-intensity/history"): history,
        ("GET", "/power-breakdown/latest"): lambda s: Answer(body=breakdown(s.query["zone"][0])),
        ("GET", "/carbon-intensity/forecast"): Answer(
            body={"zone": "DE", "forecast": [{"carbonIntensity": 200 + i, "datetime": _z(NOW + timedelta(hours=i))}
                                             for i in range(6)], "updatedAt": _z(NOW)}
        ),
    }  # fmt: skip
    with serve(routes) as server:
        monkeypatch.setenv(electricitymaps.TOKEN_ENV, "tok")
        monkeypatch.setenv(electricitymaps.URL_ENV, server.url)
        yield server
    electricitymaps.reset()
    intensity._live_provider.cache_clear()


def test_mix_shares_from_the_power_breakdown() -> None:
    mix = parse_mix(breakdown("DE"), "DE")
    assert (mix.fossil_pct, mix.nuclear_pct, mix.renewable_pct) == (20.0, 50.0, 30.0)
    with pytest.raises(TrackerError, match="renewablePercentage"):
        parse_mix({**breakdown("DE"), "renewablePercentage": 140}, "DE")


def test_one_zone_with_history_forecast_and_mix(api: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["intensity", "--zone", "DE", "--history", "24h", "--forecast", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mix"]["renewable_pct"] == 30.0 and out["mix"]["nuclear_pct"] == 50.0
    assert len(out["history"]) == 24 and out["history"][-1]["g_per_kwh"] == 300
    assert out["forecast"]["source"] == "Electricity Maps forecast" and len(out["forecast"]["points"]) == 6
    assert main(["intensity", "--zone", "DE", "--history", "24h"]) == 0
    text = capsys.readouterr().out
    assert "mix        fossil 20 %, nuclear 50 %, renewable 30 %" in text
    assert "history    Electricity Maps, hourly, last 24h: 24 hours, 300 to 323 g/kWh" in text


def test_several_zones_at_once(api: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["intensity", "--zone", "DE,FR,NL", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [z["location"]["zone"] for z in out["zones"]] == ["DE", "FR", "NL"]
    assert [z["live"]["g_per_kwh"] for z in out["zones"]] == [300, 40, 250]
    assert all(z["mix"]["fossil_pct"] == 20.0 for z in out["zones"])
    assert main(["intensity", "--zone", "DE,FR"]) == 0
    assert capsys.readouterr().out.count("location   ") == 2


def test_without_a_token_history_and_mix_say_not_known(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["intensity", "--zone", "DE", "--history", "24h", "--forecast", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["history"] is None and out["history_note"].startswith("not known: no token")
    assert "no time of day can be chosen" in out["forecast_note"] and "mix" not in out
