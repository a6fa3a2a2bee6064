"""HTML: one self-contained page per report object: inline CSS and SVG, no script, nothing fetched.

Every string from the data (labels, periods, filters, the store path) goes through
:func:`tracker.reports.render.labels.esc` before it touches the markup, in text and in attributes alike. Every
total shown also carries its exact value in a ``data-value`` attribute, so a test (or a script) can compare the
page with the JSON form without parsing formatted text; what a person reads uses units that fit.
"""

from __future__ import annotations

import math
from typing import Any

from tracker._version import __version__
from tracker.carbon.equivalents import CONSTANTS
from tracker.reports.annual import AnnualStatement, OrganisationYear
from tracker.reports.data import Report
from tracker.reports.recommend import Recommendations
from tracker.reports.render import units
from tracker.reports.render.base import Renderer
from tracker.reports.render.charts import column_chart, hbar_chart, line_chart
from tracker.reports.render.labels import esc, group_label, label
from tracker.reports.render.phrases import columns, equivalents, grid, hourly_note, mix_line, singular
from tracker.reports.steps import StepSeries

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2a24;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.meta{color:#5a6b62;font-size:.9rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1.2rem 0}
.card{border:1px solid #d5e0d9;border-radius:8px;padding:.8rem 1rem;min-width:10rem}
.card b{display:block;font-size:1.4rem}
.card span{color:#5a6b62;font-size:.85rem}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1.5rem}
figure{margin:0;border:1px solid #e3ebe6;border-radius:8px;padding:.6rem}
figcaption{font-weight:600;margin-bottom:.4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid #e3ebe6;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:700;border-top:2px solid #1d2a24}
svg text{font-size:11px;fill:#1d2a24}
.sources{font-size:.8rem;color:#5a6b62}
@media print{body{margin:0;max-width:none}}
"""

DRAWN = 6  # groups drawn one by one in the trend chart; the rest are summed into one line


def page(title: str, meta: str, body: str) -> str:
    """The document around ``body``; ``meta`` (already escaped) is the line under the title."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="meta">{meta} · tracker {esc(__version__)}</p>{body}</body></html>\n'
    )


def _figure(fid: str, caption: str, content: str) -> str:
    return f'<figure id="{esc(fid)}"><figcaption>{esc(caption)}</figcaption>{content}</figure>'


def _table(report: Report) -> str:
    header, lines = grid(report)
    nkeys = len(report.keys)
    head = "".join(f"<th>{esc(h)}</th>" if i < nkeys else f'<th class="n">{esc(h)}</th>' for i, h in enumerate(header))
    body = []
    for line in lines[:-1]:
        body.append(
            "<tr>"
            + "".join(f"<td>{esc(c)}</td>" if i < nkeys else f'<td class="n">{esc(c)}</td>' for i, c in enumerate(line))
            + "</tr>"
        )
    total = lines[-1][nkeys:]
    cells = f'<td colspan="{max(1, nkeys)}">total</td>' if nkeys else ""
    cells += "".join(
        f'<td class="n" data-total="{c}"{_value(report.total.get(c))}>{esc(text)}</td>'
        for (c, _, _), text in zip(columns(report), total, strict=True)
    )
    rows = "".join(body)
    return (
        f'<table id="totals"><thead><tr>{head}</tr></thead><tbody>{rows}<tr class="total">{cells}</tr></tbody></table>'
    )


def _value(value: Any) -> str:
    """The ``data-value`` attribute of an exact number; none for a missing one (no SCI where no unit counted)."""
    return "" if value is None else f' data-value="{value!r}"'


def _trend(report: Report, keys: list[str]) -> tuple[str, str]:
    """Caption and chart: emissions per period, one line per group (the largest :data:`DRAWN`, the rest summed)."""
    periods = [str(r["period"]) for r in report.timeline]
    position = {p: i for i, p in enumerate(periods)}
    ranked = sorted(report.groups, key=lambda r: -r["emissions_kg"])
    drawn = ranked if len(ranked) <= DRAWN else ranked[: DRAWN - 1]
    names = {tuple(r[k] for k in keys): group_label(r, keys) for r in drawn}
    other = f"other {len(ranked) - len(drawn)} groups" if len(ranked) > len(drawn) else None
    values: dict[str, list[float]] = {
        name: [0.0] * len(periods) for name in [*names.values(), *([other] if other else [])]
    }
    for row in report.trends:
        where = position.get(str(row["period"]))
        if where is None:
            continue
        name = names.get(tuple(row[k] for k in keys), other)
        if name is not None:
            values[name][where] += row["emissions_kg"]
    series = list(values.items())
    top = max((max(v) for _, v in series if v), default=0.0)
    size, unit = units.scale_for(top, units.MASS_UNITS)
    caption = f"Emissions per {report.chart_period} by {', '.join(keys)}"
    if other:
        caption += f" (the {len(drawn)} largest, the rest summed)"
    return caption, line_chart(periods, series, f"{unit} CO2e", "svg-trend", size=size, other=other)


def _charts(report: Report) -> str:
    total = report.total
    timeline = [(str(r["period"]), r["emissions_kg"]) for r in report.timeline]
    size, unit = units.scale_for(max((v for _, v in timeline), default=0.0), units.MASS_UNITS)
    figures = [
        _figure(
            "chart-time",
            f"Emissions over time (per {report.chart_period})",
            column_chart(timeline, f"{unit} CO2e", "svg-time", size=size),
        )
    ]
    keys = report.group_by
    if keys:
        groups = sorted(((group_label(r, keys), r["emissions_kg"]) for r in report.groups), key=lambda x: -x[1])
        shown = "-".join(keys)
        figures.append(
            _figure(
                f"chart-{shown}s",
                f"Emissions by {', '.join(keys)}",
                hbar_chart(groups[:20], units.mass, f"svg-{shown}s"),
            )
        )
        figures.append(_figure("chart-trend", *_trend(report, keys)))
    components = [(name, total[f"{name.lower()}_energy_kwh"]) for name in ("CPU", "GPU", "RAM")]
    figures.append(
        _figure(
            "chart-components",
            "Energy by component (before PUE)",
            hbar_chart(components, units.energy, "svg-components"),
        )
    )
    raw = report.equivalents.to_dict()
    cards = "".join(
        f'<div class="card" data-equivalent="{k}" data-value="{raw[k]!r}">'
        f"<b>{esc(amount)}</b><span>{esc(what)}</span></div>"
        for k, amount, what in equivalents(report.equivalents)
    )
    figures.append(_figure("chart-equivalents", "What the total compares with", f'<div class="cards">{cards}</div>'))
    return f'<div class="charts">{"".join(figures)}</div>'


class HtmlRenderer(Renderer):
    name = "html"

    def report(self, report: Report) -> str:
        """Total cards, the charts (over time, per group, each group's trend, per component, equivalents), the
        table of groups, and the sources of the equivalents."""
        total = report.total
        cards = [
            ("emissions_kg", units.mass(total["emissions_kg"]), "CO2e (location-based)"),
            ("emissions_market_kg", units.mass(total["emissions_market_kg"]), "CO2e (market-based)"),
            ("facility_energy_kwh", units.energy(total["facility_energy_kwh"]), "from the grid (incl. PUE)"),
            ("runs", units.count(total["runs"]), "runs"),
        ]
        if report.has_units and total["sci_kg_per_unit"] is not None:  # SCI: ((E x I) + M) per R, R named
            unit = label(total["functional_unit"])
            cards.append(("sci_kg_per_unit", units.mass(total["sci_kg_per_unit"]), f"CO2e per {singular(unit)}"))
        card_html = "".join(
            f'<div class="card" data-total="{key}" data-value="{total[key]!r}">'
            f"<b>{esc(text)}</b><span>{esc(caption)}</span></div>"
            for key, text, caption in cards
        )
        filters = ", ".join(f"{k} = {v}" for k, v in report.filters.items()) or "all runs"
        sources = "".join(
            f"<li>{esc(c.name)}: {esc(units.number(c.value))} {esc(c.unit)} — {esc(c.source)} ({c.year})</li>"
            for c in CONSTANTS
        )
        body = (
            f'<div class="cards">{card_html}</div>{_charts(report)}'
            f"<h2>Totals by {esc(', '.join(report.keys) or 'everything')}</h2>{_table(report)}"
            f"{_shifting(report.shifting)}"
            f'<h2>Equivalents</h2><ul class="sources">{sources}</ul>'
            '<p class="sources">Location-based emissions use the grid intensity of each run\'s zone; market-based '
            "use the supplier mix where one was configured (GHG Protocol Scope 2). Energy-based equivalents use the "
            "energy drawn from the grid; the car uses location-based emissions.</p>"
        )
        meta = f"{esc(filters)} · store {esc(report.store)} · generated {esc(report.generated_at)}"
        return page("Energy and emissions report", meta, body)

    def steps(self, series: StepSeries) -> str:
        """One run's steps: energy per step (columns), each numeric metric the steps carried (a line each), and
        the table of steps with energy per sample / token where counts were given."""
        run, steps = series.run, series.steps
        names = [f"{s['step']} {s['name']}" for s in steps]
        wh = [s["energy_kwh"] * 1000 for s in steps]
        figures = [
            _figure("chart-step-energy", "Energy per step (Wh)", column_chart(list(zip(names, wh, strict=True)),
                                                                              "Wh", "chart-step-energy")),
            _figure("chart-step-emissions", "Emissions per step (g CO2e)", column_chart(
                [(n, s["emissions_kg"] * 1000) for n, s in zip(names, steps, strict=True)], "g", "chart-step-co2")),
        ]  # fmt: skip
        for i, metric in enumerate(series.metrics):
            values = [s.get(f"metric:{metric}", math.nan) for s in steps]
            drawn = [(n, v) for n, v in zip(names, values, strict=True) if math.isfinite(v)]
            if drawn:
                fid = f"chart-metric-{i}"
                chart = line_chart([n for n, _ in drawn], [(metric, [v for _, v in drawn])], metric, fid)
                figures.append(_figure(fid, f"{metric} per step", chart))
        head = ("step", "name", "duration", "energy", "CO2e", "power", "kWh per sample", "kWh per token")
        rows = []
        for s in steps:
            per_sample = s["energy_kwh"] / s["samples"] if s.get("samples") else None
            per_token = s["energy_kwh"] / s["tokens"] if s.get("tokens") else None
            cells = (
                f"<td class=\"n\">{s['step']}</td><td>{esc(label(s['name']))}</td>"
                f"<td class=\"n\">{esc(units.duration(s['duration_s']))}</td>"
                f"<td class=\"n\" data-value=\"{s['energy_kwh']!r}\">{esc(units.energy(s['energy_kwh']))}</td>"
                f"<td class=\"n\" data-value=\"{s['emissions_kg']!r}\">{esc(units.mass(s['emissions_kg']))}</td>"
                f"<td class=\"n\">{esc(units.number(s['power_w']))} W</td>"
                f"<td class=\"n\">{esc(units.number(per_sample)) if per_sample is not None else ''}</td>"
                f"<td class=\"n\">{esc(units.number(per_token)) if per_token is not None else ''}</td>"
            )
            rows.append(f'<tr data-step="{s["step"]}">{cells}</tr>')
        table = (
            "<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>"
        )  # fmt: skip
        total = sum(s["energy_kwh"] for s in steps)
        body = (
            f'<div class="cards"><div class="card" data-total="energy_kwh" data-value="{run["energy_kwh"]!r}">'
            f"<b>{esc(units.energy(run['energy_kwh'] or 0.0))}</b><span>the run</span></div>"
            f'<div class="card" data-total="steps_energy_kwh" data-value="{total!r}"><b>{esc(units.energy(total))}'
            f"</b><span>in {len(steps)} steps</span></div></div>"
            f'<div class="charts">{"".join(figures)}</div><h2>Steps</h2>{table}'
        )
        meta = (
            f"run {esc(run['run_id'])} · project {esc(label(run['project']))} · status {esc(run['status'])} · "
            f"store {esc(series.store)}"
        )
        return page("Energy per step", meta, body)

    def annual(self, statement: AnnualStatement) -> str:
        """A page an auditor can read and print: the totals table (MWh, t CO2e, six decimals), then each
        organisation's methods and sources."""
        title = f"Electricity of tracked computing, {statement.year}"
        meta = (
            f"Annual statement: runs started in {statement.year} (UTC) · store {esc(statement.store)} · "
            f"generated {esc(statement.generated_at)}"
        )
        if not statement.organisations:
            return page(title, meta, "<p>No runs started in this year.</p>")
        parts = [_annual_table(statement), _by_source(statement)]
        for o in statement.organisations:
            parts.append(f"<h2>Methods and data sources: {esc(label(o.organisation))}</h2>")
            lines = "".join(
                f"<tr><td>{esc(s.kind)}</td><td>{esc(label(s.name))}</td>"
                f'<td class="n">{esc(units.percent(s.energy_share))}</td>'
                f'<td class="n">{s.runs:,}</td></tr>'
                for s in sorted(o.sources, key=lambda s: (s.kind, -s.energy_share))
            )
            parts.append(
                '<table class="sources-table"><thead><tr><th>Kind</th><th>Method or source</th>'
                f'<th class="n">Share of energy</th><th class="n">Runs</th></tr></thead><tbody>{lines}</tbody></table>'
            )
            parts.append(f'<p data-field="energy_mix">Energy mix (E1-5): {esc(mix_line(o))}</p>')
        parts.append(
            '<h2>Methods</h2><p class="sources">Location-based: each run\'s energy x the grid intensity of its zone '
            "and hour. Market-based: the supplier mix where configured, else the location-based figure (GHG Protocol "
            "Scope 2 Guidance). Energy is the electricity drawn from the grid, IT energy x PUE. Embodied emissions of "
            "the hardware are Scope 3 and shown apart. In the spirit of ESRS E1-5 (energy) and E1-6 (gross Scope 2): "
            "a statement of the tracked computing, not a complete corporate inventory.</p>"
        )
        return page(title, meta, "".join(parts))

    def recommendations(self, items: Recommendations) -> str:
        """Per place: what it used and emitted, the greener places with their savings, the greener hours."""
        title = "Greener places and hours"
        meta = f"store {esc(items.store)} · generated {esc(items.generated_at)}"
        if not items:
            body = "<p>No runs with a known zone, country or cloud region.</p>" + _shifting(items.shifting)
            return page(title, meta, body)
        parts = []
        for r in items:
            parts.append(
                f'<h2 data-place="{esc(r.place)}">{esc(label(r.place))}</h2><p>{esc(units.energy(r.energy_kwh))} from '
                f'the grid, <span data-field="emissions_kg" data-value="{r.emissions_kg!r}">'
                f"{esc(units.mass(r.emissions_kg))}</span> CO2e recorded; "
                f'<span data-field="baseline_kg" data-value="{r.baseline_kg!r}">'
                f"{esc(units.mass(r.baseline_kg))}</span> "
                f"at the yearly {esc(units.intensity(r.g_per_kwh))} compared below ({esc(r.basis)}).</p>"
            )
            if r.constraint:
                parts.append(f"<p>Places compared: {esc(r.constraint)}.</p>")
            if r.alternatives:
                rows = "".join(
                    f'<tr><td>{esc(label(a.place))}</td><td class="n">{esc(units.intensity(a.g_per_kwh))}</td>'
                    f'<td class="n" data-field="saved_kg" data-value="{a.saved_kg!r}">'
                    f"{esc(units.mass(a.saved_kg))}</td>"
                    f'<td class="n">{esc(units.percent(a.saved_pct / 100.0))}</td></tr>'
                    for a in r.alternatives
                )
                parts.append(
                    '<table><thead><tr><th>Instead in</th><th class="n">Yearly intensity</th>'
                    f'<th class="n">CO2e less</th><th class="n">Less by</th></tr></thead><tbody>{rows}</tbody></table>'
                )
            elif r.compared:
                parts.append(
                    f"<p>Already the greenest of {r.compared + 1} comparable places in the embedded tables.</p>"
                )
            else:
                parts.append("<p>Not compared: the embedded tables hold no comparable place for it.</p>")
            if r.greener_hours_utc:
                hours = ", ".join(f"{h:02d}:00" for h in r.greener_hours_utc)
                parts.append(f"<p>Greener hours (UTC): {esc(hours)}</p>")
            parts.append(f'<p class="sources">{esc(hourly_note(r))}</p>')
        parts.append(_shifting(items.shifting))
        return page(title, meta, "".join(parts))


def _shifting(shifts: list[Any]) -> str:
    """The section "What shifting would have saved": per project, in time and in place, with the notes."""
    if not shifts:
        return ""

    def cell(kg: float, pct: float | None, runs: int, field: str) -> str:
        if not runs:
            return '<td class="n">not compared</td><td class="n"></td>'
        return (
            f'<td class="n" data-field="{field}" data-value="{kg!r}">{esc(units.mass(kg))}</td>'
            f'<td class="n">{esc(units.percent((pct or 0.0) / 100.0))}</td>'
        )

    rows = "".join(
        f'<tr data-project="{esc(s.project)}"><td>{esc(label(s.project))}</td><td class="n">{s.runs:,}</td>'
        f'<td class="n">{esc(units.mass(s.emissions_kg))}</td>'
        f"{cell(s.time_saved_kg, s.time_saved_pct, s.time_runs, 'time_saved_kg')}"
        f"{cell(s.place_saved_kg, s.place_saved_pct, s.place_runs, 'place_saved_kg')}</tr>"
        for s in shifts
    )
    notes = sorted({n for s in shifts for n in (s.time_note, s.place_note) if n})
    return (
        '<h2 id="shifting">What shifting would have saved</h2><table><thead><tr><th>Project</th>'
        '<th class="n">Runs</th><th class="n">CO2e recorded</th><th class="n">In time: less</th><th class="n">by</th>'
        f'<th class="n">In place: less</th><th class="n">by</th></tr></thead><tbody>{rows}</tbody></table>'
        '<p class="sources">In time: each run in the best window of its UTC day, same zone, from hourly data '
        "(overlap-weighted, as the Carbon Aware SDK). In place: the greenest allowed place (same provider's regions "
        "or neighbouring zones, same jurisdiction for data), yearly figures.</p>"
        + "".join(f'<p class="sources">{esc(n)}</p>' for n in notes)
    )


# (attribute, column title) of the statement's table.
ANNUAL_COLUMNS = (
    ("energy_mwh", "Energy MWh (grid, incl. PUE; E1-5)"),
    ("it_energy_mwh", "IT energy MWh"),
    ("location_based_t", "Scope 2 location-based t CO2e (E1-6)"),
    ("market_based_t", "Scope 2 market-based t CO2e (E1-6)"),
    ("embodied_t", "Embodied t CO2e (Scope 3, apart)"),
)


def _by_source(statement: AnnualStatement) -> str:
    """Each organisation's sources (runs, equipment, cloud, ...) and the overlap taken out, when there is more than
    runs; empty otherwise."""
    from tracker.reports.render.phrases import OVERLAP_NOTE, SOURCE_NAMES

    if not any(len(o.by_source) > 1 or any(p.kind != "run" for p in o.by_source) for o in statement.organisations):
        return ""
    head = "".join(f'<th class="n">{esc(t)}</th>' for _, t in ANNUAL_COLUMNS)
    rows = "".join(
        f'<tr data-source="{esc(p.kind)}"><td>{esc(label(o.organisation))}</td>'
        f"<td>{esc(SOURCE_NAMES.get(p.kind, p.kind))}</td>"
        f'<td class="n">{p.records:,}</td>'
        + "".join(
            f'<td class="n" data-field="{f}" data-value="{getattr(p, f)!r}">{getattr(p, f):,.6f}</td>'
            for f, _ in ANNUAL_COLUMNS
        )
        + "</tr>"
        for o in statement.organisations
        for p in o.by_source
    )
    return (
        "<h2>By source</h2><table><thead><tr><th>Organisation</th><th>Source</th>"
        f'<th class="n">Records</th>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f'<p class="sources">{esc(OVERLAP_NOTE)}</p>'
    )


def _annual_table(statement: AnnualStatement) -> str:
    """Each figure carries its exact value in ``data-value`` (as the JSON form has it)."""

    def cells(o: Any) -> str:
        return "".join(
            f'<td class="n" data-field="{f}" data-value="{getattr(o, f)!r}">{getattr(o, f):,.6f}</td>'
            for f, _ in ANNUAL_COLUMNS
        )

    head = "".join(f'<th class="n">{esc(t)}</th>' for _, t in ANNUAL_COLUMNS)
    rows = "".join(
        f'<tr data-organisation="{esc(label(o.organisation))}"><td>{esc(label(o.organisation))}</td>'
        f'<td class="n" data-field="runs" data-value="{o.runs}">{o.runs:,}</td>{cells(o)}</tr>'
        for o in statement.organisations
    )
    if len(statement.organisations) > 1:
        total = OrganisationYear(
            "all organisations",
            statement.year,
            sum(o.runs for o in statement.organisations),
            *(math.fsum(getattr(o, f) for o in statement.organisations) for f, _ in ANNUAL_COLUMNS),
        )
        rows += (
            f'<tr class="total"><td>all organisations</td><td class="n">{total.runs:,}</td>'
            + "".join(f'<td class="n">{getattr(total, f):,.6f}</td>' for f, _ in ANNUAL_COLUMNS)
            + "</tr>"
        )
    return (
        f'<table id="statement"><thead><tr><th>Organisation</th><th class="n">Runs</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


RENDERER = HtmlRenderer()
