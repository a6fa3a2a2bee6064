"""Read CodeCarbon's ``emissions.csv`` into run records, so a team's history comes along.

CodeCarbon's ``FileOutput`` writes one line per ``EmissionsData`` (the dataclass's field order is the header):
2.x has 32 columns (``timestamp`` .. ``pue``), 3.x 38 (adds ``water_consumed``, the ``*_utilization_percent``
columns, ``ram_used_gb`` and ``wue``). Both are read by column name, so either version (and older files that
lack some optional columns) imports.

What CodeCarbon's numbers mean, and how they map (checked in codecarbon 2.8.4 and 3.3.2's
``emissions_tracker.py``): energies are kWh and already multiplied by the PUE, so they become
``facility_energy_kwh`` and the IT energies are divided by ``pue``; ``emissions`` is kg CO2e; ``duration``
seconds; ``timestamp`` is the time the line was written (the run's end or a flush), in the machine's *local*
time without a zone: it is read as UTC, and the record's notes say so. In ``append`` mode a run that flushed
writes several cumulative lines with the same ``run_id``: the last (longest) one is the run.

Each line is checked before it becomes a record: a value that is negative, not finite or absurd (bounds below), a
timestamp outside 1990..2100, a field over 128 KiB rejects that line, with the file, the line and the reason; the
good lines are imported. A file that is binary or not UTF-8 is refused whole.

Importing is idempotent: a record's ``run_id`` is derived from CodeCarbon's ``run_id`` (or, where a file has
none, from the line's content), and stores keep one record per ``run_id``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tracker._version import __version__
from tracker.errors import TrackerError
from tracker.importers.labels import LabelMap, load_label_map
from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)

METHOD = "codecarbon-import"
REQUIRED = ("timestamp", "project_name", "duration", "emissions", "energy_consumed")
# A fixed namespace so that the same CodeCarbon run always gets the same tracker run_id (uuid5 of its id).
_NAMESPACE = uuid.UUID("6f1c3f52-64a1-4c55-9d0e-2f7c3c1b9a10")
# Kept as tags: what CodeCarbon knew that the record has no column for.
_TAG_COLUMNS = (
    "experiment_id",
    "codecarbon_version",
    "os",
    "python_version",
    "tracking_mode",
    "on_cloud",
    "country_name",
    "region",
    "longitude",
    "latitude",
    "water_consumed",
    "wue",
)


# The most a line may say: far beyond any real run, well inside what the stores and reports compute with.
_BOUNDS = {
    "duration": 10 * 366 * 24 * 3600.0,  # ten years, in seconds
    "emissions": 1e9,  # kg
    "energy_consumed": 1e9,  # kWh
    "cpu_energy": 1e9,
    "gpu_energy": 1e9,
    "ram_energy": 1e9,
    "cpu_power": 1e7,  # W
    "gpu_power": 1e7,
    "ram_power": 1e7,
    "cpu_count": 1e7,
    "gpu_count": 1e6,
    "ram_total_size": 1e9,  # GB
    "pue": 10.0,
}
_YEARS = (1990, 2100)  # timestamps outside: a clock or a file gone wrong
FIELD_LIMIT = 128 * 1024  # characters in one field (the csv module's default limit, said as a reason)


class ImportFormatError(TrackerError):
    """The file is not a CodeCarbon emissions CSV (a required column is missing or a value does not parse)."""


@dataclass
class ImportResult:
    """What an import did: lines read, records built, and how many of them were new to the store."""

    lines: int
    records: int
    added: int
    unchanged: int
    updated: int
    rejected: list[str] = field(default_factory=list)  # "file:line: reason", one per line not imported


def read_codecarbon_csv(path: str | Path, project: str | None = None) -> list[RunRecord]:
    """The runs in a CodeCarbon CSV, one record per CodeCarbon run (the last line of each ``run_id`` wins).
    Lines that cannot be imported are logged and left out (:func:`read_checked` says which and why)."""
    records, rejected, _ = read_checked(path, project)
    for reason in rejected:
        logger.warning("not imported: %s", reason)
    return records


def _text_of(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrackerError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if b"\x00" in data:
        raise ImportFormatError(f"{path}: a binary file, not a CodeCarbon emissions CSV")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"{path}: not UTF-8 text (byte {exc.start}), not a CodeCarbon emissions CSV") from None


def read_checked(path: str | Path, project: str | None = None) -> tuple[list[RunRecord], list[str], int]:
    """The runs of a CodeCarbon CSV, the lines rejected (``file:line: reason``) and the number of lines read."""
    path = Path(path)
    reader = csv.reader(io.StringIO(_text_of(path), newline=""))
    rejected: list[str] = []
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise ImportFormatError(f"{path}: not a CodeCarbon emissions CSV ({exc})") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFormatError(f"{path}: not a CodeCarbon emissions CSV, missing columns {missing}")
    version = "3.x" if "water_consumed" in header else "2.x"
    latest: dict[str, tuple[float, RunRecord]] = {}
    lines = 0
    while True:
        number = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over the limit: this line only
            lines += 1
            rejected.append(f"{path}:{number}: {exc} ({FIELD_LIMIT // 1024} KiB)")
            continue
        lines += 1
        line = dict(zip(header, cells, strict=False))
        try:
            _check(line)
            record = _record(line, number, path.name, version, project)
        except (ValueError, TypeError, OverflowError) as exc:
            rejected.append(f"{path}:{number}: {exc}")
            continue
        previous = latest.get(record.run_id)
        if previous is None or record.duration_s >= previous[0]:
            latest[record.run_id] = (record.duration_s, record)
    logger.info("read %d lines, %d runs from %s (CodeCarbon %s columns)", lines, len(latest), path, version)
    return [record for _, record in latest.values()], rejected, lines


def _check(line: dict[str, str]) -> None:
    """Raise ValueError saying what is wrong with a line's values (before any is used)."""
    for column, value in line.items():
        if value is not None and len(value) > FIELD_LIMIT:
            raise ValueError(f"{column}: a field over {FIELD_LIMIT // 1024} KiB")
    for column, high in _BOUNDS.items():
        text = (line.get(column) or "").strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{column}: {text[:40]!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{column}: {text[:40]} is not a finite number")
        low = 1.0 if column == "pue" else 0.0
        if not low <= number <= high:
            raise ValueError(f"{column}: {text[:40]} is outside {low:g}..{high:g}")
    energy, emissions = (float((line.get(c) or "").strip() or 0) for c in ("energy_consumed", "emissions"))
    if energy > 0 and not math.isfinite(emissions * 1000.0 / energy):  # the record's intensity (g/kWh)
        raise ValueError(f"emissions / energy_consumed: {emissions:g} kg for {energy:g} kWh is no finite intensity")
    try:
        moment = _timestamp(line.get("timestamp") or "")
        start = moment - timedelta(seconds=float((line.get("duration") or "0").strip() or 0))
    except (ValueError, OverflowError):
        raise ValueError(f"timestamp: {(line.get('timestamp') or '')[:40]!r} is not a usable date and time") from None
    if not (_YEARS[0] <= start.year and moment.year <= _YEARS[1]):
        raise ValueError(f"timestamp: {moment:%Y-%m-%d} (started {start:%Y-%m-%d}) is outside {_YEARS[0]}..{_YEARS[1]}")


def import_codecarbon(
    path: str | Path,
    store: Any,
    project: str | None = None,
    *,
    team: str | None = None,
    organisation: str | None = None,
    mapping: str | Path | LabelMap | None = None,
) -> ImportResult:
    """Write the runs of a CodeCarbon CSV to ``store``; runs already there with the same values are skipped;
    the lines that could not be imported are in ``rejected``.

    CodeCarbon knows a project name only: ``mapping`` (:mod:`tracker.importers.labels`, matched on the project
    name) and ``team``/``organisation``/``project`` (defaults for what the mapping leaves empty) label the runs."""
    records, rejected, lines = read_checked(path)
    if isinstance(mapping, LabelMap):
        labels = mapping
    else:
        labels = load_label_map(mapping, project=project, team=team, organisation=organisation)
    for index, record in enumerate(records):
        found = labels.labels([record.project], record.project)
        records[index] = dataclasses.replace(
            record, project=found.project or record.project, team=found.team, organisation=found.organisation
        )
    added = unchanged = updated = 0
    for record in records:
        found = store.rows(limit=1, run_id=record.run_id)
        if found and _same(found[0], record.to_row()):
            unchanged += 1
            continue
        store.write(record)
        if found:
            updated += 1
        else:
            added += 1
    return ImportResult(
        lines=lines, records=len(records), added=added, unchanged=unchanged, updated=updated, rejected=rejected
    )


def _same(stored: dict[str, Any], row: dict[str, Any]) -> bool:
    return all(stored.get(k) == v or (_number(stored.get(k)) == _number(v) is not None) for k, v in row.items())


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _float(line: dict[str, str], column: str, default: float = 0.0) -> float:
    text = (line.get(column) or "").strip()
    return float(text) if text else default


def _text(line: dict[str, str], column: str) -> str | None:
    text = (line.get(column) or "").strip()
    return text or None


def _timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace(" ", "T").replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _alpha2(code: str | None) -> str | None:
    """CodeCarbon writes ISO alpha-3 (``FRA``); records use alpha-2. Unknown codes are kept as written."""
    if code is None:
        return None
    from tracker.errors import ConfigError
    from tracker.grid.intensity import country_table

    try:
        return country_table().canonical(code)
    except ConfigError:
        return code


def _run_id(line: dict[str, str]) -> str:
    source = _text(line, "run_id")
    if source is None:  # no id in the file: the line's content identifies it
        source = "line:" + hashlib.sha256(repr(sorted(line.items())).encode()).hexdigest()
    return f"codecarbon-{uuid.uuid5(_NAMESPACE, source)}"


def _record(line: dict[str, str], number: int, filename: str, version: str, project: str | None) -> RunRecord:
    ended = _timestamp(line["timestamp"])
    duration = _float(line, "duration")
    pue = _float(line, "pue", 1.0) or 1.0
    facility = _float(line, "energy_consumed")
    emissions = _float(line, "emissions")
    tags = {f"codecarbon_{c}": line[c].strip() for c in _TAG_COLUMNS if (line.get(c) or "").strip()}
    source_run = _text(line, "run_id")
    if source_run:
        tags["codecarbon_run_id"] = source_run
    country = _alpha2(_text(line, "country_iso_code"))
    return RunRecord(
        run_id=_run_id(line),
        project=project or _text(line, "project_name") or "codecarbon",
        experiment=None,
        team=None,
        organisation=None,
        name=None,
        started_at=ended - timedelta(seconds=duration),
        ended_at=ended,
        duration_s=duration,
        cpu_energy_kwh=_float(line, "cpu_energy") / pue,
        gpu_energy_kwh=_float(line, "gpu_energy") / pue,
        ram_energy_kwh=_float(line, "ram_energy") / pue,
        energy_kwh=facility / pue,
        pue=pue,
        facility_energy_kwh=facility,
        intensity_g_per_kwh=emissions * 1000.0 / facility if facility > 0 else 0.0,
        intensity_source=METHOD,
        intensity_year=None,
        country=country,
        emissions_kg=emissions,
        cpu_power_w=_float(line, "cpu_power") / pue,
        gpu_power_w=_float(line, "gpu_power") / pue,
        ram_power_w=_float(line, "ram_power") / pue,
        cpu_method=METHOD,
        gpu_method=METHOD,
        ram_method=METHOD,
        attribution=_text(line, "tracking_mode") or "machine",
        host="unknown",
        cpu_model=_text(line, "cpu_model") or "",
        cpu_count=int(_float(line, "cpu_count")),
        gpu_model=_text(line, "gpu_model") or "",
        gpu_count=int(_float(line, "gpu_count")),
        ram_total_gb=_float(line, "ram_total_size"),
        tracker_version=__version__,
        status="completed",
        kind="imported",
        zone=country,
        location_source=METHOD,
        cloud_provider=_text(line, "cloud_provider"),
        cloud_region=_text(line, "cloud_region"),
        pue_source=METHOD,
        emissions_market_kg=emissions,
        market_source="location-based (CodeCarbon gives no market-based figure)",
        tags=tags,
        notes=[
            f"imported from CodeCarbon {line.get('codecarbon_version') or version} CSV {filename}, line {number}",
            "CodeCarbon writes local time without a zone: the timestamp was read as UTC",
            "intensity is CodeCarbon's emissions / energy for the run",
        ],
    )
