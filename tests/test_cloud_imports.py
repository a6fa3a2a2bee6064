"""Cloud providers' footprint exports (issue 17): AWS CCFT data export, Google Cloud Carbon Footprint export, Azure
Emissions Impact Dashboard data and Cloud Carbon Footprint estimates, from fixtures with each vendor's documented
columns (tests/data/cloud/README.md); labelled by a mapping file; importing twice adds nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import tracker
from tracker.cli import main
from tracker.footprint.cloud.common import CloudFormatError
from tracker.reports.annual import annual_statement
from tracker.stores import open_store

DATA = Path(__file__).parent / "data" / "cloud"
FILES = {
    "aws-ccft": DATA / "aws_ccft.csv",
    "gcp-carbon": DATA / "gcp_carbon_footprint.csv",
    "azure-emissions": DATA / "azure_emissions.csv",
    "ccf": DATA / "ccf_estimates.json",
}


def _mapping(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text(
        "match,project,team,organisation\n"
        "222222222222,shop,web,acme\n"
        "ml-training,,research,acme\n"
        "prod-web,web-app,web,acme\n",
        encoding="utf-8",
    )
    return path


def _import(source: str, store: str, tmp_path: Path, *extra: str) -> int:
    return main(["import", source, str(FILES[source]), "--store", store, "--mapping", str(_mapping(tmp_path)), *extra])


@pytest.mark.parametrize(
    ("source", "records", "location_kg", "market_kg", "embodied_kg", "energy_kwh"),
    [
        ("aws-ccft", 3, 125 + 62.5 + 1, 31.25 + 15.625 + 0.5, 0.0, 0.0),
        ("gcp-carbon", 3, 410.25 + 5.5 + 1, 115.75 + 2.5 + 0, 1177 + 20 + 2, 0.0),
        ("azure-emissions", 2, 2 + 12.5 + 1, 2 + 12.5 + 1, 500.0, 0.0),
        ("ccf", 3, 4.375 + 10 + 3.5, 4.375 + 10 + 3.5, 0.0, 62.5),
    ],
)
def test_each_export_imports_its_figures_once(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    records: int,
    location_kg: float,
    market_kg: float,
    embodied_kg: float,
    energy_kwh: float,
) -> None:
    store = str(tmp_path / "cloud.db")
    for _ in range(2):
        assert _import(source, store, tmp_path, "--organisation", "other") == 0
    err = capsys.readouterr().err
    assert f"{records} records: {records} added" in err and f"{records} records: 0 added, {records} already" in err
    frame = tracker.summarize(by=("kind",), store=store)
    assert frame["kind"].tolist() == ["cloud"] and frame["runs"].tolist() == [records]
    assert frame["emissions_kg"].iloc[0] == pytest.approx(location_kg, rel=1e-12)
    assert frame["emissions_market_kg"].iloc[0] == pytest.approx(market_kg, rel=1e-12)
    assert frame["embodied_kg"].iloc[0] == pytest.approx(embodied_kg, rel=1e-12)
    assert frame["energy_kwh"].iloc[0] == pytest.approx(energy_kwh, rel=1e-12)


def test_gcp_total_is_scope_1_2_3(tmp_path: Path) -> None:
    """Google's own totals (location- and market-based) are the record's operational figure plus its embodied."""
    store = str(tmp_path / "g.db")
    assert _import("gcp-carbon", store, tmp_path) == 0
    rows = {(r.site, r.category): r for r in open_store(store).records()}
    with FILES["gcp-carbon"].open(encoding="utf-8") as handle:
        for line in csv.DictReader(handle):
            record = rows[
                (line["project.id"] or f"billing account {line['billing_account_id']}", line["service.description"])
            ]
            total = record.emissions_kg + record.embodied_kg
            assert total == pytest.approx(float(line["carbon_footprint_total_kgCO2e.location_based"]))
            total = record.emissions_market_kg + record.embodied_kg
            assert total == pytest.approx(float(line["carbon_footprint_total_kgCO2e.market_based"]))
    engine = rows[("ml-training", "Compute Engine")]
    assert engine.cloud_provider == "gcp" and engine.cloud_region == "europe-west4"
    assert engine.started_at.isoformat() == "2026-03-01T00:00:00+00:00"
    assert engine.ended_at.isoformat() == "2026-04-01T00:00:00+00:00"
    assert "billing account 007GD7-15C0E6-BDE6B3" in {r.site for r in rows.values()}  # no project: the account


def test_the_mapping_labels_accounts_and_the_defaults_fill_in(tmp_path: Path) -> None:
    store = str(tmp_path / "m.db")
    seen = set()
    for source in FILES:  # CCF's estimates of the same accounts and months go to a store of their own
        target = str(tmp_path / "ccf.db") if source == "ccf" else store
        assert _import(source, target, tmp_path, "--organisation", "unmapped-org") == 0
    for target in (store, str(tmp_path / "ccf.db")):
        frame = tracker.summarize(by=("organisation", "team", "project"), store=target)
        seen |= {(r["organisation"], r["team"], r["project"]) for r in frame.to_dict(orient="records")}
    assert ("acme", "web", "shop") in seen  # AWS account 222222222222 (and CCF's estimate for it)
    assert ("acme", "research", "ml-training") in seen  # GCP project ml-training: no project in the mapping
    assert ("acme", "web", "web-app") in seen  # Azure subscription matched by its name
    assert ("unmapped-org", None, "333333333333") in seen  # not mapped: the defaults


def test_azure_scopes_of_one_service_are_one_record(tmp_path: Path) -> None:
    store = str(tmp_path / "a.db")
    assert _import("azure-emissions", store, tmp_path) == 0
    web = next(r for r in open_store(store).records() if r.project == "web-app")
    assert web.emissions_kg == pytest.approx(14.5) and web.embodied_kg == pytest.approx(500)
    assert web.category == "App Service / Azure Compute" and web.cloud_region == "West Europe"


def test_a_file_of_another_export_is_refused(tmp_path: Path) -> None:
    from tracker.footprint.cloud import import_cloud
    from tracker.importers.labels import LabelMap

    with pytest.raises(CloudFormatError, match="missing columns"):
        import_cloud("aws-ccft", FILES["gcp-carbon"], open_store(str(tmp_path / "x.db")), LabelMap())
    bad = tmp_path / "bad.csv"
    bad.write_text(FILES["aws-ccft"].read_text().replace("MTCO2e,0.125", "kgCO2e,0.125"), encoding="utf-8")
    with pytest.raises(CloudFormatError, match="line 2"):
        import_cloud("aws-ccft", bad, open_store(str(tmp_path / "x.db")), LabelMap())
    assert main(["import", "aws-ccft", str(bad), "--store", str(tmp_path / "x.db")]) == 1


def test_annual_statement_with_cloud_imports(tmp_path: Path) -> None:
    store = str(tmp_path / "y.db")
    for source in ("aws-ccft", "gcp-carbon"):
        assert _import(source, store, tmp_path, "--organisation", "acme") == 0
    (org,) = annual_statement(open_store(store), 2026).organisations
    (cloud,) = org.by_source
    assert cloud.kind == "cloud" and cloud.records == 6
    assert org.location_based_t == pytest.approx((188.5 + 416.75) / 1000)
    assert org.embodied_t == pytest.approx(1199 / 1000)


def test_the_same_account_month_from_two_tools_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 10: AWS CCFT's and Cloud Carbon Footprint's figures for the same account and month were both stored
    and added up; the second tool's import is now refused naming the account and month (either order)."""
    for first, second in (("aws-ccft", "ccf"), ("ccf", "aws-ccft")):
        store = str(tmp_path / f"{first}.db")
        assert _import(first, store, tmp_path) == 0
        before = len(open_store(store).rows())
        assert _import(second, store, tmp_path) == 2
        err = capsys.readouterr().err
        assert "aws account 222222222222 2026-03" in err and "already imported from another tool" in err
        assert len(open_store(store).rows()) == before  # nothing of the second import stored
        assert _import(first, store, tmp_path) == 0  # the same tool again: replaced, not refused
    assert _import("gcp-carbon", str(tmp_path / "aws-ccft.db"), tmp_path) == 0  # another cloud: no clash


def test_tag_rows_of_the_mapping_match(tmp_path: Path) -> None:
    """Finding 10: a mapping row ``key=value`` never matched (labels_for_tags was never called)."""
    from datetime import datetime, timezone

    from tracker.footprint.cloud.common import CloudLine, record_of
    from tracker.importers.labels import load_label_map

    mapping = tmp_path / "map.csv"
    mapping.write_text("match,project,team,organisation\nlocation=EU (Frankfurt),eu-shop,web,acme\n", encoding="utf-8")
    labels = load_label_map(mapping)
    store = str(tmp_path / "t.db")
    assert main(["import", "aws-ccft", str(FILES["aws-ccft"]), "--store", store, "--mapping", str(mapping)]) == 0
    tagged = {(r.project, r.team) for r in open_store(store).records() if r.tags.get("location") == "EU (Frankfurt)"}
    assert tagged == {("eu-shop", "web")}
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    line = CloudLine("gcp", "p1", "Compute", None, start, start, 1.0, 1.0, tags={"env": "prod"})
    assert record_of(line, labels).project == "p1"  # another tag: no match, the account
    line.tags["location"] = "EU (Frankfurt)"
    assert record_of(line, labels).team == "web"


@pytest.mark.parametrize(("group", "end"), [("quarter", "2026-07-01"), ("year", "2027-04-01"), ("month", "2026-05-01")])
def test_ccf_quarter_and_year_periods(tmp_path: Path, group: str, end: str) -> None:
    """Finding 10: CCF groupBy quarter/year got a one-day period."""
    import json

    from tracker.footprint.cloud.ccf import read_ccf

    path = tmp_path / "ccf.json"
    item = {"cloudProvider": "AWS", "accountId": "1", "serviceName": "EC2", "kilowattHours": 1, "co2e": 0.001}
    path.write_text(
        json.dumps([{"timestamp": "2026-04-01T00:00:00.000Z", "groupBy": group, "serviceEstimates": [item]}])
    )
    ((line,), _) = read_ccf(path)
    assert line.end.date().isoformat() == end
    path.write_text(json.dumps([{"timestamp": "2026-04-01", "groupBy": "fortnight", "serviceEstimates": [item]}]))
    with pytest.raises(CloudFormatError, match="groupBy='fortnight'"):
        read_ccf(path)
