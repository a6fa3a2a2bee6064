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
CSV_BLOCK_BYTES = 64 << 20  # CSV read at once
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


LATEST_S = 7_258_118_400  # 2200-01-01: a larger Unix time is not seconds (milliseconds, microseconds)
_ISO = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$"


def _seconds(column: Any, pa: Any, where: Callable[[int], str]) -> Any:
    """A batch's timestamp column as int64 Unix seconds, floored (a sub-second part is dropped): a timestamp type,
    ISO 8601 text (``T`` or a space; ``Z``, an offset or none for UTC; any fraction of a second), or Unix seconds
    (as numbers or digits). A time outside 1970 .. 2200 (Unix milliseconds, say) is a :class:`ConfigError`
    naming its row (``where(position)``)."""
    import numpy as np

    pc = pa.compute
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        column = _parsed(column, pa, where)
        kind = column.type
    if pa.types.is_timestamp(kind):
        nanos = pc.cast(pc.cast(column, pa.timestamp("ns", tz=kind.tz), safe=False), pa.int64())
        seconds = np.floor_divide(nanos.to_numpy(zero_copy_only=False), 1_000_000_000)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        seconds = np.floor(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
    else:
        raise ConfigError(
            "power", f"{where(0)}: {kind}", "timestamp must be ISO 8601 text, a timestamp or Unix seconds"
        )
    outside = ~((seconds >= 0) & (seconds < LATEST_S))
    if outside.any():
        at = int(np.argmax(outside))
        raise ConfigError(
            "power",
            f"{where(at)}: timestamp={column[at].as_py()!r}",
            "not a time between 1970 and 2200 in Unix seconds (milliseconds? divide by 1,000)",
        )
    return seconds.astype(np.int64)


def _parsed(column: Any, pa: Any, where: Callable[[int], str]) -> Any:
    """Timestamp text as ``timestamp[ns, UTC]``, or Unix seconds as float64. The common forms (``...Z``, an offset)
    are cast at once; only a batch that does not cast is normalised (a space, no zone: UTC) and checked row by row,
    so the usual file pays for one cast."""
    import re

    import numpy as np

    pc = pa.compute
    first = column[0].as_py() if len(column) else None
    if re.fullmatch(r"\s*[0-9]+(\.[0-9]*)?\s*", first or ""):
        try:
            return pc.cast(pc.utf8_trim_whitespace(column), pa.float64())
        except (pa.ArrowInvalid, ValueError):
            pass  # not all digits: the checks below name the row
    else:
        try:
            return pc.cast(column, pa.timestamp("ns", tz="UTC"))
        except (pa.ArrowInvalid, ValueError):
            pass
    text = pc.utf8_trim_whitespace(column)
    if pc.all(pc.match_substring_regex(text, r"^[0-9]+(\.[0-9]*)?$")).as_py() is not False:
        return pc.cast(text, pa.float64())
    text = pc.replace_substring_regex(text, r"^(\d{4}-\d\d-\d\d) ", r"\1T")
    text = pc.replace_substring_regex(text, r"^(\d{4}-\d\d-\d\dT[0-9:.]+)$", r"\1Z")  # no zone: UTC
    bad = pc.invert(pc.match_substring_regex(text, _ISO))
    if pc.any(bad).as_py():
        at = int(np.argmax(np.asarray(bad.to_numpy(zero_copy_only=False), dtype=bool)))
        raise ConfigError(
            "power", f"{where(at)}: timestamp={column[at].as_py()!r}", "expected ISO 8601 text or Unix seconds"
        )
    try:
        return pc.cast(text, pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, ValueError) as exc:
        raise ConfigError("power", where(0), f"a timestamp that is not a date and time: {exc}") from None


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
    highest = -(10**9)  # the latest day seen: the file is sorted by time, so no sample comes for an earlier one
    unknown = 0
    row_base = 0
    source = f"{file.name}: minute samples, gaps up to {max_gap_min} min interpolated"
    try:
        for batch in batches:
            stamp_column, equipment_column, watts_column = (batch.column(i) for i in order)
            seconds = _seconds(stamp_column, pa, lambda at, base=row_base: f"{file.name} row {base + at + 1}")
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
            before = np.maximum.accumulate(np.concatenate(([highest], days[:-1])))  # the latest day before each
            back = days < before
            if back.any():  # a file sorted by equipment would hold every day of the fleet in memory: refused
                at = int(np.argmax(back))
                number = int(rows[at] if rows is not None else row_base - batch.num_rows + at) + 1
                raise ConfigError(
                    "power",
                    f"{file.name} row {number}",
                    f"a sample for {EPOCH + timedelta(days=int(days[at]))} after one for "
                    f"{EPOCH + timedelta(days=int(before[at]))}: sort by time (a day is integrated when the "
                    "next begins, so only one day is held in memory)",
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
            highest = max(highest, int(days.max()))
            for day in sorted(d for d in open_days if d < highest):
                yield _close(day, open_days.pop(day), ids, max_gap_min, source, progress)
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
        import csv

        with file.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
        # the types are fixed, not guessed from the first block: ids stay text (007, 1e3), watts are floats even
        # when the first 64 MB held integers only, timestamps are parsed here (any fraction of a second)
        types = {"timestamp": pa.string(), "equipment": pa.string(), "watts": pa.float64()}
        column_types = {name: types[name.lower()] for name in header if name.lower() in types}
        stream = pa.csv.open_csv(
            file,
            read_options=pa.csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pa.csv.ConvertOptions(column_types=column_types),
        )
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
