"""The annual statement's energy split by source (ESRS E1-5): energy-weighted when every zone's mix is known,
"not known" otherwise, in every format."""

from __future__ import annotations

import json

import pytest

from tests.runs_factory import make_record
from tracker.grid.mix import Mix
from tracker.reports.annual import annual_statement
from tracker.reports.render import render
from tracker.stores.sqlite import SqliteStore

MIXES = {
    "FR": Mix("FR", "2026", fossil_pct=10.0, nuclear_pct=65.0, renewable_pct=25.0, source="test FR"),
    "DE": Mix("DE", "2026", fossil_pct=40.0, nuclear_pct=0.0, renewable_pct=60.0, source="test DE"),
}


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    s = SqliteStore(str(tmp_path / "a.db"))
    s.write(make_record(1, organisation="acme", zone="FR", country="FR", cpu_energy_kwh=3.0, ram_energy_kwh=0.0))
    s.write(make_record(2, organisation="acme", zone=None, country="DE", cpu_energy_kwh=1.0, ram_energy_kwh=0.0))
    return s


def test_split_is_energy_weighted_over_zones(store: SqliteStore) -> None:
    (acme,) = annual_statement(store, 2026, mix=MIXES).organisations
    assert acme.fossil_share == pytest.approx((3 * 0.10 + 1 * 0.40) / 4)
    assert acme.nuclear_share == pytest.approx(3 * 0.65 / 4)
    assert acme.renewable_share == pytest.approx((3 * 0.25 + 1 * 0.60) / 4)
    assert "test DE" in acme.mix_note and "test FR" in acme.mix_note
    text = render(annual_statement(store, 2026, mix=MIXES), "markdown")
    assert "- energy mix (E1-5): fossil 17.5%, nuclear 48.8%, renewable 33.8%" in text


def test_not_known_without_a_mix_for_every_zone(store: SqliteStore) -> None:
    (partial,) = annual_statement(store, 2026, mix={"FR": MIXES["FR"]}).organisations
    assert partial.fossil_share is None and partial.mix_note == "not known: no mix for DE"
    statement = annual_statement(store, 2026)
    assert statement.organisations[0].mix_note.startswith("not known")
    assert "energy mix (E1-5): not known" in render(statement, "markdown")
    assert "Energy mix (E1-5): not known" in render(statement, "html")
    assert json.loads(render(statement, "json"))["organisations"][0]["renewable_share"] is None
