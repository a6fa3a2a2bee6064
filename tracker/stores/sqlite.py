"""The embedded default store: one SQLite file, safe for several threads and processes.

WAL journal with ``synchronous=NORMAL``: a committed record survives the process crashing (not a power cut),
and a commit costs a write, not an fsync, which keeps ``stop()`` well under a millisecond. ``run_id`` is the
primary key and writes are upserts, so delivering a record twice stores it once; a run's checkpoint (status
``running``) replaces only a checkpoint, never its final record.

Checkpoints (copying the WAL back into the file, with two fsyncs) run in a background thread every
``CHECKPOINT_EVERY`` writes. Left to SQLite, the commit that crosses 1,000 WAL pages runs one itself: one
``stop()`` in ~200 then stalled ~15 ms, ~80 µs a run on average on this project's 2-vCPU VM. SQLite's own
checkpoint stays as a safety net at ``SAFETY_AUTOCHECKPOINT`` pages (many processes each writing a few runs).

Forks (``docs/stores.md``, "Forks"). A child inherits SQLite's process-wide mutexes (its allocator's, its file
locks') in whatever state another thread of the parent left them, and the parent's connections with their
transactions: a fork in the middle of another thread's SQLite call left the child waiting for ever on a mutex
nobody would release, or on a write lock that an inherited transaction "held" (issue 14, ~15 % of children). So:
every SQLite call of this module runs inside one :class:`~tracker.forks.ForkGate`, which a fork waits for; the
connections are a pool owned by the store (not one per thread: a thread's connection was closed, by the thread's
end, at any moment, outside any gate), and closed only inside the gate; and the child closes the parent's
connections, idle by then, before it opens its own. Closed, not kept: while an inherited connection stays open,
SQLite counts its locks as the child's, so the child's own connection takes no real lock on the file, and the
parent's last connection closing then checkpoints and deletes the WAL under the child, whose later commits are
lost (seen with two processes; ``tests/test_fork_sqlite.py``).
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import sqlite3
import threading
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.errors import StoreError
from tracker.forks import ForkGate, after_fork
from tracker.paths import private_dir
from tracker.records.schema import COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, TOTALS, RunRecord
from tracker.records.steps import STEP_COLUMNS, STEP_FLOATS, step_rows
from tracker.stores import sql
from tracker.stores.base import Store

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY = 200  # writes (~1,000 WAL pages: SQLite's own default cadence), checkpointed in the background
SAFETY_AUTOCHECKPOINT = 10_000  # WAL pages (~40 MB) after which a committing writer checkpoints itself
PRIVATE_FILE = 0o600  # runs.db and, after it, its -wal and -shm files
SCHEMA_VERSION = 5  # 2: location, market-based, embodied and job columns; 3: functional units (SCI); 4: a
# checkpoint's writer (pid, ...); 5: the child table `steps` (a run's steps, tracker.records.steps)


def _sql_type(column: str) -> str:
    if column in FLOAT_COLUMNS:
        return "REAL"
    if column in INT_COLUMNS:
        return "INTEGER"
    return "TEXT"


# Every SQLite call of this module, the closing of connections included, runs inside this gate: a fork waits until
# none is under way (at most a busy timeout and a bit: a call waiting for another process's lock ends by then)
FORK_WAIT_S = 40.0
_gate = ForkGate("a SQLite call", FORK_WAIT_S)
_stores: weakref.WeakSet[SqliteStore] = weakref.WeakSet()  # in a forked child: whose connections to close
# (path, thread) of the schema upgrades under way: a signal handler on that thread must not wait for the write lock
# that the upgrade it interrupted holds (it would wait for ever); its record goes to the spool instead
_migrating: set[tuple[str, int]] = set()
# (path, thread) of the run-and-steps transactions under way: SQLite's write lock is held from BEGIN IMMEDIATE to
# COMMIT, and a signal handler's write on that thread would wait the busy timeout (30 s) for it; it spools instead
_writing: set[tuple[str, int]] = set()


def _close_all(connections: list[sqlite3.Connection]) -> None:
    """Close a store's idle connections, inside the gate (a store closed, or garbage)."""
    with _gate:
        while connections:
            connections.pop().close()


def _close_inherited() -> None:
    """In a forked child: close the parent's connections before any of the child's own opens (see the module's
    docstring for why closed). The gate guarantees that none was in a call, so none holds a lock or a transaction
    whose rollback could touch the parent's shared WAL index; the parent keeps its own, open, connections. The
    stores' Python locks are new ones: another thread may have held one at the fork."""
    for store in list(_stores):
        inherited = store._idle[:]
        store._idle.clear()  # the same list: the store's finalizer closes what the child opens in it
        store._schema_lock = threading.RLock()
        store._checkpointer = None
        for conn in inherited:
            conn.close()


def _roll_back(conn: sqlite3.Connection) -> None:
    """End a transaction cut short, keeping the exception that cut it (a failed ROLLBACK is not news)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _give_back(idle: list[sqlite3.Connection], conn: sqlite3.Connection) -> None:
    """Return a connection to the pool, unless it is still inside a transaction (an interrupt between BEGIN and
    COMMIT): the next call would write into that transaction, never committed, holding the write lock. Such a
    connection is rolled back, and closed if that fails."""
    if conn.in_transaction:
        _roll_back(conn)
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            return
    idle.append(conn)


def _create_private(path: Path) -> None:
    """An empty database file, 0600, where there is none yet (an empty file is a valid SQLite database)."""
    with contextlib.suppress(OSError):  # there already (its mode is the user's), or not creatable: SQLite says why
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


_values = operator.itemgetter(*COLUMNS)  # a row's values in column order, in C
_INSERT = f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
# a checkpoint (status running) replaces only a checkpoint: a final record that landed first stays
_UPSERT_RUNNING = (
    f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT (run_id) "
    f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS if c != 'run_id')} "
    "WHERE runs.status = 'running'"
)
# a run's steps: a final record replaces them all; a checkpoint only adds the ones not there (its steps are a prefix
# of the final record's, so a checkpoint landing after the final record adds nothing)
_STEPS_TABLE = (
    "CREATE TABLE IF NOT EXISTS steps (run_id TEXT NOT NULL, step INTEGER NOT NULL, "
    + ", ".join(f"{c} {'REAL' if c in STEP_FLOATS else 'TEXT'}" for c in STEP_COLUMNS[2:])
    + ", PRIMARY KEY (run_id, step))"
)
_INSERT_STEP = f"INSERT OR {{}} INTO steps ({', '.join(STEP_COLUMNS)}) VALUES ({', '.join('?' for _ in STEP_COLUMNS)})"


class SqliteStore(Store):
    def __init__(self, path: str, location: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.location = location or str(self.path)
        # idle connections, taken by one call at a time (list.pop and list.append are atomic): as many as the most
        # calls ever under way at once; a thread's end closes nothing
        self._idle: list[sqlite3.Connection] = []
        # re-entrant: a signal handler interrupting this thread inside it (the first open's schema check, the
        # checkpoint count) writes its record through the same store
        self._schema_lock = threading.RLock()
        self._ready = False
        self._writes = 0  # since the last background checkpoint
        self._checkpointer: threading.Thread | None = None
        _gate.install()
        after_fork(_close_inherited)
        _stores.add(self)
        weakref.finalize(self, _close_all, self._idle)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection of this store's for one call, inside the fork gate (every SQLite call goes through here)."""
        with _gate:
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self._open()
            try:
                yield conn
            finally:
                _give_back(self._idle, conn)

    def _open(self) -> sqlite3.Connection:
        if (str(self.path), threading.get_ident()) in _migrating:
            raise StoreError(f"{self.path}: a schema upgrade on this thread was interrupted (by a signal) and holds it")
        conn: sqlite3.Connection | None = None
        opened = False
        try:
            private_dir(self.path.parent)
            # SQLite creates a database 0644 and gives its -wal and -shm files the database's mode: a file
            # created here first, 0600, keeps all three private (an existing file keeps its mode)
            _create_private(self.path)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_AUTOCHECKPOINT}")
            opened = True
            with self._schema_lock:
                if not self._ready:
                    # an up-to-date file needs no write (a write at open would cost an fsync per process); a file of
                    # an older tracker may carry the current version number without the columns added since
                    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION or not set(COLUMNS) <= {
                        row[1] for row in conn.execute("PRAGMA table_info(runs)")
                    }:
                        self._migrate(conn)
                    self._ready = True
        except BaseException as exc:
            if conn is not None:  # closed here, inside the gate, not by the garbage collector at any moment
                conn.close()
            if isinstance(exc, sqlite3.Error) and not opened:
                raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        columns = ", ".join(f"{c} {_sql_type(c)}{' PRIMARY KEY' if c == 'run_id' else ''}" for c in COLUMNS)
        key = (str(self.path), threading.get_ident())
        _migrating.add(key)
        try:
            self._upgrade(conn, columns)
        finally:
            _migrating.discard(key)

    def _upgrade(self, conn: sqlite3.Connection, columns: str) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS runs ({columns})")
            have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
            for column in COLUMNS:
                if column not in have:  # a newer tracker added a column: extend, never drop
                    conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {_sql_type(column)}")
            conn.execute("CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at)")
            conn.execute("CREATE INDEX IF NOT EXISTS runs_project ON runs (project, started_at)")
            conn.execute(_STEPS_TABLE)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version={max(version, SCHEMA_VERSION)}")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    def write(self, record: RunRecord) -> None:
        row = record.to_row()
        final = row["status"] != "running"
        idle = self._idle
        if _writing and (str(self.path), threading.get_ident()) in _writing:
            raise StoreError(f"{self.path}: a write on this thread was interrupted (by a signal) and holds its lock")
        try:
            with _gate:  # what _connection() does, spelled out on the hot path (a generator costs ~1 µs)
                try:
                    conn = idle.pop()
                except IndexError:
                    conn = self._open()
                try:
                    if not record.steps:
                        conn.execute(_INSERT if final else _UPSERT_RUNNING, _values(row))
                    else:  # the run and its steps in one transaction, prepared before it: little Python inside
                        values = _values(row)
                        steps = list(step_rows(record.run_id, record.steps))
                        statement = _INSERT_STEP.format("REPLACE" if final else "IGNORE")
                        key = (str(self.path), threading.get_ident())
                        _writing.add(key)
                        try:
                            try:  # BEGIN inside: an interrupt just after it still rolls back
                                conn.execute("BEGIN IMMEDIATE")
                                conn.execute(_INSERT if final else _UPSERT_RUNNING, values)
                                if final:
                                    conn.execute("DELETE FROM steps WHERE run_id = ?", (record.run_id,))
                                conn.executemany(statement, steps)
                                conn.execute("COMMIT")
                            except BaseException:
                                _roll_back(conn)
                                raise
                        finally:
                            _writing.discard(key)
                finally:
                    if conn.in_transaction:  # cut short between BEGIN and COMMIT (an interrupt): not pooled so
                        _give_back(idle, conn)
                    else:
                        idle.append(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write run {record.run_id} to {self.path}: {exc}") from exc
        self._wrote()

    def replace_many(
        self, records: Iterable[RunRecord], *, kind: str, names: Collection[str], since: datetime, until: datetime
    ) -> None:
        """Delete the records of ``kind`` named in ``names`` that started in ``[since, until)``, then write
        ``records``, in one transaction (:meth:`Store.replace_many`)."""
        values = [_values(r.to_row()) for r in records]
        names = sorted(set(names))
        try:
            with self._connection() as conn:
                try:  # BEGIN inside: an interrupt just after it still rolls back
                    conn.execute("BEGIN IMMEDIATE")
                    for first in range(0, len(names), 500):  # well under SQLite's limit on parameters
                        where, params = sql.named(sql.SQLITE, kind, names[first : first + 500], since, until)
                        conn.execute(f"DELETE FROM steps WHERE run_id IN (SELECT run_id FROM runs{where})", params)
                        conn.execute(f"DELETE FROM runs{where}", params)
                    conn.executemany(_INSERT, values)
                    conn.execute("COMMIT")
                except BaseException:
                    _roll_back(conn)
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot replace {kind} records in {self.path}: {exc}") from exc
        self._wrote()

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's steps (``STEP_COLUMNS`` rows), in order."""
        query = f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE run_id = ? ORDER BY step"
        try:
            with self._connection() as conn:
                return [dict(zip(STEP_COLUMNS, v, strict=True)) for v in conn.execute(query, (run_id,))]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the steps of run {run_id} from {self.path}: {exc}") from exc

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes < CHECKPOINT_EVERY:
            return
        with self._schema_lock:  # started under the lock: two writers crossing the count start one thread
            if self._checkpointer is not None and self._checkpointer.is_alive():
                return  # one at a time; the next write tries again
            self._writes = 0
            thread = threading.Thread(target=self._checkpoint, name="tracker-checkpoint", daemon=True)
            self._checkpointer = thread
            thread.start()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file without blocking writers (``PASSIVE``); faults are only logged:
        the records are safe in the WAL, and SQLite's own checkpoint remains."""
        try:
            with _gate:  # a fork waits for it (it holds SQLite's locks while it copies)
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    conn.close()
        except sqlite3.Error as exc:
            logger.debug("background checkpoint of %s failed: %s", self.path, exc)

    def rows(
        self,
        limit: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        where, params = sql.where(sql.SQLITE, since, until, filters)
        query = f"SELECT {', '.join(COLUMNS)} FROM runs{where} ORDER BY started_at DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        try:
            with self._connection() as conn:  # the rows are read (the cursor used up) inside
                return [dict(zip(COLUMNS, values, strict=False)) for values in conn.execute(query, params)]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    def rollup(
        self,
        by: Sequence[str],
        period: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        **filters: Any,
    ) -> pd.DataFrame:
        """Totals per group computed in SQLite (see :mod:`tracker.stores.sqlite_rollup` for how and why)."""
        from tracker.stores.sqlite_rollup import rollup

        where, params = sql.where(sql.SQLITE, since, until, filters)
        with self._connection() as conn:  # its parallel connections open and close inside the gate too
            return rollup(self.path, conn, by, TOTALS, period, where, params)

    def close(self) -> None:
        """Close the idle connections (one a call holds now goes back to the pool, and is closed with the store)."""
        _close_all(self._idle)
