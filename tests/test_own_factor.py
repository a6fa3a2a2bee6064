"""Your own grid factor (``intensity_g_per_kwh=`` with ``intensity_source=``, ``intensity_year=``) and the factor
type asked without live data (``emission_factor_type=direct`` and no token): the record says what it used."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import tracker
from tests.test_exporters import live_grams_per_joule
from tracker.cli import main
from tracker.config import resolve
from tracker.core.context import RunContext
from tracker.errors import ConfigError
from tracker.grid import location
from tracker.grid.intensity import country_table, provider_for
from tracker.grid.zones import zone_table

HOUR = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
UBA = {"intensity_g_per_kwh": 380, "intensity_source": "UBA 2024, German electricity mix", "intensity_year": 2024}


def estimate(**settings: Any) -> Any:
    return tracker.estimate(2.0, start=HOUR, end=HOUR + timedelta(hours=1), **settings)


# -- emission_factor_type=direct without live data ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "why"),
    [({}, "ELECTRICITYMAPS_API_TOKEN is not set"), ({"live": "off"}, "live data is off (live=off)")],
)
def test_direct_without_live_data_says_the_lifecycle_value_was_used(settings: dict[str, str], why: str) -> None:
    result = estimate(country="DE", emission_factor_type="direct", **settings)
    assert result.intensity_factor_type == "lifecycle"  # what was used, not what was asked
    assert result.intensity_g_per_kwh == pytest.approx(country_table().get("DE").g_per_kwh)
    assert result.notes == (f"emission_factor_type=direct, but {why}: the embedded lifecycle value was used",)


def test_direct_without_live_data_in_a_runs_record(store_path: str) -> None:
    with tracker.track(store=store_path, zone="FR", emission_factor_type="direct", cpu_watts=1) as run:
        pass
    assert run.intensity_factor_type == "lifecycle"
    assert any("emission_factor_type=direct" in note and "lifecycle value was used" in note for note in run.notes)
    stored = tracker.load_runs(store_path).iloc[0]
    assert "emission_factor_type=direct" in json.dumps(stored["notes"])


def test_direct_asked_and_a_direct_row_need_no_note() -> None:
    """An eGRID state is a direct factor: asked direct, got direct."""
    result = estimate(zone="US-STATE-TX", emission_factor_type="direct")
    assert result.intensity_factor_type == "direct" and result.notes == ()
    assert result.intensity_g_per_kwh == pytest.approx(zone_table().get("US-STATE-TX").g_per_kwh)


def test_lifecycle_asked_keeps_the_shared_provider_and_no_note() -> None:
    assert estimate(country="DE").notes == ()
    assert provider_for(resolve({})) is provider_for(resolve({"country": "FR"}))


# -- your own factor -----------------------------------------------------------------------------------------------


def test_your_factor_replaces_the_embedded_value_and_the_record_says_whose() -> None:
    result = estimate(country="DE", **UBA)
    assert result.intensity_g_per_kwh == 380.0
    assert result.emissions_kg == pytest.approx(2.0 * 380 / 1000)
    assert result.intensity_source == "UBA 2024, German electricity mix (user-set intensity_g_per_kwh)"
    assert result.intensity_year == 2024
    assert result.intensity_factor_type == "lifecycle"
    assert result.country == "DE" and result.location_source == "config"  # the location is still recorded
    [note] = result.notes
    assert "380 g/kWh set by the user (intensity_g_per_kwh, from argument)" in note


def test_your_factor_without_a_source_or_year_says_so() -> None:
    result = estimate(intensity_g_per_kwh=120.5)
    assert result.intensity_source == "no intensity_source given (user-set intensity_g_per_kwh)"
    assert result.intensity_year is None
    assert result.emissions_kg == pytest.approx(2.0 * 120.5 / 1000)


def test_your_factor_is_of_the_type_emission_factor_type_names() -> None:
    result = estimate(emission_factor_type="direct", **UBA)
    assert result.intensity_factor_type == "direct"
    assert not [note for note in result.notes if "lifecycle value was used" in note]


def test_a_run_records_your_factor_from_the_environment(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_INTENSITY_G_PER_KWH", "250")
    monkeypatch.setenv("TRACKER_INTENSITY_SOURCE", "Agency X 2023")
    with tracker.track(store=store_path, country="PL", cpu_watts=10, gpu_watts=0, ram_watts=0) as run:
        pass
    assert run.intensity_g_per_kwh == pytest.approx(250.0)
    assert run.intensity_source == "Agency X 2023 (user-set intensity_g_per_kwh)"
    assert run.emissions_kg == pytest.approx(run.energy_kwh * 250 / 1000, rel=1e-9)
    assert any("from environment" in note for note in run.notes)
    stored = tracker.load_runs(store_path).iloc[0]
    assert stored["intensity_source"] == run.intensity_source and stored["intensity_g_per_kwh"] == pytest.approx(250.0)


def test_live_metrics_use_your_factor() -> None:
    rate, record = live_grams_per_joule(country="DE", intensity_g_per_kwh=500)
    assert rate == pytest.approx(500 / 3.6e6)
    assert record.intensity_g_per_kwh == pytest.approx(500.0)


def test_your_factor_wins_over_a_token_and_asks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "a-token")
    monkeypatch.setenv("ELECTRICITYMAPS_API_URL", "http://127.0.0.1:9/v3")  # closed: a request would fall back
    config = resolve({"zone": "DE", **UBA})
    result = estimate(zone="DE", **UBA)
    assert result.intensity_g_per_kwh == 380.0
    assert not [note for note in result.notes if "live intensity unavailable" in note]
    (value,) = RunContext(config).intensity_provider().intensities(location.resolve(config), [HOUR])
    assert value.g_per_kwh == 380.0 and value.zone == "DE"


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"intensity_source": "UBA"}, "intensity_source"),  # a label of nothing
        ({"intensity_year": 2024}, "intensity_year"),
        ({"intensity_g_per_kwh": 380, "live": "on"}, "live"),  # one of the two, not a silent choice
        ({"intensity_g_per_kwh": -1}, "intensity_g_per_kwh"),
        ({"intensity_g_per_kwh": 380_000}, "intensity_g_per_kwh"),  # lb/MWh or mg: not g/kWh
        ({"intensity_g_per_kwh": "nan"}, "intensity_g_per_kwh"),
        ({"intensity_g_per_kwh": 380, "intensity_source": "\x1b[31m"}, "intensity_source"),
        ({"intensity_g_per_kwh": 380, "intensity_source": " "}, "intensity_source"),
        ({"intensity_g_per_kwh": 380, "intensity_year": 24.5}, "intensity_year"),
        ({"intensity_g_per_kwh": 380, "intensity_year": "1066"}, "intensity_year"),
        ({"intensity_g_per_kwh": 380, "intensity_year": "last year"}, "intensity_year"),
    ],
)
def test_a_mistake_is_a_config_error_naming_the_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(settings)
    assert info.value.key == key


def test_the_intensity_command_shows_your_factor(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["intensity", "--country", "DE", "--intensity-g-per-kwh", "380", "--intensity-source", "UBA 2024"]
    assert main([*argv, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["configured"]["g_per_kwh"] == 380.0 and "UBA 2024" in out["configured"]["source"]
    assert out["embedded"]["g_per_kwh"] == pytest.approx(country_table().get("DE").g_per_kwh)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "yours      380 gCO2e/kWh" in text and "UBA 2024 (user-set intensity_g_per_kwh)" in text


def test_detect_shows_your_factor(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["detect", "--format", "json", "--intensity-g-per-kwh", "42", "--cpu-watts", "1", "--gpu-watts", "0"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["intensity"]["g_per_kwh"] == 42.0 and "user-set" in out["intensity"]["source"]
