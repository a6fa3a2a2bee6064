"""``tracker import codecarbon``: both CSV versions (written through CodeCarbon's own EmissionsData and
FileOutput code path, see tests/data/README.md), mapped right, imported twice = stored once."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import tracker
from tracker.cli import main
from tracker.importers.codecarbon import ImportFormatError, import_codecarbon, read_codecarbon_csv
from tracker.stores.csv import CsvStore
from tracker.stores.sqlite import SqliteStore

DATA = Path(__file__).parent / "data"
V2, V3 = DATA / "codecarbon_v2.csv", DATA / "codecarbon_v3.csv"


def _lines(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_fixture_headers_are_codecarbons():
    v2 = next(csv.reader(V2.open()))
    v3 = next(csv.reader(V3.open()))
    assert len(v2) == 32 and v2[0] == "timestamp" and v2[-1] == "pue"
    assert len(v3) == 38 and "water_consumed" in v3 and v3[-1] == "wue"


@pytest.mark.parametrize("path", [V2, V3])
def test_values_map_into_records(path):
    records = {r.tags["codecarbon_run_id"]: r for r in read_codecarbon_csv(path)}
    lines = _lines(path)
    last = {}
    for line in lines:  # the last line of a run_id is the run (cumulative flushes before it)
        last[line["run_id"]] = line
    assert set(records) == set(last)
    for run_id, line in last.items():
        r = records[run_id]
        pue = float(line["pue"])
        assert r.project == line["project_name"]
        assert r.duration_s == float(line["duration"])
        assert r.emissions_kg == float(line["emissions"])
        assert r.facility_energy_kwh == float(line["energy_consumed"])
        assert r.energy_kwh == pytest.approx(float(line["energy_consumed"]) / pue)
        assert r.cpu_energy_kwh == pytest.approx(float(line["cpu_energy"]) / pue)
        assert r.gpu_energy_kwh == pytest.approx(float(line["gpu_energy"]) / pue)
        assert (r.ended_at - r.started_at).total_seconds() == pytest.approx(r.duration_s)
        assert r.ended_at.isoformat().startswith(line["timestamp"])
        assert r.cpu_method == r.gpu_method == r.ram_method == "codecarbon-import"
        assert any("CodeCarbon" in n for n in r.notes)
        assert len(r.country or "") == 2  # alpha-3 in the file, alpha-2 in the record
        assert r.tags["codecarbon_codecarbon_version"] == line["codecarbon_version"]


def test_flushed_run_keeps_its_last_line():
    records = read_codecarbon_csv(V3)
    assert len(records) == 2 and len(_lines(V3)) == 3
    flushed = next(r for r in records if r.tags["codecarbon_run_id"].startswith("a3f1c2d4"))
    assert flushed.duration_s == 1800.0


@pytest.mark.parametrize("kind", ["sqlite", "csv"])
def test_importing_twice_adds_nothing(tmp_path, kind):
    store = SqliteStore(str(tmp_path / "s.db")) if kind == "sqlite" else CsvStore(str(tmp_path / "s.csv"))
    first = [import_codecarbon(p, store) for p in (V2, V3)]
    assert [r.added for r in first] == [3, 2]
    before = store.rows()
    size = Path(store.path).stat().st_size
    again = [import_codecarbon(p, store) for p in (V2, V3)]
    assert [r.added for r in again] == [0, 0] and [r.unchanged for r in again] == [3, 2]
    assert store.rows() == before
    if kind == "csv":
        assert Path(store.path).stat().st_size == size  # not even a duplicate line


def test_cli_import_then_report(tmp_path, capsys):
    db = str(tmp_path / "cc.db")
    for _ in range(2):
        assert main(["import", "codecarbon", str(V2), "--store", db]) == 0
        assert main(["import", "codecarbon", str(V3), "--store", db, "--project", "imported"]) == 0
    err = capsys.readouterr().err
    assert "0 added" in err
    frame = tracker.summarize(store=db, by=("project",))
    assert dict(zip(frame["project"], frame["runs"], strict=True)) == {
        "imported": 2,
        "vision": 2,
        'nlp "quoted", with comma': 1,
    }
    expected = sum(float(line["emissions"]) for line in _lines(V2)) + 0.0306 + 0.0315
    assert frame["emissions_kg"].sum() == pytest.approx(expected)


def test_a_file_without_run_ids_gets_stable_ids(tmp_path):
    path = tmp_path / "old.csv"
    lines = _lines(V2)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[k for k in lines[0] if k != "run_id"])
        writer.writeheader()
        for line in lines:
            writer.writerow({k: v for k, v in line.items() if k != "run_id"})
    ids = [r.run_id for r in read_codecarbon_csv(path)]
    assert len(set(ids)) == 3 and ids == [r.run_id for r in read_codecarbon_csv(path)]


def test_not_a_codecarbon_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ImportFormatError, match="missing columns"):
        read_codecarbon_csv(path)
    assert main(["import", "codecarbon", str(path), "--store", str(tmp_path / "x.db")]) == 1
