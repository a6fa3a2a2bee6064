"""The store interface: what every back end (SQLite, CSV, PostgreSQL) does.

``store=`` (or ``TRACKER_STORE``) may be a path ending in ``.db``/``.sqlite``/``.sqlite3`` or a
``sqlite:///path`` URL (SQLite), a path ending in ``.csv`` (CSV), or a ``postgresql://`` URL (PostgreSQL,
extra ``tracker[postgres]``): :mod:`tracker.stores.locations` says which, and :mod:`tracker.stores.factory`
opens it. This module imports no back end, so every back end can import the interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracker.errors import StoreError
from tracker.records.schema import RunRecord

if TYPE_CHECKING:
    import pandas as pd


class Store(ABC):
    """Takes records, gives them back as records or as a DataFrame with the contract's columns."""

    location: str

    @abstractmethod
    def write(self, record: RunRecord) -> None:
        """Store one record; writing the same ``run_id`` twice stores it once. A checkpoint (status ``running``)
        never replaces a record that is not one: a run's final record wins whichever write lands last."""

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
        """The runs as records, a checkpoint whose process is gone shown as ``lost`` (:meth:`shown_rows`)."""
        return [RunRecord.from_row(row) for row in self.shown_rows(limit=limit, **filters)]

    def shown_rows(self, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """:meth:`rows` as the readers show them: a checkpoint (status ``running``) whose process is gone has status
        ``lost`` (:mod:`tracker.stores.liveness`), and ``status="lost"``/``"running"`` select by that."""
        from tracker.stores.liveness import select

        return select(self.rows, limit, filters)

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """A run's steps (:data:`tracker.records.steps.STEP_COLUMNS` keys), in order; none from a store that does
        not keep them."""
        return []

    def write_many(self, records: Iterable[RunRecord]) -> None:
        for record in records:
            self.write(record)

    def replace_many(
        self, records: Iterable[RunRecord], *, kind: str, names: Collection[str], since: datetime, until: datetime
    ) -> None:
        """Store ``records`` in place of every stored record of ``kind`` whose ``name`` is in ``names`` and that
        started in ``[since, until)``: a re-import of a day (an equipment's shares after the inventory changed)
        leaves no record of the old split behind to be counted twice. The SQL stores delete and write in one
        transaction; records of these kinds carry no steps."""
        raise StoreError(f"{type(self).__name__} cannot replace records")

    def dataframe(self, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        from tracker.records.frames import to_frame

        return to_frame(self.shown_rows(limit=limit, **filters))

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
        ``energy_kwh``, ``facility_energy_kwh``, ``emissions_kg``, ``emissions_market_kg``, ``embodied_kg``),
        then :data:`~tracker.records.schema.UNIT_PARTS` (functional units: a store that leaves them out has none
        to report).
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""
