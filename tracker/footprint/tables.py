"""Small tables in (inventory, PUE, suppliers, sites): CSV or Parquet, each row with where it came from.

Rows come back as dicts of stripped text keyed by lower-case column names, each with ``where`` ("inv.csv line 4",
"inv.parquet row 3"), so that every validation error can name the row a person has to fix.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from tracker.errors import ConfigError


class Row(NamedTuple):
    where: str
    values: dict[str, str]

    def get(self, key: str) -> str:
        return self.values.get(key, "")


def read_rows(path: str | Path, key: str) -> list[Row]:
    """Every row of a CSV or Parquet file (chosen by the file's suffix); :class:`ConfigError` under ``key``."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(key, str(path), "no such file")
    if file.suffix.lower() in (".parquet", ".pq"):
        return list(_parquet_rows(file, key))
    return list(_csv_rows(file, key))


def _csv_rows(file: Path, key: str) -> Iterator[Row]:
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, str(file), f"cannot read it as UTF-8 text: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise ConfigError(key, str(file), "the file is empty: expected a header row")
    for raw in reader:
        values = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if any(values.values()):
            yield Row(f"{file.name} line {reader.line_num}", values)


def _parquet_rows(file: Path, key: str) -> Iterator[Row]:
    pq = require_pyarrow().parquet
    try:
        table = pq.read_table(file)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError family
        raise ConfigError(key, str(file), f"not a Parquet file it can read: {exc}") from None
    names = [n.strip().lower() for n in table.column_names]
    for number, raw in enumerate(table.to_pylist(), start=1):
        cells = zip(names, raw.values(), strict=True)
        values = {name: "" if value is None else str(value).strip() for name, value in cells}
        yield Row(f"{file.name} row {number}", values)


def require_pyarrow():  # type: ignore[no-untyped-def]
    """pyarrow (with its Parquet and CSV readers), or a :class:`ConfigError` that says which extra to install."""
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.csv
        import pyarrow.dataset
        import pyarrow.parquet
    except ImportError:
        raise ConfigError("datacentre", "pyarrow", "install the extra: pip install 'tracker[datacentre]'") from None
    return pyarrow


def number(row: Row, column: str, key: str, *, low: float | None = None, required: bool = True) -> float | None:
    """A column's value as a finite number (at least ``low``), or ``None`` when empty and not required."""
    text = row.get(column)
    if not text:
        if required:
            raise ConfigError(key, f"{row.where}: {column}", "this column needs a value")
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(key, f"{row.where}: {column}={text!r}", "expected a number") from None
    if value != value or value in (float("inf"), float("-inf")) or (low is not None and value < low):
        bound = f" of at least {low:g}" if low is not None else ""
        raise ConfigError(key, f"{row.where}: {column}={text!r}", f"expected a finite number{bound}")
    return value
