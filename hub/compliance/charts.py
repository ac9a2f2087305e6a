"""Charts as server-rendered SVG: real <text> labels (the browser and the PDF renderer
shape Lao in them), presentation attributes only (the CSP forbids inline styles),
readable in print.  Every chart comes with a table of the same numbers in the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import format_decimal
from flask_babel import gettext as _
from markupsafe import Markup, escape

# Distinct in colour and still apart in grey when printed.
PALETTE = ("#0b5394", "#e69138", "#38761d", "#990000", "#674ea7", "#45818e", "#bf9000", "#666666")
WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 44, 44
PLOT_H = HEIGHT - TOP - BOTTOM


@dataclass
class Series:
    label: str
    values: Sequence[float | None]
    colour: str


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (steps of 1, 2 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if top >= 1 and step < 1:
        step = 1.0
    n = math.ceil(top / step)
    return [i * step for i in range(n + 1)]


def _num(value: float) -> str:
    return format_decimal(value, format="#,##0.#")


def _text(
    x: float,
    y: float,
    body: object,
    *,
    anchor: str = "middle",
    size: int = 11,
    weight: str | None = None,
    rotate: float | None = None,
) -> str:
    extra = f' font-weight="{weight}"' if weight else ""
    if rotate is not None:
        extra += f' transform="rotate({rotate} {x:.1f} {y:.1f})"'
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="#1b1f23"{extra}>{escape(body)}</text>'
    )


def bar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    stacked: bool = True,
    reference: tuple[float, str] | None = None,
    chart_id: str = "chart",
    font_family: str = "Hub Sans, Noto Sans, Noto Sans Lao, sans-serif",
) -> Markup:
    """Bars per category (stacked or side by side), a legend, axes with labels, and
    optionally a dashed reference line (e.g. the deadline) with its own label."""
    chart_id = str(escape(chart_id))
    # Legend first: swatch and label per series (and the reference line), wrapped
    # into rows, so the plot starts below however many rows the labels need.
    entries = [(s.label, s.colour, False) for s in series]
    if reference:
        entries.append((reference[1], "#a40e26", True))
    legend, x, row = [], LEFT, 0
    for label, colour, is_line in entries:
        width = 30 + 7 * len(label)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = LEFT, row + 1
        legend.append((x, 10 + 18 * row, label, colour, is_line))
        x += width
    top_margin = TOP + 18 * row
    height = top_margin + PLOT_H + BOTTOM
    plot_w, plot_h = WIDTH - LEFT - RIGHT, PLOT_H
    n = max(len(categories), 1)
    if stacked:
        tops = [sum(s.values[i] or 0 for s in series) for i in range(len(categories))]
    else:
        tops = [max((s.values[i] or 0 for s in series), default=0) for i in range(len(categories))]
    top = max([*tops, reference[0] if reference else 0, 0])
    ticks = nice_ticks(top)
    scale = plot_h / (ticks[-1] or 1)
    base = top_margin + plot_h
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-title" class="chart" '
        f'font-family="{escape(font_family)}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for x0, y0, label, colour, is_line in legend:
        if is_line:
            out.append(
                f'<line x1="{x0}" y1="{y0 + 6}" x2="{x0 + 18}" y2="{y0 + 6}" stroke="{colour}" '
                f'stroke-width="2" stroke-dasharray="5 3"/>'
            )
        else:
            out.append(f'<rect x="{x0}" y="{y0}" width="12" height="12" fill="{colour}"/>')
        out.append(_text(x0 + (22 if is_line else 16), y0 + 10, label, anchor="start"))
    # Axes and grid.
    for tick in ticks:
        y = base - tick * scale
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
        )
        out.append(_text(LEFT - 6, y + 4, _num(tick), anchor="end", size=10))
    out.append(_text(14, top_margin + plot_h / 2, y_label, size=10, rotate=-90))
    slot = plot_w / n
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(categories):
        cx = LEFT + slot * (i + 0.5)
        if i % every == 0:
            out.append(_text(cx, base + 16, label, size=10))
    # Bars.
    bar_width = slot * 0.7
    for i in range(len(categories)):
        bar_x = LEFT + slot * i + (slot - bar_width) / 2
        stack = 0.0
        for k, s in enumerate(series):
            value = s.values[i]
            if not value:
                continue
            h = value * scale
            if stacked:
                y = base - (stack + value) * scale
                out.append(
                    f'<rect x="{bar_x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{h:.1f}" '
                    f'fill="{s.colour}"><title>{escape(categories[i])} · {escape(s.label)}: '
                    f"{escape(_num(value))}</title></rect>"
                )
                stack += value
            else:
                w = bar_width / len(series)
                out.append(
                    f'<rect x="{bar_x + k * w:.1f}" y="{base - h:.1f}" width="{w:.1f}" '
                    f'height="{h:.1f}" fill="{s.colour}"><title>{escape(categories[i])} · '
                    f"{escape(s.label)}: {escape(_num(value))}</title></rect>"
                )
    if reference:
        y = base - reference[0] * scale
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="#a40e26" stroke-width="2" stroke-dasharray="5 3"/>'
        )
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#1b1f23"/>')
    if not categories or not any(any(v for v in s.values) for s in series):
        out.append(_text(LEFT + plot_w / 2, top_margin + plot_h / 2, _("No data in this period.")))
    out.append("</svg>")
    # Every text that reaches the SVG went through escape() above; the rest is numbers.
    return Markup("".join(out))  # noqa: S704  # nosec B704
