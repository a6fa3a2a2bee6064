"""Electricity Maps client and the live intensity provider, against a loopback server with v3 shapes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.local_http import Answer, LocalServer, serve
from tracker.config import resolve
from tracker.grid import electricitymaps, intensity
from tracker.grid.electricitymaps import ApiError, Client
from tracker.grid.intensity import EmbeddedIntensity, LiveIntensity, provider_for
from tracker.grid.location import Location
from tracker.grid.zones import zone_table

TOKEN = "test-token-abc"
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def point(zone: str, when: datetime, value: float, factor: str = "lifecycle", estimated: bool = False) -> dict:
    """One carbon-intensity point as API v3 returns it."""
    return {
        "zone": zone,
        "carbonIntensity": value,
        "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "updatedAt": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "createdAt": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "emissionFactorType": factor,
        "isEstimated": estimated,
        "estimationMethod": "TIME_SLICER_AVERAGE" if estimated else None,
        "temporalGranularity": "hourly",
    }


def history_body(zone: str = "DE", factor: str = "lifecycle") -> dict:
    """24 hourly points ending with the current hour; value = 100 + hours ago."""
    return {
        "zone": zone,
        "history": [point(zone, NOW - timedelta(hours=h), 100 + h, factor) for h in range(23, -1, -1)],
    }


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    electricitymaps.reset()
    intensity._live_provider.cache_clear()
    yield
    electricitymaps.reset()
    intensity._live_provider.cache_clear()


def client_for(server: LocalServer, timeout: float = 2.0, api_token: str | None = TOKEN) -> Client:
    return Client(api_token=api_token, url=server.url + "/v3", timeout=timeout)


def live(server: LocalServer, factor: str = "lifecycle", timeout: float = 2.0) -> LiveIntensity:
    return LiveIntensity(factor, client_for(server, timeout), EmbeddedIntensity())


DE = Location("DE", "DE", "config")


# -- the client ------------------------------------------------------------------------------------------
def test_latest_sends_token_and_parses_the_v3_shape() -> None:
    body = point("DE", NOW, 321, estimated=True)
    with serve({("GET", "/v3/carbon-intensity/latest"): Answer(200, body)}) as api:
        reading = client_for(api).latest(zone="DE")
    assert reading.g_per_kwh == 321 and reading.zone == "DE" and reading.datetime == NOW
    assert reading.is_estimated is True and reading.estimation_method == "TIME_SLICER_AVERAGE"
    seen = api.seen[0]
    assert seen.headers["auth-token"] == TOKEN
    assert seen.query == {"zone": ["DE"], "emissionFactorType": ["lifecycle"]}


def test_coordinates_instead_of_a_zone() -> None:
    with serve({("GET", "/v3/carbon-intensity/latest"): Answer(200, point("DE", NOW, 300))}) as api:
        client_for(api).latest(lat=52.52, lon=13.405)
    assert api.seen[0].query["lat"] == ["52.5200"] and api.seen[0].query["lon"] == ["13.4050"]


def test_second_call_is_served_from_the_disk_cache(isolated: Path) -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, history_body())}) as api:
        first = client_for(api).history(zone="DE")
        second = client_for(api).history(zone="DE")  # a new client: the cache is on disk, not in memory
    assert api.count("/v3/carbon-intensity/history") == 1
    assert first == second and len(first) == 24
    files = list((isolated.parent / "home" / "data" / "tracker" / "cache" / "electricitymaps").glob("history-*.json"))
    assert len(files) == 1 and TOKEN not in files[0].read_text()


def test_expired_cache_is_fetched_again(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, history_body())}) as api:
        client = client_for(api)
        client.history(zone="DE")
        real_time = time.time
        monkeypatch.setattr(electricitymaps.time, "time", lambda: real_time() + electricitymaps.TTL_S["history"] + 1)
        client.history(zone="DE")
    assert api.count("/v3/carbon-intensity/history") == 2


def test_past_range_parameters_and_data_key() -> None:
    start = NOW - timedelta(days=3)
    body = {"zone": "FR", "data": [point("FR", start + timedelta(hours=h), 40 + h) for h in range(3)]}
    with serve({("GET", "/v3/carbon-intensity/past-range"): Answer(200, body)}) as api:
        readings = client_for(api).past_range(start, start + timedelta(hours=3), zone="FR", factor="direct")
    assert [r.g_per_kwh for r in readings] == [40, 41, 42]
    query = api.seen[0].query
    assert query["start"] == [start.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert query["emissionFactorType"] == ["direct"] and query["temporalGranularity"] == ["hourly"]


def test_long_past_range_is_split_into_ten_day_requests() -> None:
    start = NOW - timedelta(days=25)
    with serve({("GET", "/v3/carbon-intensity/past-range"): Answer(200, {"zone": "FR", "data": []})}) as api:
        client_for(api).past_range(start, start + timedelta(days=21), zone="FR")
    assert api.count("/v3/carbon-intensity/past-range") == 3


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (Answer(401, {"error": "Unauthorized"}), "auth"),
        (Answer(429, {"error": "rate limited"}, {"Retry-After": "120"}), "rate-limit"),
        (Answer(500, "Internal Server Error"), "server"),
        (Answer(200, "<html>"), "malformed"),
        (Answer(200, {"zone": "DE", "history": "nope"}), "malformed"),
        (Answer(200, {"zone": "DE", "history": [{"datetime": "2025-01-01T00:00:00Z"}]}), "malformed"),
        (
            Answer(200, {"zone": "DE", "history": [{"carbonIntensity": -5, "datetime": "2025-01-01T00:00:00Z"}]}),
            "malformed",
        ),
    ],
)
def test_errors_are_classified(answer: Answer, kind: str) -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): answer}) as api, pytest.raises(ApiError) as caught:
        client_for(api).history(zone="DE")
    assert caught.value.kind == kind


@pytest.mark.parametrize("status", [401, 429, 503])
def test_auth_rate_limit_and_server_errors_stop_further_requests(status: int) -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(status, {"error": "x"})}) as api:
        client = client_for(api)
        for _ in range(3):
            with pytest.raises(ApiError):
                client.history(zone="DE")
    assert api.count("/v3/carbon-intensity/history") == 1


def test_timeout_is_bounded() -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, history_body(), hang_s=5)}) as api:
        t0 = time.perf_counter()
        with pytest.raises(ApiError) as caught:
            client_for(api, timeout=0.3).history(zone="DE")
        elapsed = time.perf_counter() - t0
    assert caught.value.kind == "network" and elapsed < 1.5


def test_no_token_sends_nothing() -> None:
    route = {("GET", "/v3/carbon-intensity/history"): Answer(200, history_body())}
    with serve(route) as api, pytest.raises(ApiError) as caught:
        client_for(api, api_token="").history(zone="DE")
    assert caught.value.kind == "off" and api.seen == []


# -- the live provider --------------------------------------------------------------------------------------
def test_recent_hours_take_one_history_request_and_map_hour_by_hour() -> None:
    hours = [NOW - timedelta(hours=3, minutes=-20), NOW - timedelta(hours=2), NOW - timedelta(hours=1)]
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, history_body())}) as api:
        values = live(api).intensities(DE, hours)
    assert api.count("/v3/carbon-intensity/history") == 1
    assert [v.g_per_kwh for v in values] == [103, 102, 101]
    assert all(v.source.startswith("Electricity Maps API v3, hourly, lifecycle") and not v.note for v in values)
    assert values[0].year == NOW.year and values[0].zone == "DE"


def test_old_hours_use_one_past_range_request() -> None:
    start = NOW - timedelta(days=2)
    body = {"zone": "DE", "data": [point("DE", start + timedelta(hours=h), 200 + h) for h in range(4)]}
    with serve({("GET", "/v3/carbon-intensity/past-range"): Answer(200, body)}) as api:
        values = live(api).intensities(DE, [start + timedelta(hours=h) for h in range(4)])
    assert api.count("/v3/carbon-intensity/past-range") == 1
    assert [v.g_per_kwh for v in values] == [200, 201, 202, 203]


def test_future_hours_use_the_forecast() -> None:
    later = NOW + timedelta(hours=2)
    body = {"zone": "DE", "forecast": [{"carbonIntensity": 77, "datetime": later.isoformat()}], "updatedAt": "x"}
    with serve({("GET", "/v3/carbon-intensity/forecast"): Answer(200, body)}) as api:
        (value,) = live(api).intensities(DE, [later])
    assert value.g_per_kwh == 77 and "forecast" in value.source


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (Answer(401, {"error": "bad token"}), "auth"),
        (Answer(429, {"error": "slow down"}), "rate-limit"),
        (Answer(500, "boom"), "server"),
        (Answer(200, "{not json"), "malformed"),
    ],
)
def test_failures_fall_back_to_the_embedded_value_with_a_note(answer: Answer, why: str) -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): answer}) as api:
        (value,) = live(api).intensities(DE, [NOW - timedelta(hours=1)])
    embedded = zone_table().get("DE")
    assert value.g_per_kwh == embedded.g_per_kwh and value.source == embedded.source
    assert "live intensity unavailable" in value.note and why in value.note


def test_fallback_of_another_factor_type_says_so() -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(500, "")}) as api:
        (value,) = live(api, factor="direct").intensities(DE, [NOW - timedelta(hours=1)])
    assert value.factor_type == "lifecycle"
    assert "direct was asked" in value.note
    assert api.seen[0].query["emissionFactorType"] == ["direct"]


def test_direct_factor_comes_through_from_the_api() -> None:
    body = history_body(factor="direct")
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, body)}) as api:
        (value,) = live(api, factor="direct").intensities(DE, [NOW - timedelta(hours=1)])
    assert value.factor_type == "direct" and "direct" in value.source


def test_unpublished_current_hour_uses_the_latest_value_with_a_note() -> None:
    body = {"zone": "DE", "history": [point("DE", NOW - timedelta(hours=2), 150)]}
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, body)}) as api:
        (value,) = live(api).intensities(DE, [NOW])
    assert value.g_per_kwh == 150 and "not published yet" in value.note


def test_us_state_zone_has_no_live_zone_and_keeps_its_direct_factor() -> None:
    with serve({}) as api:
        (value,) = live(api).intensities(Location("US-STATE-CA", "US", "config"), [NOW])
    assert api.seen == []
    assert value.factor_type == "direct" and value.zone == "US-STATE-CA"
    assert "no Electricity Maps zone" in value.note and "lifecycle was asked" in value.note


def test_geoip_coordinates_are_used_when_there_is_no_zone() -> None:
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, history_body())}) as api:
        live(api).intensities(Location(None, "DE", "geoip", latitude=50.11, longitude=8.68), [NOW])
    assert api.seen[0].query["lat"] == ["50.1100"]


# -- embedded provider and the choice of provider ------------------------------------------------------------
def test_embedded_order_google_figure_then_zone_then_country_then_world() -> None:
    embedded = EmbeddedIntensity()
    assert embedded.for_location(Location("DK-DK1", "DK", "config")).zone == "DK-DK1"
    region = zone_table().cloud("gcp", "europe-west4")
    for zone in (None, "NL"):  # Google's own figure wins over the region's zone row for a GCP region
        google = embedded.for_location(Location(zone, "NL", "cloud-metadata", "gcp", "europe-west4"))
        assert google.g_per_kwh == region.g_per_kwh and "Google" in google.source and google.year == region.year
    assert region.g_per_kwh != zone_table().get("NL").g_per_kwh
    aws = embedded.for_location(Location("IE", "IE", "config", "aws", "eu-west-1"))  # no AWS figure: the zone row
    assert aws.g_per_kwh == zone_table().get("IE").g_per_kwh
    country = embedded.for_location(Location(None, "FR", "config"))
    assert "Ember" in country.source and country.zone == "FR"
    world = embedded.for_location(Location(None, None, "world-average"))
    assert world.zone == "WORLD" and "world average" in world.label


def test_old_country_rows_carry_a_note() -> None:
    value = EmbeddedIntensity().for_location(Location(None, "EH", "config"))
    assert value.year == 2009 and "2009" in value.note


def test_provider_for_follows_live_and_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(provider_for(resolve({})), EmbeddedIntensity)
    monkeypatch.setenv(electricitymaps.TOKEN_ENV, TOKEN)
    monkeypatch.setenv(electricitymaps.URL_ENV, "http://127.0.0.1:9/v3")
    chosen = provider_for(resolve({}))
    assert isinstance(chosen, LiveIntensity) and chosen is provider_for(resolve({}))
    assert isinstance(provider_for(resolve({"live": "off"})), EmbeddedIntensity)
    direct = provider_for(resolve({"emission_factor_type": "direct"}))
    assert isinstance(direct, LiveIntensity) and direct.factor_type == "direct"


def test_live_on_without_token_falls_back_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(electricitymaps.URL_ENV, "http://127.0.0.1:9/v3")
    chosen = provider_for(resolve({"live": "on"}))
    (value,) = chosen.intensities(DE, [NOW])
    assert "no token" in value.note


def test_cache_files_are_json_with_a_timestamp(isolated: Path) -> None:
    with serve({("GET", "/v3/carbon-intensity/latest"): Answer(200, point("DE", NOW, 300))}) as api:
        client_for(api).latest(zone="DE")
    (path,) = (isolated.parent / "home" / "data" / "tracker" / "cache" / "electricitymaps").glob("latest-*.json")
    stored = json.loads(path.read_text())
    assert stored["body"]["carbonIntensity"] == 300 and stored["fetched_at"] <= time.time()


def test_a_server_that_trickles_its_answer_is_cut_off_at_the_timeout() -> None:
    """requests' timeout is per socket read: a byte every 10 ms never trips it. The client's deadline does."""
    one_point = {"zone": "DE", "history": [point("DE", NOW, 300)]}  # ~300 bytes: 3 s at a byte every 10 ms
    trickle = Answer(200, one_point, drip_s=0.01)
    with serve({("GET", "/v3/carbon-intensity/history"): trickle}) as api:
        t0 = time.perf_counter()
        with pytest.raises(ApiError) as caught:
            client_for(api, timeout=0.3).history(zone="DE")
        elapsed = time.perf_counter() - t0
    assert caught.value.kind == "network" and "within 0.3 s" in str(caught.value)
    assert elapsed < 1.0


# -- through a tracked run ------------------------------------------------------------------------------------
def test_tracked_run_across_an_hour_boundary_is_the_sum_of_both_live_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real run (sampler, timeline, finish) whose clock is placed 0.1 s before an hour boundary: the live
    history gives 100 g/kWh before it and 500 g/kWh after, and the record is the per-hour sum, not an average."""
    from tracker.core.run import Run

    boundary = NOW - timedelta(hours=2)  # both hours are settled and inside the last-24-hours history
    body = {"zone": "NL", "history": [point("NL", boundary - timedelta(hours=1), 100), point("NL", boundary, 500)]}
    watts = 3600.0  # 1 J per ms: forced, so that the energy of each part is known exactly
    with serve({("GET", "/v3/carbon-intensity/history"): Answer(200, body)}) as api:
        monkeypatch.setenv(electricitymaps.TOKEN_ENV, TOKEN)
        monkeypatch.setenv(electricitymaps.URL_ENV, api.url + "/v3")
        config = resolve({"zone": "NL", "cpu_watts": watts, "gpu_watts": 0, "ram_watts": 0, "save": False})
        # Run.start(wall_offset=) is how `tracker monitor` places runs on the wall clock; here it puts the
        # run's start 0.1 s before the boundary (runs cannot wait for a real one)
        offset = boundary.timestamp() - 0.1 - time.perf_counter()
        run = Run(config).start(wall_offset=offset)
        time.sleep(0.3)
        record = run.stop()
    assert api.count("/v3/carbon-intensity/history") == 1
    assert record.started_at < boundary < record.ended_at
    before_s = boundary.timestamp() - (run.t0 + offset)
    after_s = record.duration_s - before_s
    assert 0.09 < before_s <= 0.1 and after_s > 0.15
    kwh_before, kwh_after = watts * before_s / 3.6e6, watts * after_s / 3.6e6
    assert record.energy_kwh == pytest.approx(kwh_before + kwh_after, rel=1e-6)
    expected = (kwh_before * 100 + kwh_after * 500) / 1000
    assert record.emissions_kg == pytest.approx(expected, rel=1e-6)
    assert record.emissions_kg != pytest.approx(record.energy_kwh * (100 + 500) / 2 / 1000, rel=1e-3)
    assert record.intensity_g_per_kwh == pytest.approx(1000 * expected / record.energy_kwh, rel=1e-6)
    assert record.intensity_source.startswith("Electricity Maps API v3, hourly, lifecycle")
    assert (record.zone, record.location_source, record.intensity_factor_type) == ("NL", "config", "lifecycle")
    assert not any("live intensity unavailable" in note for note in record.notes)


TRICKLE = Answer(200, {"zone": "NL", "history": [point("NL", NOW, 300)]}, drip_s=0.02)  # ~6 s in all


@pytest.mark.parametrize("dead", [Answer(200, "{}", hang_s=30), TRICKLE], ids=["hangs", "trickles"])
def test_dead_live_service_delays_a_runs_end_by_at_most_the_timeout(
    monkeypatch: pytest.MonkeyPatch, dead: Answer
) -> None:
    """A live token and a service that hangs (or trickles): the run ends within the documented timeout, on the
    embedded value, and its record says why."""
    import tracker

    with serve({("GET", "/v3/carbon-intensity/history"): dead}) as api:
        monkeypatch.setenv(electricitymaps.TOKEN_ENV, TOKEN)
        monkeypatch.setenv(electricitymaps.URL_ENV, api.url + "/v3")
        t0 = time.perf_counter()
        with tracker.track(zone="NL", save=False) as run:
            pass
        elapsed = time.perf_counter() - t0
    assert elapsed < electricitymaps.TIMEOUT_S + 0.5
    embedded = zone_table().get("NL")
    assert run.intensity_g_per_kwh == pytest.approx(embedded.g_per_kwh) and run.intensity_source == embedded.source
    assert any("live intensity unavailable (network" in note for note in run.notes)
