"""Server-side SVG charts: no JavaScript, no CDN, nothing fetched by the browser.

Each chart is an inline <svg> with a stable id, a <title> and <desc> for assistive
technology, and presentation attributes only (no style attributes: the CSP forbids them).
Colours come from classes styled in console.css.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 36


MAX_INTERVALS = 6


def scale(value: int) -> tuple[int, int]:
    """The axis for a largest value of `value`: (top, step), where the step is a round
    number (1, 2 or 5 x 10^n) and the top is the first multiple of it at or above `value`,
    in at most MAX_INTERVALS steps. Ticks land on round numbers (0, 50, 100, ..., never 12
    or 38) and the axis ends less than one step above the largest value (300 for 260)."""
    if value <= 0:
        return 1, 1
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = magnitude * factor
            intervals = -(-value // step)  # ceiling division
            if intervals <= MAX_INTERVALS:
                return step * intervals, step
        magnitude *= 10


def _axis(top: int, step: int, plot_h: float, width: int = WIDTH) -> list[str]:
    parts = []
    for value in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * value / top
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end" data-value="{value}">{value:,}</text>'
        )
    return parts


def _open(chart_id: str, title: str, desc: str, width: int = WIDTH) -> str:
    return (
        f'<svg id="{escape(chart_id)}" class="chart" viewBox="0 0 {width} {HEIGHT}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )


def bar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[int]) -> Markup:
    """One bar (<rect class="bar">) per label, with its value above it."""
    desc = "; ".join(f"{label}: {value:,}" for label, value in zip(labels, values, strict=True))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_value, step = scale(max(values, default=0))
    slot = plot_w / max(len(labels), 1)
    parts = [_open(chart_id, title, desc), *_axis(top_value, step, plot_h)]
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top_value
        x = LEFT + slot * n + slot * 0.15
        y = TOP + plot_h - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {value:,}</title></rect>"
        )
        parts.append(
            f'<text class="value" x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" '
            f'text-anchor="middle">{value:,}</text>'
        )
        parts.append(
            f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label in parts went through escape()


def _day_labels(days: Sequence[date], x_of: list[float]) -> list[str]:
    parts = []
    for n, day in enumerate(days):
        last = n == len(days) - 1
        if n % 5 == 0 or last:
            # The last label ends at its day, so that it stays inside the chart.
            parts.append(
                f'<text class="axis" x="{x_of[n]:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="{"end" if last else "middle"}">{day.strftime("%m-%d")}</text>'
            )
    return parts


def line_chart(
    chart_id: str, title: str, days: Sequence[date], series: Mapping[str, Sequence[int]]
) -> Markup:
    """One polyline per series (class "series-<n>"), a point per day."""
    totals = ", ".join(f"{name}: {sum(values):,}" for name, values in series.items())
    desc = f"Per day from {days[0]} to {days[-1]}; totals {totals}" if days else title
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_value, tick = scale(max((max(v, default=0) for v in series.values()), default=0))
    step = plot_w / max(len(days) - 1, 1)
    x_of = [LEFT + step * n for n in range(len(days))]
    parts = [_open(chart_id, title, desc), *_axis(top_value, tick, plot_h)]
    for index, (name, values) in enumerate(series.items()):
        points = " ".join(
            f"{x_of[n]:.1f},{TOP + plot_h - plot_h * v / top_value:.1f}"
            for n, v in enumerate(values)
        )
        parts.append(
            f'<polyline class="line series-{index}" points="{points}" fill="none">'
            f"<title>{escape(name)}</title></polyline>"
        )
        for n, v in enumerate(values):
            parts.append(
                f'<circle class="point series-{index}" cx="{x_of[n]:.1f}" '
                f'cy="{TOP + plot_h - plot_h * v / top_value:.1f}" r="2.5">'
                f"<title>{escape(name)} {days[n].isoformat()}: {v:,}</title></circle>"
            )
    parts.extend(_day_labels(days, x_of))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label in parts went through escape()


def stacked_chart(
    chart_id: str,
    title: str,
    days: Sequence[date],
    series: Mapping[str, Sequence[int]],
    width: int = WIDTH,
    classes: Sequence[str] | None = None,
) -> Markup:
    """A stacked bar per day, one segment per series (class "series-<n>", or the series'
    entry in `classes` when a chart's colours mean something). Each segment carries its
    series, day and value as data attributes. A chart that spans the page gets a wider
    `width`, so that its text keeps the size of the others'."""
    totals = ", ".join(f"{name}: {sum(values):,}" for name, values in series.items())
    desc = f"Per day from {days[0]} to {days[-1]}; totals {totals}" if days else title
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    day_totals = [sum(values[n] for values in series.values()) for n in range(len(days))]
    top_value, tick = scale(max(day_totals, default=0))
    slot = plot_w / max(len(days), 1)
    x_of = [LEFT + slot * n + slot / 2 for n in range(len(days))]
    parts = [_open(chart_id, title, desc, width), *_axis(top_value, tick, plot_h, width)]
    names = [f"series-{index}" for index in range(len(series))] if classes is None else classes
    for n, day in enumerate(days):
        y: float = TOP + plot_h
        for index, (name, values) in enumerate(series.items()):
            if not values[n]:
                continue
            h = plot_h * values[n] / top_value
            y -= h
            parts.append(
                f'<rect class="segment {escape(names[index])}" x="{x_of[n] - slot * 0.35:.1f}" '
                f'y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                f'data-series="{escape(name)}" data-day="{day.isoformat()}" '
                f'data-value="{values[n]}">'
                f"<title>{escape(name)} {day.isoformat()}: {values[n]:,}</title></rect>"
            )
    parts.extend(_day_labels(days, x_of))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label in parts went through escape()
