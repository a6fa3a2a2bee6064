"""What every cloud export becomes: :class:`CloudLine`, then a record of kind ``cloud``, then the store.

For a cloud customer the provider's emissions are all Scope 3 (purchased services), but the exports split them
the way the provider reports its own: Scope 1 and 2 (electricity and fuel of the data centres; location- and
market-based where the provider gives both) and Scope 3 (hardware, buildings). The record keeps that split as the
rest of the package does: ``emissions_kg`` / ``emissions_market_kg`` the operational part, ``embodied_kg`` the
Scope 3 part, so the annual statement shows them in their usual columns, under the ``cloud`` source.
"""

from __future__ import annotations

import csv
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tracker.errors import ConfigError, TrackerError
from tracker.footprint.record import footprint_record
from tracker.importers.labels import LabelMap
from tracker.records.schema import RunRecord

logger = logging.getLogger(__name__)

KIND = "cloud"
_NAMESPACE = uuid.UUID("5a2f9e61-7b0c-4f1e-8d3a-c4b6e2a91f07")


class CloudFormatError(TrackerError):
    """The file is not the export it was named as (a required column is missing)."""


@dataclass
class CloudLine:
    """One line of an export: a provider's figure for an account, service, region and period."""

    provider: str  # aws | gcp | azure | ccf:<provider>
    account: str  # the account, project or subscription the figure is for
    service: str
    region: str | None
    start: datetime
    end: datetime
    location_kg: float
    market_kg: float
    embodied_kg: float = 0.0
    energy_kwh: float = 0.0
    keys: tuple[str, ...] = ()  # what the mapping file may match (ids and names)
    method: str = ""  # the vendor's methodology and version
    market_source: str = ""
    where: str = ""  # file and line
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class CloudImport:
    lines: int
    records: int
    added: int
    unchanged: int


def read_csv(path: str | Path, required: Iterable[str]) -> tuple[list[dict[str, str]], Path]:
    """A CSV export's rows (lower-case stripped column names), each with its line number under ``_line``."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("file", str(path), f"cannot read it as UTF-8 text: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise CloudFormatError(f"{file.name}: not the export expected, missing columns {missing}")
    rows = []
    for raw in reader:
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        row["_line"] = str(reader.line_num)
        rows.append(row)
    return rows, file


def number(row: dict[str, str], column: str, where: str) -> float:
    text = row.get(column, "")
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise CloudFormatError(f"{where}: {column}={text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise CloudFormatError(f"{where}: {column}={text!r} must be a finite number, zero or more")
    return value


def months_later(start: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months after ``start`` (exports' periods begin on the first)."""
    index = start.month - 1 + months
    return start.replace(year=start.year + index // 12, month=index % 12 + 1)


def moment(text: str, where: str) -> datetime:
    """``2026-03-01``, ``2026-03-01 00:00:00Z``, ``2026-03-01T00:00:00.000Z`` or ``20260301``, as UTC."""
    value = text.strip().replace(" ", "T").replace("Z", "+00:00")
    if len(value) == 8 and value.isdigit():
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CloudFormatError(f"{where}: {text!r} is not a date") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def record_of(line: CloudLine, labels: LabelMap) -> RunRecord:
    """The record of one export line: labelled by the mapping, its id derived from its keys."""
    found = labels.labels_for_tags([*line.keys, line.account], line.tags, line.account)  # tags as key=value
    key = "\x00".join((line.provider, line.account, line.service, line.region or "", line.start.isoformat()))
    duration = (line.end - line.start).total_seconds()
    notes = [f"imported from {line.where} ({line.method})"]
    if line.energy_kwh == 0:
        notes.append("the export gives emissions only, no energy: energy columns are 0")
    return footprint_record(
        run_id=uuid.uuid5(_NAMESPACE, key).hex,
        project=found.project or line.account,
        experiment=None,
        team=found.team,
        organisation=found.organisation,
        name=line.service,
        started_at=line.start,
        ended_at=line.end,
        duration_s=duration,
        energy_kwh=line.energy_kwh,
        pue=1.0,
        facility_energy_kwh=line.energy_kwh,
        intensity_g_per_kwh=line.location_kg * 1000.0 / line.energy_kwh if line.energy_kwh else 0.0,
        intensity_source=line.method,
        intensity_year=line.start.year,
        country=None,
        emissions_kg=line.location_kg,
        cpu_method=f"cloud export ({line.provider})",
        attribution="provider's allocation",
        location_source=f"cloud export ({line.provider})",
        cloud_provider=line.provider,
        cloud_region=line.region,
        pue_source=f"included by the provider ({line.provider})",
        emissions_market_kg=line.market_kg,
        market_source=line.market_source or f"{line.provider} export",
        embodied_kg=line.embodied_kg,
        tags={**line.tags, "account": line.account},
        notes=notes,
        kind=KIND,
        site=line.account,
        category=line.service,
    )


def merge(lines: Iterable[CloudLine]) -> list[CloudLine]:
    """Lines with the same key (an export split per scope, or per zone of one region) added into one."""
    merged: dict[tuple[str, ...], CloudLine] = {}
    for line in lines:
        key = (line.provider, line.account, line.service, line.region or "", line.start.isoformat())
        earlier = merged.get(key)
        if earlier is None:
            merged[key] = line
        else:
            merged[key] = replace(
                earlier,
                location_kg=earlier.location_kg + line.location_kg,
                market_kg=earlier.market_kg + line.market_kg,
                embodied_kg=earlier.embodied_kg + line.embodied_kg,
                energy_kwh=earlier.energy_kwh + line.energy_kwh,
                where=earlier.where if earlier.where == line.where else f"{earlier.where}; {line.where}",
            )
    return list(merged.values())


def _tool(provider: str) -> tuple[str, str]:
    """(the cloud, the tool): ``aws`` -> (aws, the provider's own export), ``ccf:aws`` -> (aws, ccf)."""
    tool, _, cloud = provider.rpartition(":")
    return cloud, tool or "the provider's own export"


def refuse_other_tool(lines: list[CloudLine], store: Any) -> None:
    """A :class:`ConfigError` when an account's month is stored already from another tool (the provider's own
    export and Cloud Carbon Footprint's estimate of the same account and month): added up, the same emissions would
    count twice. Importing the same tool again replaces its figures."""
    if not lines:
        return
    wanted = {(*_tool(line.provider), line.account, line.start.strftime("%Y-%m")) for line in lines}
    clouds = {(cloud, account, month) for cloud, _, account, month in wanted}
    since = min(line.start for line in lines).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    until = max(line.end for line in lines)
    clashes = set()
    for row in store.rows(kind=KIND, since=since, until=until):
        cloud, tool = _tool(str(row.get("cloud_provider") or ""))
        key = (cloud, str(row.get("site") or ""), str(row.get("started_at") or "")[:7])
        if key in clouds and (cloud, tool, *key[1:]) not in wanted:
            clashes.add((*key, tool))
    if clashes:
        shown = "; ".join(f"{cloud} account {account} {month} (from {tool})" for cloud, account, month, tool in
                          sorted(clashes)[:5])  # fmt: skip
        raise ConfigError(
            "file",
            shown,
            "already imported from another tool: both are figures for the same emissions and would be added up "
            f"twice ({len(clashes)} account-months); import one tool's figures per account and month",
        )


def write(lines: list[CloudLine], store: Any, labels: LabelMap, count: int) -> CloudImport:
    """Store the records (a record already stored under the same id is replaced by the new figures: a provider
    revises its numbers), and count those that were there already."""
    merged = merge(lines)
    refuse_other_tool(merged, store)
    records = [record_of(line, labels) for line in merged]
    known = sum(1 for record in records if store.rows(limit=1, run_id=record.run_id))
    store.write_many(records)
    return CloudImport(lines=count, records=len(records), added=len(records) - known, unchanged=known)
