"""The annual statement for sustainability reporting (CSRD / ESRS E1 style), per organisation and year.

ESRS E1-5 asks for energy consumption in MWh and E1-6 for gross Scope 2 emissions in t CO2e, location-based
and market-based side by side, with the methods and sources behind them. This module gives exactly that for
the electricity of the tracked runs: energy drawn from the grid (IT energy x PUE) and IT energy, location- and
market-based emissions, embodied emissions apart (they are Scope 3, not Scope 2), and the intensity sources,
measurement methods, PUE and supplier-mix sources in use, each with its share of the energy. It is a
statement of what was measured, not a complete corporate inventory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from tracker.errors import ConfigError
from tracker.reports.summary import summarize
from tracker.stores.base import Store


@dataclass
class Source:
    """One method or data source and the share of the year's energy it covers."""

    kind: str  # intensity | cpu_method | gpu_method | ram_method | pue_source | market_source | location_source
    name: str
    energy_share: float
    runs: int


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


@dataclass
class AnnualStatement:
    year: int
    generated_at: str
    store: str
    organisations: list[OrganisationYear]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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


def annual_statement(store: Store, year: int, organisation: str | None = None) -> AnnualStatement:
    """Totals per organisation for runs started in ``year`` (UTC), with the sources of the numbers."""
    if not 1970 <= year <= 9999:
        raise ConfigError("annual", year, "expected a calendar year")
    since = datetime(year, 1, 1, tzinfo=timezone.utc)
    until = datetime(year + 1, 1, 1, tzinfo=timezone.utc)
    options: dict[str, Any] = {"store": store, "since": since, "until": until, "organisation": organisation}
    totals = summarize(by=("organisation",), **options)
    result = []
    for row in totals.to_dict(orient="records"):
        org = row["organisation"]
        energy = float(row["facility_energy_kwh"])
        result.append(
            OrganisationYear(
                organisation=org,
                year=year,
                runs=int(row["runs"]),
                energy_mwh=energy / 1000.0,
                it_energy_mwh=float(row["energy_kwh"]) / 1000.0,
                location_based_t=float(row["emissions_kg"]) / 1000.0,
                market_based_t=float(row["emissions_market_kg"]) / 1000.0,
                embodied_t=float(row["embodied_kg"]) / 1000.0,
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
    return AnnualStatement(
        year=year,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        store=store.location,
        organisations=result,
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


def render_annual(statement: AnnualStatement, fmt: str) -> str:
    """The statement as JSON, Markdown, CSV (one line per organisation), a terminal table (the Markdown), or an
    HTML page with the same tables (escaped, printable)."""
    if fmt == "json":
        return json.dumps(statement.to_json(), indent=2)
    if fmt == "csv":
        import csv
        import io

        from tracker.reports.text import csv_label

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        fields = [
            "organisation",
            "year",
            "runs",
            "energy_mwh",
            "it_energy_mwh",
            "location_based_t",
            "market_based_t",
            "embodied_t",
        ]
        writer.writerow(fields)
        for org in statement.organisations:
            writer.writerow(
                [
                    csv_label(org.organisation),
                    *(
                        repr(getattr(org, f)) if isinstance(getattr(org, f), float) else getattr(org, f)
                        for f in fields[1:]
                    ),
                ]
            )
        return out.getvalue()
    if fmt == "html":
        return _html(statement)
    return "\n".join(_markdown(statement)) + "\n"


# (attribute, column title) of the statement's table, in the order of the Markdown form.
_HTML_COLUMNS = (
    ("energy_mwh", "Energy MWh (grid, incl. PUE; E1-5)"),
    ("it_energy_mwh", "IT energy MWh"),
    ("location_based_t", "Scope 2 location-based t CO2e (E1-6)"),
    ("market_based_t", "Scope 2 market-based t CO2e (E1-6)"),
    ("embodied_t", "Embodied t CO2e (Scope 3, apart)"),
)


def _html(statement: AnnualStatement) -> str:
    """A page an auditor can read and print: the totals table, then each organisation's methods and sources.

    Every label is escaped; each figure carries its exact value in ``data-value`` (as the JSON form has it)."""
    import math

    from tracker._version import __version__
    from tracker.reports.html import _CSS, _e
    from tracker.reports.text import _label

    def cells(o: Any) -> str:
        return "".join(
            f'<td class="n" data-field="{f}" data-value="{getattr(o, f)!r}">{getattr(o, f):,.6f}</td>'
            for f, _ in _HTML_COLUMNS
        )

    title = f"Electricity of tracked computing, {statement.year}"
    parts = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}@media print{{body{{margin:0;max-width:none}}}}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Annual statement: runs started in {statement.year} (UTC) · store {_e(statement.store)} · '
        f"generated {_e(statement.generated_at)} · tracker {_e(__version__)}</p>",
    ]
    if not statement.organisations:
        parts.append("<p>No runs started in this year.</p></body></html>\n")
        return "".join(parts)
    head = "".join(f'<th class="n">{_e(t)}</th>' for _, t in _HTML_COLUMNS)
    rows = "".join(
        f'<tr data-organisation="{_e(_label(o.organisation))}"><td>{_e(_label(o.organisation))}</td>'
        f'<td class="n" data-field="runs" data-value="{o.runs}">{o.runs:,}</td>{cells(o)}</tr>'
        for o in statement.organisations
    )
    if len(statement.organisations) > 1:
        total = OrganisationYear(
            "all organisations",
            statement.year,
            sum(o.runs for o in statement.organisations),
            *(math.fsum(getattr(o, f) for o in statement.organisations) for f, _ in _HTML_COLUMNS),
        )
        rows += (
            f'<tr class="total"><td>all organisations</td><td class="n">{total.runs:,}</td>'
            + "".join(f'<td class="n">{getattr(total, f):,.6f}</td>' for f, _ in _HTML_COLUMNS)
            + "</tr>"
        )
    parts.append(
        f'<table id="statement"><thead><tr><th>Organisation</th><th class="n">Runs</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    for o in statement.organisations:
        parts.append(f"<h2>Methods and data sources: {_e(_label(o.organisation))}</h2>")
        lines = "".join(
            f'<tr><td>{_e(s.kind)}</td><td>{_e(_label(s.name))}</td><td class="n">{s.energy_share:.1%}</td>'
            f'<td class="n">{s.runs:,}</td></tr>'
            for s in sorted(o.sources, key=lambda s: (s.kind, -s.energy_share))
        )
        parts.append(
            '<table class="sources-table"><thead><tr><th>Kind</th><th>Method or source</th>'
            f'<th class="n">Share of energy</th><th class="n">Runs</th></tr></thead><tbody>{lines}</tbody></table>'
        )
    parts.append(
        '<h2>Methods</h2><p class="sources">Location-based: each run\'s energy x the grid intensity of its zone and '
        "hour. Market-based: the supplier mix where configured, else the location-based figure (GHG Protocol "
        "Scope 2 Guidance). Energy is the electricity drawn from the grid, IT energy x PUE. Embodied emissions of "
        "the hardware are Scope 3 and shown apart. In the spirit of ESRS E1-5 (energy) and E1-6 (gross Scope 2): "
        "a statement of the tracked computing, not a complete corporate inventory.</p></body></html>\n"
    )
    return "".join(parts)


def _markdown(statement: AnnualStatement) -> list[str]:
    from tracker.reports.text import _label, _md

    out = [f"# Electricity of tracked computing, {statement.year}", ""]
    if not statement.organisations:
        return [*out, "No runs started in this year."]
    out += [
        "| organisation | runs | energy MWh (grid, incl. PUE) | IT energy MWh | Scope 2 location-based t CO2e "
        "| Scope 2 market-based t CO2e | embodied t CO2e (Scope 3) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for o in statement.organisations:
        out.append(
            f"| {_md(_label(o.organisation))} | {o.runs} | {o.energy_mwh:.6f} | {o.it_energy_mwh:.6f} | "
            f"{o.location_based_t:.6f} | {o.market_based_t:.6f} | {o.embodied_t:.6f} |"
        )
    for o in statement.organisations:
        out += ["", f"## Methods and data sources: {_md(_label(o.organisation))}", ""]
        for s in sorted(o.sources, key=lambda s: (s.kind, -s.energy_share)):
            out.append(f"- {s.kind}: {_md(_label(s.name))} ({s.energy_share:.1%} of energy, {s.runs} runs)")
    out += [
        "",
        "Location-based: each run's energy x the grid intensity of its zone and hour. Market-based: the supplier "
        "mix where configured, else the location-based figure (GHG Protocol Scope 2 Guidance). Energy is the "
        "electricity drawn from the grid, IT energy x PUE. Generated "
        f"{statement.generated_at} from {statement.store}.",
    ]
    return out
