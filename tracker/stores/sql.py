"""The ``WHERE`` clause that selects runs, one builder for the SQL stores (SQLite and PostgreSQL).

The two differ only in how a parameter is written (``?`` or ``%s``) and in how ``started_at`` is stored: ISO 8601
text in SQLite (which sorts as time, see :func:`tracker.records.schema.iso`), ``timestamptz`` in PostgreSQL. A
:class:`Dialect` names both, so the same filters select the same runs from either store, and an unknown filter
key is refused the same way by both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from tracker.errors import StoreError
from tracker.records.schema import FILTERS, iso
from tracker.reports.periods import as_utc


class Dialect(NamedTuple):
    """What differs between the SQL stores in a ``WHERE`` clause."""

    placeholder: str  # how a query parameter is written
    moment: Callable[[datetime], Any]  # a since/until bound (aware, UTC) as the parameter for started_at


SQLITE = Dialect("?", iso)  # started_at is ISO 8601 text in UTC
POSTGRES = Dialect("%s", lambda moment: moment)  # started_at is timestamptz: psycopg passes an aware datetime


def where(
    dialect: Dialect, since: datetime | None, until: datetime | None, filters: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    """``WHERE`` text (empty when nothing is asked, else with a leading space) and its parameters: each filter of
    :data:`~tracker.records.schema.FILTERS` by equality (a ``None`` value is no filter), then
    ``since <= started_at < until`` (a naive bound is read as UTC). Any other filter key: :class:`StoreError`."""
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in filters.items():
        if value is None:
            continue
        if key not in FILTERS:
            raise StoreError(f"cannot filter on {key!r}")
        column = "COALESCE(kind, 'run')" if key == "kind" else key  # a row stored before `kind` existed is a run
        clauses.append(f"{column} = {dialect.placeholder}")
        params.append(value)
    for op, bound in ((">=", since), ("<", until)):
        moment = as_utc(bound)
        if moment is not None:
            clauses.append(f"started_at {op} {dialect.placeholder}")
            params.append(dialect.moment(moment))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def named(dialect: Dialect, kind: str, names: list[str], since: datetime, until: datetime) -> tuple[str, list[Any]]:
    """``WHERE`` text selecting the records of ``kind`` named one of ``names`` that started in ``[since, until)``
    (what :meth:`~tracker.stores.base.Store.replace_many` deletes); ``names`` must not be empty."""
    text, params = where(dialect, since, until, {"kind": kind})
    marks = ", ".join(dialect.placeholder for _ in names)
    return f"{text} AND name IN ({marks})", [*params, *names]
