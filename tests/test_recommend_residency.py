"""Recommendations keep data under the same law by default, and include runs configured by country."""

from __future__ import annotations

import pytest

from tests.runs_factory import make_record
from tracker.grid.intensity import EmbeddedIntensity
from tracker.grid.jurisdictions import EEA, EU, jurisdiction, same_jurisdiction
from tracker.grid.zones import zone_table
from tracker.reports.recommend import recommend
from tracker.stores.sqlite import SqliteStore


def _items(tmp_path, *records) -> dict:
    store = SqliteStore(str(tmp_path / "r.db"))
    for record in records:
        store.write(record)
    return {r.place: r for r in recommend(store, provider=EmbeddedIntensity())}


def test_eu_and_eea_membership() -> None:
    assert len(EU) == 27 and {"IS", "LI", "NO"} == EEA - EU
    assert jurisdiction("pl") == "EU/EEA" and jurisdiction("BY") == "BY" and jurisdiction("CH") == "CH"
    assert same_jurisdiction("PL", "LT") and same_jurisdiction("DE", "NO")
    assert not same_jurisdiction("PL", "BY") and not same_jurisdiction("DE", "CH") and not same_jurisdiction("US", "CA")


def test_poland_is_not_sent_to_belarus_or_russia(tmp_path) -> None:
    assert "BY" in {z.zone for z in zone_table().neighbours("PL")}  # the neighbour a default used to offer
    item = _items(tmp_path, make_record(1, zone="PL", country="PL"))["PL"]
    suggested = {a.zone for a in item.alternatives}
    assert suggested and not suggested & {"BY", "RU-1", "RU-2", "RU-AS", "UA"}
    assert all(zone_table().get(z).country in EEA for z in suggested)
    assert item.constraint == "within the EU/EEA (data residency)"


def test_frankfurt_is_not_sent_to_canada(tmp_path) -> None:
    item = _items(tmp_path, make_record(1, zone="DE", cloud_provider="aws", cloud_region="eu-central-1"))[
        "aws eu-central-1"
    ]
    regions = {a.place for a in item.alternatives}
    assert regions and "aws ca-central-1" not in regions
    table = zone_table()
    assert all(table.cloud("aws", p.split()[1]).country in EEA for p in regions)
    assert "aws eu-north-1" in regions  # Stockholm: cleaner and inside the EEA


def test_runs_configured_by_country_are_included(tmp_path) -> None:
    items = _items(tmp_path, make_record(1, zone=None, country="DE", cpu_energy_kwh=2.0, ram_energy_kwh=0.0))
    item = items["DE"]
    assert item.energy_kwh == pytest.approx(2.0) and item.alternatives
    assert item.alternatives[0].g_per_kwh < item.g_per_kwh


def test_govcloud_and_china_regions_are_other_clouds(tmp_path) -> None:
    """us-gov-west-1 is as clean as us-west-2 but another partition (its own accounts, eligibility rules)."""
    from tracker.grid.partitions import partition, same_partition

    items = _items(
        tmp_path,
        make_record(1, zone="US-MIDA-PJM", cloud_provider="aws", cloud_region="us-east-2"),
        make_record(2, zone="US-MIDA-PJM", cloud_provider="aws", cloud_region="us-gov-east-1"),
    )
    public = {a.place for a in items["aws us-east-2"].alternatives}
    assert "aws us-west-2" in public and not any("us-gov" in p for p in public)
    assert {a.place for a in items["aws us-gov-east-1"].alternatives} == {"aws us-gov-west-1"}
    assert partition("aws", "cn-north-1") == "aws-cn" and partition("aws", "eu-west-1") == "aws"
    assert not same_partition("azure", "usgovvirginia", "eastus") and same_partition("gcp", "us-east1", "us-west1")


def test_a_zone_and_its_country_are_one_place(tmp_path) -> None:
    """Runs configured with zone="DE" and runs with only country="DE" draw from the same grid: one entry."""
    store = SqliteStore(str(tmp_path / "r.db"))
    store.write(make_record(1, zone="DE", country="DE", cpu_energy_kwh=1.0, ram_energy_kwh=0.0))
    store.write(make_record(2, zone=None, country="DE", cpu_energy_kwh=2.0, ram_energy_kwh=0.0))
    store.write(make_record(3, zone="DE", country=None, cpu_energy_kwh=4.0, ram_energy_kwh=0.0))
    found = recommend(store, provider=EmbeddedIntensity())
    assert [r.place for r in found] == ["DE"]
    assert found.items[0].energy_kwh == pytest.approx(7.0)
    assert found.items[0].emissions_kg == pytest.approx(sum(r.emissions_kg for r in store.records()))
