"""Roll-up totals inside SQLite: hash aggregation into a temporary table, over rowid ranges in parallel.

Why not a plain ``SELECT ... GROUP BY``: without an index on the grouping expression SQLite sorts every row
with all its summed columns (a temp B-tree), which takes 3-4 s for a million runs on a 2-vCPU machine, and the
sort does not get faster with threads. An ``INSERT ... ON CONFLICT DO UPDATE`` into a small temporary table
keyed by the group adds each run to its group's row instead (no sort), and several connections can each do a
range of rowids at once (``sqlite3`` releases the GIL while a statement runs). The partial tables are then
added together in pandas. Measured figures: ``benchmarks/summarize.py`` and ``docs/reports.md``.

Consistency: each range is read in its own snapshot. A run written while a roll-up runs may be left out (a new
row has a rowid above the ranges; an upsert moves a row to a new rowid), never counted twice.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.errors import StoreError
from tracker.records.schema import COLUMNS, PART_MERGES, UNIT_PARTS
from tracker.reports.periods import sql_period

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

# Below this many rows one connection does it all: threads and connections cost more than they save.
PARALLEL_FROM_ROWS = 200_000
MAX_WORKERS = 4
# A group key that is NULL is stored as this blob (NULLs never conflict in a key; no label is a blob).
_NULL = "X'00'"


# Each run's UNIT_PARTS (tracker.records.schema), and how two partial rows of a group combine: the least and the
# greatest unit name (NULL: none counted; SQLite's two-argument MIN/MAX are NULL when either is), then two sums.
_COUNTED = "functional_units IS NOT NULL"
_NAME = f"CASE WHEN {_COUNTED} THEN IFNULL(functional_unit, 'units') END"
_PART_VALUES = (
    _NAME,
    _NAME,
    "IFNULL(functional_units, 0.0)",
    f"CASE WHEN {_COUNTED} THEN IFNULL(emissions_kg, 0.0) + IFNULL(embodied_kg, 0.0) ELSE 0.0 END",
)
_PART_MERGES = (
    "COALESCE(MIN({0}, excluded.{0}), {0}, excluded.{0})",
    "COALESCE(MAX({0}, excluded.{0}), {0}, excluded.{0})",
    "{0} + excluded.{0}",
    "{0} + excluded.{0}",
)


def rollup(
    path: Path,
    conn: sqlite3.Connection,
    by: Sequence[str],
    totals: Sequence[str],
    period: str | None,
    where: str,
    params: list[Any],
) -> pd.DataFrame:
    """Group totals: ``by`` (+ ``period``), then ``totals`` (``runs`` = a count, the rest sums, NULL as 0), then
    :data:`~tracker.records.schema.UNIT_PARTS`."""
    import pandas as pd

    unknown = [c for c in by if c not in COLUMNS]
    if unknown:
        raise StoreError(f"cannot group by {unknown}")
    keys = [f"IFNULL({c}, {_NULL})" for c in by]
    if period is not None:
        keys.append(sql_period("started_at", period))
    names = [*by, "period"] if period is not None else list(by)
    if not keys:
        keys = ["0"]  # one group for everything
    try:
        low, high = conn.execute(f"SELECT MIN(rowid), MAX(rowid) FROM runs{where}", params).fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot summarise {path}: {exc}") from exc
    if low is None:
        return pd.DataFrame(columns=[*names, *totals, *UNIT_PARTS])
    workers = min(MAX_WORKERS, os.cpu_count() or 1) if high - low >= PARALLEL_FROM_ROWS else 1
    step = (high - low) // workers + 1
    ranges = [(low + i * step, min(high + 1, low + (i + 1) * step)) for i in range(workers)]
    statement = _statement(keys, totals, where)
    if workers == 1:
        parts = [_partial(conn, statement, params, ranges[0], len(keys))]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="tracker-rollup") as pool:
            futures = [pool.submit(_partial_own_connection, path, statement, params, r, len(keys)) for r in ranges]
            parts = [f.result() for f in futures]
    rows = [row for part in parts for row in part]
    key_names = names or ["_all"]
    parts = [*totals, *UNIT_PARTS]
    frame = pd.DataFrame(rows, columns=[*key_names, *parts])
    if workers > 1:
        combine = {c: PART_MERGES.get(c, "sum") for c in parts}
        frame = frame.groupby(key_names, dropna=False, sort=False)[parts].agg(combine).reset_index()
    return frame.drop(columns=["_all"]) if not names else frame


def _statement(keys: list[str], totals: Sequence[str], where: str) -> tuple[str, str]:
    """The temp table's definition and the upsert that adds each run of a rowid range to its group."""
    key_columns = [f"k{i}" for i in range(len(keys))]
    sums = [f"s{i}" for i in range(len(totals) - 1)]
    unit_columns = [f"u{i}" for i in range(len(_PART_VALUES))]
    create = (
        f"CREATE TEMP TABLE rollup ({', '.join(key_columns)}, runs INTEGER, "
        f"{', '.join(s + ' REAL' for s in sums)}, u0 TEXT, u1 TEXT, u2 REAL, u3 REAL, "
        f"PRIMARY KEY ({', '.join(key_columns)}))"
    )
    values = [*keys, "1", *(f"IFNULL({c}, 0.0)" for c in totals[1:]), *_PART_VALUES]
    bound = "rowid >= ? AND rowid < ?"
    condition = f"{where} AND {bound}" if where else f" WHERE {bound}"
    updates = [
        "runs = runs + 1",
        *(f"{s} = {s} + excluded.{s}" for s in sums),
        *(f"{u} = {merge.format(u)}" for u, merge in zip(unit_columns, _PART_MERGES, strict=True)),
    ]
    upsert = (
        f"INSERT INTO temp.rollup SELECT {', '.join(values)} FROM runs{condition} "
        f"ON CONFLICT DO UPDATE SET {', '.join(updates)}"
    )
    return create, upsert


def _partial(
    conn: sqlite3.Connection, statement: tuple[str, str], params: list[Any], span: tuple[int, int], nkeys: int
) -> list[tuple[Any, ...]]:
    """Run the upsert for one rowid range on ``conn``; the temp table is dropped before returning."""
    create, upsert = statement
    keys = [f"CASE WHEN typeof(k{i}) = 'blob' THEN NULL ELSE k{i} END" for i in range(nkeys)]
    try:
        conn.execute("DROP TABLE IF EXISTS temp.rollup")
        conn.execute(create)
        try:
            conn.execute(upsert, [*params, *span])
            cursor = conn.execute(f"SELECT {', '.join(keys)}, * FROM temp.rollup")
            return [row[:nkeys] + row[2 * nkeys :] for row in cursor]
        finally:
            conn.execute("DROP TABLE IF EXISTS temp.rollup")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot summarise: {exc}") from exc


def _partial_own_connection(
    path: Path, statement: tuple[str, str], params: list[Any], span: tuple[int, int], nkeys: int
) -> list[tuple[Any, ...]]:
    """One range on a connection of its own (read-only; its temp table lives in memory)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute("PRAGMA temp_store=MEMORY")
        return _partial(conn, statement, params, span, nkeys)
    finally:
        conn.close()
