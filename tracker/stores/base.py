"""The store interface, and what a location string means (which back end takes it), without opening anything.

``store=`` (or ``TRACKER_STORE``) may be a path ending in ``.db``/``.sqlite``/``.sqlite3`` or a
``sqlite:///path`` URL (SQLite), a path ending in ``.csv`` (CSV), or a ``postgresql://`` URL (PostgreSQL,
extra ``tracker[postgres]``). Opening one is :mod:`tracker.stores.factory`'s job: this module imports no back end,
so the configuration can check a location (:func:`check_location`) and every back end can import the interface
without either importing the other.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigError
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
        """Stored rows (``RunRecord.to_row`` shape), newest first, filtered by equality on the columns of
        :data:`~tracker.records.schema.FILTERS` (the SQL stores refuse any other key with :class:`StoreError`) and
        by ``since <= started_at < until`` (UTC; a naive datetime is read as UTC). ``records`` and ``dataframe``
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
        :data:`~tracker.records.schema.TOTALS` (``runs``, ``duration_s``, the ``*_energy_kwh`` columns,
        ``energy_kwh``, ``facility_energy_kwh``, ``emissions_kg``, ``emissions_market_kg``, ``embodied_kg``).
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""


def check_location(location: str) -> None:
    """Raise :class:`ConfigError` at start for a location no back end takes (not at the run's end)."""
    if backend(location) == "postgres":
        from importlib.util import find_spec

        if find_spec("psycopg") is None:
            raise ConfigError("store", redact(location), "PostgreSQL needs psycopg: pip install 'tracker[postgres]'")


def backend(location: str) -> str:
    """Which back end takes ``location``: ``postgres``, ``sqlite-url`` (``sqlite:///path``), ``csv`` or
    ``sqlite`` (a plain path); :class:`ConfigError` for any other URL."""
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


def redact(location: str) -> str:
    """The location without its password, for logs, notes and messages."""
    location = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", location)
    return re.sub(r"(password=)[^&\s]*", r"\1***", location)
