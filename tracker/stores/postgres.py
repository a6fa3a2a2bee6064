"""PostgreSQL: one store for a team or a fleet (``store="postgresql://user@host/db"``, extra ``tracker[postgres]``).

The same rows as the SQLite store (``records.COLUMNS``, ``run_id`` the primary key, writes are upserts), with
``started_at``/``ended_at`` kept as ``timestamptz`` so that roll-ups by period run in the server. The schema is
versioned in a ``tracker_schema`` table and upgrades itself at first use, under a transaction-level advisory lock so
that many processes opening a new database at once do not trip over each other.

Connections are opened lazily, one per thread, with a short ``connect_timeout``: the end of a run must not hang on
an unreachable server (the record goes to the spool instead, see :mod:`tracker.stores.spool`). A broken connection is
replaced once per call; a connect that timed out is not retried for a while, so that a run of runs on a host that
cannot reach the server does not pay the timeout every time. A write has a deadline (``WRITE_DEADLINE_S``) even
when the peer's kernel keeps acknowledging a frozen process: see :mod:`tracker.stores.deadline`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from tracker.errors import StoreError
from tracker.records.schema import COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, TOTALS, UNIT_PARTS, RunRecord, iso
from tracker.records.steps import STEP_COLUMNS, step_rows
from tracker.stores import sql
from tracker.stores.base import Store
from tracker.stores.locations import redact

if TYPE_CHECKING:
    import pandas as pd
    import psycopg

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 10_000  # a write takes milliseconds; ten seconds means the server is stuck
LOCK_TIMEOUT_MS = 5_000
# TCP keepalives and tcp_user_timeout (libpq parameters): a dead peer is noticed in seconds, not hours
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
# A write that has not returned after this long is given up and spooled, whatever the server's state: the socket
# is shut down under it (tracker.stores.deadline). A write takes milliseconds; the server cancels one stuck for
# STATEMENT_TIMEOUT_MS itself, so this only fires when nothing answers at all (a frozen server or proxy). A batch
# (the spool's delivery, `tracker sync`) gets ROW_DEADLINE_S more per record: each of its statements has its own
# statement_timeout, and an old libpq without pipelining pays a round trip per record.
WRITE_DEADLINE_S = 15.0
ROW_DEADLINE_S = 0.2
SLOW_CONNECT_S = 1.0  # a failed connect slower than this (packets dropped) is not retried for BACKOFF_S
BACKOFF_S = 30.0
LOCK_KEY = 0x7472_6B72  # pg_advisory_xact_lock key for schema changes ("trkr")
TIME_COLUMNS = frozenset({"started_at", "ended_at"})
PERIODS = {
    "day": "YYYY-MM-DD",
    "week": 'IYYY-"W"IW',
    "month": "YYYY-MM",
    "quarter": 'YYYY-"Q"Q',
    "year": "YYYY",
}

# Ordered migrations: (version, what it does, statements). Columns are not listed here: they follow the record
# contract (records.COLUMNS) and every upgrade adds the ones a table lacks (never drops one).
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "runs table keyed by run_id, index on started_at", (
        "CREATE TABLE IF NOT EXISTS runs (run_id text PRIMARY KEY)",  # + the contract's columns, see _add_columns
        "CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at)",
    )),
    (2, "indexes for roll-ups by project, team and job", (
        "CREATE INDEX IF NOT EXISTS runs_project ON runs (project, started_at)",
        "CREATE INDEX IF NOT EXISTS runs_team ON runs (team, started_at)",
        "CREATE INDEX IF NOT EXISTS runs_job ON runs (job_id)",
    )),
    (3, "child table steps: a run's steps in order (tracker.records.steps)", (
        "CREATE TABLE IF NOT EXISTS steps (run_id text NOT NULL, step integer NOT NULL, name text, "
        "started_at timestamptz, ended_at timestamptz, duration_s double precision, cpu_energy_kwh double precision, "
        "gpu_energy_kwh double precision, ram_energy_kwh double precision, energy_kwh double precision, "
        "emissions_kg double precision, samples double precision, tokens double precision, metrics text, "
        "PRIMARY KEY (run_id, step))",
    )),
)  # fmt: skip
SCHEMA_VERSION = MIGRATIONS[-1][0]


def sql_type(column: str) -> str:
    if column in TIME_COLUMNS:
        return "timestamptz"
    if column in FLOAT_COLUMNS:
        return "double precision"
    if column in INT_COLUMNS:
        return "bigint"
    return "text"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # checked at config time too (locations.check_location); kept for direct use
        raise StoreError("the PostgreSQL store needs psycopg: pip install 'tracker[postgres]'") from exc
    return psycopg


def ensure_schema(conn: psycopg.Connection[Any]) -> int:
    """Bring the database to :data:`SCHEMA_VERSION` with every contract column; returns the version found.

    The common case (up to date) costs two reads and no lock. Otherwise the upgrade runs in one transaction
    holding ``pg_advisory_xact_lock``, so concurrent first opens wait for each other instead of racing on
    ``CREATE TABLE`` (which is not safe against itself in PostgreSQL even with ``IF NOT EXISTS``).
    """
    found = _version(conn)
    if found >= SCHEMA_VERSION and set(COLUMNS) <= _columns(conn):
        return found
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS tracker_schema (version integer PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now(), description text)"
        )
        current = _version(conn)
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)
                _add_columns(conn)  # later statements may index any contract column
            conn.execute("INSERT INTO tracker_schema (version, description) VALUES (%s, %s)", (version, description))
            logger.info("PostgreSQL store: schema upgraded to version %d (%s)", version, description)
        _add_columns(conn)
    return found


def _add_columns(conn: psycopg.Connection[Any]) -> None:
    """Give the runs table every column of the record contract that it lacks (a newer tracker added them)."""
    if conn.execute("SELECT to_regclass('runs')").fetchone()[0] is None:  # type: ignore[index]
        return
    have = _columns(conn)
    for column in COLUMNS:
        if column not in have:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {sql_type(column)}")


def _version(conn: psycopg.Connection[Any]) -> int:
    if conn.execute("SELECT to_regclass('tracker_schema')").fetchone()[0] is None:  # type: ignore[index]
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM tracker_schema").fetchone()[0])  # type: ignore[index]


def _columns(conn: psycopg.Connection[Any]) -> set[str]:
    cursor = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'runs'"
    )
    return {name for (name,) in cursor}


def _params(record: RunRecord) -> tuple[str]:
    """The row as one JSON parameter (see :data:`_UPSERT`); non-finite floats as PostgreSQL spells them."""
    row = record.to_row()
    for column in FLOAT_COLUMNS:
        value = row.get(column)
        if isinstance(value, float) and not math.isfinite(value):
            row[column] = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return (json.dumps(row, allow_nan=False),)


# One JSON parameter rather than one per column: psycopg caches the parsing of a query only up to 50 parameters,
# and parsing this one each time cost a third of a write. The JSON becomes a row of the table's own type, so
# INSERT needs no column list; the update names only the contract's columns (a newer tracker's stay as they are).
# A checkpoint (status running) replaces only a checkpoint: a run's final record that landed first stays.
_UPSERT = (
    "INSERT INTO runs SELECT * FROM json_populate_record(NULL::runs, %s::json) "
    f"ON CONFLICT (run_id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in COLUMNS if c != 'run_id')} "
    "WHERE EXCLUDED.status <> 'running' OR runs.status = 'running'"
)


_INSERT_STEP = (
    f"INSERT INTO steps ({', '.join(STEP_COLUMNS)}) VALUES ({', '.join('%s' for _ in STEP_COLUMNS)}) "
    "ON CONFLICT (run_id, step) DO NOTHING"
)


def _write_steps(conn: psycopg.Connection[Any], record: RunRecord) -> None:
    """A final record replaces the run's steps; a checkpoint adds only those not there (a prefix of the final's)."""
    if record.status != "running":
        conn.execute("DELETE FROM steps WHERE run_id = %s", (record.run_id,))
    with conn.cursor() as cursor:  # metrics as JSON text, as in SQLite (a NaN metric is valid there, not in jsonb)
        cursor.executemany(_INSERT_STEP, step_rows(record.run_id, record.steps))


# A group's UNIT_PARTS (tracker.records.schema): among its runs that counted functional units, the least and the
# greatest unit name, the units, and their emissions with the embodied share
_COUNTED = "FILTER (WHERE functional_units IS NOT NULL)"
_UNIT_PARTS_SQL = (
    f"min(coalesce(functional_unit, 'units')) {_COUNTED}",
    f"max(coalesce(functional_unit, 'units')) {_COUNTED}",
    "coalesce(sum(functional_units), 0)",
    f"coalesce(sum(coalesce(emissions_kg, 0) + coalesce(embodied_kg, 0)) {_COUNTED}, 0)",
)


class PostgresStore(Store):
    def __init__(self, location: str) -> None:
        self.location = location
        self.label = redact(location)
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._ready = False
        self._retry_at = 0.0

    # connections -------------------------------------------------------------------------------------------

    def _not_backing_off(self) -> None:
        if time.monotonic() < self._retry_at:
            raise StoreError(f"PostgreSQL store {self.label} unreachable (the last attempt timed out); not retried yet")

    def _connect(self) -> psycopg.Connection[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._local.conn = None
        self._not_backing_off()
        psycopg = _psycopg()
        from psycopg.conninfo import conninfo_to_dict

        options: dict[str, Any] = {"autocommit": True}
        try:
            given = conninfo_to_dict(self.location)
        except psycopg.Error as exc:
            raise StoreError(f"bad PostgreSQL location {self.label}: {exc}") from exc
        if "connect_timeout" not in given:
            options["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in given:
            options["application_name"] = "tracker"
        # A run's end must not hang on a store that stopped answering: the server gives up on a write stuck behind
        # a lock or a slow statement, and the kernel declares the connection dead when the network or host goes
        # away. A peer whose kernel still acknowledges but whose process is frozen: WRITE_DEADLINE_S, in _call.
        if "options" not in given:
            options["options"] = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
        options.update({key: value for key, value in KEEPALIVE.items() if key not in given})
        began = time.monotonic()
        try:
            options.update(self._resolve(given, float(given.get("connect_timeout") or CONNECT_TIMEOUT_S)))
        except StoreError:
            if time.monotonic() - began > SLOW_CONNECT_S:
                self._retry_at = time.monotonic() + BACKOFF_S
            raise
        try:
            conn = psycopg.connect(self.location, **options)
        except psycopg.Error as exc:
            if time.monotonic() - began > SLOW_CONNECT_S:
                self._retry_at = time.monotonic() + BACKOFF_S
            raise StoreError(f"cannot connect to PostgreSQL store {self.label}: {_first_line(exc)}") from exc
        try:
            with self._schema_lock:
                if not self._ready:
                    ensure_schema(conn)
                    self._ready = True
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot prepare the schema of {self.label}: {_first_line(exc)}") from exc
        self._local.conn = conn
        return conn

    def _resolve(self, given: dict[str, Any], timeout: float) -> dict[str, str]:
        """``host``/``hostaddr`` for a host given by name, looked up within ``timeout`` seconds.

        libpq's ``connect_timeout`` starts after the name lookup (psycopg resolves names itself, before it), and a
        resolver that gets no answer takes 10 s or more (5 s x 2 attempts by default): the promised bound would not
        hold. So the lookup runs on a daemon thread and is given up at the connect timeout; the addresses found go
        to libpq as ``hostaddr`` (the name stays ``host``, for TLS and ``.pgpass``). Nothing to do for an address,
        a Unix socket, several hosts, or a ``hostaddr`` already given.
        """
        host = str(given.get("host") or os.environ.get("PGHOST") or "")
        if not host or "," in host or host.startswith("/") or given.get("hostaddr") or os.environ.get("PGHOSTADDR"):
            return {}
        try:
            ipaddress.ip_address(host)
            return {}
        except ValueError:
            pass
        port = str(given.get("port") or os.environ.get("PGPORT") or "5432")
        outcome: list[Any] = []

        def lookup() -> None:
            try:
                outcome.append(socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM))
            except (OSError, ValueError) as exc:
                outcome.append(exc)

        worker = threading.Thread(target=lookup, name="tracker-pg-resolve", daemon=True)
        worker.start()
        worker.join(timeout)
        if not outcome:
            raise StoreError(
                f"cannot connect to PostgreSQL store {self.label}: the name {host!r} was not resolved in {timeout:g} s"
            )
        found = outcome[0]
        if isinstance(found, Exception):
            raise StoreError(f"cannot connect to PostgreSQL store {self.label}: cannot resolve {host!r}: {found}")
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        return {"host": ",".join([host] * len(addresses)), "hostaddr": ",".join(addresses)}

    def _call(self, what: str, action: Callable[[psycopg.Connection[Any]], T], deadline_s: float | None = None) -> T:
        """Run ``action`` on this thread's connection; a connection found broken is replaced and tried once more.

        With ``deadline_s``, an action still waiting for the server after that long has its socket shut down and
        fails at once; no retry then (nothing answers), and connects are not tried again for ``BACKOFF_S``.
        """
        psycopg = _psycopg()
        if deadline_s is not None:  # a write: not on another thread's connection either while backing off
            self._not_backing_off()
        for attempt in (1, 2):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connect()
            guard = None
            try:
                if deadline_s is None:
                    return action(conn)
                from tracker.stores.deadline import watchdog

                with watchdog().guard(conn.fileno(), deadline_s) as guard:
                    return action(conn)
            except psycopg.Error as exc:
                if guard is not None and guard.fired:
                    conn.close()
                    self._local.conn = None
                    self._retry_at = time.monotonic() + BACKOFF_S
                    raise StoreError(
                        f"cannot {what} {self.label}: no answer in {deadline_s:g} s (a frozen server or proxy?)"
                    ) from exc
                if conn.broken or conn.closed:
                    conn.close()
                    self._local.conn = None
                    if reused and attempt == 1:
                        continue  # the server restarted, or an idle connection was cut: one fresh try
                raise StoreError(f"cannot {what} {self.label}: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")

    # Store ----------------------------------------------------------------------------------------------------

    def write(self, record: RunRecord) -> None:
        params = _params(record)
        if not record.steps:
            self._call(f"write run {record.run_id} to", lambda conn: conn.execute(_UPSERT, params), WRITE_DEADLINE_S)
            return

        def action(conn: psycopg.Connection[Any]) -> None:  # the run and its steps in one transaction
            with conn.transaction():
                conn.execute(_UPSERT, params)
                _write_steps(conn, record)

        deadline = WRITE_DEADLINE_S + ROW_DEADLINE_S * (1 + len(record.steps) // 100)
        self._call(f"write run {record.run_id} to", action, deadline)

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's steps (``STEP_COLUMNS`` rows), in order."""
        query = f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE run_id = %s ORDER BY step"
        result = self._call("read steps from", lambda conn: conn.execute(query, (run_id,)).fetchall())
        rows = []
        for values in result:
            row = dict(zip(STEP_COLUMNS, values, strict=True))
            for column in ("started_at", "ended_at"):
                if row[column] is not None:
                    row[column] = iso(row[column])
            rows.append(row)
        return rows

    def write_many(self, records: Iterable[RunRecord]) -> None:
        """All in one transaction: a batch is stored whole or not at all (the spool keeps what was not)."""
        records = list(records)
        batch = [_params(r) for r in records]
        if not batch:
            return
        stepped = [r for r in records if r.steps]

        def action(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(_UPSERT, batch)
                for record in stepped:
                    _write_steps(conn, record)

        self._call(f"write {len(batch)} runs to", action, WRITE_DEADLINE_S + ROW_DEADLINE_S * len(batch))

    def replace_many(
        self, records: Iterable[RunRecord], *, kind: str, names: Collection[str], since: datetime, until: datetime
    ) -> None:
        """Delete the records of ``kind`` named in ``names`` that started in ``[since, until)``, then write
        ``records``, in one transaction (:meth:`Store.replace_many`)."""
        batch = [_params(r) for r in records]
        names = sorted(set(names))

        def action(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                if names:
                    where, params = sql.named(sql.POSTGRES, kind, names, since, until)
                    cursor.execute(f"DELETE FROM steps WHERE run_id IN (SELECT run_id FROM runs{where})", params)
                    cursor.execute(f"DELETE FROM runs{where}", params)
                if batch:
                    cursor.executemany(_UPSERT, batch)

        self._call(f"replace {len(batch)} {kind} records in", action, WRITE_DEADLINE_S + ROW_DEADLINE_S * len(batch))

    def rows(
        self, limit: int | None = None, since: datetime | None = None, until: datetime | None = None, **filters: Any
    ) -> list[dict[str, Any]]:
        where, params = sql.where(sql.POSTGRES, since, until, filters)
        query = f"SELECT {', '.join(COLUMNS)} FROM runs{where} ORDER BY started_at DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        result = self._call("read", lambda conn: conn.execute(query, params).fetchall())
        rows = []
        for values in result:
            row = dict(zip(COLUMNS, values, strict=True))
            for column in TIME_COLUMNS:
                if row[column] is not None:
                    row[column] = iso(row[column])
            rows.append(row)
        return rows

    def rollup(
        self,
        by: Sequence[str],
        period: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        **filters: Any,
    ) -> pd.DataFrame | None:
        """Totals per group computed by the server (``GROUP BY``, ``to_char`` of ``started_at`` in UTC).

        Columns: the ``by`` keys, ``period`` when asked, then :data:`tracker.records.schema.TOTALS` and
        :data:`~tracker.records.schema.UNIT_PARTS`; :func:`tracker.summarize` puts the rows in order.
        """
        import pandas as pd

        unknown = [c for c in by if c not in COLUMNS or c in TIME_COLUMNS]
        if unknown:
            raise StoreError(f"cannot group by {unknown}")
        keys = list(by)
        select = list(keys)
        if period is not None:
            if period not in PERIODS:
                raise StoreError(f"unknown period {period!r}: expected one of {', '.join(PERIODS)}")
            select.append(f"to_char(started_at AT TIME ZONE 'UTC', '{PERIODS[period]}') AS period")
        names = [*keys, "period"] if period is not None else keys
        sums = ["count(*)", *(f"coalesce(sum({c}), 0)" for c in TOTALS[1:]), *_UNIT_PARTS_SQL]
        where, params = sql.where(sql.POSTGRES, since, until, filters)
        query = f"SELECT {', '.join([*select, *sums])} FROM runs{where}"
        if names:
            query += f" GROUP BY {', '.join(str(i + 1) for i in range(len(names)))}"
        result = self._call("roll up", lambda conn: conn.execute(query, params).fetchall())
        frame = pd.DataFrame([tuple(r) for r in result], columns=[*names, *TOTALS, *UNIT_PARTS])
        if not names and len(frame) and frame["runs"].iloc[0] == 0:
            frame = frame.iloc[0:0]  # no runs: no group, as in pandas
        return frame

    def count(self) -> int:
        """How many runs are stored (tests and ``tracker sync`` use it)."""
        return int(self._call("count", lambda conn: conn.execute("SELECT count(*) FROM runs").fetchone()[0]))  # type: ignore[index]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
