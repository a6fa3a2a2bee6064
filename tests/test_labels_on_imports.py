"""Labels on imports and estimates (issue 17): CodeCarbon history with a team and an organisation (and a mapping
from its project names), and ``tracker.estimate(..., save=True)`` stored once as a record of kind estimate."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tracker
from tracker.cli import main
from tracker.errors import ConfigError
from tracker.importers.labels import load_label_map
from tracker.reports.annual import annual_statement
from tracker.stores import open_store

DATA = Path(__file__).parent / "data"
V2, V3 = DATA / "codecarbon_v2.csv", DATA / "codecarbon_v3.csv"


def test_codecarbon_import_with_team_and_organisation(tmp_path: Path) -> None:
    db = str(tmp_path / "cc.db")
    assert main(["import", "codecarbon", str(V3), "--store", db, "--team", "ml", "--organisation", "acme"]) == 0
    frame = tracker.summarize(store=db, by=("organisation", "team", "kind"))
    assert frame[["organisation", "team", "kind"]].values.tolist() == [["acme", "ml", "imported"]]


def test_codecarbon_project_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "map.csv"
    mapping.write_text("match,project,team,organisation\nvision,computer-vision,cv,\n", encoding="utf-8")
    db = str(tmp_path / "cc.db")
    for _ in range(2):  # importing twice adds nothing
        args = ["import", "codecarbon", str(V2), "--store", db, "--mapping", str(mapping), "--organisation", "acme"]
        assert main(args) == 0
    frame = tracker.summarize(store=db, by=("project", "team", "organisation"))
    rows = {r["project"]: (r["team"], r["organisation"], r["runs"]) for r in frame.to_dict(orient="records")}
    assert rows["computer-vision"] == ("cv", "acme", 2)  # mapped from CodeCarbon's project "vision"
    assert rows['nlp "quoted", with comma'] == (None, "acme", 1)  # not in the mapping: the default organisation


def test_a_mapping_row_without_match_names_its_line(tmp_path: Path) -> None:
    mapping = tmp_path / "map.csv"
    mapping.write_text("match,team\nx,a\n,b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"map\.csv line 3"):
        load_label_map(mapping)


def test_estimate_saved_once_with_labels(tmp_path: Path) -> None:
    db = str(tmp_path / "est.db")
    day = datetime(2026, 3, 14, tzinfo=timezone.utc)
    options = dict(
        start=day,
        end=day + timedelta(days=1),
        pue=1.3,
        zone="NL",
        store=db,
        project="dc",
        team="ops",
        organisation="acme",
        suppliers=[("wind", 80, 0.008), ("grid", 20, 0.01)],
    )
    first = tracker.estimate(1000, save=True, **options)
    tracker.estimate(1000, save=True, **options)  # the same estimate again: stored once
    tracker.estimate(1000, **options)  # not saved
    (record,) = tracker.load_runs(store=db).to_dict(orient="records")
    assert (record["kind"], record["project"], record["team"], record["organisation"]) == (
        "estimate",
        "dc",
        "ops",
        "acme",
    )
    assert record["emissions_market_kg"] == pytest.approx(10.92) == pytest.approx(first.emissions_market_kg)
    assert record["facility_energy_kwh"] == pytest.approx(1300)
    assert record["started_at"] == day and record["duration_s"] == 86400
    statement = annual_statement(open_store(db), 2026)
    assert [p.kind for p in statement.organisations[0].by_source] == ["estimate"]
