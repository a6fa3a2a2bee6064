"""What the formats for people say the same way: the columns of a report's table, the everyday equivalents,
the note on a recommendation's hourly data, the lines of the recommendations and the annual statement's Markdown
(also the terminal forms). JSON and CSV carry the raw values beside them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracker.records.schema import UNIT_TOTALS
from tracker.reports.render import units
from tracker.reports.render.labels import label, md

if TYPE_CHECKING:
    from tracker.carbon.equivalents import Equivalents
    from tracker.reports.annual import AnnualStatement
    from tracker.reports.data import Report
    from tracker.reports.recommend import Recommendation, Recommendations

# The columns the table, Markdown and HTML forms show (CSV and JSON carry every total): (total, title, format).
COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("runs", "runs", units.count),
    ("duration_s", "duration", units.duration),
    ("energy_kwh", "energy", units.energy),
    ("facility_energy_kwh", "facility energy", units.energy),
    ("emissions_kg", "CO2e", units.mass),
    ("emissions_market_kg", "market-based CO2e", units.mass),
)


#: a row's cell from the whole row (the SCI columns read the unit's name beside the number)
Cell = Callable[[dict[str, Any]], str]


def columns(report: Report) -> list[tuple[str, str, Cell]]:
    """The columns a report's table shows: :data:`COLUMNS`, then, when some run counted functional units, the
    units (``1,326 requests``) and the SCI, ``CO2e per request`` (``(emissions_kg + embodied_kg) / units``)."""
    shown: list[tuple[str, str, Cell]] = [
        (key, title, lambda row, key=key, show=show: show(row[key])) for key, title, show in COLUMNS
    ]
    if not report.has_units:
        return shown
    unit, count, _, per = UNIT_TOTALS
    names = {r[unit] for r in [*report.rows, report.total] if r.get(count) is not None}
    one = next(iter(names)) if len(names) == 1 else None
    title = f"CO2e per {singular(one)}" if one is not None else "CO2e per unit"
    shown.append((count, "functional units", units_cell))
    shown.append((per, title, lambda row: sci_cell(row, named=one is None)))
    return shown


def units_cell(row: dict[str, Any]) -> str:
    """``1,326 requests``; ``several units`` for a group whose runs counted units of different names; ``n/a``
    where no run counted any."""
    unit, count, sci, _ = UNIT_TOTALS
    if row.get(count) is None:
        return "several units" if row.get(sci) is not None else units.MISSING
    return f"{units.quantity(row[count])} {label(row[unit])}"


def sci_cell(row: dict[str, Any], *, named: bool) -> str:
    """The SCI score in a mass unit that fits (``43.4 mg``), ``per request`` after it when the header cannot
    name the unit (the rows' units differ)."""
    unit, _, _, per = UNIT_TOTALS
    value = row.get(per)
    if value is None:
        return units.MISSING
    return f"{units.mass(value)} per {singular(label(row[unit]))}" if named else units.mass(value)


def singular(name: str) -> str:
    """``requests`` -> ``request`` for "CO2e per ...": the unit is named in the plural, as its count reads
    (``queries`` -> ``query``, ``batches`` -> ``batch``); a name that reads as singular stays as it is."""
    lower = name.lower()
    if lower.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if lower.endswith(("ches", "shes", "sses", "xes")):
        return name[:-2]
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")) and len(name) > 1:
        return name[:-1]
    return name


def cells(row: dict[str, Any], shown: list[tuple[str, str, Cell]] | None = None) -> list[str]:
    """A row's totals as :data:`COLUMNS` (or the report's :func:`columns`) show them."""
    if shown is None:
        return [show(row[column]) for column, _, show in COLUMNS]
    return [cell(row) for _, _, cell in shown]


def grid(report: Report) -> tuple[list[str], list[list[str]]]:
    """The header and the lines of a report's table; the last line is the total (``total`` in the first
    column, or no label column when the report has no keys)."""
    shown = columns(report)
    header = [*report.keys, *(title for _, title, _ in shown)]
    lines = [[*(label(row[k]) for k in report.keys), *cells(row, shown)] for row in report.rows]
    total = {**report.total, "runs": int(report.total["runs"])}
    lines.append([*(["total", *[""] * (len(report.keys) - 1)] if report.keys else []), *cells(total, shown)])
    return header, lines


# What each equivalent is, after its amount (``28 m`` + ``driven by an average car``).
EQUIVALENTS: dict[str, tuple[Callable[[float], str], str]] = {
    "car_km": (units.distance, "driven by an average car"),
    "tv_hours": (lambda hours: units.duration(hours * 3600.0), "of TV"),
    "household_days": (lambda days: units.duration(days * 86400.0), "of an average household's electricity"),
    "smartphone_charges": (units.number, "smartphone charges"),
}


def equivalents(values: Equivalents) -> list[tuple[str, str, str]]:
    """(key, amount, what) per equivalent: ``("car_km", "28 m", "driven by an average car")``."""
    raw = values.to_dict()
    return [(key, show(raw[key]), what) for key, (show, what) in EQUIVALENTS.items()]


def equivalents_sentence(values: Equivalents) -> str:
    """``28 m driven by an average car; 2.1 h of TV; ...``"""
    return "; ".join(f"{amount} {what}" for _, amount, what in equivalents(values))


def hourly_note(item: Recommendation) -> str:
    """Where the greener hours come from, or why there are none."""
    if item.greener_hours_utc is None or item.hourly_low_g_per_kwh is None:
        return f"hourly data unavailable: {item.hourly_unavailable or 'no readings for this zone'}"
    return (
        f"{item.hourly_source}, last 24 hours: {units.number(item.hourly_low_g_per_kwh)} to "
        f"{units.intensity(item.hourly_high_g_per_kwh)}; the cleanest quarter of hours"
    )


def recommendation_lines(items: Recommendations) -> list[str]:
    """One line per place, then indented lines: its alternatives, its greener hours, the hourly note."""
    out = []
    for r in items:
        out.append(
            f"{label(r.place)}: {units.energy(r.energy_kwh)} from the grid, "
            f"{units.mass(r.emissions_kg)} CO2e recorded; {units.mass(r.baseline_kg)} at the yearly "
            f"{units.intensity(r.g_per_kwh)} compared below ({r.basis})"
        )
        if r.constraint:
            out.append(f"  places compared: {r.constraint}")
        if not r.alternatives and r.compared:
            out.append(f"  already the greenest of {r.compared + 1} comparable places in the embedded tables")
        elif not r.alternatives:
            out.append(
                "  not compared: the embedded tables hold no comparable place for it (a neighbouring zone of "
                "the same country or interconnection family, or another region of the same cloud provider)"
            )
        for a in r.alternatives:
            out.append(
                f"  in {label(a.place)} ({units.intensity(a.g_per_kwh)}): {units.mass(a.saved_kg)} less "
                f"({units.percent(a.saved_pct / 100.0)})"
            )
        if r.greener_hours_utc:
            out.append(f"  greener hours (UTC): {', '.join(f'{h:02d}:00' for h in r.greener_hours_utc)}")
        out.append(f"  {hourly_note(r)}")
    return out


def shifting_lines(shifts: list[Any]) -> list[str]:
    """Per project: what moving its runs in time (same zone, best window of their day) or in place (greenest
    allowed place) would have saved."""
    out = ["What shifting would have saved (per project):"] if shifts else []
    for s in shifts:
        out.append(
            f"{label(s.project)}: {s.runs} runs, {units.energy(s.energy_kwh)}, {units.mass(s.emissions_kg)} CO2e"
        )
        if s.time_runs:
            out.append(
                f"  in time (best window of each run's day, same zone; {s.time_runs} runs): "
                f"{units.mass(s.time_saved_kg)} less ({units.percent((s.time_saved_pct or 0.0) / 100.0)})"
            )
        if s.time_note:
            out.append(f"  in time: {s.time_note}")
        if s.place_runs:
            out.append(
                f"  in place (greenest allowed place, yearly figures; {s.place_runs} runs): "
                f"{units.mass(s.place_saved_kg)} less ({units.percent((s.place_saved_pct or 0.0) / 100.0)})"
            )
        if s.place_note:
            out.append(f"  in place: {s.place_note}")
    return out


NO_PLACES = "no runs with a known zone, country or cloud region"


ANNUAL_NOTE = (
    "Location-based: each run's energy x the grid intensity of its zone and hour. Market-based: the supplier "
    "mix where configured, else the location-based figure (GHG Protocol Scope 2 Guidance). Energy is the "
    "electricity drawn from the grid, IT energy x PUE."
)


SOURCE_NAMES = {
    "run": "tracked runs",
    "equipment": "data-centre equipment (metered)",
    "cloud": "cloud provider exports",
    "estimate": "estimates (energy measured elsewhere)",
    "imported": "imported runs (other tools)",
    "overlap": "less: tracked runs on metered equipment (inside the equipment figure)",
}
OVERLAP_NOTE = (
    "Each organisation's total is the sum of its sources less the tracked runs on a host that is also metered as "
    "data-centre equipment: that energy is inside the equipment's figure, so it is counted once, under equipment."
)


def source_lines(report: Report) -> list[str]:
    """What each source adds to the report's total, and the runs counted inside metered equipment too."""
    if not report.sources:
        return []
    out = ["", "by source (the total above adds them all up):"]
    for part in report.sources:
        name = SOURCE_NAMES.get(part["kind"], part["kind"])
        if part["kind"] == "overlap":  # a report adds everything up: the overlap is in its total twice
            name = "of these, tracked runs on metered equipment (" + ", ".join(part.get("hosts", [])) + ")"
        out.append(
            f"  {name}: {part['runs']} records, {units.energy(part['energy_kwh'])} IT, "
            f"{units.mass(part['emissions_kg'])} location-based, {units.mass(part['emissions_market_kg'])} market-based"
        )
    if any(p["kind"] == "overlap" for p in report.sources):
        out.append(
            "  those runs' energy is inside the equipment's metered energy too, so the total above counts it twice; "
            "the annual statement counts it once (tracker report --annual YEAR)"
        )
    return out
def mix_line(o: Any) -> str:
    """ESRS E1-5's split of an organisation's energy, or "not known" and why."""
    if o.fossil_share is None:
        return o.mix_note
    return (
        f"fossil {units.percent(o.fossil_share)}, nuclear {units.percent(o.nuclear_share)}, renewable "
        f"{units.percent(o.renewable_share)} ({o.mix_note})"
    )


def annual_markdown(statement: AnnualStatement) -> str:
    """The annual statement as Markdown (also its terminal form), in the statement's own units (MWh and t CO2e,
    as ESRS E1-5 and E1-6 ask) with six decimals."""
    out = [f"# Electricity of tracked computing, {statement.year}", ""]
    if not statement.organisations:
        return "\n".join([*out, "No runs started in this year."]) + "\n"
    out += [
        "| organisation | runs | energy MWh (grid, incl. PUE) | IT energy MWh | Scope 2 location-based t CO2e "
        "| Scope 2 market-based t CO2e | embodied t CO2e (Scope 3) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for o in statement.organisations:
        out.append(
            f"| {md(label(o.organisation))} | {o.runs} | {o.energy_mwh:.6f} | {o.it_energy_mwh:.6f} | "
            f"{o.location_based_t:.6f} | {o.market_based_t:.6f} | {o.embodied_t:.6f} |"
        )
    if any(len(o.by_source) > 1 or any(p.kind != "run" for p in o.by_source) for o in statement.organisations):
        out += [
            "",
            "## By source",
            "",
            "| organisation | source | records | energy MWh (grid, incl. PUE) | IT energy MWh "
            "| location-based t CO2e | market-based t CO2e |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for o in statement.organisations:
            for p in o.by_source:
                name = SOURCE_NAMES.get(p.kind, p.kind)
                out.append(
                    f"| {md(label(o.organisation))} | {md(name)} | {p.records} | {p.energy_mwh:.6f} | "
                    f"{p.it_energy_mwh:.6f} | {p.location_based_t:.6f} | {p.market_based_t:.6f} |"
                )
        out += ["", OVERLAP_NOTE]
    for o in statement.organisations:
        out += ["", f"## Methods and data sources: {md(label(o.organisation))}", ""]
        for s in sorted(o.sources, key=lambda s: (s.kind, -s.energy_share)):
            out.append(f"- {s.kind}: {md(label(s.name))} ({units.percent(s.energy_share)} of energy, {s.runs} runs)")
        out.append(f"- energy mix (E1-5): {md(mix_line(o))}")
    out += ["", f"{ANNUAL_NOTE} Generated {statement.generated_at} from {md(statement.store)}."]
    return "\n".join(out) + "\n"
