"""Forecast providers against a loopback server speaking Electricity Maps v3 JSON, and the provider chain."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.local_http import Answer, serve
from tracker.grid import electricitymaps
from tracker.grid.electricitymaps import Client
from tracker.grid.forecast import (
    YEARLY_ONLY,
    ElectricityMapsForecast,
    NoForecast,
    PersistenceForecast,
)
from tracker.grid.forecast_chain import default_providers, forecast
from tracker.schedule.when import best_window

TOKEN = "test-token"
HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def forecast_body(values: list[float], zone: str = "NL", step_min: int = 60) -> dict:
    """``carbon-intensity/forecast`` as API v3 answers it."""
    return {
        "zone": zone,
        "forecast": [
            {"carbonIntensity": v, "datetime": _z(HOUR + timedelta(minutes=step_min * i))} for i, v in enumerate(values)
        ],
        "updatedAt": _z(HOUR),
    }


def range_body(zone: str, days: int) -> dict:
    """``past-range``: hourly points; value = 100 + hour of the day + 10 x days ago."""
    points = []
    for ago in range(days * 24, 0, -1):
        moment = HOUR - timedelta(hours=ago)
        points.append(
            {
                "zone": zone,
                "carbonIntensity": 100 + moment.hour + 10 * ((ago - 1) // 24),
                "datetime": _z(moment),
                "emissionFactorType": "lifecycle",
                "isEstimated": False,
                "temporalGranularity": "hourly",
            }
        )
    return {"zone": zone, "data": points}


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TRACKER_CARBON_AWARE_URL", "WATTTIME_USER", "WATTTIME_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    electricitymaps.reset()
    yield
    electricitymaps.reset()


def test_electricity_maps_forecast_sends_horizon_and_granularity_and_parses_points() -> None:
    values = [900.0 - i for i in range(72 * 12)]
    with serve({("GET", "/carbon-intensity/forecast"): Answer(body=forecast_body(values, step_min=5))}) as server:
        client = Client(TOKEN, server.url)
        data = ElectricityMapsForecast(client).forecast("NL", horizon_hours=72, granularity="5_minutes")
    sent = server.seen[0]
    assert sent.query == {
        "zone": ["NL"],
        "emissionFactorType": ["lifecycle"],
        "horizonHours": ["72"],
        "temporalGranularity": ["5_minutes"],
    }
    assert sent.headers["auth-token"] == TOKEN
    assert len(data.values) == 864 and set(data.durations_s) == {300.0}
    assert data.horizon == HOUR + timedelta(hours=72)
    assert (data.zone, data.signal, data.source) == ("NL", "average", "Electricity Maps forecast")


def test_electricity_maps_forecast_by_coordinates() -> None:
    """``lat``/``lon`` instead of a zone (the API answers with the zone it placed them in)."""
    answer = Answer(body=forecast_body([300.0, 200.0], zone="DE"))
    with serve({("GET", "/carbon-intensity/forecast"): answer}) as server:
        points = Client(TOKEN, server.url).forecast(lat=52.52, lon=13.405, horizon_hours=24)
    assert server.seen[0].query == {
        "lat": ["52.5200"],
        "lon": ["13.4050"],
        "emissionFactorType": ["lifecycle"],
        "horizonHours": ["24"],
    }
    assert [p.g_per_kwh for p in points] == [300.0, 200.0] and {p.zone for p in points} == {"DE"}


def test_best_window_from_an_electricity_maps_forecast(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [400.0, 300.0, 100.0, 100.0, 500.0, 500.0]  # hourly from this hour
    with serve({("GET", "/carbon-intensity/forecast"): Answer(body=forecast_body(values))}) as server:
        monkeypatch.setenv(electricitymaps.TOKEN_ENV, TOKEN)
        monkeypatch.setenv(electricitymaps.URL_ENV, server.url)
        window = best_window("NL", "2h", within="6h", now=HOUR)
    assert window.start == HOUR + timedelta(hours=2) and window.g_per_kwh == 100.0
    assert window.now_g_per_kwh == 350.0 and window.saved_pct == pytest.approx(100 * 250 / 350)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(401, {"message": "bad token"}), "token was refused"),
        (Answer(429, {"message": "slow down"}, {"Retry-After": "60"}), "rate limit"),
        (Answer(200, "{not json"), "not JSON"),
        (Answer(200, {"zone": "NL", "forecast": [{"carbonIntensity": "high"}]}), "unexpected"),
        (Answer(hang_s=5.0), "no complete answer"),
    ],
)
def test_a_failing_provider_gives_a_clear_reason_then_the_next_one_answers(answer: Answer, expected: str) -> None:
    backup = {("GET", "/carbon-intensity/forecast"): Answer(body=forecast_body([200.0] * 24))}
    with serve({("GET", "/carbon-intensity/forecast"): answer}) as server, serve(backup) as other:
        first = ElectricityMapsForecast(Client(TOKEN, server.url, timeout=0.5))
        began = time.monotonic()
        with pytest.raises(NoForecast) as refused:
            forecast("NL", providers=[first])
        assert expected in str(refused.value)
        electricitymaps.reset()
        data = forecast("NL", providers=[first, ElectricityMapsForecast(Client(TOKEN, other.url))])
        assert time.monotonic() - began < 3.0  # bounded: one timeout at most per provider, no retries
    assert data.values[0] == 200.0


def test_after_a_malformed_forecast_the_same_service_gives_a_persistence_forecast() -> None:
    routes = {
        ("GET", "/carbon-intensity/forecast"): Answer(200, "{not json"),
        ("GET", "/carbon-intensity/past-range"): Answer(body=range_body("NL", 3)),
    }
    with serve(routes) as server:
        client = Client(TOKEN, server.url)
        data = forecast("NL", providers=[ElectricityMapsForecast(client), PersistenceForecast(client)])
    assert data.source == "persistence forecast (Electricity Maps history, 3 days)"


def test_persistence_forecast_averages_the_same_hours_of_the_last_days() -> None:
    with serve({("GET", "/carbon-intensity/past-range"): Answer(body=range_body("DE", 3))}) as server:
        data = PersistenceForecast(Client(TOKEN, server.url), now=lambda: HOUR + timedelta(minutes=20)).forecast("DE")
    assert len(data.values) == 24 and data.starts_s[0] == HOUR.timestamp()
    # the same hour 1, 2 and 3 days ago: 100 + hour + 0, 10, 20 -> mean 100 + hour + 10
    assert data.values[0] == pytest.approx(110 + HOUR.hour)
    assert data.values[5] == pytest.approx(110 + (HOUR + timedelta(hours=5)).hour)
    assert "persistence" in data.notes[-1]


def test_persistence_forecast_falls_back_to_the_last_24_hours() -> None:
    history = {"zone": "DE", "history": range_body("DE", 1)["data"]}
    routes = {
        ("GET", "/carbon-intensity/past-range"): Answer(400, {"message": "not in your plan"}),
        ("GET", "/carbon-intensity/history"): Answer(body=history),
    }
    with serve(routes) as server:
        data = PersistenceForecast(Client(TOKEN, server.url), now=lambda: HOUR).forecast("DE")
    assert data.values[0] == pytest.approx(100 + HOUR.hour)
    assert "last 24 hours" in data.source and "past-range unavailable" in data.notes[0]


def test_with_yearly_data_only_it_says_no_time_can_be_chosen() -> None:
    assert default_providers() == []
    with pytest.raises(NoForecast) as refused:
        best_window("NL", "1h")
    assert str(refused.value) == f"no forecast for NL: {YEARLY_ONLY}"
    assert "no time of day can be chosen" in str(refused.value)


def test_with_a_token_the_chain_is_forecast_then_persistence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(electricitymaps.TOKEN_ENV, TOKEN)
    assert [p.name for p in default_providers()] == ["electricitymaps", "persistence"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_plan_without_forecasts_keeps_live_intensity_and_the_persistence_forecast(status: int) -> None:
    """The free tier answers 401/403 on forecast and past-range: that endpoint only is off, not the client."""
    history = {"zone": "DE", "history": range_body("DE", 1)["data"]}
    latest = dict(history["history"][-1])
    routes = {
        ("GET", "/carbon-intensity/forecast"): Answer(status, {"message": "not in your plan"}),
        ("GET", "/carbon-intensity/past-range"): Answer(status, {"message": "not in your plan"}),
        ("GET", "/carbon-intensity/history"): Answer(body=history),
        ("GET", "/carbon-intensity/latest"): Answer(body=latest),
    }
    with serve(routes) as server:
        client = Client(TOKEN, server.url)
        chain = [ElectricityMapsForecast(client), PersistenceForecast(client)]
        data = forecast("DE", providers=chain)
        assert data.source == "persistence forecast (Electricity Maps history, last 24 hours)"
        assert client.latest(zone="DE").g_per_kwh == latest["carbonIntensity"]
        forecast("DE", providers=chain)  # again: the refused endpoints are not asked twice
    paths = [s.path for s in server.seen]
    assert paths.count("/carbon-intensity/forecast") == 1 and paths.count("/carbon-intensity/past-range") == 1


def test_a_token_refused_on_live_endpoints_switches_the_client_off() -> None:
    routes = {("GET", "/carbon-intensity/history"): Answer(401, {"message": "bad token"})}
    with serve(routes) as server:
        client = Client(TOKEN, server.url)
        with pytest.raises(electricitymaps.ApiError) as first:
            client.history(zone="DE")
        with pytest.raises(electricitymaps.ApiError) as second:
            client.forecast(zone="DE")
    assert first.value.kind == "auth" and second.value.kind == "off" and len(server.seen) == 1
