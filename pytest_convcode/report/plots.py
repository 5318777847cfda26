"""The report's charts as SVG text, drawn by hand so that the page needs no plotting library.

Plain functions from numbers to a string: every label is escaped here (setting and suite names
come from the run's files), and each mark carries a class and ``data-*`` values so that tests can
check what was drawn. Colours are the Okabe-Ito palette (safe for colour-blind readers); lines
also differ by marker, and baseline marks are dashed or hatched, so colour is never the only cue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

# Okabe & Ito (2008), darkest first; yellow last as it is faint on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999", "#F0E442")
MARKERS = ("circle", "square", "triangle", "diamond")
BASELINE_GREY = "#8c8c8c"

WIDTH = 720
HEIGHT = 340


@dataclass(frozen=True)
class Frame:
    """Where the plot area lies inside the SVG, and the y range it shows."""

    left: float = 64.0
    top: float = 40.0
    right: float = 520.0  # the legend lives to the right of this
    bottom: float = 280.0
    y_max: float = 100.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def y(self, value: float) -> float:
        """The y coordinate of a value (0 at the bottom axis)."""
        return self.bottom - self.height * max(0.0, min(value, self.y_max)) / self.y_max


def _num(value: float) -> str:
    """A coordinate, short: two decimals at most, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(x: float, y: float, text: str, *, anchor: str = "middle", cls: str = "", extra: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"{klass}{extra}>{escape(text)}</text>'


def nice_ticks(top: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``top``: steps of 1, 2 or 5 times a power of ten
    (whole steps for counts)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(step, 1.0)
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _width(legend: Sequence[str]) -> int:
    """The SVG's width: room right of the plot for the longest legend label (~7 px a character)."""
    return max(WIDTH, int(Frame().right + 24 + 26 + 7 * max((len(label) for label in legend), default=0) + 8))


def _open(title: str, chart: str, width: int = WIDTH) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {chart}" viewBox="0 0 {width} {HEIGHT}" '
        f'width="{width}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<defs><pattern id="hatch-{chart}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{BASELINE_GREY}" stroke-width="3"/></pattern></defs>',
        _text((Frame.left + Frame.right) / 2, 22, title, cls="chart-title"),
    ]


def _axes(frame: Frame, ticks: Sequence[float], x_label: str, y_label: str, percent: bool) -> list[str]:
    """The y grid with its tick labels, both axis lines and both axis titles."""
    parts: list[str] = []
    for tick in ticks:
        y = frame.y(tick)
        label = f"{tick:g}%" if percent else f"{tick:g}"
        parts.append(
            f'<line class="grid" x1="{_num(frame.left)}" y1="{_num(y)}" x2="{_num(frame.right)}" y2="{_num(y)}" '
            'stroke="#e3e3e3"/>'
        )
        parts.append(_text(frame.left - 6, y + 4, label, anchor="end", cls="tick y-tick"))
    parts.append(
        f'<line class="axis" x1="{_num(frame.left)}" y1="{_num(frame.bottom)}" x2="{_num(frame.right)}" '
        f'y2="{_num(frame.bottom)}" stroke="#333"/>'
    )
    parts.append(
        f'<line class="axis" x1="{_num(frame.left)}" y1="{_num(frame.top)}" x2="{_num(frame.left)}" '
        f'y2="{_num(frame.bottom)}" stroke="#333"/>'
    )
    parts.append(_text((frame.left + frame.right) / 2, HEIGHT - 14, x_label, cls="axis-label"))
    middle = (frame.top + frame.bottom) / 2
    parts.append(
        _text(16, middle, y_label, cls="axis-label", extra=f' transform="rotate(-90 16 {_num(middle)})"'),
    )
    return parts


def _legend(frame: Frame, entries: Sequence[tuple[str, str]]) -> list[str]:
    """Legend entries (label, SVG of its swatch drawn at 0,0) stacked to the right of the plot."""
    parts = ['<g class="legend">']
    for i, (label, swatch) in enumerate(entries):
        x, y = frame.right + 24, frame.top + 6 + 20 * i
        parts.append(f'<g class="legend-entry" transform="translate({_num(x)} {_num(y)})">{swatch}')
        parts.append(_text(26, 4, label, anchor="start") + "</g>")
    parts.append("</g>")
    return parts


def _marker(shape: str, x: float, y: float, colour: str, cls: str, data: str = "", tip: str = "") -> str:
    """A point mark; the shape tells lines apart where colours alone would not."""
    common = f'class="{cls}" fill="{colour}" stroke="#ffffff" stroke-width="1"{data}'
    if shape == "square":
        tag, geometry = "rect", f'x="{_num(x - 4)}" y="{_num(y - 4)}" width="8" height="8"'
    elif shape in ("triangle", "diamond"):
        corners = [(0, -5), (5, 4), (-5, 4)] if shape == "triangle" else [(0, -5), (5, 0), (0, 5), (-5, 0)]
        tag, geometry = "polygon", 'points="' + " ".join(f"{_num(x + dx)},{_num(y + dy)}" for dx, dy in corners) + '"'
    else:
        tag, geometry = "circle", f'cx="{_num(x)}" cy="{_num(y)}" r="4"'
    if not tip:
        return f"<{tag} {geometry} {common}/>"
    return f"<{tag} {geometry} {common}><title>{escape(tip)}</title></{tag}>"


def _empty(parts: list[str], frame: Frame, message: str) -> str:
    parts.append(_text((frame.left + frame.right) / 2, (frame.top + frame.bottom) / 2, message, cls="empty"))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    values: Mapping[str, float | None],
    baseline: Mapping[str, float | None] | None = None,
    *,
    title: str,
    x_label: str = "",
    y_label: str = "percent of tasks",
) -> str:
    """Bars of percentages (0..100), one per label, left to right in the mapping's order; with a
    baseline, a hatched bar beside each that has a baseline value. A None value draws no bar."""
    frame = Frame()
    parts = _open(title, "bars")
    parts += _axes(frame, nice_ticks(100.0), x_label, y_label, percent=True)
    labels = list(values)
    if not labels:
        return _empty(parts, frame, "no scores")
    slot = frame.width / len(labels)
    per_slot = 2 if baseline is not None else 1
    bar_width = min(56.0, slot * 0.7 / per_slot)
    for i, label in enumerate(labels):
        centre = frame.left + slot * (i + 0.5)
        series = [("bar", values[label], PALETTE[0], "this run")]
        if baseline is not None:
            series.append(("bar baseline", baseline.get(label), "url(#hatch-bars)", "baseline"))
        start = centre - bar_width * per_slot / 2
        for j, (cls, value, fill, who) in enumerate(series):
            if value is None:
                continue
            x, y = start + bar_width * j, frame.y(value)
            height = frame.bottom - y
            stroke = f' stroke="{BASELINE_GREY}"' if "baseline" in cls else ""
            parts.append(
                f'<rect class="{cls}" data-label="{escape(label)}" data-value="{_num(value)}" x="{_num(x)}" '
                f'y="{_num(y)}" width="{_num(bar_width)}" height="{_num(height)}" fill="{fill}"{stroke}>'
                f"<title>{escape(f'{label} ({who}): {value:.1f}%')}</title></rect>"
            )
            parts.append(_text(x + bar_width / 2, y - 4, f"{value:.1f}", cls="bar-value"))
        parts.append(_text(centre, frame.bottom + 16, label, cls="tick x-tick"))
    if baseline is not None:
        parts += _legend(
            frame,
            [
                ("this run", f'<rect x="0" y="-6" width="18" height="12" fill="{PALETTE[0]}"/>'),
                ("baseline", f'<rect x="0" y="-6" width="18" height="12" fill="url(#hatch-bars)" '
                 f'stroke="{BASELINE_GREY}"/>'),
            ],
        )  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    curves: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]] | None = None,
    *,
    title: str,
    x_label: str = "turn",
    y_label: str = "solved so far (%)",
) -> str:
    """One line of percentages per name, x = turn 0, 1, ...; a baseline curve of the same name is
    drawn dashed in the same colour. Each point is a mark with ``data-turn`` and ``data-value``."""
    frame = Frame()
    parts = _open(title, "lines", _width([*curves, "baseline (dashed)"]))
    parts += _axes(frame, nice_ticks(100.0), x_label, y_label, percent=True)
    every = [*curves.values(), *(baseline or {}).values()]
    turns = max((len(curve) for curve in every), default=0)
    if turns == 0:
        return _empty(parts, frame, "no conversations")
    step = frame.width / max(turns - 1, 1)

    def x_of(turn: int) -> float:
        return frame.left + step * turn if turns > 1 else frame.left + frame.width / 2

    for turn in range(turns):
        parts.append(
            f'<line class="x-tick-mark" x1="{_num(x_of(turn))}" y1="{_num(frame.bottom)}" x2="{_num(x_of(turn))}" '
            f'y2="{_num(frame.bottom + 4)}" stroke="#333"/>'
        )
        parts.append(_text(x_of(turn), frame.bottom + 16, str(turn), cls="tick x-tick"))
    legend: list[tuple[str, str]] = []
    for i, (name, curve) in enumerate(curves.items()):
        colour, shape = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        base = (baseline or {}).get(name)
        if base:
            parts.append(_polyline(base, x_of, frame, colour, "line baseline", name, dashed=True))
        parts.append(_polyline(curve, x_of, frame, colour, "line", name, dashed=False))
        for turn, value in enumerate(curve):
            data = f' data-series="{escape(name)}" data-turn="{turn}" data-value="{_num(value)}"'
            tip = f"{name}, turn {turn}: {value:.1f}%"
            parts.append(_marker(shape, x_of(turn), frame.y(value), colour, "point", data, tip))
        swatch = f'<line x1="0" y1="0" x2="18" y2="0" stroke="{colour}" stroke-width="2"/>'
        swatch += _marker(shape, 9, 0, colour, "swatch")
        legend.append((name, swatch))
    if baseline:
        dashed = (
            f'<line x1="0" y1="0" x2="18" y2="0" stroke="{BASELINE_GREY}" stroke-width="2" stroke-dasharray="5 3"/>'
        )
        legend.append(("baseline (dashed)", dashed))
    parts += _legend(frame, legend)
    parts.append("</svg>")
    return "".join(parts)


def _polyline(
    curve: Sequence[float],
    x_of: Callable[[int], float],
    frame: Frame,
    colour: str,
    cls: str,
    name: str,
    *,
    dashed: bool,
) -> str:
    points = " ".join(f"{_num(x_of(turn))},{_num(frame.y(value))}" for turn, value in enumerate(curve))
    dash = ' stroke-dasharray="6 4" stroke-opacity="0.8"' if dashed else ""
    return (
        f'<polyline class="{cls}" data-series="{escape(name)}" points="{points}" fill="none" stroke="{colour}" '
        f'stroke-width="2"{dash}/>'
    )


def stacked_histogram(
    counts: Mapping[str, Sequence[int]],
    *,
    title: str,
    x_label: str = "turn of the first passing program",
    y_label: str = "conversations",
) -> str:
    """Per turn, one bar stacked from each name's count at that turn (bottom to top in the
    mapping's order). Each segment carries ``data-series``, ``data-turn`` and ``data-value``."""
    turns = max((len(c) for c in counts.values()), default=0)
    totals = [sum(c[t] for c in counts.values() if t < len(c)) for t in range(turns)]
    ticks = nice_ticks(max(totals, default=0), integer=True)
    frame = Frame(y_max=ticks[-1])
    parts = _open(title, "histogram", _width(list(counts)))
    parts += _axes(frame, ticks, x_label, y_label, percent=False)
    if turns == 0 or not any(totals):
        return _empty(parts, frame, "no conversation was solved")
    slot = frame.width / turns
    bar_width = slot * 0.75
    legend: list[tuple[str, str]] = []
    for turn in range(turns):
        x = frame.left + slot * turn + (slot - bar_width) / 2
        below = 0.0
        for i, (name, column) in enumerate(counts.items()):
            count = column[turn] if turn < len(column) else 0
            if count:
                top, bottom = frame.y(below + count), frame.y(below)
                parts.append(
                    f'<rect class="hist" data-series="{escape(name)}" data-turn="{turn}" data-value="{count}" '
                    f'x="{_num(x)}" y="{_num(top)}" width="{_num(bar_width)}" height="{_num(bottom - top)}" '
                    f'fill="{PALETTE[i % len(PALETTE)]}" stroke="#ffffff" stroke-width="0.5">'
                    f"<title>{escape(f'{name}, solved at turn {turn}: {count}')}</title></rect>"
                )
                below += count
        parts.append(_text(x + bar_width / 2, frame.bottom + 16, str(turn), cls="tick x-tick"))
    for i, name in enumerate(counts):
        legend.append((name, f'<rect x="0" y="-6" width="18" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'))
    parts += _legend(frame, legend)
    parts.append("</svg>")
    return "".join(parts)
