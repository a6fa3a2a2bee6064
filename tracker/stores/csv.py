"""CSV output: one line per run, the contract's columns as the header. Append-only; reads dedupe by run_id.

A long run's checkpoints (status ``running``) are lines too: reading keeps the last line of each run, except that a
checkpoint never replaces a final record (a checkpoint and the final record may be appended in either order).

The file is meant to be opened in a spreadsheet too: every text cell starting like a formula (``= + - @``, a tab,
a CR), or with an apostrophe, is written with one more apostrophe in front, which reading removes again, so a
record reads back as it was written (``docs/stores.md``). Fields holding a quote, comma, CR or LF are quoted.
A file this store creates is readable by its owner only (0600): a record holds the command line and the host.
A file written before the record's last columns existed keeps its header; rows appended since carry them after it.
"""

from __future__ import annotations

import csv
import os
import threading
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.errors import StoreError
from tracker.records.schema import COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, RunRecord, parse_iso
from tracker.reports.periods import as_utc
from tracker.safetext import defuse_reversibly, restore
from tracker.stores.base import Store

_PRIVATE = 0o600


def _parse(column: str, text: str) -> Any:
    if text == "":
        return None
    if column in FLOAT_COLUMNS:
        return float(text)
    if column in INT_COLUMNS:
        return int(float(text))
    return restore(text)


def _value(row: dict[str, Any], key: str) -> Any:
    """A row's value for a filter: a row written before ``kind`` existed is a run (as the SQL stores read it)."""
    value = row.get(key)
    return "run" if key == "kind" and value is None else value


def _cells(row: dict[str, Any]) -> dict[str, Any]:
    return {k: defuse_reversibly(v) if isinstance(v, str) else v for k, v in row.items()}


class CsvStore(Store):
    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        self.location = str(path)
        self._lock = threading.Lock()
        # steps of each running run already appended by this store: a checkpoint appends only the ones after them
        # (and the last one again: a framework may complete its metrics after the boundary, Hugging Face's loss)
        self._appended: dict[str, int] = {}

    @property
    def steps_path(self) -> Path:
        """The file beside this one that holds the runs' steps (``runs.csv`` -> ``runs.steps.csv``)."""
        return self.path.with_name(self.path.stem + ".steps.csv")

    def write(self, record: RunRecord) -> None:
        row = _cells(record.to_row())
        row.pop("steps", None)  # not a column: the steps go to their own file, after the run's row
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _PRIVATE)  # mode: when created
                with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
                    writer = csv.DictWriter(fh, fieldnames=COLUMNS)
                    if fh.seek(0, os.SEEK_END) == 0:
                        writer.writeheader()
                    writer.writerow(row)
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as exc:
            raise StoreError(f"cannot append run {record.run_id} to {self.path}: {exc}") from exc
        if record.steps:
            self._append_steps(record)

    def replace_many(
        self, records: Iterable[RunRecord], *, kind: str, names: Collection[str], since: datetime, until: datetime
    ) -> None:
        """:meth:`Store.replace_many` for an append-only file: the lines of the records it replaces and does not
        write again are taken out (the file rewritten beside and renamed over, only when there are any), then the
        records appended. Not one transaction: a crash between the two leaves the day without those records, never
        with both splits (importing the day again completes it)."""
        records = list(records)
        wanted = set(names)
        keep = {r.run_id for r in records}
        stale = {
            row["run_id"]
            for row in self.rows(since=since, until=until, kind=kind)
            if row["name"] in wanted and row["run_id"] not in keep
        }
        if stale:
            self._drop(stale)
        for record in records:
            self.write(record)

    def _drop(self, run_ids: set[str]) -> None:
        """Rewrite the file without the lines of ``run_ids`` (same header, same mode, renamed over atomically)."""
        temporary = self.path.with_name(self.path.name + ".replacing")
        try:
            with self._lock:
                with self.path.open(newline="", encoding="utf-8") as source:
                    reader = csv.reader(source)
                    header = next(reader, None) or list(COLUMNS)
                    at = header.index("run_id")
                    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE)
                    with os.fdopen(fd, "w", newline="", encoding="utf-8") as target:
                        writer = csv.writer(target)
                        writer.writerow(header)
                        writer.writerows(line for line in reader if len(line) <= at or line[at] not in run_ids)
                        target.flush()
                        os.fsync(target.fileno())
                os.replace(temporary, self.path)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot rewrite {self.path} to replace records: {exc}") from exc

    def _append_steps(self, record: RunRecord) -> None:
        """Append the run's steps to :attr:`steps_path`: those this store has not appended yet for the run, and the
        last one it did again; a reader keeps the last row of each step. A checkpoint every few minutes of a long
        run so adds its new steps, not all its steps again (the file grew with the square of the checkpoints)."""
        from tracker.records.steps import STEP_COLUMNS, step_rows

        final = record.status != "running"
        try:
            with self._lock:
                done = self._appended.pop(record.run_id, 0) if final else self._appended.get(record.run_id, 0)
                steps = record.steps[max(0, done - 1) :]
                fd = os.open(self.steps_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _PRIVATE)
                with os.fdopen(fd, "a", newline="", encoding="utf-8") as fh:
                    writer = csv.writer(fh)
                    if fh.seek(0, os.SEEK_END) == 0:
                        writer.writerow(STEP_COLUMNS)
                    for values in step_rows(record.run_id, steps):
                        writer.writerow([defuse_reversibly(v) if isinstance(v, str) else v for v in values])
                    fh.flush()
                    os.fsync(fh.fileno())
                if not final:
                    self._appended[record.run_id] = len(record.steps)
        except OSError as exc:
            raise StoreError(f"cannot append the steps of run {record.run_id} to {self.steps_path}: {exc}") from exc

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        from tracker.records.steps import STEP_COLUMNS, STEP_FLOATS

        if not self.steps_path.exists():
            return []
        latest: dict[int, dict[str, Any]] = {}
        with self.steps_path.open(newline="", encoding="utf-8") as fh:
            for raw in csv.DictReader(fh):
                if raw.get("run_id") != run_id:
                    continue
                row: dict[str, Any] = {}
                for c in STEP_COLUMNS:
                    text = raw.get(c) or ""
                    row[c] = (float(text) if text else None) if c in STEP_FLOATS else restore(text)
                latest[int(row["step"])] = row
        return [latest[k] for k in sorted(latest)]

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
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if len(header) < len(COLUMNS) and tuple(header) == COLUMNS[: len(header)]:
                # written before the columns added last existed: rows appended since carry them after the header's
                reader.fieldnames = list(COLUMNS)
            for raw in reader:
                row = {c: _parse(c, raw.get(c) or "") for c in COLUMNS}
                earlier = latest.get(row["run_id"])
                if row["status"] == "running" and earlier is not None and earlier["status"] != "running":
                    continue  # a checkpoint appended after its run's final record (they race): the final one wins
                latest[row["run_id"]] = row
        rows = [r for r in latest.values() if all(v is None or _value(r, k) == v for k, v in filters.items())]
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
