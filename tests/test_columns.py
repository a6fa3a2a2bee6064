"""The column vocabulary has one home (tracker.records.schema), the SQL stores one WHERE builder, and the configured
store one opener; configuration, stores and roll-ups import each other without a circle."""

from __future__ import annotations

import ast
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tracker
from tracker.config import Config, resolve
from tracker.core.context import RunContext
from tracker.errors import ConfigError, StoreError
from tracker.paths import default_store
from tracker.records import schema
from tracker.records.schema import COLUMNS, FILTERS, FLOAT_COLUMNS, GROUPABLE, LABELS, TOTALS
from tracker.stores import configured_location, open_configured, open_store, sql

PACKAGE = Path(tracker.__file__).parent
# Tuples of column names that are not the record's vocabulary, and why.
OTHER_VOCABULARIES = {
    "exporters/prometheus.py": "metric labels (docs/metrics.md): project, experiment and the run id as 'run'",
}


def test_every_vocabulary_column_is_a_record_column() -> None:
    for name, columns in (("LABELS", LABELS), ("FILTERS", FILTERS), ("GROUPABLE", GROUPABLE)):
        assert set(columns) <= set(COLUMNS), name
        assert len(set(columns)) == len(columns), f"{name} repeats a column"
    assert TOTALS[0] == "runs" and "runs" not in COLUMNS  # the one derived total: the count of runs in a group
    assert set(TOTALS[1:]) <= FLOAT_COLUMNS and len(set(TOTALS)) == len(TOTALS)  # the others are summed floats
    assert FILTERS[: len(LABELS)] == LABELS and set(FILTERS) <= set(GROUPABLE)  # what selects runs also groups them
    assert not set(GROUPABLE) & FLOAT_COLUMNS
    assert set(LABELS) <= {f.name for f in dataclasses.fields(Config)}  # a run's labels are configuration keys


def test_summary_uses_the_schema_vocabulary() -> None:
    from tracker.reports import summary

    assert summary.TOTALS is TOTALS and summary.GROUPABLE is GROUPABLE
    assert summary.group_columns(("job", "organisation")) == ("job_id", "organisation")
    with pytest.raises(ConfigError):
        summary.group_columns("energy_kwh")


def _column_literals(source: str, vocabulary: frozenset[str], at_least: int) -> list[tuple[int, tuple[str, ...]]]:
    """Tuple, list and set literals of plain strings holding ``at_least`` names of ``vocabulary``, by line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            texts = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(texts) == len(node.elts) and len(vocabulary.intersection(texts)) >= at_least:
                found.append((node.lineno, tuple(texts)))
    return found


def _literals_outside_schema(vocabulary: frozenset[str], at_least: int) -> dict[str, list[tuple[int, tuple[str, ...]]]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if name != "records/schema.py" and name not in OTHER_VOCABULARIES:
            hits = _column_literals(path.read_text(encoding="utf-8"), vocabulary, at_least)
            if hits:
                found[name] = hits
    return found


def test_the_scan_finds_a_list_of_column_names() -> None:
    """The scan below is precise: it sees the schema's own tuples and a copy written anywhere, and nothing else."""
    schema_source = Path(schema.__file__).read_text(encoding="utf-8")
    assert LABELS in [texts for _, texts in _column_literals(schema_source, frozenset(FILTERS), 2)]
    assert [t for _, t in _column_literals(schema_source, frozenset(TOTALS), 3)] == [TOTALS]
    copy = '_LABELS = ("project", "experiment", "team")\nsql = ["job_id", "node"]\nby = ("organisation", *keys)\n'
    assert [t for _, t in _column_literals(copy, frozenset(FILTERS), 2)] == [
        ("project", "experiment", "team"),
        ("job_id", "node"),
    ]


def test_no_module_keeps_its_own_list_of_labels_filters_or_totals() -> None:
    assert _literals_outside_schema(frozenset(FILTERS), 2) == {}
    assert _literals_outside_schema(frozenset(TOTALS), 3) == {}


# One WHERE builder -------------------------------------------------------------------------------------------------


def test_the_sql_stores_build_the_same_where() -> None:
    since = datetime(2026, 1, 1)  # naive: UTC
    until = datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=1)))  # the same instant as 00:00 UTC
    filters = {"team": "ml", "experiment": None, "job_id": "job-1", "run_id": "run-000001"}
    lite, lite_params = sql.where(sql.SQLITE, since, until, filters)
    pg, pg_params = sql.where(sql.POSTGRES, since, until, filters)
    assert lite == " WHERE team = ? AND job_id = ? AND run_id = ? AND started_at >= ? AND started_at < ?"
    assert pg == lite.replace("?", "%s")
    assert lite_params[:3] == pg_params[:3] == ["ml", "job-1", "run-000001"]
    assert lite_params[3:] == ["2026-01-01T00:00:00.000000+00:00", "2026-03-01T00:00:00.000000+00:00"]
    assert pg_params[3:] == [datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 3, 1, tzinfo=timezone.utc)]
    assert sql.where(sql.SQLITE, None, None, {"team": None}) == ("", [])


@pytest.mark.parametrize("dialect", [sql.SQLITE, sql.POSTGRES])
def test_a_filter_outside_the_vocabulary_is_refused(dialect: sql.Dialect) -> None:
    for key in ("zone", "energy_kwh", "project; DROP TABLE runs", "started_at"):
        with pytest.raises(StoreError, match=f"cannot filter on {key!r}"):
            sql.where(dialect, None, None, {"project": "x", key: "y"})
    assert sql.where(dialect, None, None, {"zone": None}) == ("", [])  # None is no filter, whatever the key


# One opener for the configured store ------------------------------------------------------------------------------


def test_the_configured_store_is_the_one_a_run_writes_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_location() == default_store() == RunContext(resolve()).store_location()
    assert open_configured() is open_store(None)
    configured = str(tmp_path / "configured.db")
    monkeypatch.setenv("TRACKER_STORE", configured)
    assert open_configured().location == configured == configured_location()
    given = str(tmp_path / "given.csv")
    assert open_configured(given) is open_store(given)  # an argument wins over the environment
    with pytest.raises(ConfigError):
        open_configured("mysql://h/db")


# No circle between configuration, stores and roll-ups --------------------------------------------------------------


def _imports(module: str, path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``path`` imports, anywhere in it (functions and TYPE_CHECKING too); ``from
    package import module`` counts the module, not the package (as ``/tmp/tools/imports.py`` counts)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                base = f"{parent}.{base}" if base else parent
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    return names & modules


def test_configuration_stores_and_rollups_import_without_a_circle() -> None:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["tracker", *path.relative_to(PACKAGE).with_suffix("").parts]
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    part = {m for m in modules if m == "tracker.config" or m.startswith(("tracker.stores", "tracker.reports"))}
    graph = {m: {n for n in _imports(m, modules[m], set(modules)) if n in part and n != m} for m in part}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                if nxt == goal:
                    return True
                seen.add(nxt)
                todo.append(nxt)
        return False

    assert "tracker.stores.base" in graph["tracker.stores.sqlite"]  # the graph is read (a sanity check)
    assert [m for m in sorted(part) if reaches(m, m)] == []
