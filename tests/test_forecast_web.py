"""The Carbon Aware SDK Web API and WattTime v3 providers against a loopback server speaking their JSON."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.local_http import Answer, Seen, closed_port_url, serve
from tracker.errors import ConfigError
from tracker.grid import electricitymaps, webjson
from tracker.grid.electricitymaps import Client
from tracker.grid.forecast import ElectricityMapsForecast, NoForecast
from tracker.grid.forecast_chain import default_providers, forecast
from tracker.grid.forecast_web import LB_PER_MWH_IN_G_PER_KWH, CarbonAwareForecast, WattTimeForecast
from tracker.schedule.greenest import greenest
from tracker.schedule.when import choose

HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def sdk_forecast(values: list[float], location: str = "westeurope", step_min: int = 5) -> list[dict]:
    """``/emissions/forecasts/current``: a list of EmissionsForecastDTO."""
    points = [
        {"location": location, "timestamp": _iso(HOUR + timedelta(minutes=step_min * i)), "duration": step_min,
         "value": v}
        for i, v in enumerate(values)
    ]  # fmt: skip
    best = min(points, key=lambda p: p["value"])
    return [{
        "generatedAt": _iso(HOUR), "requestedAt": _iso(HOUR), "location": location,
        "dataStartAt": points[0]["timestamp"], "dataEndAt": _iso(HOUR + timedelta(minutes=step_min * len(values))),
        "windowSize": step_min, "optimalDataPoints": [best], "forecastData": points,
    }]  # fmt: skip


def sdk_route(values: list[float], location: str = "westeurope", step_min: int = 5, start: datetime = HOUR):
    """``/emissions/forecasts/current`` validating like the SDK: ``dataStartAt``/``dataEndAt``, when sent, must
    lie within the forecast data's timestamps, else HTTP 400 with a ProblemDetails body (as the SDK's
    EmissionsForecast validation answers)."""
    body = sdk_forecast(values, location, step_min)
    shift = start - HOUR
    for point in body[0]["forecastData"]:
        point["timestamp"] = _iso(datetime.fromisoformat(point["timestamp"]) + shift)
    first = datetime.fromisoformat(body[0]["forecastData"][0]["timestamp"])
    last = datetime.fromisoformat(body[0]["forecastData"][-1]["timestamp"])

    def answer(seen: Seen) -> Answer:
        for name in ("dataStartAt", "dataEndAt"):
            if name in seen.query:
                moment = datetime.fromisoformat(seen.query[name][0].replace("Z", "+00:00"))
                if not first <= moment <= last:
                    return Answer(400, {
                        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1", "title": "ArgumentException",
                        "status": 400, "detail": f"{name} must be within the forecast data point timestamps",
                    })  # fmt: skip
        return Answer(body=body)

    return answer


def wt_forecast(values: list[float], region: str = "CAISO_NORTH") -> dict:
    """``/v3/forecast``: data points in lbs/MWh and the meta block."""
    return {
        "data": [{"point_time": _iso(HOUR + timedelta(minutes=5 * i)), "value": v} for i, v in enumerate(values)],
        "meta": {
            "data_point_period_seconds": 300, "region": region, "warnings": [], "signal_type": "co2_moer",
            "model": {"date": "2024-10-01"}, "units": "lbs_co2_per_mwh", "generated_at_period_seconds": 300,
            "generated_at": _iso(HOUR),
        },
    }  # fmt: skip


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TRACKER_CARBON_AWARE_URL", "TRACKER_CARBON_AWARE_SIGNAL", "WATTTIME_USER", "WATTTIME_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    webjson.reset()
    electricitymaps.reset()
    yield
    webjson.reset()
    electricitymaps.reset()


def test_carbon_aware_sdk_forecast_and_best_location() -> None:
    def best(seen: Seen) -> Answer:
        ratings = {"westeurope": 310.5, "northeurope": 120.25, "francecentral": 45.0}
        chosen = min(seen.query["location"], key=ratings.__getitem__)
        return Answer(
            body=[{"location": chosen, "time": _iso(HOUR), "rating": ratings[chosen], "duration": "01:00:00"}]
        )

    routes = {
        ("GET", "/emissions/forecasts/current"): sdk_route([300, 300, 100, 100, 100, 400] * 2),
        ("GET", "/emissions/bylocations/best"): best,
    }
    with serve(routes) as server:
        provider = CarbonAwareForecast(server.url, now=lambda: HOUR)
        data = provider.forecast("westeurope", horizon_hours=24)
        assert provider.best_location(["westeurope", "northeurope"]) == ("northeurope", 120.25)
    sent = server.seen[0].query
    assert sent == {"location": ["westeurope"]}  # no data bounds: the SDK refuses those beyond its data
    assert server.seen[1].query["location"] == ["westeurope", "northeurope"]
    assert data.durations_s[0] == 300.0 and data.values[2] == 100.0 and data.signal == "average"
    window = choose(data, "15m", now=HOUR)
    assert window.start == HOUR + timedelta(minutes=10) and window.g_per_kwh == 100.0


def test_watttime_logs_in_then_asks_for_a_marginal_forecast() -> None:
    credentials = base64.b64encode(b"ada:secret").decode()
    routes = {
        ("GET", "/login"): lambda s: (
            Answer(body={"token": "tok-1"})
            if s.headers.get("authorization") == f"Basic {credentials}"
            else Answer(401, {"error": "bad"})
        ),
        ("GET", "/v3/forecast"): lambda s: (
            Answer(body=wt_forecast([1000.0, 500.0, 800.0]))
            if s.headers.get("authorization") == "Bearer tok-1"
            else Answer(401, {"error": "token"})
        ),
    }
    with serve(routes) as server:
        provider = WattTimeForecast("ada", "secret", server.url, regions={"US-CAL-CISO": "CAISO_NORTH"})
        data = provider.forecast("US-CAL-CISO")
        provider.forecast("US-CAL-CISO")  # the token is kept: one login
        assert server.count("/login") == 1
        wrong = WattTimeForecast("ada", "wrong", server.url)
        with pytest.raises(NoForecast, match="WattTime login: HTTP 401"):
            forecast("CAISO_NORTH", providers=[wrong])
    assert server.seen[1].query == {"region": ["CAISO_NORTH"], "signal_type": ["co2_moer"], "horizon_hours": ["72"]}
    assert data.signal == "marginal" and "marginal" in data.source
    assert data.values[1] == pytest.approx(500.0 * LB_PER_MWH_IN_G_PER_KWH)  # 226.8 g/kWh
    assert data.durations_s == (300.0, 300.0, 300.0)


def test_watttime_renews_an_expired_token_once() -> None:
    tokens = iter(["old", "new"])
    routes = {
        ("GET", "/login"): lambda s: Answer(body={"token": next(tokens)}),
        ("GET", "/v3/forecast"): lambda s: (
            Answer(body=wt_forecast([600.0]))
            if s.headers.get("authorization") == "Bearer new"
            else Answer(401, {"error": "expired"})
        ),
    }
    with serve(routes) as server:
        data = WattTimeForecast("u", "p", server.url).forecast("CAISO_NORTH")
    assert server.count("/login") == 2 and data.values[0] == pytest.approx(600 * LB_PER_MWH_IN_G_PER_KWH)


FAULTS = [
    (Answer(401, {"error": "unauthorized"}), "HTTP 401"),
    (Answer(429, {"error": "slow"}, {"Retry-After": "30"}), "HTTP 429"),
    (Answer(200, "<html>oops</html>"), "not JSON"),
    (Answer(200, [{"location": "x", "forecastData": [{"timestamp": "soon", "value": 1}]}]), "unexpected"),
    (Answer(hang_s=5.0), "no complete answer"),
]


@pytest.mark.parametrize(("answer", "expected"), FAULTS)
def test_carbon_aware_faults_give_a_clear_reason_and_the_next_provider(answer: Answer, expected: str) -> None:
    routes = {("GET", "/emissions/forecasts/current"): answer}
    backup = {("GET", "/login"): Answer(body={"token": "t"}), ("GET", "/v3/forecast"): Answer(body=wt_forecast([9.0]))}
    with serve(routes) as sdk, serve(backup) as wt:
        chain = [CarbonAwareForecast(sdk.url, timeout=0.5), WattTimeForecast("u", "p", wt.url, timeout=0.5)]
        began = time.monotonic()
        with pytest.raises(NoForecast) as refused:
            forecast("westeurope", providers=chain[:1])
        assert expected in str(refused.value) and "carbon-aware-sdk: Carbon Aware SDK" in str(refused.value)
        webjson.reset()
        data = forecast("westeurope", providers=chain)
        assert time.monotonic() - began < 3.0
    assert data.source.startswith("WattTime") and data.signal == "marginal"


@pytest.mark.parametrize(("answer", "expected"), FAULTS)
def test_watttime_faults_give_a_clear_reason(answer: Answer, expected: str) -> None:
    routes = {("GET", "/login"): Answer(body={"token": "t"}), ("GET", "/v3/forecast"): answer}
    if expected == "unexpected":
        answer = Answer(200, {"data": [{"point_time": _iso(HOUR), "value": "high"}], "meta": {}})
        routes[("GET", "/v3/forecast")] = answer
    with serve(routes) as server:
        began = time.monotonic()
        with pytest.raises(NoForecast) as refused:
            forecast("CAISO_NORTH", providers=[WattTimeForecast("u", "p", server.url, timeout=0.5)])
        assert time.monotonic() - began < 2.5  # a 401 logs in again once; a hang costs one timeout
    assert expected in str(refused.value) and "WattTime" in str(refused.value)


def test_an_electricity_maps_refusal_falls_through_to_the_carbon_aware_sdk() -> None:
    em = {("GET", "/carbon-intensity/forecast"): Answer(401, {"message": "plan"})}
    sdk = {("GET", "/emissions/forecasts/current"): sdk_route([200.0] * 12, "NL")}
    with serve(em) as em_server, serve(sdk) as sdk_server:
        data = forecast(
            "NL", providers=[ElectricityMapsForecast(Client("t", em_server.url)), CarbonAwareForecast(sdk_server.url)]
        )
    assert data.source.startswith("Carbon Aware SDK") and data.values[0] == 200.0


def test_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_CARBON_AWARE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WATTTIME_USER", "u")
    monkeypatch.setenv("WATTTIME_PASSWORD", "p")
    monkeypatch.setenv("WATTTIME_REGIONS", "US-CAL-CISO=CAISO_NORTH")
    chain = default_providers()
    assert [p.name for p in chain] == ["carbon-aware-sdk", "watttime"]
    assert chain[1].regions == {"US-CAL-CISO": "CAISO_NORTH"}
    monkeypatch.setenv("TRACKER_CARBON_AWARE_SIGNAL", "loud")
    with pytest.raises(ConfigError, match="TRACKER_CARBON_AWARE_SIGNAL"):
        default_providers()


def test_marginal_and_average_forecasts_are_never_ranked_together() -> None:
    sdk = {("GET", "/emissions/forecasts/current"): sdk_route([50.0] * 24, "FR", 60)}
    wt = {("GET", "/login"): Answer(body={"token": "t"}), ("GET", "/v3/forecast"): Answer(body=wt_forecast([1.0] * 24))}
    with serve(sdk) as sdk_server, serve(wt) as wt_server:

        class OnlyFR(CarbonAwareForecast):
            def forecast(self, zone: str, **kw: object) -> object:  # type: ignore[override]
                if zone != "FR":
                    raise webjson.WebError("malformed", "no such location")
                return super().forecast(zone, **kw)  # type: ignore[arg-type]

        chain = [OnlyFR(sdk_server.url), WattTimeForecast("u", "p", wt_server.url)]
        ranking = greenest(["FR", "NL"], duration="1h", providers=chain, now=HOUR)
    assert ranking.basis.startswith("yearly averages")  # FR average, NL marginal: not one basis
    assert "the forecasts mix marginal and average signals" in ranking.notes[0]


def test_the_sdk_forecast_is_asked_without_bounds_and_trimmed_here() -> None:
    """A real SDK holds ~24 h of forecast and answers 400 to a dataEndAt 72 h ahead; its data may also begin
    before now. All of it is asked for, then what ended before now or starts past the horizon is dropped."""
    now = HOUR + timedelta(minutes=30)
    routes = {("GET", "/emissions/forecasts/current"): sdk_route([300.0] * 26, "NL", 60, HOUR - timedelta(hours=2))}
    with serve(routes) as server:
        data = CarbonAwareForecast(server.url, now=lambda: now).forecast("NL", horizon_hours=12)
    assert server.seen[0].query == {"location": ["NL"]}
    assert data.first == HOUR and data.horizon == now + timedelta(hours=12, minutes=30)
    assert len(data.values) == 13


def test_credentials_in_the_sdk_url_never_reach_the_record_or_the_logs(
    store_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    import tracker

    values = [400.0, 100.0] + [400.0] * 22
    routes = {("GET", "/emissions/forecasts/current"): sdk_route(values, "NL", 60, HOUR)}
    with serve(routes) as server:
        secret_url = server.url.replace("http://", "http://alice:s3cret@") + "/?code=APIKEY"
        clock = [HOUR.timestamp()]
        provider = CarbonAwareForecast(secret_url, now=lambda: HOUR)
        with caplog.at_level(logging.DEBUG), tracker.wait_for_green(
            "NL", 200, "6h", providers=[provider], clock=lambda: clock[0],
            sleep=lambda s: clock.__setitem__(0, clock[0] + s),
        ), tracker.track(project="green", store=store_path, interval=0.05) as run:  # fmt: skip
            pass
        dead_url = closed_port_url().replace("http://", "http://alice:s3cret@") + "/?code=APIKEY"
        dead = CarbonAwareForecast(dead_url, now=lambda: HOUR, timeout=0.5)
        with caplog.at_level(logging.DEBUG):
            refused = tracker.schedule.waiting.wait("NL", 200, "6h", providers=[dead])
    shown = " ".join([run.record.scheduled_by or "", refused.source, refused.as_scheduled().scheduled_by]
                     + [r.getMessage() for r in caplog.records if r.name.startswith("tracker")])  # fmt: skip
    assert run.record.scheduled_by.startswith("threshold: Carbon Aware SDK forecast (http://127.0.0.1:")
    assert "s3cret" not in shown and "APIKEY" not in shown and "alice" not in shown
    assert server.seen[0].query["code"] == ["APIKEY"]  # the URL's query still goes with the request


def test_redact_urls_strips_userinfo_query_and_fragment() -> None:
    from tracker.safetext import redact_urls

    text = "see https://u:p@ss@host.example:8443/api/v1?code=K&x=1#frag, and http://plain/path"
    assert redact_urls(text) == "see https://host.example:8443/api/v1 and http://plain/path"
