"""Charts as inline SVG, drawn in Python: no script to run, nothing to fetch, and they
print. Colours come from CSS classes (``s0`` .. ``s7``, ``sother``) so the page's light and
dark styles apply; every chart has a ``<title>`` and ``<desc>`` for screen readers and
every bar segment a ``<title>`` that a pointer shows.

Every string that reaches the markup goes through :func:`esc`: series names are model and
project names, which anyone who can send a call chooses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

# The drawing's own units; the SVG scales to the page's width through its viewBox.
WIDTH = 600
HEIGHT = 240
LEFT = 60  # room for the y axis' dollar labels
RIGHT = 8
TOP = 12
BOTTOM = 28  # room for the x axis' labels
MAX_X_LABELS = 12
PALETTE_SIZE = 8


def esc(text: str) -> str:
    return escape(text, quote=True)


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]
    css: str  # the class that colours it: s0..s7 or sother


def series_class(index: int, is_other: bool) -> str:
    return "sother" if is_other else f"s{index % PALETTE_SIZE}"


def nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``ticks`` lines."""
    raw = top / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10.0 * magnitude


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    tick_labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
) -> str:
    """Bars per bucket, one segment per series, the first series at the bottom.

    ``labels`` name each bucket in full (in the segments' titles), ``tick_labels`` are
    their short forms under the axis (thinned out to at most ``MAX_X_LABELS``)."""
    n = len(labels)
    totals = [sum(s.values[i] for s in series) for i in range(n)]
    peak = max(totals, default=0.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = nice_step(peak) if peak > 0 else 1.0
    y_max = step * math.ceil(peak / step) if peak > 0 else 1.0
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{esc(title)}</title>',
        f'<desc id="{chart_id}-d">{esc(desc)}</desc>',
    ]
    # Grid lines and the y axis' labels.
    ticks = round(y_max / step)
    for t in range(ticks + 1):
        y = TOP + plot_h - plot_h * t / ticks
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        out.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{esc(fmt(step * t))}</text>"
        )
    slot = plot_w / max(n, 1)
    bar_w = max(slot * 0.78, 1.0)
    every = max(1, math.ceil(n / MAX_X_LABELS))
    for i in range(n):
        x = LEFT + i * slot + (slot - bar_w) / 2
        base = float(TOP + plot_h)
        for s in series:
            v = s.values[i]
            if v <= 0:
                continue
            h = plot_h * v / y_max
            base -= h
            out.append(
                f'<rect class="{s.css}" x="{x:.2f}" y="{base:.2f}" width="{bar_w:.2f}" '
                f'height="{max(h, 0.5):.2f}"><title>{esc(labels[i])} · {esc(s.name)}: '
                f"{esc(fmt(v))}</title></rect>"
            )
        if i % every == 0:
            cx = LEFT + i * slot + slot / 2
            out.append(
                f'<text class="axis x" x="{cx:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{esc(tick_labels[i])}</text>"
            )
    out.append(
        f'<line class="base" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
        f'y2="{TOP + plot_h}"/>'
    )
    out.append("</svg>")
    return "".join(out)


def bar(share: float) -> str:
    """A horizontal bar for a table cell, ``share`` of the cell's width (0..1). SVG rather
    than a CSS background because browsers leave backgrounds out when printing."""
    width = max(0.0, min(share, 1.0)) * 100
    return (
        '<svg class="hbar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">'
        f'<rect class="track" width="100" height="10"/><rect class="fill" width="{width:.2f}" '
        'height="10"/></svg>'
    )
