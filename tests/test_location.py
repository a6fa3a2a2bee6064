"""Location resolution order: config > cloud metadata > geo-IP > default_zone > world average.

Every network answer comes from a server on 127.0.0.1 (tests/local_http.py) speaking the real services'
shapes: AWS IMDSv2 (PUT token, then placement/region), GCP (instance/zone with Metadata-Flavor: Google),
Azure IMDS (compute/location with Metadata: true), and a geo-IP JSON service.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local_http import Answer, LocalServer, closed_port_url, serve
from tracker.config import resolve
from tracker.errors import ConfigError
from tracker.grid import location


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No cached detection, no DMI signs of a cloud, every endpoint on a closed loopback port."""
    location.reset()
    monkeypatch.setattr(location, "DMI_DIR", tmp_path / "no-dmi")
    dead = closed_port_url()
    for name in (*location.ENV_URLS.values(), location.GEOIP_ENV):
        monkeypatch.setenv(name, dead)
    yield
    location.reset()


AWS_ROUTES = {
    ("PUT", "/latest/api/token"): Answer(200, "TOKEN-123"),
    ("GET", "/latest/meta-data/placement/region"): lambda seen: (
        Answer(200, "eu-west-1") if seen.headers.get("x-aws-ec2-metadata-token") == "TOKEN-123" else Answer(401, "")
    ),
}
GCP_ROUTES = {
    ("GET", "/computeMetadata/v1/instance/zone"): lambda seen: (
        Answer(200, "projects/123456789/zones/europe-west4-a", {"Metadata-Flavor": "Google"})
        if seen.headers.get("metadata-flavor") == "Google"
        else Answer(403, "")
    )
}
AZURE_ROUTES = {
    ("GET", "/metadata/instance/compute/location"): lambda seen: (
        Answer(200, "westeurope") if seen.headers.get("metadata") == "true" else Answer(400, "")
    )
}
GEOIP_BODY = {
    "ip": "203.0.113.7",
    "country_code": "DE",
    "latitude": 50.11,
    "longitude": 8.68,
    "country_name": "Germany",
}


def _point(monkeypatch: pytest.MonkeyPatch, provider: str, server: LocalServer) -> None:
    monkeypatch.setenv(location.ENV_URLS[provider], server.url)


# -- step 1: explicit settings -------------------------------------------------------------------------
def test_explicit_zone_wins_and_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(AWS_ROUTES) as aws:
        _point(monkeypatch, "aws", aws)
        config = resolve({"zone": "dk-dk1", "country": "FR", "cloud_metadata": "on", "geoip": True})
        place = location.start(config).result()
    assert (place.zone, place.country, place.source) == ("DK-DK1", "DK", "config")
    assert "zone=DK-DK1 overrides country=FR" in place.notes
    assert aws.seen == []


def test_explicit_cloud_region_gives_zone_and_country() -> None:
    place = location.resolve(resolve({"cloud_provider": "azure", "cloud_region": "japaneast"}))
    assert (place.zone, place.country, place.source) == ("JP-TK", "JP", "config")
    assert (place.cloud_provider, place.cloud_region) == ("azure", "japaneast")


def test_explicit_country_only() -> None:
    place = location.resolve(resolve({"country": "fra"}))
    assert (place.zone, place.country, place.source) == (None, "FR", "config")


def test_unknown_cloud_region_raises_at_start() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve({"cloud_provider": "gcp", "cloud_region": "moon-central1"})
    assert caught.value.key == "cloud_region"


# -- step 2: cloud metadata ------------------------------------------------------------------------------
def test_aws_imdsv2_token_then_region(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(AWS_ROUTES) as aws:
        _point(monkeypatch, "aws", aws)
        place = location.resolve(resolve({"cloud_metadata": "on", "default_zone": "DE"}))
    assert (place.zone, place.country, place.source) == ("IE", "IE", "cloud-metadata")
    assert (place.cloud_provider, place.cloud_region) == ("aws", "eu-west-1")
    assert [s.method for s in aws.seen] == ["PUT", "GET"]
    assert aws.seen[0].headers["x-aws-ec2-metadata-token-ttl-seconds"]


def test_gcp_zone_answer_becomes_region(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(GCP_ROUTES) as gcp:
        _point(monkeypatch, "gcp", gcp)
        place = location.resolve(resolve({"cloud_metadata": "on"}))
    assert (place.cloud_provider, place.cloud_region, place.zone, place.source) == (
        "gcp",
        "europe-west4",
        "NL",
        "cloud-metadata",
    )


def test_gcp_answer_without_metadata_flavor_header_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {("GET", "/computeMetadata/v1/instance/zone"): Answer(200, "projects/1/zones/europe-west4-a")}
    with serve(routes) as fake:
        _point(monkeypatch, "gcp", fake)
        place = location.resolve(resolve({"cloud_metadata": "on", "default_zone": "SE-SE3"}))
    assert (place.zone, place.source) == ("SE-SE3", "default")
    assert any("cloud metadata (gcp)" in n and "Metadata-Flavor" in n for n in place.notes)


def test_azure_location(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(AZURE_ROUTES) as azure:
        _point(monkeypatch, "azure", azure)
        place = location.resolve(resolve({"cloud_metadata": "on"}))
    assert (place.cloud_provider, place.cloud_region, place.zone, place.country) == ("azure", "westeurope", "NL", "NL")
    assert azure.seen[0].query["format"] == ["text"]


def test_metadata_region_not_in_table_falls_through_and_keeps_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {("GET", "/metadata/instance/compute/location"): Answer(200, "antarcticanorth")}
    with serve(routes) as azure:
        _point(monkeypatch, "azure", azure)
        place = location.resolve(resolve({"cloud_metadata": "on", "default_zone": "NO-NO1"}))
    assert (place.zone, place.source, place.cloud_region) == ("NO-NO1", "default", "antarcticanorth")
    assert any("not in the embedded table" in n for n in place.notes)


def test_silent_metadata_services_cost_at_most_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    hang = Answer(200, "eu-west-1", hang_s=5.0)
    routes = {
        ("PUT", "/latest/api/token"): hang,
        ("GET", "/computeMetadata/v1/instance/zone"): hang,
        ("GET", "/metadata/instance/compute/location"): hang,
    }
    with serve(routes) as dead:
        for provider in ("aws", "gcp", "azure"):
            _point(monkeypatch, provider, dead)
        t0 = time.perf_counter()
        handle = location.start(resolve({"cloud_metadata": "on", "default_zone": "FR"}))
        started = time.perf_counter() - t0
        place = handle.result()
        elapsed = time.perf_counter() - t0
    assert started < 0.05  # start() returns at once
    assert location.METADATA_BUDGET_S * 0.8 <= elapsed <= location.METADATA_BUDGET_S + location.WAIT_MARGIN_S + 0.15
    assert (place.zone, place.source) == ("FR", "default")
    assert any("no answer within 300 ms" in n for n in place.notes)


def test_metadata_http_errors_are_notes_not_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = {("PUT", "/latest/api/token"): Answer(500, "oops")}
    with serve(routes) as broken:
        _point(monkeypatch, "aws", broken)
        place = location.resolve(resolve({"cloud_metadata": "on"}))
    assert place.source == "world-average"
    assert any("cloud metadata (aws)" in n and "HTTP 500" in n for n in place.notes)


def test_auto_mode_without_cloud_signs_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(AWS_ROUTES) as aws:
        _point(monkeypatch, "aws", aws)
        place = location.resolve(resolve({}))
    assert aws.seen == []
    assert place.source == "world-average" and place.zone is None and place.country is None
    assert any("cloud metadata not tried" in n for n in place.notes)


def test_auto_mode_probes_the_provider_dmi_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dmi = tmp_path / "dmi"
    dmi.mkdir()
    (dmi / "sys_vendor").write_text("Amazon EC2\n")
    (dmi / "product_name").write_text("m5.large\n")
    monkeypatch.setattr(location, "DMI_DIR", dmi)
    assert location.cloud_hints() == ("aws",)
    with serve(AWS_ROUTES) as aws, serve(AZURE_ROUTES) as azure:
        _point(monkeypatch, "aws", aws)
        _point(monkeypatch, "azure", azure)
        place = location.resolve(resolve({}))
    assert (place.source, place.cloud_region) == ("cloud-metadata", "eu-west-1")
    assert azure.seen == []  # only the provider the DMI strings point to


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, ("gcp",)),
        ({"chassis_asset_tag": location.AZURE_ASSET_TAG, "sys_vendor": "Microsoft Corporation"}, ("azure",)),
        ({"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R740"}, ()),
    ],
)
def test_cloud_hints_from_dmi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, files: dict, expected: tuple) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    monkeypatch.setattr(location, "DMI_DIR", tmp_path)
    assert location.cloud_hints() == expected


def test_detection_is_cached_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(AWS_ROUTES) as aws:
        _point(monkeypatch, "aws", aws)
        config = resolve({"cloud_metadata": "on"})
        first = location.resolve(config)
        second = location.resolve(config)
    assert first == second
    assert aws.count("/latest/api/token") == 1


# -- step 3: geo-IP ---------------------------------------------------------------------------------------
def test_geoip_after_metadata_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve({("GET", "/json/"): Answer(200, GEOIP_BODY)}) as geo:
        monkeypatch.setenv(location.GEOIP_ENV, geo.url + "/json/")
        place = location.resolve(resolve({"cloud_metadata": "on", "geoip": True, "default_zone": "FR"}))
    assert (place.country, place.zone, place.source) == ("DE", None, "geoip")
    assert (place.latitude, place.longitude) == (50.11, 8.68)
    assert any("cloud metadata (aws)" in n for n in place.notes)


def test_metadata_wins_over_geoip_which_is_then_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(GCP_ROUTES) as gcp, serve({("GET", "/json/"): Answer(200, GEOIP_BODY)}) as geo:
        _point(monkeypatch, "gcp", gcp)
        monkeypatch.setenv(location.GEOIP_ENV, geo.url + "/json/")
        place = location.resolve(resolve({"cloud_metadata": "on", "geoip": True, "default_zone": "FR"}))
    assert (place.source, place.zone, place.cloud_region) == ("cloud-metadata", "NL", "europe-west4")
    assert geo.seen == []


def test_geoip_ipinfo_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"ip": "203.0.113.9", "country": "JP", "loc": "35.69,139.69"}
    with serve({("GET", "/json"): Answer(200, body)}) as geo:
        monkeypatch.setenv(location.GEOIP_ENV, geo.url + "/json")
        place = location.resolve(resolve({"cloud_metadata": "off", "geoip": True}))
    assert (place.country, place.latitude, place.source) == ("JP", 35.69, "geoip")


@pytest.mark.parametrize(
    "answer",
    [Answer(200, "<html>not json</html>"), Answer(200, {"error": True, "reason": "RateLimited"}), Answer(429, "")],
)
def test_geoip_failure_falls_to_default_zone(monkeypatch: pytest.MonkeyPatch, answer: Answer) -> None:
    with serve({("GET", "/json/"): answer}) as geo:
        monkeypatch.setenv(location.GEOIP_ENV, geo.url + "/json/")
        place = location.resolve(resolve({"cloud_metadata": "off", "geoip": True, "default_zone": "nl"}))
    assert (place.zone, place.country, place.source) == ("NL", "NL", "default")
    assert any(n.startswith("geo-IP lookup failed") for n in place.notes)


# -- steps 4 and 5 ------------------------------------------------------------------------------------------
def test_default_zone_when_nothing_is_detected() -> None:
    place = location.resolve(resolve({"default_zone": "US-STATE-WA"}))
    assert (place.zone, place.country, place.source) == ("US-STATE-WA", "US", "default")


def test_world_average_is_labelled_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tracker.grid.location"):
        first = location.resolve(resolve({"cloud_metadata": "off"}))
        location.resolve(resolve({"cloud_metadata": "off"}))
    assert first.source == "world-average" and first.country is None
    assert any("world average" in n for n in first.notes)
    assert len([r for r in caplog.records if "world-average" in r.getMessage()]) == 1


def test_unconfigured_offline_run_resolves_as_fast_as_a_configured_one() -> None:
    def timed(settings: dict) -> float:
        config = resolve(settings)
        t0 = time.perf_counter()
        location.start(config).result()
        return time.perf_counter() - t0

    timed({})  # warm the zone table, as a configured run would have at config time
    unconfigured = min(timed({}) for _ in range(5))
    configured = min(timed({"zone": "NL"}) for _ in range(5))
    assert unconfigured < 0.01 and configured < 0.01
    assert abs(unconfigured - configured) < 0.005


def test_unconfigured_offline_run_ends_as_fast_as_a_configured_one_and_says_which_fallback() -> None:
    """A whole tracked run (start, sampler, finish, record): no lookup hangs, and the record names the fallback once."""
    import tracker
    from tracker.grid.intensity import country_table
    from tracker.records.schema import RunRecord

    def timed(settings: dict) -> tuple[float, RunRecord]:
        t0 = time.perf_counter()
        with tracker.track(save=False, **settings) as run:
            pass
        return time.perf_counter() - t0, run.record

    timed({})  # the first run of a process pays for hardware detection and the sampler thread
    unconfigured = min((timed({}) for _ in range(3)), key=lambda pair: pair[0])
    configured = min((timed({"zone": "NL"}) for _ in range(3)), key=lambda pair: pair[0])
    assert unconfigured[0] < configured[0] + 0.05 and unconfigured[0] < 0.25
    record = unconfigured[1]
    assert (record.location_source, record.zone, record.country) == ("world-average", None, None)
    assert record.intensity_source == country_table().get("WORLD").source
    assert len([n for n in record.notes if "world average" in n]) == 1
    assert any("cloud metadata not tried" in n for n in record.notes)
    assert configured[1].location_source == "config" and not any("world average" in n for n in configured[1].notes)
