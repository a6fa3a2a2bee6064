"""Minute watts per equipment in, daily kWh per equipment out: streamed, one UTC day at a time.

The file (CSV or Parquet, columns ``timestamp``, ``equipment``, ``watts``) is read in record batches by pyarrow's
streaming readers, so a month never sits in memory: each day is a dense ``equipment x 1,440 minutes`` grid of
float64 watts (115 MB for 10,000 pieces; float32 would halve it but round 41,666.67 W by 1e-7), integrated and
dropped as soon as a later day begins. Timestamps are ISO 8601 (UTC when no offset is given) or Unix seconds.
One sample per minute is expected; a sample's power holds for its minute, so a day's energy is ``sum(W) x 60 s``,
the same rectangle rule as ``avg_over_time(power[1d]) x 24 h`` on a complete day.

Gaps: a run of missing minutes no longer than ``max_gap_min`` between two samples is filled by linear
interpolation; a longer run, or one at the edge of the day, is left out and the day is marked incomplete with the
share of minutes missing (its energy is what was measured and interpolated, never extrapolated: the record says
so). The input must be in time order by day (a day's rows may come in any order, but a row for a day already
closed is an error naming the row), as exporters and ``promtool``-style dumps write it.

Why pyarrow: see ``docs/datacentre.md`` (numbers from ``benchmarks/datacentre_scale.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tracker.errors import ConfigError
from tracker.footprint.tables import require_pyarrow

logger = logging.getLogger(__name__)

MINUTES = 1440
WMIN_PER_KWH = 60_000.0  # watt-minutes in a kWh: 1,000 W x 60 min
EPOCH = date(1970, 1, 1)
BATCH_ROWS = 1 << 20  # Parquet rows read at once (~25 MB of arrays)
_CHUNK = 2048  # equipment rows integrated at once: bounds the working arrays (~50 MB) whatever the fleet


@dataclass
class DayPower:
    """One UTC day of a fleet: per equipment (in ``ids`` order) the kWh and how its minutes were obtained."""

    day: date
    ids: Sequence[str]
    kwh: Any  # numpy float64 array
    measured: Any  # numpy int array: minutes with a sample
    interpolated: Any  # minutes filled across a short gap
    source: str  # how the kWh were obtained (file and method, or the PromQL query)
    extrapolated: bool = False  # the missing minutes were counted at the mean power (Prometheus avg), not left out

    @property
    def missing(self) -> Any:
        return MINUTES - self.measured - self.interpolated


def integrate(watts: Any, max_gap_min: int) -> tuple[Any, Any, Any]:
    """kWh, measured minutes and interpolated minutes of each row of a ``rows x 1,440`` grid of watts (NaN where
    no sample). Linear interpolation fills gaps of at most ``max_gap_min`` minutes between two samples."""
    import numpy as np

    kwh = np.empty(len(watts))
    measured = np.empty(len(watts), dtype=np.int64)
    interpolated = np.empty(len(watts), dtype=np.int64)
    minutes = np.arange(MINUTES)
    for low in range(0, len(watts), _CHUNK):
        grid = np.asarray(watts[low : low + _CHUNK], dtype=np.float64)
        valid = ~np.isnan(grid)
        total = np.where(valid, grid, 0.0).sum(axis=1)
        count = valid.sum(axis=1)
        filled = np.zeros(len(grid), dtype=np.int64)
        if max_gap_min > 0 and not valid.all():
            prev = np.maximum.accumulate(np.where(valid, minutes, -1), axis=1)
            nxt = np.minimum.accumulate(np.where(valid, minutes, MINUTES)[:, ::-1], axis=1)[:, ::-1]
            fill = ~valid & (prev >= 0) & (nxt < MINUTES) & (nxt - prev - 1 <= max_gap_min)
            if fill.any():
                rows, cols = np.nonzero(fill)
                p, n = prev[rows, cols], nxt[rows, cols]
                left, right = grid[rows, p], grid[rows, n]
                values = left + (right - left) * (cols - p) / (n - p)
                total += np.bincount(rows, weights=values, minlength=len(grid))
                filled = np.bincount(rows, minlength=len(grid))
        kwh[low : low + len(grid)] = total / WMIN_PER_KWH
        measured[low : low + len(grid)] = count
        interpolated[low : low + len(grid)] = filled
    return kwh, measured, interpolated


def _seconds(column: Any, pa: Any) -> Any:
    """A batch's timestamp column as int64 Unix seconds (a timestamp type, ISO text, or numbers)."""
    import numpy as np

    pc = pa.compute
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        column = pc.strptime(pc.replace_substring_regex(column, r"(Z|\+00:?00)$", ""), "%Y-%m-%dT%H:%M:%S", "s")
        kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.cast(pc.cast(column, pa.timestamp("s", tz=kind.tz)), pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64).astype(np.int64)
    raise ConfigError("power", str(kind), "timestamp must be ISO 8601 text, a timestamp or Unix seconds")


def read_power(
    path: str | Path,
    ids: Sequence[str],
    *,
    max_gap_min: int = 5,
    since: date | None = None,
    until: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[DayPower]:
    """Yield each UTC day of the power file in ``[since, until)`` for the equipment ``ids``, in day order.

    Rows for equipment not in ``ids`` are counted and logged once (the inventory decides what is accounted)."""
    import numpy as np

    pa = require_pyarrow()
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError("power", str(path), "no such file")
    batches, columns = _batches(file, pa)
    names = {n.lower(): n for n in columns}
    missing = [c for c in ("timestamp", "equipment", "watts") if c not in names]
    if missing:
        raise ConfigError("power", str(path), f"expected columns timestamp, equipment, watts; missing {missing}")
    order = [columns.index(names[c]) for c in ("timestamp", "equipment", "watts")]
    lookup = pa.array(list(ids), type=pa.string())
    low = (since - EPOCH).days if since else None
    high = (until - EPOCH).days if until else None
    open_days: dict[int, Any] = {}
    closed_before = -(10**9)  # days before this one were integrated already
    unknown = 0
    row_base = 0
    source = f"{file.name}: minute samples, gaps up to {max_gap_min} min interpolated"
    try:
        for batch in batches:
            stamp_column, equipment_column, watts_column = (batch.column(i) for i in order)
            seconds = _seconds(stamp_column, pa)
            where = pa.compute.index_in(pa.compute.cast(equipment_column, pa.string()), value_set=lookup)
            index = where.to_numpy(zero_copy_only=False)
            watts = np.asarray(watts_column.to_numpy(zero_copy_only=False), dtype=np.float64)
            known = ~np.isnan(index.astype(np.float64)) if where.null_count else np.ones(len(index), dtype=bool)
            unknown += int((~known).sum())
            days = seconds // 86400
            keep = known
            if low is not None:
                keep = keep & (days >= low)
            if high is not None:
                keep = keep & (days < high)
            if not keep.all():
                seconds, days, watts = seconds[keep], days[keep], watts[keep]
                index = index[keep]
                rows = np.nonzero(keep)[0] + row_base
            else:
                rows = None
            row_base += batch.num_rows
            if len(days) == 0:
                continue
            index = index.astype(np.int64)
            if days.min() < closed_before:
                at = int(np.argmax(days < closed_before))
                number = int(rows[at] if rows is not None else row_base - batch.num_rows + at) + 1
                raise ConfigError(
                    "power",
                    f"{file.name} row {number}",
                    f"a sample for {EPOCH + timedelta(days=int(days[at]))} after that day was closed: sort by time",
                )
            bad = ~np.isfinite(watts) | (watts < 0)
            if bad.any():
                at = int(np.argmax(bad))
                number = int(rows[at] if rows is not None else row_base - batch.num_rows + at) + 1
                raise ConfigError("power", f"{file.name} row {number}: watts={watts[at]}", "watts must be >= 0")
            minute = (seconds % 86400) // 60
            for day in np.unique(days):
                grid = open_days.get(int(day))
                if grid is None:
                    grid = open_days[int(day)] = np.full((len(ids), MINUTES), np.nan)
                mask = days == day
                grid[index[mask], minute[mask]] = watts[mask]
            first = int(days.min())
            for day in sorted(d for d in open_days if d < first):
                yield _close(day, open_days.pop(day), ids, max_gap_min, source, progress)
            closed_before = max(closed_before, first)
    except ConfigError:
        raise
    except Exception as exc:  # pyarrow's ArrowInvalid (a ValueError) and friends, a row that does not parse
        raise ConfigError("power", str(path), f"cannot read the power samples: {exc}") from None
    for day in sorted(open_days):
        yield _close(day, open_days.pop(day), ids, max_gap_min, source, progress)
    if unknown:
        logger.warning("%s: %d samples for equipment not in the inventory were left out", file.name, unknown)


def _batches(file: Path, pa: Any) -> tuple[Iterator[Any], list[str]]:
    """Record batches of the file, one at a time (a Parquet row group's worth, or 64 MB of CSV), and its columns.

    Not the dataset scanner, which reads ahead up to 16 batches and held 2.5 GB over a month of 2,000 pieces, nor
    ``ParquetFile.iter_batches``, which kept ~30 MB of every day read: a row group at a time, memory stays flat
    (233 MB resident from the first day to the eighth, 2,000 pieces)."""
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            reader = pa.parquet.ParquetFile(file)
            columns = list(reader.schema_arrow.names)
            return _row_groups(reader), columns
        stream = pa.csv.open_csv(file, read_options=pa.csv.ReadOptions(block_size=64 << 20))
        return iter(stream), list(stream.schema.names)
    except Exception as exc:  # pyarrow's ArrowInvalid family
        raise ConfigError("power", str(file), f"cannot read the power samples: {exc}") from None


def _row_groups(reader: Any) -> Iterator[Any]:
    """A Parquet file's batches, read one row group at a time (``iter_batches`` kept ~30 MB of every day read)."""
    for group in range(reader.num_row_groups):
        yield from reader.read_row_group(group).to_batches(max_chunksize=BATCH_ROWS)


def _close(
    day: int, grid: Any, ids: Sequence[str], max_gap_min: int, source: str, progress: Callable[[str], None] | None
) -> DayPower:
    kwh, measured, interpolated = integrate(grid, max_gap_min)
    result = DayPower(EPOCH + timedelta(days=day), ids, kwh, measured, interpolated, source)
    if progress is not None:
        progress(f"{result.day}: {len(ids):,} pieces of equipment, {float(kwh.sum()):,.1f} kWh")
    return result


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
