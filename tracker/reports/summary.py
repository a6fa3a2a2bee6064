"""Roll-ups: totals of runs per group of labels and per calendar period, as a pandas DataFrame.

:func:`summarize` takes either a DataFrame of runs (from :func:`tracker.load_runs`) or a store. With a store it
asks the store to total the groups itself (:meth:`Store.rollup`, one SQL ``GROUP BY`` for SQLite), because
loading a million rows into pandas just to add them up takes tens of seconds; a store that cannot (CSV) gives
its rows and pandas totals them. Both paths give the same frame: the same columns, the same order of rows
(sorted by the group keys), the same numbers (tests compare them).

Every total is a plain sum over runs, so roll-ups add up: an organisation's total is the sum of its teams',
which is the sum of their projects', which is the sum of their runs'. When some of the runs counted functional
units, the frame also carries the groups' Software Carbon Intensity (:data:`UNIT_TOTALS`), worked out here from
the sums the store gives (:data:`UNIT_PARTS`), the same way for every store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracker.errors import ConfigError
from tracker.records.schema import GROUPABLE, INT_COLUMNS, PART_MERGES, TOTALS, UNIT_PARTS, UNIT_TOTALS
from tracker.reports.periods import as_utc, check_period, period_series

if TYPE_CHECKING:
    import pandas as pd

    from tracker.stores.base import Store

logger = logging.getLogger(__name__)

# Short names for the hierarchy levels that are not column names.
ALIASES = {"job": "job_id", "run": "run_id", "organization": "organisation"}


def group_columns(by: str | Sequence[str] | None) -> tuple[str, ...]:
    """The record columns named by ``by`` (aliases resolved), or :class:`ConfigError` for one that is not a label."""
    if by is None:
        return ()
    names = (by,) if isinstance(by, str) else tuple(by)
    columns = []
    for name in names:
        column = ALIASES.get(name, name)
        if column not in GROUPABLE:
            raise ConfigError("by", name, f"expected a label column: {', '.join(sorted(GROUPABLE))}, job, run")
        if column not in columns:
            columns.append(column)
    return tuple(columns)


def summarize(
    runs: pd.DataFrame | None = None,
    *,
    by: str | Sequence[str] | None = ("project",),
    period: str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    store: Store | str | None = None,
    **filters: Any,
) -> pd.DataFrame:
    """Totals per group: one row per combination of ``by`` labels (and ``period``), columns keys + :data:`TOTALS`,
    then :data:`UNIT_TOTALS` when at least one of the runs counted functional units (SCI per unit).

    ``runs``: a DataFrame from :func:`tracker.load_runs`; else the runs of ``store`` (a :class:`Store` or a
    location string; default: the configured store). ``by``: label columns (``organisation``, ``team``,
    ``project``, ``experiment``, ``job``/``job_id``, ``run``/``run_id``, ``zone``, ``host``, ...); ``()`` gives
    a single total row. ``period``: ``day`` | ``week`` | ``month`` | ``quarter`` | ``year`` of ``started_at`` in
    UTC, as a ``period`` column. ``since <= started_at < until``; ``filters`` match labels exactly.
    """
    keys = group_columns(by)
    check_period(period)
    low, high = as_utc(since), as_utc(until)
    if runs is None:
        source = _open(store)
        # a status the store does not hold (`lost`: a checkpoint whose process is gone) is worked out on reading
        # (tracker.stores.liveness): grouped or selected by status, the totals come from the rows as shown
        shown = "status" in keys or filters.get("status") in ("running", "lost")
        frame = None if shown else source.rollup(keys, period=period, since=low, until=high, **filters)
        if frame is None:
            logger.debug("store %s has no roll-up of its own: totals computed in pandas", source.location)
            frame = _rollup_frame(source.dataframe(since=low, until=high, **filters), keys, period)
    else:
        frame = _rollup_frame(_select(runs, low, high, filters), keys, period)
    return _normalise(frame, keys, period)


def _open(store: Store | str | None) -> Store:
    from tracker.stores.base import Store

    if isinstance(store, Store):
        return store
    from tracker.stores.factory import open_configured

    return open_configured(store)


def _select(runs: pd.DataFrame, since: datetime | None, until: datetime | None, filters: dict[str, Any]) -> Any:
    """The rows of a runs frame inside the bounds and matching the label filters."""
    import pandas as pd

    mask = pd.Series(True, index=runs.index)
    for key, value in filters.items():
        if value is None:
            continue
        if key == "kind":  # a row stored before kinds existed is a run, as the SQL stores read it
            kinds = runs["kind"].where(runs["kind"].notna(), "run") if "kind" in runs.columns else "run"
            mask &= pd.Series(kinds == value, index=runs.index)
            continue
        if key not in runs.columns:
            raise ConfigError(key, value, "not a column of the runs")
        mask &= runs[key] == value
    if since is not None or until is not None:
        started = pd.to_datetime(runs["started_at"], utc=True, format="ISO8601")
        if since is not None:
            mask &= started >= pd.Timestamp(since)
        if until is not None:
            mask &= started < pd.Timestamp(until)
    return runs[mask]


def _rollup_frame(runs: pd.DataFrame, keys: tuple[str, ...], period: str | None) -> pd.DataFrame:
    """The pandas roll-up: the reference for what a store's SQL must give."""
    import pandas as pd

    work = pd.DataFrame({k: runs[k].astype(object).where(runs[k].notna(), None) for k in keys}, index=runs.index)
    names = list(keys)
    if period is not None:
        started = pd.to_datetime(runs["started_at"], utc=True, format="ISO8601")
        work["period"] = period_series(started, period) if len(runs) else pd.Series(dtype=object)
        names.append("period")
    work["runs"] = 1
    for column in TOTALS[1:]:
        work[column] = pd.to_numeric(runs[column], errors="coerce").fillna(0.0).astype(float)
    _unit_parts(runs, work)
    columns = [*TOTALS, *UNIT_PARTS]
    if not names:
        if work.empty:
            return pd.DataFrame(columns=columns)
        return work[columns].agg(PART_AGGREGATES).to_frame().T
    return work.groupby(names, dropna=False, sort=False)[columns].agg(PART_AGGREGATES).reset_index()


#: every total and part summed, but the first and last unit name (the least and the greatest)
PART_AGGREGATES: dict[str, str] = {**dict.fromkeys((*TOTALS, *UNIT_PARTS), "sum"), **PART_MERGES}


def _unit_parts(runs: pd.DataFrame, work: pd.DataFrame) -> None:
    """The :data:`UNIT_PARTS` of each run, as a store's roll-up sums them (columns of ``work``)."""
    import pandas as pd

    first, last, counted, kg = UNIT_PARTS
    if "functional_units" in runs.columns:  # a frame of runs from before these columns reads as "none counted"
        units = pd.to_numeric(runs["functional_units"], errors="coerce")
    else:
        units = pd.Series(float("nan"), index=runs.index)
    has = units.notna()
    name = runs["functional_unit"].astype(object) if "functional_unit" in runs.columns else None
    names = pd.Series("units", index=runs.index, dtype=object) if name is None else name.where(name.notna(), "units")
    work[first] = work[last] = names.where(has, None)
    work[counted] = units.fillna(0.0).astype(float)
    total = work["emissions_kg"] + work["embodied_kg"]
    work[kg] = total.where(has, 0.0).astype(float)


def _unit_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """:data:`UNIT_TOTALS` from the parts, when any run counted units; else the frame without either."""
    import pandas as pd

    first, last, counted, kg = UNIT_PARTS
    if not set(UNIT_PARTS) <= set(frame.columns):
        return frame.drop(columns=[c for c in UNIT_PARTS if c in frame.columns])
    lo = frame[first].astype(object).where(frame[first].notna(), None)
    hi = frame[last].astype(object).where(frame[last].notna(), None)
    some = lo.notna()
    if not some.any():
        return frame.drop(columns=list(UNIT_PARTS))
    one = some & (lo == hi)  # one name among the group's counted runs: its units add up
    units = pd.to_numeric(frame[counted], errors="coerce").astype(float)
    emitted = pd.to_numeric(frame[kg], errors="coerce").astype(float)
    unit, count, sci, per = UNIT_TOTALS
    frame = frame.drop(columns=list(UNIT_PARTS))
    frame[unit] = lo.where(one, None).astype(object)
    frame[count] = units.where(one)
    frame[sci] = emitted.where(some)
    frame[per] = (emitted / units.where(units > 0)).where(one)
    return frame


def _normalise(frame: pd.DataFrame, keys: tuple[str, ...], period: str | None) -> pd.DataFrame:
    """Same columns, types and row order whichever path computed the frame."""
    names = list(keys) + (["period"] if period is not None else [])
    frame = _unit_totals(frame[[*names, *TOTALS, *(c for c in UNIT_PARTS if c in frame.columns)]].copy())
    for name in names:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
        if name in INT_COLUMNS:  # pandas reads an integer column with gaps as floats
            frame[name] = frame[name].map(lambda v: int(v) if v is not None else None).astype(object)
    frame["runs"] = frame["runs"].astype("int64")
    for column in TOTALS[1:]:
        frame[column] = frame[column].astype(float)
    if names and len(frame):
        # labels sort as text, missing ones first (a column may mix numbers and None)
        keys = list(zip(*([_text(v) for v in frame[n].tolist()] for n in names), strict=True))
        order = sorted(range(len(frame)), key=keys.__getitem__)
        frame = frame.iloc[order]
    return frame.reset_index(drop=True)


def _text(value: Any) -> tuple[int, str]:
    return (0, "") if value is None else (1, str(value))
