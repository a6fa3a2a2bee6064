"""The embedded zone, country and cloud-region tables: invariants, lookups and their errors."""

from __future__ import annotations

import csv

import pytest

from tracker import data
from tracker.errors import ConfigError
from tracker.grid.zones import zone_family, zone_table

# The two Ember rows older than 2022, documented in docs/methodology.md and tracker/data/PROVENANCE.md.
DOCUMENTED_OLD_COUNTRIES = {"CF", "EH"}


def _csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(data.read_text(name).splitlines()))


def test_at_least_200_countries_from_2022_or_later_and_only_documented_exceptions() -> None:
    countries = zone_table().rows("country")
    recent = [r for r in countries if r.kind == "country" and r.year >= 2022]
    old = {r.zone for r in countries if r.kind == "country" and r.year < 2022}
    assert len(recent) >= 200
    assert old == DOCUMENTED_OLD_COUNTRIES
    methodology = (data._HERE.parents[1] / "docs" / "methodology.md").read_text(encoding="utf-8")
    assert all(code in methodology for code in DOCUMENTED_OLD_COUNTRIES)


def test_every_row_has_value_year_source_and_factor_type() -> None:
    for row in zone_table().rows():
        assert row.g_per_kwh >= 0, row
        assert 2009 <= row.year <= 2026, row
        assert row.source.strip(), row
        assert row.factor_type in ("lifecycle", "direct"), row


def test_egrid_states_are_direct_and_everything_else_lifecycle() -> None:
    rows = zone_table().rows()
    states = [r for r in rows if r.kind == "us-state"]
    assert len(states) == 51  # 50 states + DC
    assert {r.factor_type for r in states} == {"direct"}
    assert all(r.zone.startswith("US-STATE-") and "eGRID" in r.source for r in states)
    assert {r.factor_type for r in rows if r.kind != "us-state"} == {"lifecycle"}


def test_egrid_value_is_the_source_converted_from_lb_per_mwh() -> None:
    # California in eGRID2023 STC2ERTA (CodeCarbon 3.3.2 usa_emissions.json): 394.769 lb/MWh; 1 lb = 453.592 g.
    row = zone_table().get("US-STATE-CA")
    assert row.g_per_kwh == pytest.approx(394.769 * 0.453592, abs=0.005)
    assert row.year == 2023


def test_electricity_maps_zones_include_sub_national_keys() -> None:
    zones = {r.zone for r in zone_table().rows("zone")}
    assert {"US-CAL-CISO", "DK-DK1", "SE-SE1", "NL", "AU-NSW", "JP-TK"} <= zones
    assert len(zones) >= 350


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("US-CAL-CISO", "US-CAL-CISO"),
        ("us-cal-ciso", "US-CAL-CISO"),
        (" dk-dk1 ", "DK-DK1"),
        ("NL", "NL"),
        ("nld", "NL"),
        ("FRA", "FR"),
        ("us-state-ca", "US-STATE-CA"),
        ("EH", "EH"),  # only in the Ember country table
        ("world", "WORLD"),
    ],
)
def test_canonical_accepts_zone_keys_country_codes_and_states(text: str, expected: str) -> None:
    assert zone_table().canonical(text) == expected


def test_canonical_rejects_unknown_zone_naming_key_and_value() -> None:
    with pytest.raises(ConfigError) as caught:
        zone_table().canonical("US-NOWHERE", key="default_zone")
    assert caught.value.key == "default_zone"
    assert caught.value.value == "US-NOWHERE"
    assert "tracker zones" in caught.value.reason


def test_zone_row_wins_over_country_row_for_the_same_key() -> None:
    table = zone_table()
    assert table.get("FR").kind == "zone" and "Electricity Maps" in table.get("FR").source
    assert table.country("FR").kind == "country" and "Ember" in table.country("FR").source
    assert table.get("EH").kind == "country"  # no Electricity Maps row: the Ember row


def test_cloud_regions_map_to_existing_zones_and_countries() -> None:
    table = zone_table()
    regions = table.cloud_regions()
    for provider in ("aws", "gcp", "azure"):
        assert len(table.cloud_regions(provider)) >= 25, provider
    for region in regions:
        assert table.has_zone(region.zone), region
        assert table.get(region.zone).country == region.country, region
        assert region.source
    assert all(r.g_per_kwh is not None and r.year == 2024 for r in table.cloud_regions("gcp"))
    assert all(r.g_per_kwh is None for r in regions if r.provider != "gcp")


@pytest.mark.parametrize(
    ("provider", "region", "zone", "country"),
    [
        ("aws", "eu-west-1", "IE", "IE"),
        ("aws", "us-east-1", "US-MIDA-PJM", "US"),
        ("aws", "eu-north-1", "SE-SE3", "SE"),
        ("gcp", "europe-west4", "NL", "NL"),
        ("gcp", "us-central1", "US-MIDW-MISO", "US"),
        ("azure", "westeurope", "NL", "NL"),
        ("azure", "japaneast", "JP-TK", "JP"),
        ("AWS", "EU-WEST-3", "FR", "FR"),
    ],
)
def test_cloud_lookup(provider: str, region: str, zone: str, country: str) -> None:
    found = zone_table().cloud(provider, region)
    assert (found.zone, found.country) == (zone, country)


def test_unknown_cloud_region_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        zone_table().cloud("aws", "mars-north-1")
    assert caught.value.key == "cloud_region" and caught.value.value == "mars-north-1"
    assert "af-south-1" in caught.value.reason and "tracker zones" in caught.value.reason


def test_neighbours_share_family_or_country_and_factor_type() -> None:
    table = zone_table()
    near = table.neighbours("SE-SE3")
    assert {"SE-SE1", "SE-SE2", "SE-SE4", "SE"} <= {r.zone for r in near}
    assert "SE-SE3" not in {r.zone for r in near}
    values = [r.g_per_kwh for r in near]
    assert values == sorted(values)
    us = table.neighbours("US-NW-BPAT")
    assert us and all(r.country == "US" and r.factor_type == "lifecycle" for r in us)
    assert all(r.kind == "us-state" for r in table.neighbours("US-STATE-CA"))


def test_neighbours_are_near_not_the_whole_continent() -> None:
    table = zone_table()
    california = {r.zone for r in table.neighbours("US-CAL-CISO")}
    assert california and all(z.startswith("US-CAL-") for z in california)  # not Alaska, not Carolina
    germany = {r.zone for r in table.neighbours("DE")}
    assert {"FR", "PL", "AT", "NL", "CH", "DK"} <= germany
    assert not any(z.startswith(("US", "JP", "ES")) for z in germany)  # Spain borders France, not Germany
    assert {"FR", "PT"} <= {r.zone for r in table.neighbours("ES")}
    assert table.neighbours("MT") == [] and table.neighbours("IS") == []  # islands, no family


def test_borders_are_symmetric() -> None:
    from tracker.grid.zones import _border_map, borders

    assert borders("FR") == ("AD", "BE", "CH", "DE", "ES", "GB", "IT", "LU", "MC")
    assert borders(None) == () and borders("IS") == ()
    for country, near in _border_map().items():
        assert all(country in borders(other) for other in near), country


def test_zone_family() -> None:
    assert zone_family("US-NW-BPAT") == "US-NW"
    assert zone_family("DK-DK1") == "DK"
    assert zone_family("NL") == "NL"
    assert zone_family("US-STATE-WA") == "US-STATE"


def test_csv_headers_are_what_the_loader_reads() -> None:
    assert list(_csv("zones.csv")[0]) == [
        "zone",
        "kind",
        "name",
        "country",
        "g_per_kwh",
        "year",
        "source",
        "factor_type",
    ]
    assert list(_csv("cloud_regions.csv")[0]) == [
        "provider",
        "region",
        "location",
        "country",
        "zone",
        "g_per_kwh",
        "year",
        "source",
    ]
