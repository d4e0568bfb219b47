"""Charts drawn on the server as inline SVG: horizontal bars (one or more series a row) and a
line over ordered points. No script and no style attribute (the console's CSP allows neither):
colours are SVG presentation attributes. Every text is escaped; each chart has a title and a
description for screen readers, and its page shows the same figures as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# One colour a series (the second is the p90 beside a p50, say); dark enough on white.
COLOURS = ("#0b5394", "#e69138", "#6aa84f", "#a64d79")
_LABEL_WIDTH = 180
_PLOT_WIDTH = 440
_VALUE_WIDTH = 80
_ROW = 8
_BAR = 16
_TOP = 28


@dataclass(frozen=True)
class Row:
    """One row of a bar chart: its label and one value a series (None: nothing to draw)."""

    label: str
    values: tuple[float | None, ...]


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, anchor: str = "start", css: str = "label") -> str:
    return (
        f'<text class="{css}" x="{_number(x)}" y="{_number(y)}" text-anchor="{anchor}" '
        f'font-size="12" fill="#1d2733">{escape(text)}</text>'
    )


def _frame(chart_id: str, title: str, description: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" '
        f'role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
    )


def _legend(series: Sequence[str], y: float) -> list[str]:
    parts = []
    x = float(_LABEL_WIDTH)
    for index, name in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<rect x="{_number(x)}" y="{_number(y - 10)}" width="12" height="12" fill="{colour}"/>'
        )
        parts.append(_text(x + 16, y, name, css="legend"))
        x += 24 + 8 * len(name) + (8 * sum(ord(c) > 0x2E80 for c in name))
    return parts


def bar_chart(
    chart_id: str,
    title: str,
    rows: Sequence[Row],
    series: Sequence[str],
    maximum: float,
    formatted: Sequence[Sequence[str]],
) -> Markup:
    """Horizontal bars, ``len(series)`` a row, scaled to ``maximum``; ``formatted[i][j]`` is the
    text shown at the end of row i's bar j (a percentage, days...)."""
    band = _BAR * len(series) + _ROW
    height = _TOP + band * max(len(rows), 1) + 8
    width = _LABEL_WIDTH + _PLOT_WIDTH + _VALUE_WIDTH
    scale = _PLOT_WIDTH / maximum if maximum > 0 else 0.0
    parts = [_frame(chart_id, title, ", ".join(series), width, height)]
    if len(series) > 1:
        parts.extend(_legend(series, 16))
    parts.append(
        f'<line x1="{_LABEL_WIDTH}" y1="{_TOP - 4}" x2="{_LABEL_WIDTH}" y2="{height - 4}" '
        'stroke="#5b6776" stroke-width="1"/>'
    )
    for i, row in enumerate(rows):
        top = _TOP + i * band
        parts.append(_text(_LABEL_WIDTH - 6, top + band / 2, row.label, anchor="end"))
        for j, value in enumerate(row.values):
            y = top + j * _BAR
            end = float(_LABEL_WIDTH)
            if value is not None:
                length = max(value * scale, 0.0)
                end += length
                colour = COLOURS[j % len(COLOURS)]
                parts.append(
                    f'<rect class="bar" x="{_LABEL_WIDTH}" y="{_number(y)}" '
                    f'width="{_number(length)}" height="{_BAR - 3}" fill="{colour}">'
                    f"<title>{escape(row.label)} · {escape(series[j])}: "
                    f"{escape(formatted[i][j])}</title></rect>"
                )
            parts.append(_text(end + 4, y + _BAR - 5, formatted[i][j], css="value"))
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    chart_id: str,
    title: str,
    points: Sequence[tuple[str, float | None]],
    maximum: float,
    formatted: Sequence[str],
) -> Markup:
    """A line over ``points`` (label, value) left to right, scaled to ``maximum``; a point
    without a value breaks the line there."""
    width, height = _LABEL_WIDTH + _PLOT_WIDTH + _VALUE_WIDTH, 240
    left, right, top, bottom = 48, width - 24, 20, height - 40
    step = (right - left) / max(len(points) - 1, 1)
    scale = (bottom - top) / maximum if maximum > 0 else 0.0
    parts = [_frame(chart_id, title, title, width, height)]
    for fraction in (0.0, 0.5, 1.0):
        y = bottom - fraction * maximum * scale
        parts.append(
            f'<line x1="{left}" y1="{_number(y)}" x2="{right}" y2="{_number(y)}" '
            'stroke="#d5dbe3" stroke-width="1"/>'
        )
        parts.append(_text(left - 6, y + 4, f"{fraction * 100:.0f}%", anchor="end", css="axis"))
    segments: list[list[str]] = [[]]
    for index, (label, value) in enumerate(points):
        x = left + index * step if len(points) > 1 else (left + right) / 2
        parts.append(_text(x, bottom + 18, label, anchor="middle", css="axis"))
        if value is None:
            segments.append([])
            continue
        y = bottom - value * scale
        segments[-1].append(f"{_number(x)},{_number(y)}")
        parts.append(
            f'<circle class="point" cx="{_number(x)}" cy="{_number(y)}" r="4" '
            f'fill="{COLOURS[0]}"><title>{escape(label)}: {escape(formatted[index])}</title>'
            "</circle>"
        )
    for segment in segments:
        if len(segment) > 1:
            parts.append(
                f'<polyline class="line" points="{" ".join(segment)}" fill="none" '
                f'stroke="{COLOURS[0]}" stroke-width="2"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
