"""Inline SVG charts for the HTML pages: horizontal bars, columns over time, and lines per group over time.

No script and no library: the page must open from a file, print, and survive a mail attachment. Labels are
escaped; every bar and point carries its raw value (in the data's own unit, kg or kWh) in ``data-value``, while
what is drawn and written uses a unit that fits (``size`` converts: 0.001 draws kg as g).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from tracker.reports.render.labels import clip, esc
from tracker.reports.render.units import number

PALETTE = ("#2f7d4f", "#4f8fc0", "#c98b2b", "#8a5fb0", "#c0504d", "#5b9c9c")
OTHER = "#9aa5a0"  # the line that sums the groups not drawn one by one


def axis_ticks(top: float) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 x 10^k) up to the first at or above ``top``: 3 to 6 gridlines."""
    if not top > 0 or not math.isfinite(top):
        return [0.0, 1.0]
    magnitude = 10.0 ** math.floor(math.log10(top))
    step = next(m * magnitude for m in (0.2, 0.25, 0.5, 1.0, 2.0) if top / (m * magnitude) <= 5)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(count + 1)]


def tick(value: float) -> str:
    """An axis label: as many decimals as the round step needs, no trailing zeros (50, 0.25, 1,000,000)."""
    return f"{value:,.10f}".rstrip("0").rstrip(".")


def _empty() -> str:
    return '<p class="meta">no data</p>'


def hbar_chart(items: Sequence[tuple[str, float]], show: Callable[[float], str], chart_id: str) -> str:
    """Horizontal bars, one per labelled value (largest first is the caller's choice); ``show`` writes a value."""
    if not items:
        return _empty()
    bar_h, gap, label_w, width = 22, 6, 170, 560
    top = max(v for _, v in items) or 1.0
    height = len(items) * (bar_h + gap) + gap
    parts = [f'<svg id="{esc(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%">']
    for i, (name, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = max(0.0, (width - label_w - 90) * value / top)
        parts.append(
            f'<g class="bar"><title>{esc(name)}: {esc(show(value))}</title>'
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end">{esc(clip(name, 26))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
            f'fill="{PALETTE[i % len(PALETTE)]}" data-value="{value!r}"></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}">{esc(show(value))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _grid(parts: list[str], ticks: list[float], left: int, right: int, top_pad: int, plot_h: float) -> None:
    """Round-numbered horizontal gridlines, labelled on the left."""
    top = ticks[-1]
    for value in ticks:
        y = top_pad + plot_h - plot_h * value / top
        colour = "#999" if value == 0 else "#e3ebe6"
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{colour}"/>')
        parts.append(f'<text class="tick" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{esc(tick(value))}</text>')


def _x_label(parts: list[str], x: float, y: float, text: str) -> None:
    parts.append(
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" transform="rotate(-40 {x:.1f} {y:.1f})">{esc(text)}</text>'
    )


def column_chart(items: Sequence[tuple[str, float]], unit: str, chart_id: str, size: float = 1.0) -> str:
    """Vertical bars in time order, with the value axis in ``unit`` labelled at its top; ``size`` is the unit's
    size in the values' unit (values are divided by it for drawing; ``data-value`` keeps them as given)."""
    if not items:
        return _empty()
    width, height, left, bottom, top_pad = 560, 260, 50, 50, 20
    ticks = axis_ticks(max(v for _, v in items) / size)
    top = ticks[-1]
    slot = (width - left - 10) / len(items)
    bar_w = max(2.0, slot * 0.7)
    plot_h = height - bottom - top_pad
    parts = [f'<svg id="{esc(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%">']
    _grid(parts, ticks, left, width - 10, top_pad, plot_h)
    parts.append(f'<text x="4" y="10">{esc(unit)}</text>')
    every = max(1, len(items) // 12)
    for i, (name, value) in enumerate(items):
        h = plot_h * value / size / top
        x = left + i * slot + (slot - bar_w) / 2
        parts.append(
            f'<g class="bar"><title>{esc(name)}: {esc(tick_value(value / size))} {esc(unit)}</title>'
            f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}" data-value="{value!r}"></rect></g>'
        )
        if i % every == 0:
            _x_label(parts, x + bar_w / 2, top_pad + plot_h + 12, name)
    parts.append("</svg>")
    return "".join(parts)


def tick_value(value: float) -> str:
    """A value in a chart's axis unit: three significant figures, no exponent."""
    return number(value)


def line_chart(
    periods: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    unit: str,
    chart_id: str,
    size: float = 1.0,
    other: str | None = None,
) -> str:
    """One line per group over the periods (a trend each), a legend below; ``series`` holds one value per
    period. The series named ``other`` (the groups not drawn one by one, summed) is drawn grey and dashed."""
    if not periods or not series:
        return _empty()
    width, left, right, top_pad, bottom = 560, 50, 550, 20, 50
    plot_h = 190.0
    legend_rows = math.ceil(len(series) / 2)
    height = int(top_pad + plot_h + bottom + legend_rows * 18 + 6)
    ticks = axis_ticks(max((max(values) for _, values in series), default=0.0) / size)
    top = ticks[-1]
    step = (right - left) / max(1, len(periods) - 1) if len(periods) > 1 else 0.0
    x0 = left + (0 if len(periods) > 1 else (right - left) / 2)
    parts = [f'<svg id="{esc(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%">']
    _grid(parts, ticks, left, right, top_pad, plot_h)
    parts.append(f'<text x="4" y="10">{esc(unit)}</text>')
    every = max(1, len(periods) // 12)
    for i, period in enumerate(periods):
        if i % every == 0:
            _x_label(parts, x0 + i * step, top_pad + plot_h + 12, period)
    for n, (name, values) in enumerate(series):
        colour = OTHER if name == other else PALETTE[n % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if name == other else ""
        points = [(x0 + i * step, top_pad + plot_h - plot_h * v / size / top) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<g class="series" data-group="{esc(name)}"><title>{esc(name)}</title>'
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}></polyline>'
        )
        for (x, y), period, value in zip(points, periods, values, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}" data-period="{esc(period)}" '
                f'data-value="{value!r}"><title>{esc(name)}, {esc(period)}: {esc(tick_value(value / size))} '
                f"{esc(unit)}</title></circle>"
            )
        parts.append("</g>")
        lx = 10 + (n % 2) * 275
        ly = top_pad + plot_h + bottom + (n // 2) * 18 + 6
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="12" height="4" fill="{colour}"></rect>'
            f'<text x="{lx + 18}" y="{ly - 4}">{esc(clip(name, 40))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
