"""Inline SVG charts for the HTML report: no script, no external file, prints as drawn."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 720
BAR = "#b03a2e"
MUTED = "#5d6d7e"


def _label(x: float, y: float, text: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" fill="{MUTED}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )


def columns(title: str, points: Sequence[tuple[str, int]], height: int = 160) -> str:
    """Vertical bars over time (one per point), the first and last label and the maximum."""
    top = max((v for _, v in points), default=0)
    left, right, base = 40, WIDTH - 10, height - 20
    step = (right - left) / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = 0.0 if top == 0 else (base - 10) * value / top
        bars.append(
            f'<rect class="bar" x="{left + i * step:.2f}" y="{base - h:.2f}" '
            f'width="{max(step - 0.5, 0.5):.2f}" height="{h:.2f}" fill="{BAR}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
    axis = [
        f'<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="{MUTED}"/>',
        _label(left - 4, 14, str(top), "end"),
        _label(left - 4, base, "0", "end"),
    ]
    if points:
        axis += [
            _label(left, height - 4, points[0][0]),
            _label(right, height - 4, points[-1][0], "end"),
        ]
    return _svg(title, height, axis + bars)


def hbars(title: str, items: Sequence[tuple[str, int, str]]) -> str:
    """Horizontal bars: (label, value, note) per row, longest is the largest value."""
    top = max((v for _, v, _ in items), default=0)
    row, left, right = 22, 230, WIDTH - 140
    parts = []
    for i, (label, value, note) in enumerate(items):
        y = 8 + i * row
        w = 0.0 if top == 0 else (right - left) * value / top
        parts += [
            _label(left - 6, y + 13, label[:36], "end"),
            f'<rect class="bar" x="{left}" y="{y}" width="{w:.2f}" height="{row - 6}" '
            f'fill="{BAR}"><title>{escape(label)}: {value}</title></rect>',
            _label(left + w + 6, y + 13, f"{value:,} {note}".strip()),
        ]
    return _svg(title, 16 + row * max(len(items), 1), parts)


def _svg(title: str, height: int, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" style="max-width:{WIDTH}px"><title>{escape(title)}</title>'
        + "".join(parts)
        + "</svg>"
    )
