"""CSV output: one line per run, the contract's columns as the header. Append-only; reads dedupe by run_id."""

from __future__ import annotations

import csv
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.errors import StoreError
from tracker.records.schema import COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, RunRecord, parse_iso
from tracker.reports.periods import as_utc
from tracker.stores.base import Store


def _parse(column: str, text: str) -> Any:
    if text == "":
        return None
    if column in FLOAT_COLUMNS:
        return float(text)
    if column in INT_COLUMNS:
        return int(float(text))
    return text


class CsvStore(Store):
    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        self.location = str(path)
        self._lock = threading.Lock()

    def write(self, record: RunRecord) -> None:
        row = record.to_row()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=COLUMNS)
                if fh.tell() == 0:
                    writer.writeheader()
                writer.writerow(row)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(f"cannot append run {record.run_id} to {self.path}: {exc}") from exc

    def rows(
        self,
        limit: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        **filters: Any,
    ) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        latest: dict[str, dict[str, Any]] = {}
        with self.path.open(newline="", encoding="utf-8") as fh:
            for raw in csv.DictReader(fh):
                row = {c: _parse(c, raw.get(c) or "") for c in COLUMNS}
                latest[row["run_id"]] = row
        rows = [r for r in latest.values() if all(v is None or r.get(k) == v for k, v in filters.items())]
        if since is not None or until is not None:
            low, high = as_utc(since), as_utc(until)
            rows = [
                r
                for r in rows
                if (low is None or parse_iso(r["started_at"]) >= low)
                and (high is None or parse_iso(r["started_at"]) < high)
            ]
        rows.sort(key=lambda r: r["started_at"] or "", reverse=True)
        return rows[:limit] if limit is not None else rows
