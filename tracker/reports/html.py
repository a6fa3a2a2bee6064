"""The HTML report: one self-contained file (inline CSS and SVG, no script, no font or CDN), readable offline.

Charts are drawn here as SVG: emissions over time, emissions per project, energy per component, and the
everyday equivalents. Every string that comes from the data (project names, periods, filters, the store path)
goes through :func:`html.escape` before it touches the markup, in text and in attributes alike; numbers are
formatted by Python. Each total shown also carries its exact value in a ``data-value`` attribute, so a test
(or a script) can compare the page with the JSON report without parsing formatted text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from tracker._version import __version__
from tracker.carbon.equivalents import CONSTANTS, LABELS
from tracker.reports.data import Report
from tracker.reports.text import _SHOWN, _cell, _label

_PALETTE = ("#2f7d4f", "#4f8fc0", "#c98b2b", "#8a5fb0", "#c0504d", "#5b9c9c")

_CSS = """
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
"""


def _e(value: Any) -> str:
    """Escape for text and for quoted attributes."""
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def hbar_chart(items: Sequence[tuple[str, float]], unit: str, chart_id: str) -> str:
    """Horizontal bars, one per labelled value (largest first is the caller's choice)."""
    if not items:
        return '<p class="meta">no data</p>'
    bar_h, gap, label_w, width = 22, 6, 170, 560
    top = max(v for _, v in items) or 1.0
    height = len(items) * (bar_h + gap) + gap
    parts = [f'<svg id="{_e(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%">']
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = max(0.0, (width - label_w - 90) * value / top)
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(
            f'<g class="bar"><title>{_e(label)}: {_e(_num(value))} {_e(unit)}</title>'
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{_e(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
            f'fill="{_PALETTE[i % len(_PALETTE)]}" data-value="{value!r}"></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{_e(_num(value))} {_e(unit)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def axis_ticks(top: float) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 x 10^k) up to the first at or above ``top``: 3 to 6 gridlines."""
    import math

    if not top > 0 or not math.isfinite(top):
        return [0.0, 1.0]
    magnitude = 10.0 ** math.floor(math.log10(top))
    step = next(m * magnitude for m in (0.2, 0.25, 0.5, 1.0, 2.0) if top / (m * magnitude) <= 5)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(count + 1)]


def _tick(value: float) -> str:
    """An axis label: as many decimals as the round step needs, no trailing zeros (50, 0.25, 1,000,000)."""
    return f"{value:,.10f}".rstrip("0").rstrip(".")


def column_chart(items: Sequence[tuple[str, float]], unit: str, chart_id: str) -> str:
    """Vertical bars in time order, with the value axis labelled at its top."""
    if not items:
        return '<p class="meta">no data</p>'
    width, height, left, bottom, top_pad = 560, 260, 50, 50, 20
    ticks = axis_ticks(max(v for _, v in items))
    top = ticks[-1]
    slot = (width - left - 10) / len(items)
    bar_w = max(2.0, slot * 0.7)
    plot_h = height - bottom - top_pad
    parts = [f'<svg id="{_e(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%">']
    for tick in ticks:  # round-numbered gridlines, labelled on the left
        y = top_pad + plot_h - plot_h * tick / top
        colour = "#999" if tick == 0 else "#e3ebe6"
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{colour}"/>')
        parts.append(f'<text class="tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_e(_tick(tick))}</text>')
    parts.append(f'<text x="4" y="10">{_e(unit)}</text>')
    every = max(1, len(items) // 12)
    for i, (label, value) in enumerate(items):
        h = plot_h * value / top
        x = left + i * slot + (slot - bar_w) / 2
        parts.append(
            f'<g class="bar"><title>{_e(label)}: {_e(_num(value))} {_e(unit)}</title>'
            f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{_PALETTE[0]}" data-value="{value!r}"></rect></g>'
        )
        if i % every == 0:
            cx, cy = x + bar_w / 2, top_pad + plot_h + 12
            parts.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="end" transform="rotate(-40 {cx:.1f} {cy:.1f})">'
                f"{_e(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _table(report: Report) -> str:
    head = "".join(f"<th>{_e(k)}</th>" for k in report.keys)
    head += "".join(f'<th class="n">{_e(title)}</th>' for _, title, _ in _SHOWN)
    body = []
    for row in report.rows:
        cells = "".join(f"<td>{_e(_label(row[k]))}</td>" for k in report.keys)
        cells += "".join(f'<td class="n">{_e(_cell(c, f, row))}</td>' for c, _, f in _SHOWN)
        body.append(f"<tr>{cells}</tr>")
    total = {**report.total, "runs": int(report.total["runs"])}
    cells = f'<td colspan="{max(1, len(report.keys))}">total</td>' if report.keys else ""
    cells += "".join(
        f'<td class="n" data-total="{c}" data-value="{total[c]!r}">{_e(_cell(c, f, total))}</td>' for c, _, f in _SHOWN
    )
    rows = "".join(body)
    return (
        f'<table id="totals"><thead><tr>{head}</tr></thead><tbody>{rows}<tr class="total">{cells}</tr></tbody></table>'
    )


def render(report: Report) -> str:
    """The whole page as a string."""
    total = report.total
    equivalents = report.equivalents.to_dict()
    cards = [
        ("emissions_kg", _num(total["emissions_kg"]), "kg CO2e (location-based)"),
        ("emissions_market_kg", _num(total["emissions_market_kg"]), "kg CO2e (market-based)"),
        ("facility_energy_kwh", _num(total["facility_energy_kwh"]), "kWh from the grid (incl. PUE)"),
        ("runs", f"{int(total['runs']):,}", "runs"),
    ]
    card_html = "".join(
        f'<div class="card" data-total="{key}" data-value="{total[key]!r}">'
        f"<b>{_e(text)}</b><span>{_e(caption)}</span></div>"
        for key, text, caption in cards
    )
    timeline = [(str(r["period"]), r["emissions_kg"]) for r in report.timeline]
    projects = sorted(((_label(r["project"]), r["emissions_kg"]) for r in report.projects), key=lambda x: -x[1])
    components = [(name, total[f"{name.lower()}_energy_kwh"]) for name in ("CPU", "GPU", "RAM")]
    equiv_cards = "".join(
        f'<div class="card" data-equivalent="{k}" data-value="{equivalents[k]!r}"><b>{_e(_num(equivalents[k]))}</b>'
        f"<span>{_e(LABELS[k])}</span></div>"
        for k in LABELS
    )
    figures = [
        (
            "chart-time",
            f"Emissions over time (per {report.period or 'month'})",
            column_chart(timeline, "kg CO2e", "svg-time"),
        ),
        ("chart-projects", "Emissions by project", hbar_chart(projects[:20], "kg", "svg-projects")),
        ("chart-components", "Energy by component (before PUE)", hbar_chart(components, "kWh", "svg-components")),
        ("chart-equivalents", "What the total compares with", f'<div class="cards">{equiv_cards}</div>'),
    ]
    charts = "".join(
        f'<figure id="{fid}"><figcaption>{_e(caption)}</figcaption>{svg}</figure>' for fid, caption, svg in figures
    )
    filters = ", ".join(f"{k} = {v}" for k, v in report.filters.items()) or "all runs"
    sources = "".join(
        f"<li>{_e(c.name)}: {_e(_num(c.value))} {_e(c.unit)} — {_e(c.source)} ({c.year})</li>" for c in CONSTANTS
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Energy and emissions report</title><style>{_CSS}</style></head><body>"
        "<h1>Energy and emissions report</h1>"
        f'<p class="meta">{_e(filters)} · store {_e(report.store)} · generated {_e(report.generated_at)} · '
        f"tracker {_e(__version__)}</p>"
        f'<div class="cards">{card_html}</div>'
        f'<div class="charts">{charts}</div>'
        f"<h2>Totals by {_e(', '.join(report.keys) or 'everything')}</h2>{_table(report)}"
        f'<h2>Equivalents</h2><ul class="sources">{sources}</ul>'
        '<p class="sources">Location-based emissions use the grid intensity of each run\'s zone; market-based '
        "use the supplier mix where one was configured (GHG Protocol Scope 2). Energy-based equivalents use the "
        "energy drawn from the grid; the car uses location-based emissions.</p>"
        "</body></html>\n"
    )
