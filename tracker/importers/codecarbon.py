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

Importing is idempotent: a record's ``run_id`` is derived from CodeCarbon's ``run_id`` (or, where a file has
none, from the line's content), and stores keep one record per ``run_id``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tracker._version import __version__
from tracker.errors import TrackerError
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


def read_codecarbon_csv(path: str | Path, project: str | None = None) -> list[RunRecord]:
    """The runs in a CodeCarbon CSV, one record per CodeCarbon run (the last line of each ``run_id`` wins)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise ImportFormatError(f"{path}: not a CodeCarbon emissions CSV, missing columns {missing}")
            lines = list(reader)
    except OSError as exc:
        raise TrackerError(f"cannot read {path}: {exc}") from exc
    version = "3.x" if "water_consumed" in header else "2.x"
    latest: dict[str, tuple[float, RunRecord]] = {}
    for number, line in enumerate(lines, start=2):
        try:
            record = _record(line, number, path.name, version, project)
        except (ValueError, TypeError) as exc:
            raise ImportFormatError(f"{path}:{number}: {exc}") from exc
        previous = latest.get(record.run_id)
        if previous is None or record.duration_s >= previous[0]:
            latest[record.run_id] = (record.duration_s, record)
    logger.info("read %d lines, %d runs from %s (CodeCarbon %s columns)", len(lines), len(latest), path, version)
    return [record for _, record in latest.values()]


def import_codecarbon(path: str | Path, store: Any, project: str | None = None) -> ImportResult:
    """Write the runs of a CodeCarbon CSV to ``store``; runs already there with the same values are skipped."""
    records = read_codecarbon_csv(path, project)
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:
        lines = sum(1 for _ in csv.DictReader(fh))
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
    return ImportResult(lines=lines, records=len(records), added=added, unchanged=unchanged, updated=updated)


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
