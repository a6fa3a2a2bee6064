"""Accounting: hour buckets x PUE(hour) x intensity(hour), the supplier mix, embodied emissions; PUE schedules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tracker.carbon.accounting import SECONDS_PER_YEAR, account, embodied_share_kg
from tracker.carbon.market import Supplier, mix_factor, parse_suppliers
from tracker.carbon.pue import Pue, PueSchedule, provider_pue
from tracker.config import resolve
from tracker.core.context import RunContext
from tracker.errors import ConfigError
from tracker.grid.intensity import Intensity

DAY = datetime(2026, 3, 14, tzinfo=timezone.utc)


def flat(g: float, source: str = "test", factor_type: str = "lifecycle") -> Intensity:
    return Intensity(g, source, 2025, "XX", factor_type)


def day_of(total_kwh: float, start: datetime = DAY) -> list[tuple[datetime, float]]:
    return [(start + timedelta(hours=h), total_kwh / 24) for h in range(24)]


# -- the worked example ------------------------------------------------------------------------------------------


def test_worked_example_market_based_is_10_92_kg() -> None:
    """1,000 kWh in a day, PUE 1.3, 80 % at 0.008 kg/kWh and 20 % at 0.01 kg/kWh -> 10.92 kg CO2e."""
    mix = parse_suppliers([("green", 80, 0.008), ("grey", 20, 0.01)])
    carbon = account(day_of(1000.0), [flat(300.0)] * 24, Pue(1.3), mix)
    assert carbon.facility_kwh == pytest.approx(1300.0)
    assert carbon.emissions_market_kg == pytest.approx(10.92, abs=1e-9)
    assert carbon.emissions_kg == pytest.approx(1300.0 * 0.300)  # location-based from the grid, beside it
    assert carbon.market_source.startswith("supplier mix: green 80 % at 0.008")


def test_without_a_mix_market_equals_location_and_says_so() -> None:
    carbon = account(day_of(10.0), [flat(200.0)] * 24, Pue(1.0))
    assert carbon.emissions_market_kg == carbon.emissions_kg == pytest.approx(2.0)
    assert "no supplier mix" in carbon.market_source


# -- hour buckets ------------------------------------------------------------------------------------------------


def test_run_across_midnight_gets_the_sum_of_both_hours_not_an_average() -> None:
    before = datetime(2026, 3, 14, 23, tzinfo=timezone.utc)
    hours = [(before, 2.0), (before + timedelta(hours=1), 1.0)]
    carbon = account(hours, [flat(100.0), flat(400.0)], Pue(1.0))
    assert carbon.emissions_kg == pytest.approx((2.0 * 100 + 1.0 * 400) / 1000)  # 0.6 kg
    mean_of_intensities = (100 + 400) / 2 * 3.0 / 1000  # what averaging would give: 0.75 kg
    assert carbon.emissions_kg != pytest.approx(mean_of_intensities)
    assert carbon.g_per_kwh == pytest.approx(200.0)  # energy-weighted
    assert [h.emissions_kg for h in carbon.hours] == pytest.approx([0.2, 0.4])


def test_bucket_and_intensity_counts_must_match() -> None:
    with pytest.raises(ValueError, match="2 hour buckets but 1"):
        account([(DAY, 1.0), (DAY + timedelta(hours=1), 1.0)], [flat(1.0)], Pue(1.0))


def test_zero_energy_keeps_the_intensity_and_pue_as_provenance() -> None:
    carbon = account([(DAY, 0.0)], [flat(321.0)], Pue(1.4))
    assert (carbon.emissions_kg, carbon.g_per_kwh, carbon.pue) == (0.0, 321.0, 1.4)


# -- PUE -----------------------------------------------------------------------------------------------------------


def write_schedule(tmp_path: Path, body: str) -> str:
    path = tmp_path / "pue.csv"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_daily_schedule_applies_each_days_value_at_the_time_of_use(tmp_path: Path) -> None:
    path = write_schedule(tmp_path, "date,pue\n2026-03-14,1.2\n2026-03-15,1.5\n")
    pue = Pue(1.0, "default", PueSchedule.load(path))
    before = datetime(2026, 3, 14, 23, tzinfo=timezone.utc)
    carbon = account([(before, 10.0), (before + timedelta(hours=1), 10.0)], [flat(100.0)] * 2, pue)
    assert carbon.facility_kwh == pytest.approx(10 * 1.2 + 10 * 1.5)
    assert carbon.pue == pytest.approx(1.35)
    assert carbon.emissions_kg == pytest.approx((12 + 15) * 0.1)


def test_day_wins_over_month_and_uncovered_hours_use_the_constant(tmp_path: Path) -> None:
    path = write_schedule(tmp_path, "date,pue\n2026-03,1.25\n2026-03-14,1.6\n")
    pue = Pue(1.1, "configured", PueSchedule.load(path))
    assert pue.at(datetime(2026, 3, 14, 5, tzinfo=timezone.utc)) == (1.6, True)
    assert pue.at(datetime(2026, 3, 2, 5, tzinfo=timezone.utc)) == (1.25, True)
    assert pue.at(datetime(2026, 4, 1, 0, tzinfo=timezone.utc)) == (1.1, False)
    # a day boundary is a UTC one: 2026-03-14T23:30+00 is the 14th, 2026-03-15T00:30+01:00 is the 14th too
    assert pue.at(datetime(2026, 3, 15, 0, 30, tzinfo=timezone(timedelta(hours=1))))[0] == 1.6


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("day,value\n2026-01-01,1.2\n", "header row naming 'date' and 'pue'"),
        ("date,pue\n2026-01-01,0.9\n", "PUE must be a number >= 1.0"),
        ("date,pue\n2026-01-01,high\n", "must be a number"),
        ("date,pue\n14/03/2026,1.2\n", "dates must be YYYY-MM-DD"),
        ("date,pue\n2026-01-01,1.2\n2026-01-01,1.3\n", "appears twice"),
        ("date,pue\n", "no rows"),
    ],
)
def test_bad_schedules_are_config_errors_at_start(tmp_path: Path, body: str, fragment: str) -> None:
    path = write_schedule(tmp_path, body)
    with pytest.raises(ConfigError, match=fragment) as info:
        resolve({"pue_schedule": path})
    assert info.value.key == "pue_schedule"


def test_bad_schedule_row_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    path = write_schedule(tmp_path, "date,pue\n\n2026-01-01,1.2\n\n\n2026-01-02,0.8\n")
    with pytest.raises(ConfigError) as info:
        resolve({"pue_schedule": path})
    assert info.value.value == f"{path} line 6: 0.8"


def test_missing_schedule_file_names_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.csv")
    with pytest.raises(ConfigError) as info:
        resolve({"pue": missing})
    assert info.value.key == "pue_schedule" and info.value.value == missing


def test_pue_csv_path_becomes_the_schedule(tmp_path: Path) -> None:
    path = write_schedule(tmp_path, "date,pue\n2026-03,1.3\n")
    config = resolve({"pue": path})
    assert config.pue_schedule == path and config.pue == 1.0
    assert RunContext(config).pue_model().at(DAY) == (1.3, True)


@pytest.mark.parametrize(("name", "value"), [("aws", 1.15), ("AWS", 1.15), ("azure", 1.18), ("gcp", 1.10)])
def test_provider_pue_defaults_with_source(name: str, value: float) -> None:
    config = resolve({"pue": name})
    assert config.pue == value
    assert str(provider_pue(name).year) in config.pue_source  # type: ignore[union-attr]
    assert RunContext(config).pue_model().describe() == config.pue_source


def test_unknown_pue_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"pue": "hyperscaler"})
    assert info.value.key == "pue" and info.value.value == "hyperscaler"


# -- supplier mix ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        [("a", 80, 0.008), ("b", 20, 0.01)],
        [{"name": "a", "share_percent": 80, "kg_co2e_per_kwh": 0.008}, {"name": "b", "share": 20, "factor": 0.01}],
        "a:80:0.008, b:20:0.01",
    ],
)
def test_supplier_mix_forms(value: object) -> None:
    config = resolve({"suppliers": value})
    assert config.suppliers == (Supplier("a", 80.0, 0.008), Supplier("b", 20.0, 0.01))
    assert mix_factor(config.suppliers) == pytest.approx(0.0084)


def test_supplier_mix_from_pyproject(isolated: Path) -> None:
    (isolated / "pyproject.toml").write_text(
        '[tool.tracker]\nsuppliers = [["wind co", 80, 0.008], ["grid co", 20, 0.01]]\n', encoding="utf-8"
    )
    assert resolve().suppliers[0] == Supplier("wind co", 80.0, 0.008)


def test_supplier_mix_from_pyproject_array_of_tables(isolated: Path) -> None:
    (isolated / "pyproject.toml").write_text(
        "[[tool.tracker.suppliers]]\nname = 'wind co'\nshare_percent = 80\nkg_co2e_per_kwh = 0.008\n"
        "[[tool.tracker.suppliers]]\nname = 'grid co'\nshare_percent = 20\nkg_co2e_per_kwh = 0.01\n",
        encoding="utf-8",
    )
    config = resolve()
    assert config.suppliers == (Supplier("wind co", 80.0, 0.008), Supplier("grid co", 20.0, 0.01))
    assert config.origins["suppliers"].endswith("[tool.tracker]")
    (isolated / "pyproject.toml").write_text(
        "[[tool.tracker.suppliers]]\nname = 'wind co'\nshare_percent = 80\nkg_co2e_per_kwh = 0.008\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="add up to 80 %"):
        resolve()


def test_supplier_mix_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SUPPLIERS", "a:50:0.1,b:50:0.2")
    assert mix_factor(resolve().suppliers) == pytest.approx(0.15)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([("a", 80, 0.008), ("b", 10, 0.01)], "add up to 90 %, expected 100 %"),
        ([("a", 80, 0.008), ("b", 30, 0.01)], "add up to 110 %"),
        ([("a", 100, -0.1)], "must be zero or positive"),
        ([("a", 0, 0.1), ("b", 100, 0.1)], "above 0 and at most 100"),
        ([("a", "lots", 0.1)], "must be a number"),
        ([("", 100, 0.1)], "needs a name"),
        ([("a", 50, 0.1), ("a", 50, 0.2)], "listed twice"),
        ([("a", 100)], "each supplier is"),
        ({"name": "a"}, "not one table"),
        ([("a", 100, float("nan"))], "finite"),
    ],
)
def test_supplier_mix_validation_names_the_bad_value(value: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        resolve({"suppliers": value})
    assert info.value.key == "suppliers"


def test_shares_with_decimals_that_add_up_are_accepted() -> None:
    third = 100 / 3
    assert len(resolve({"suppliers": [("a", third, 0.1), ("b", third, 0.2), ("c", third, 0.3)]}).suppliers) == 3


# -- embodied ----------------------------------------------------------------------------------------------------


def test_embodied_share_follows_sci() -> None:
    """A 1,000 kg server over 4 years, reserved for one hour: about 28.5 g."""
    assert embodied_share_kg(1000.0, 3600.0, 4.0) == pytest.approx(1000 * 3600 / (4 * SECONDS_PER_YEAR))
    assert embodied_share_kg(1000.0, 3600.0, 4.0) == pytest.approx(0.0285, abs=5e-5)
    assert embodied_share_kg(1000.0, 3600.0, 4.0, share=0.25) == pytest.approx(0.0285 / 4, abs=2e-5)
    assert embodied_share_kg(0.0, 3600.0, 4.0) == 0.0


@pytest.mark.parametrize(
    ("key", "value"),
    [("embodied_kg", -1), ("embodied_lifetime_years", 0), ("embodied_share", 1.5), ("embodied_share", 0)],
)
def test_embodied_settings_are_validated(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({key: value})
    assert info.value.key == key


# -- through the public API ----------------------------------------------------------------------------------------


def test_worked_example_through_tracker_estimate() -> None:
    import tracker

    day = datetime(2026, 3, 14, tzinfo=timezone.utc)
    result = tracker.estimate(
        1000.0,
        start=day,
        end=day + timedelta(days=1),
        pue=1.3,
        suppliers=[("supplier A", 80, 0.008), ("supplier B", 20, 0.01)],
        country="FR",
    )
    assert result.facility_energy_kwh == pytest.approx(1300.0)
    assert result.emissions_market_kg == pytest.approx(10.92, abs=1e-9)
    assert len(result.carbon.hours) == 24
    assert result.location_source == "config" and result.country == "FR"
    assert result.emissions_kg == pytest.approx(1300.0 * result.intensity_g_per_kwh / 1000)
    assert callable(tracker.estimate)  # the function, not shadowed by its module


def test_worked_example_through_a_tracked_run(store_path: str) -> None:
    """The same factors on a real run: market-based = facility energy x 0.0084 kg/kWh, i.e. 10.92 kg per 1,000 kWh."""
    import tracker

    mix = [("supplier A", 80, 0.008), ("supplier B", 20, 0.01)]
    with tracker.track(pue=1.3, suppliers=mix, cpu_watts=5e5, gpu_watts=0, ram_watts=0, store=store_path) as run:
        pass
    assert run.facility_energy_kwh == pytest.approx(run.energy_kwh * 1.3)
    assert run.emissions_market_kg / run.energy_kwh * 1000 == pytest.approx(10.92, rel=1e-9)
    assert run.market_source.startswith("supplier mix: supplier A 80 %")
    stored = tracker.load_runs(store_path).iloc[0]
    assert stored["emissions_market_kg"] == pytest.approx(run.emissions_market_kg)
    assert stored["market_source"] == run.market_source


def test_run_record_carries_location_and_embodied(store_path: str) -> None:
    import tracker

    with tracker.track(zone="NL", embodied_kg=1000, embodied_lifetime_years=4, save=False) as run:
        pass
    assert (run.zone, run.country, run.location_source) == ("NL", "NL", "config")
    assert run.intensity_factor_type == "lifecycle"
    assert run.embodied_kg == pytest.approx(1000 * run.duration_s / (4 * SECONDS_PER_YEAR))
    assert run.emissions_market_kg == run.emissions_kg
    assert "no supplier mix" in run.market_source


def test_estimate_with_hourly_figures_and_a_schedule(tmp_path: Path) -> None:
    import tracker

    path = write_schedule(tmp_path, "date,pue\n2026-03-14,1.2\n")
    before = datetime(2026, 3, 14, 23, tzinfo=timezone.utc)
    result = tracker.estimate(hourly=[(before, 10.0), (before + timedelta(hours=1), 10.0)], pue=path, country="DE")
    assert result.facility_energy_kwh == pytest.approx(10 * 1.2 + 10 * 1.0)
    assert any("has no value for 2026-03-15" in note for note in result.notes)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"energy_kwh": -1.0}, "energy_kwh"),
        ({"energy_kwh": 1.0, "start": datetime(2026, 1, 2, tzinfo=timezone.utc),
          "end": datetime(2026, 1, 1, tzinfo=timezone.utc)}, "start"),
        ({"energy_kwh": 1.0, "start": datetime(2026, 1, 1)}, "start"),
        ({"energy_kwh": 1.0, "country": "Atlantis"}, "country"),
    ],
)  # fmt: skip
def test_estimate_rejects_bad_input(kwargs: dict[str, object], key: str) -> None:
    import tracker

    with pytest.raises(ConfigError) as info:
        tracker.estimate(**kwargs)  # type: ignore[arg-type]
    assert info.value.key == key


def test_datacentre_day_example_prints_the_worked_example() -> None:
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[1] / "examples" / "datacentre_day.py"
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=60, check=True)
    assert "market-based     10.92 kg CO2e" in done.stdout
    assert "facility energy  1,300.0 kWh" in done.stdout
    assert "from minute power: 1,000.0 kWh, market-based 10.92 kg CO2e" in done.stdout  # tracker datacentre path


def test_relative_schedule_in_pyproject_is_read_next_to_it(isolated: Path) -> None:
    (isolated / "site").mkdir()
    (isolated / "site" / "pue.csv").write_text("date,pue\n2026-03,1.4\n", encoding="utf-8")
    (isolated / "pyproject.toml").write_text('[tool.tracker]\npue = "site/pue.csv"\n', encoding="utf-8")
    sub = isolated / "src" / "deep"
    sub.mkdir(parents=True)
    config = resolve(cwd=sub)  # started from a sub-folder: the path is still the pyproject's
    assert config.pue_schedule == str(isolated / "site" / "pue.csv")
    assert RunContext(config).pue_model().at(DAY) == (1.4, True)
