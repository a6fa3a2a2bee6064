"""The store interface and the factory that picks a back end from a location string.

``store=`` (or ``TRACKER_STORE``) may be a path ending in ``.db``/``.sqlite``/``.sqlite3`` or a
``sqlite:///path`` URL (SQLite), a path ending in ``.csv`` (CSV), or a ``postgresql://`` URL (PostgreSQL,
extra ``tracker[postgres]``). Stores are cached per process: opening
one costs a connection and a schema check, which must not happen on every run (see benchmarks/).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigError
from tracker.forks import after_fork
from tracker.paths import default_store
from tracker.records.schema import RunRecord

if TYPE_CHECKING:
    import pandas as pd


class Store(ABC):
    """Takes records, gives them back as records or as a DataFrame with the contract's columns."""

    location: str

    @abstractmethod
    def write(self, record: RunRecord) -> None:
        """Store one record; writing the same ``run_id`` twice stores it once."""

    @abstractmethod
    def rows(
        self,
        limit: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Stored rows (``RunRecord.to_row`` shape), newest first, filtered by label equality and by
        ``since <= started_at < until`` (UTC; a naive datetime is read as UTC). ``records`` and ``dataframe``
        pass ``since``/``until`` through their ``filters``."""

    def records(self, limit: int | None = None, **filters: Any) -> list[RunRecord]:
        return [RunRecord.from_row(row) for row in self.rows(limit=limit, **filters)]

    def write_many(self, records: Iterable[RunRecord]) -> None:
        for record in records:
            self.write(record)

    def dataframe(self, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        from tracker.records.frames import to_frame

        return to_frame(self.rows(limit=limit, **filters))

    def rollup(
        self,
        by: Sequence[str],
        period: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        **filters: Any,
    ) -> pd.DataFrame | None:
        """Group totals computed inside the store (SQL), or ``None``: then :func:`tracker.summarize` computes
        them in pandas from :meth:`rows`. Both must give the same numbers (tests compare them).

        ``by``: label columns (``organisation``, ``team``, ``project``, ``experiment``, ``job_id``, ...);
        ``period``: ``day`` | ``week`` | ``month`` | ``quarter`` | ``year`` of ``started_at`` in UTC, as text
        (``2026-11-23``, ``2026-W47``, ``2026-11``, ``2026-Q4``, ``2026``) in a ``period`` column. Totals:
        ``runs``, ``duration_s``, the ``*_energy_kwh`` columns, ``energy_kwh``, ``facility_energy_kwh``,
        ``emissions_kg``, ``emissions_market_kg``, ``embodied_kg``.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""


_cache: dict[str, Store] = {}
_cache_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child must not use the parent's connections (SQLite forbids it): drop them, unclosed."""
    _cache.clear()


def open_store(location: str | None = None) -> Store:
    """The store for a location string (``None``: the default SQLite file), cached per process."""
    location = location or default_store()
    after_fork(_forget_after_fork)
    with _cache_lock:
        store = _cache.get(location)
        if store is None:
            store = _create(location)
            _cache[location] = store
        return store


def check_location(location: str) -> None:
    """Raise :class:`ConfigError` at start for a location no back end takes (not at the run's end)."""
    if _kind(location) == "postgres":
        from importlib.util import find_spec

        if find_spec("psycopg") is None:
            from tracker.stores.postgres import redact

            raise ConfigError("store", redact(location), "PostgreSQL needs psycopg: pip install 'tracker[postgres]'")


def _kind(location: str) -> str:
    lowered = location.lower()
    if lowered.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if lowered.startswith("sqlite:///"):
        return "sqlite-url"
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".db", ".sqlite", ".sqlite3")) or "://" not in lowered:
        return "sqlite"
    raise ConfigError(
        "store", location, "expected a .db/.sqlite path, a sqlite:/// URL, a postgresql:// URL or a .csv path"
    )


def _create(location: str) -> Store:
    kind = _kind(location)
    if kind == "csv":
        from tracker.stores.csv import CsvStore

        return CsvStore(location)
    if kind == "postgres":
        from tracker.stores.postgres import PostgresStore

        return PostgresStore(location)
    from tracker.stores.sqlite import SqliteStore

    path = location[len("sqlite:///") :] if kind == "sqlite-url" else location
    return SqliteStore(path, location)


def close_all() -> None:
    """Close every cached store (tests, and the end of the process)."""
    with _cache_lock:
        for store in _cache.values():
            store.close()
        _cache.clear()
