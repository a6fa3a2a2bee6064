"""The annual statement's energy split by source (ESRS E1-5): energy-weighted when every zone's mix is known
(given, or the embedded yearly generation mix of the zone's country), "not known" otherwise, in every format."""

from __future__ import annotations

import csv
import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runs_factory import make_record
from tracker.cli import main
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
    (partial,) = annual_statement(store, 2026, mix={"FR": MIXES["FR"]}, embedded_mix=False).organisations
    assert partial.fossil_share is None and partial.mix_note == "not known: no mix for DE"
    statement = annual_statement(store, 2026, embedded_mix=False)
    assert statement.organisations[0].mix_note.startswith("not known")
    assert "energy mix (E1-5): not known" in render(statement, "markdown")
    assert "Energy mix (E1-5): not known" in render(statement, "html")
    assert json.loads(render(statement, "json"))["organisations"][0]["renewable_share"] is None


REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "tracker" / "data" / "country_mix.csv"


def _table_row(country: str) -> dict[str, str]:
    """The committed table's row, read here with the csv module (not through the loader under test)."""
    with TABLE.open(encoding="utf-8", newline="") as handle:
        (row,) = [r for r in csv.DictReader(handle) if r["country"] == country]
    return row


def _expected(parts: list[tuple[float, dict[str, str]]]) -> tuple[float, float, float]:
    """Energy-weighted shares (fractions) from (kWh, table row) pairs, by hand."""
    total = sum(e for e, _ in parts)
    return tuple(  # type: ignore[return-value]
        sum(e * float(r[column]) for e, r in parts) / total / 100.0
        for column in ("fossil_pct", "nuclear_pct", "renewable_pct")
    )


@pytest.fixture
def two_countries(tmp_path) -> str:
    """3 kWh in zone DE, 1 kWh in the Californian zone US-CAL-CISO (country US through the zone table)."""
    path = str(tmp_path / "two.db")
    s = SqliteStore(path)
    s.write(make_record(1, organisation="acme", zone="DE", country="DE", cpu_energy_kwh=3.0, ram_energy_kwh=0.0))
    s.write(make_record(2, organisation="acme", zone="US-CAL-CISO", country=None, cpu_energy_kwh=1.0,
                        ram_energy_kwh=0.0))
    return path


def test_embedded_generation_mix_by_default(two_countries: str) -> None:
    de, us = _table_row("DE"), _table_row("US")
    fossil, nuclear, renewable = _expected([(3.0, de), (1.0, us)])
    (acme,) = annual_statement(SqliteStore(two_countries), 2026).organisations
    assert acme.fossil_share == pytest.approx(fossil)
    assert acme.nuclear_share == pytest.approx(nuclear)
    assert acme.renewable_share == pytest.approx(renewable)
    assert fossil + nuclear + renewable == pytest.approx(1.0, abs=2e-4)
    assert f"DE {de['year']}" in acme.mix_note and f"US {us['year']}" in acme.mix_note
    assert "Ember / Our World in Data" in acme.mix_note and "generation" in acme.mix_note


def _pct(share: float) -> str:
    from tracker.reports.render import units

    return units.percent(share)


def test_cli_shows_the_embedded_split_in_every_format(two_countries: str, capsys) -> None:
    fossil, nuclear, renewable = _expected([(3.0, _table_row("DE")), (1.0, _table_row("US"))])
    assert main(["report", "--store", two_countries, "--annual", "2026"]) == 0
    text = capsys.readouterr().out
    assert f"energy mix (E1-5): fossil {_pct(fossil)}, nuclear {_pct(nuclear)}, renewable {_pct(renewable)}" in text
    assert main(["report", "--store", two_countries, "--annual", "2026", "--format", "json"]) == 0
    (org,) = json.loads(capsys.readouterr().out)["organisations"]
    assert org["renewable_share"] == pytest.approx(renewable) and "generation" in org["mix_note"]
    assert main(["report", "--store", two_countries, "--annual", "2026", "--format", "csv"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert float(row["fossil_share"]) == pytest.approx(fossil) and "Ember" in row["mix_note"]
    assert main(["report", "--store", two_countries, "--annual", "2026", "--format", "html"]) == 0
    assert f"Energy mix (E1-5): fossil {_pct(fossil)}" in capsys.readouterr().out
    assert main(["report", "--store", two_countries, "--annual", "2026", "--format", "markdown"]) == 0
    assert f"- energy mix (E1-5): fossil {_pct(fossil)}" in capsys.readouterr().out


def test_mix_file_overrides_per_zone(two_countries: str, tmp_path, capsys) -> None:
    given = tmp_path / "mix.csv"
    given.write_text("zone,fossil_pct,nuclear_pct,renewable_pct,source\nDE,20,0,80,our PPA 2026\n", encoding="utf-8")
    us = _table_row("US")
    fossil, nuclear, renewable = _expected(
        [(3.0, {"fossil_pct": "20", "nuclear_pct": "0", "renewable_pct": "80"}), (1.0, us)]
    )
    args = ["report", "--store", two_countries, "--annual", "2026", "--mix", str(given), "--format", "json"]
    assert main(args) == 0
    (org,) = json.loads(capsys.readouterr().out)["organisations"]
    assert org["fossil_share"] == pytest.approx(fossil)
    assert org["nuclear_share"] == pytest.approx(nuclear)
    assert org["renewable_share"] == pytest.approx(renewable)
    assert "our PPA 2026" in org["mix_note"] and f"US {us['year']}" in org["mix_note"]


def test_given_country_mix_covers_its_zones(two_countries: str) -> None:
    """A mix given for a country (US) is used for a zone of it (US-CAL-CISO) before the embedded table."""
    given = {"US": Mix("US", "", fossil_pct=0.0, nuclear_pct=100.0, renewable_pct=0.0, source="all nuclear")}
    (acme,) = annual_statement(SqliteStore(two_countries), 2026, mix=given).organisations
    assert acme.nuclear_share == pytest.approx((3.0 * float(_table_row("DE")["nuclear_pct"]) + 100.0) / 4 / 100)
    assert "all nuclear" in acme.mix_note


def test_bad_mix_file_is_a_config_error_naming_it(two_countries: str, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("zone,fossil_pct,nuclear_pct,renewable_pct,source\nDE,120,0,0,x\n", encoding="utf-8")
    assert main(["report", "--store", two_countries, "--annual", "2026", "--mix", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "bad.csv" in err and "line 2" in err


def test_unknown_zone_and_placeless_records_are_not_known(tmp_path) -> None:
    s = SqliteStore(str(tmp_path / "u.db"))
    s.write(make_record(1, organisation="a", zone="XX-NOWHERE", country=None, cpu_energy_kwh=1.0))
    s.write(make_record(2, organisation="a", zone="FR", country="FR", cpu_energy_kwh=1.0))
    s.write(make_record(3, organisation="b", zone=None, country=None, cpu_energy_kwh=1.0))
    a, b = sorted(annual_statement(s, 2026).organisations, key=lambda o: str(o.organisation))
    assert a.fossil_share is None and a.mix_note == "not known: no mix for XX-NOWHERE"
    assert b.renewable_share is None and b.mix_note == "not known: no mix for world average"


def test_other_kinds_use_their_country(tmp_path) -> None:
    """An equipment record with a country and no zone takes its country's mix; one with neither is not known."""
    s = SqliteStore(str(tmp_path / "k.db"))
    s.write(make_record(1, organisation="a", kind="equipment", zone=None, country="FR", host="rack-1",
                        cpu_energy_kwh=2.0, ram_energy_kwh=0.0))
    s.write(make_record(2, organisation="a", kind="run", zone="SE", country="SE", cpu_energy_kwh=1.0,
                        ram_energy_kwh=0.0))
    (a,) = annual_statement(s, 2026).organisations
    fossil, _, renewable = _expected([(2.0, _table_row("FR")), (1.0, _table_row("SE"))])
    assert a.fossil_share == pytest.approx(fossil) and a.renewable_share == pytest.approx(renewable)
    s.write(make_record(3, organisation="a", kind="estimate", zone=None, country=None, cpu_energy_kwh=1.0))
    (a,) = annual_statement(s, 2026).organisations
    assert a.fossil_share is None and a.mix_note == "not known: no mix for world average"


def test_table_is_read_lazily() -> None:
    code = (
        "import tracker, tracker.grid.mix as m, tracker.reports.annual, tracker.cli; "
        "print(m._embedded.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"


SHARED = REPO.parent / "shared" / "data"


def test_build_script_reproduces_the_committed_table(tmp_path) -> None:
    """The table and its PROVENANCE section are what scripts/build_tables.py makes from the shared inputs."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        build = importlib.import_module("build_tables")
    finally:
        sys.path.remove(str(REPO / "scripts"))
    if not (SHARED / build.CODECARBON_MIX).is_file() or not build.ISO_3166_FILE.is_file():
        pytest.skip("the shared input data or Debian's iso-codes is not on this machine")
    rows, worst = build.build_mix_table(SHARED, build.ISO_3166_FILE)
    out = tmp_path / "country_mix.csv"
    build.write_csv(out, build.MIX_HEADER, build.mix_csv_rows(rows))
    assert out.read_bytes() == TABLE.read_bytes()
    assert worst < build.MIX_SUM_TOLERANCE
    provenance = (REPO / "tracker" / "data" / "PROVENANCE.md").read_text(encoding="utf-8")
    assert build.mix_provenance(SHARED, rows, worst) in provenance
