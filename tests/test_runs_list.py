"""``tracker runs``: a team column, --team and --organisation filters, and the right words when nothing is listed."""

from __future__ import annotations

import json

import pytest
from runs_factory import make_record

from tracker.cli import main
from tracker.stores.sqlite import SqliteStore


@pytest.fixture
def store_file(tmp_path) -> str:
    path = str(tmp_path / "runs.db")
    store = SqliteStore(path)
    store.write(make_record(1, project="vision", team="ml", organisation="acme", emissions_kg=2.83e-5))
    store.write(make_record(2, project="etl", team="data", organisation="acme"))
    store.write(make_record(3, project="llm", team="research", organisation="globex", duration_s=0.000842 * 3600))
    store.close()
    return path


def _runs(capsys, *args: str) -> str:
    assert main(["runs", *args]) == 0
    return capsys.readouterr().out


def test_table_has_a_team_column_and_readable_numbers(store_file, capsys):
    lines = _runs(capsys, "--store", store_file).splitlines()
    header = lines[0].split()
    assert header[header.index("project") + 1] == "team"
    by_project = {line.split()[2]: line.split() for line in lines[1:]}
    assert set(by_project) == {"vision", "etl", "llm"}
    assert by_project["vision"][3] == "ml" and by_project["etl"][3] == "data" and by_project["llm"][3] == "research"
    assert "3.03 s" in next(line for line in lines if " llm " in line)
    assert "0.0283" in next(line for line in lines if " vision " in line)  # 2.83e-05 kg in g, not 0.0000
    assert "e-0" not in "\n".join(lines)


def test_team_and_organisation_filters(store_file, capsys):
    def projects(*args: str) -> list[str]:
        rows = json.loads(_runs(capsys, "--store", store_file, "--format", "json", *args))
        return sorted(r["project"] for r in rows)

    assert projects("--team", "ml") == ["vision"]
    assert projects("--organisation", "acme") == ["etl", "vision"]
    assert projects("--organisation", "acme", "--team", "data") == ["etl"]
    assert projects("--organisation", "globex", "--team", "ml") == []
    table = _runs(capsys, "--store", store_file, "--organisation", "acme")
    assert " etl " in table and " vision " in table and " llm " not in table


def test_filters_that_match_nothing_say_so_and_an_empty_store_says_no_runs_yet(store_file, tmp_path, capsys):
    assert _runs(capsys, "--store", store_file, "--project", "nope") == "no run matches project = nope\n"
    text = _runs(capsys, "--store", store_file, "--team", "ml", "--organisation", "globex")
    assert text == "no run matches organisation = globex, team = ml\n"
    assert _runs(capsys, "--store", str(tmp_path / "empty.db")) == "no runs yet\n"
