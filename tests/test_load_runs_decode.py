"""``tracker.load_runs(decode=True)``: tags, notes and spans as Python objects, in stored order, from SQLite, CSV
and PostgreSQL alike; the default keeps the stored JSON text."""

from __future__ import annotations

import json

import pytest
from pg_support import pg_database  # noqa: F401 - the pg_url fixture
from runs_factory import make_record

import tracker
from tracker.records.frames import decode
from tracker.records.schema import SpanStat
from tracker.stores import open_store

SPANS = [SpanStat("load", 1, 2.0, energy_kwh=0.5), SpanStat("train", 3, 1.0, energy_kwh=0.75), SpanStat("eval", 2)]


def _records() -> list:
    full = make_record(1, project="full")
    full.tags = {"owner": "ana", "batch": "32"}
    full.notes = ["first: a fallback", 'second, with "quotes" and ünïcode', "third\nline"]
    full.spans = list(SPANS)  # deliberately not sorted by energy nor by name: the stored order must come back
    bare = make_record(2, project="bare")
    return [full, bare]


def _check(location: str) -> None:
    store = open_store(location)
    store.write_many(_records())
    raw = tracker.load_runs(location).set_index("project")
    assert isinstance(raw.loc["full", "tags"], str)  # the default: as stored
    assert json.loads(raw.loc["full", "tags"]) == {"owner": "ana", "batch": "32"}
    frame = tracker.load_runs(location, decode=True).set_index("project")
    full, bare = frame.loc["full"], frame.loc["bare"]
    assert full["tags"] == {"owner": "ana", "batch": "32"}
    assert full["notes"] == ["first: a fallback", 'second, with "quotes" and ünïcode', "third\nline"]
    assert [s["name"] for s in full["spans"]] == ["load", "train", "eval"]
    assert full["spans"][1] == {
        "name": "train",
        "calls": 3,
        "duration_s": 1.0,
        "cpu_energy_kwh": 0.0,
        "gpu_energy_kwh": 0.0,
        "ram_energy_kwh": 0.0,
        "energy_kwh": 0.75,
        "emissions_kg": 0.0,
    }
    assert (bare["tags"], bare["notes"], bare["spans"]) == ({}, [], [])
    filtered = tracker.load_runs(location, decode=True, project="full", limit=1)
    assert len(filtered) == 1 and filtered["tags"].iloc[0]["owner"] == "ana"


def test_sqlite(tmp_path):
    _check(str(tmp_path / "runs.db"))


def test_csv(tmp_path):
    _check(str(tmp_path / "runs.csv"))


def test_postgres(pg_url):
    _check(pg_url)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("tags", None, {}),
        ("tags", "", {}),
        ("notes", "[]", []),
        ("spans", '[{"name": "b"}, {"name": "a"}]', [{"name": "b"}, {"name": "a"}]),
        ("tags", {"already": "decoded"}, {"already": "decoded"}),
        ("notes", "not json", "not json"),  # a damaged row stays text rather than stopping the load
    ],
)
def test_decode_edge_cases(column, value, expected):
    assert decode(column, value) == expected
