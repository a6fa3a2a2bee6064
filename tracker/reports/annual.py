"""The annual statement for sustainability reporting (CSRD / ESRS E1 style), per organisation and year.

ESRS E1-5 asks for energy consumption in MWh and E1-6 for gross Scope 2 emissions in t CO2e, location-based
and market-based side by side, with the methods and sources behind them. This module gives exactly that for
the electricity of the tracked runs: energy drawn from the grid (IT energy x PUE) and IT energy, location- and
market-based emissions, embodied emissions apart (they are Scope 3, not Scope 2), and the intensity sources,
measurement methods, PUE and supplier-mix sources in use, each with its share of the energy. It is a
statement of what was measured, not a complete corporate inventory.

This module returns data only; :func:`tracker.reports.render.render` turns it into Markdown, JSON, CSV or HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tracker.errors import ConfigError
from tracker.reports.sources import runs_inside_equipment
from tracker.reports.summary import summarize
from tracker.stores.base import Store


@dataclass
class Source:
    """One method or data source and the share of the year's energy it covers."""

    kind: str  # intensity | cpu_method | gpu_method | ram_method | pue_source | market_source | location_source
    name: str
    energy_share: float
    runs: int


MIX_NOT_KNOWN = "not known: no records with energy"


@dataclass
class SourceTotal:
    """One source of the year's records (``kind``: run, equipment, cloud, estimate, imported), or ``overlap``: the
    tracked runs on a host that is also metered as data-centre equipment, whose energy is inside that equipment's
    figure already and is therefore taken out of the organisation's total once."""

    kind: str
    records: int
    energy_mwh: float  # grid energy, IT x PUE
    it_energy_mwh: float
    location_based_t: float
    market_based_t: float
    embodied_t: float


@dataclass
class OrganisationYear:
    organisation: str | None
    year: int
    runs: int
    energy_mwh: float  # drawn from the grid: IT energy x PUE
    it_energy_mwh: float
    location_based_t: float
    market_based_t: float
    embodied_t: float
    sources: list[Source] = field(default_factory=list)
    # per source (issue 17): the totals above are the sum of these, less the ``overlap`` entry (counted once)
    by_source: list[SourceTotal] = field(default_factory=list)
    # ESRS E1-5's split of the energy by source, energy-weighted over the zones used, when a mix is known for
    # every zone with energy (given in ``annual_statement(mix=...)``, else the embedded yearly generation mix of
    # the zone's country); otherwise None and ``mix_note`` says "not known" and for which zones
    fossil_share: float | None = None
    nuclear_share: float | None = None
    renewable_share: float | None = None
    mix_note: str = MIX_NOT_KNOWN


@dataclass
class AnnualStatement:
    year: int
    generated_at: str
    store: str
    organisations: list[OrganisationYear]


# The columns whose values say how the numbers were obtained, with how they are named in the statement.
_SOURCE_COLUMNS = (
    ("intensity", ("intensity_source", "intensity_year", "intensity_factor_type", "zone")),
    ("cpu_method", ("cpu_method",)),
    ("gpu_method", ("gpu_method",)),
    ("ram_method", ("ram_method",)),
    ("pue_source", ("pue_source",)),
    ("market_source", ("market_source",)),
    ("location_source", ("location_source",)),
)


def annual_statement(
    store: Store,
    year: int,
    organisation: str | None = None,
    mix: Mapping[str, Any] | None = None,
    embedded_mix: bool = True,
) -> AnnualStatement:
    """Totals per organisation for runs started in ``year`` (UTC), with the sources of the numbers.

    The energy split by source (ESRS E1-5) is weighted by each zone's energy. Each zone's mix is, first,
    ``mix[zone]``, then ``mix[country]`` (``mix``: zone or country -> an object with ``fossil_pct``,
    ``nuclear_pct``, ``renewable_pct`` and ``source``, such as a :class:`tracker.grid.mix.Mix`), then, unless
    ``embedded_mix`` is off, the embedded yearly generation mix of the zone's country (the country of the zone
    in the zone table, else the record's own ``country``). A zone with energy and no mix makes the split
    "not known" rather than a split of part of the energy."""
    if not 1970 <= year <= 9999:
        raise ConfigError("annual", year, "expected a calendar year")
    since = datetime(year, 1, 1, tzinfo=timezone.utc)
    until = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    options: dict[str, Any] = {"store": store, "since": since, "until": until, "organisation": organisation}
    per_source = _per_source(options)
    result = []
    for org, parts in per_source.items():
        counted = [p for p in parts if p.kind != "overlap"]
        overlap = [p for p in parts if p.kind == "overlap"]

        def total(name: str, counted: list[SourceTotal] = counted, overlap: list[SourceTotal] = overlap) -> float:
            return sum(getattr(p, name) for p in counted) - sum(getattr(p, name) for p in overlap)

        result.append(
            OrganisationYear(
                organisation=org,
                year=year,
                runs=sum(p.records for p in counted) - sum(p.records for p in overlap),
                energy_mwh=total("energy_mwh"),
                it_energy_mwh=total("it_energy_mwh"),
                location_based_t=total("location_based_t"),
                market_based_t=total("market_based_t"),
                embodied_t=total("embodied_t"),
                by_source=parts,
            )
        )
    by_org = {o.organisation: o for o in result}
    for kind, columns in _SOURCE_COLUMNS:
        frame = summarize(by=("organisation", *columns), **options)
        for row in frame.to_dict(orient="records"):
            target = by_org.get(row["organisation"])
            if target is None:
                continue
            parts = [str(row[c]) for c in columns if row[c] is not None]
            name = _source_name(kind, columns, row) if parts else "(not recorded)"
            share = float(row["facility_energy_kwh"]) / (target.energy_mwh * 1000.0) if target.energy_mwh else 0.0
            target.sources.append(Source(kind=kind, name=name, energy_share=share, runs=int(row["runs"])))
    if result:
        _split(by_org, summarize(by=("organisation", "zone", "country"), **options), mix or {}, embedded_mix)
    return AnnualStatement(
        year=year,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        store=store.location,
        organisations=result,
    )


def _source_total(kind: str, row: dict[str, Any]) -> SourceTotal:
    return SourceTotal(
        kind=kind,
        records=int(row["runs"]),
        energy_mwh=float(row["facility_energy_kwh"]) / 1000.0,
        it_energy_mwh=float(row["energy_kwh"]) / 1000.0,
        location_based_t=float(row["emissions_kg"]) / 1000.0,
        market_based_t=float(row["emissions_market_kg"]) / 1000.0,
        embodied_t=float(row["embodied_kg"]) / 1000.0,
    )


def _per_source(options: dict[str, Any]) -> dict[str | None, list[SourceTotal]]:
    """Each organisation's totals per ``kind`` (a record stored before kinds existed is a run), then the overlap:
    runs on a host and UTC day that the same organisation's equipment records meter (``host`` = the equipment id;
    :func:`tracker.reports.sources.runs_inside_equipment`), their energy and emissions only."""
    found: dict[str | None, dict[str, SourceTotal]] = {}
    for row in summarize(by=_per("kind"), **options).to_dict(orient="records"):
        kind = row["kind"] or "run"
        parts = found.setdefault(row["organisation"], {})
        part = _source_total(kind, row)
        if kind in parts:  # "run" twice: rows with no kind and rows with kind "run"
            part = SourceTotal(kind, *(a + b for a, b in zip(_values(parts[kind]), _values(part), strict=True)))
        parts[kind] = part
    result = {org: sorted(parts.values(), key=lambda p: p.kind) for org, parts in found.items()}
    overlap: dict[str | None, list[dict[str, Any]]] = {}
    for row in runs_inside_equipment(("organisation",), **options):
        overlap.setdefault(row["organisation"], []).append(row)
    for org, rows in overlap.items():
        summed = {key: sum(float(r[key]) for r in rows) for key in rows[0] if key not in (*_per("host"), "period")}
        summed["embodied_kg"] = 0.0  # equipment records carry none: the runs' embodied share is not inside them
        result[org].append(_source_total("overlap", summed))
    return result


def _per(column: str) -> tuple[str, ...]:
    """Group by organisation, then ``column``."""
    return ("organisation", column)


def _values(part: SourceTotal) -> tuple[Any, ...]:
    return (
        part.records,
        part.energy_mwh,
        part.it_energy_mwh,
        part.location_based_t,
        part.market_based_t,
        part.embodied_t,
    )


def _source_name(kind: str, columns: tuple[str, ...], row: dict[str, Any]) -> str:
    if kind != "intensity":
        return str(row[columns[0]])
    source, year, factor, zone = (row[c] for c in columns)
    text = str(source or "unknown source")
    if year is not None:
        text += f" {year}"
    if factor:
        text += f", {factor} factors"
    if zone:
        text += f", zone {zone}"
    return text


def _zone_country(zone: str | None, country: str | None) -> str | None:
    """The country of a zone (``US-CAL-CISO`` -> ``US``) from the zone table, else the record's own country."""
    if zone:
        from tracker.grid.zones import zone_table

        try:
            found = zone_table().get(zone).country
        except KeyError:
            found = None
        if found:
            return found
    return country or None


def _mix_for(zone: str | None, country: str | None, mix: Mapping[str, Any], embedded: bool) -> Any:
    """The given mix of the zone, else of its country, else the embedded yearly mix of its country."""
    place_country = _zone_country(zone, country)
    for key in (zone, country, place_country):
        if key and key in mix:
            return mix[key]
    if not embedded:
        return None
    from tracker.grid.mix import country_mix

    return country_mix(place_country)


def _mix_note(items: list[tuple[float, Any]]) -> str:
    """Which sources the split comes from; for yearly generation mixes, the year of each country."""
    named: dict[str, set[str]] = {}
    generation = False
    for _, m in items:
        source = str(getattr(m, "source", "") or "unnamed source")
        places = named.setdefault(source, set())
        if getattr(m, "basis", None) == "generation":
            generation = True
            places.add(f"{m.zone} {m.datetime}")
    parts = [f"{s} ({', '.join(sorted(p))})" if p else s for s, p in sorted(named.items())]
    text = "energy-weighted over the zones used: " + "; ".join(parts)
    if generation:
        text += "; yearly generation mix of the zone's country (production, not consumption)"
    return text


def _split(
    by_org: dict[str | None, OrganisationYear], frame: Any, mix: Mapping[str, Any], embedded: bool
) -> None:
    """Each organisation's energy-weighted fossil / nuclear / renewable shares, when every zone has a mix."""
    parts: dict[str | None, list[tuple[float, Any]]] = {}
    missing: dict[str | None, list[str]] = {}
    for row in frame.to_dict(orient="records"):
        energy = float(row["facility_energy_kwh"])
        if energy <= 0 or row["organisation"] not in by_org:
            continue
        place = row["zone"] or row["country"] or "world average"
        known = _mix_for(row["zone"], row["country"], mix, embedded)
        if known is None:
            missing.setdefault(row["organisation"], []).append(str(place))
        else:
            parts.setdefault(row["organisation"], []).append((energy, known))
    for org, target in by_org.items():
        if org in missing:
            target.mix_note = f"not known: no mix for {', '.join(sorted(set(missing[org])))}"
            continue
        items = parts.get(org)
        if not items:
            continue
        total = sum(e for e, _ in items)
        target.fossil_share = sum(e * m.fossil_pct for e, m in items) / total / 100.0
        target.nuclear_share = sum(e * m.nuclear_pct for e, m in items) / total / 100.0
        target.renewable_share = sum(e * m.renewable_pct for e, m in items) / total / 100.0
        target.mix_note = _mix_note(items)
