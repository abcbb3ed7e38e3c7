"""Charts of the HTML report, drawn here as inline SVG and HTML: no chart library, no script.

Every chart is static markup: hover text is the SVG ``<title>`` (or HTML ``title``) of each
mark, so it works offline, prints, and needs no JavaScript. Every text from the logs passes
through :func:`html.escape` here, so a value like ``<script>`` shows as text.

Honest on odd data: a series with a single point is shown as a number, not a chart
(:func:`time_chart` returns figures); a missing value (``None``) is a gap, never a line
across it; long labels are shortened in the middle with the full text on hover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Colours of series, in order (the last is for "other").
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")
OTHER_COLOUR = "#bab0ac"
ERROR_COLOUR = "#d62728"
#: Status classes' colours.
STATUS_COLOURS = {"1": "#7f7f7f", "2": "#59a14f", "3": "#4e79a7", "4": "#f28e2b", "5": ERROR_COLOUR}
#: Labels longer than this are shortened in the middle.
LABEL_CHARS = 48

_WIDTH = 900
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 14, 34
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(size: float | None) -> str:
    """``size`` bytes in binary units with three significant digits: ``2.56 GiB``."""
    if size is None:
        return ""
    value = float(size)
    unit = 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{int(value):,} B"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {_UNITS[unit]}"


def number(value: object) -> str:
    """A count as ``1,234``, a float with up to three decimals, nothing for ``None``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    return str(value)


def shorten(text: str, width: int = LABEL_CHARS) -> str:
    """``text`` cut in the middle to at most ``width`` characters (``/v1/acc…/invoices``)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2 + (width - 1) % 2
    tail = width - 1 - head
    return text[:head] + "\u2026" + (text[-tail:] if tail else "")


def label_html(text: str, width: int = LABEL_CHARS) -> str:
    """An escaped label, shortened in the middle, with the whole text as its hover title."""
    short = shorten(text, width)
    title = f' title="{escape(text)}"' if short != text else ""
    return f'<span class="lbl"{title}>{escape(short)}</span>'


def figures(items: Sequence[tuple[str, str]]) -> str:
    """Headline numbers in boxes."""
    boxes = "".join(
        f'<div class="figure">{escape(label)}<b>{escape(value)}</b></div>' for label, value in items
    )
    return f'<div class="figures">{boxes}</div>'


def empty(message: str) -> str:
    """What a panel with nothing to show says."""
    return f'<p class="empty">{escape(message)}</p>'


@dataclass(frozen=True)
class Bar:
    """One row of a bar list: a label, its value (and its shown text), an optional part of the
    value drawn over it (e.g. the errors among the requests)."""

    label: str
    value: float
    shown: str
    part: float | None = None
    part_shown: str = ""
    colour: str = PALETTE[0]


def bar_list(chart_id: str, bars: Sequence[Bar], *, part_name: str = "") -> str:
    """Horizontal bars in HTML (they reflow on a phone), longest first as given. A single bar
    is not a chart: it is shown as a number."""
    if not bars:
        return ""
    if len(bars) == 1:
        bar = bars[0]
        extra = f" ({part_name}: {bar.part_shown})" if bar.part is not None and part_name else ""
        return figures([(shorten(bar.label), bar.shown + extra)])
    top = max((b.value for b in bars), default=0) or 1
    rows = []
    for bar in bars:
        width = max(0.0, bar.value / top * 100)
        over = ""
        hover = f"{bar.label}: {bar.shown}"
        if bar.part is not None and bar.value:
            share = max(0.0, min(bar.part / top * 100, width))
            over = f'<i class="part" style="width:{share:.2f}%"></i>'
            hover += f" ({part_name}: {bar.part_shown})"
        rows.append(
            f'<div class="bar" title="{escape(hover)}">{label_html(bar.label, 42)}'
            f'<span class="track"><i style="width:{width:.2f}%;background:{bar.colour}"></i>'
            f'{over}</span><span class="v">{escape(bar.shown)}</span></div>'
        )
    return f'<div class="chart bars" id="{escape(chart_id)}">{"".join(rows)}</div>'


@dataclass(frozen=True)
class Series:
    """A series of a time chart: one value per bucket (``None``: no value, drawn as a gap)."""

    name: str
    values: Sequence[float | None]
    colour: str = PALETTE[0]
    kind: str = "bar"  # "bar" (stacked with the other bars) or "line"
    dash: bool = False


def _nice_step(top: float, ticks: int = 4) -> float:
    raw = top / ticks if top > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _tick_text(value: float, unit: str) -> str:
    if unit == "bytes":
        return human_bytes(value)
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def legend(series: Sequence[tuple[str, str]]) -> str:
    items = "".join(
        f'<span><i style="background:{colour}"></i>{label_html(name, 32)}</span>'
        for name, colour in series
    )
    return f'<div class="legend">{items}</div>'


def time_chart(
    chart_id: str,
    ticks: Sequence[str],
    hovers: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    height: int = 240,
    marks: Sequence[tuple[int, str]] = (),
    show_legend: bool = True,
) -> str:
    """A chart over time buckets: stacked bars and lines with gaps, as SVG.

    ``ticks`` is each bucket's axis text, ``hovers`` its hover text; ``marks`` stars buckets
    (index, text), e.g. the billed peak window. A single bucket is not a chart: its values are
    shown as numbers."""
    count = len(ticks)
    if count == 0:
        return empty("No data in this range.")
    if count == 1:
        return figures(
            [(f"{s.name} ({hovers[0]})", _value_text(s.values[0], unit)) for s in series]
        )
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    band = plot_w / count
    bars = [s for s in series if s.kind == "bar"]
    lines = [s for s in series if s.kind == "line"]
    stacks = [sum((s.values[i] or 0) for s in bars) for i in range(count)]
    peaks = [v for s in lines for v in s.values if v is not None]
    top = max([*stacks, *peaks, 0])
    step = _nice_step(top)
    y_max = step * max(1, math.ceil(top / step)) if top > 0 else step * 4

    def y(value: float) -> float:
        return _TOP + plot_h - value / y_max * plot_h

    out = [
        f'<svg class="chart time" id="{escape(chart_id)}" viewBox="0 0 {_WIDTH} {height}" '
        f'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    grid = []
    tick = 0.0
    while tick <= y_max + step / 2:
        ty = y(tick)
        grid.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="yt" x="{_LEFT - 6}" y="{ty + 4:.1f}">{escape(_tick_text(tick, unit))}'
            "</text>"
        )
        tick += step
    out.append("".join(grid))
    every = max(1, math.ceil(count / 8))
    labels = []
    for index in range(0, count, every):
        cx = _LEFT + band * (index + 0.5)
        ty = height - _BOTTOM + 16
        labels.append(f'<text class="xt" x="{cx:.1f}" y="{ty}">{escape(ticks[index])}</text>')
    out.append("".join(labels))
    for index, text in marks:
        x0 = _LEFT + band * index
        out.append(
            f'<rect class="mark" x="{x0:.1f}" y="{_TOP}" width="{max(band, 2):.1f}" '
            f'height="{plot_h}"><title>{escape(text)}</title></rect>'
        )
    base = [0.0] * count
    gap = band * 0.15 if band > 4 else 0.0
    for s in bars:
        rects = []
        for i, value in enumerate(s.values):
            if not value:
                continue
            y1, y0 = y(base[i] + value), y(base[i])
            base[i] += value
            rects.append(
                f'<rect x="{_LEFT + band * i + gap / 2:.1f}" y="{y1:.1f}" '
                f'width="{max(band - gap, 0.5):.1f}" height="{max(y0 - y1, 0.5):.1f}">'
                f"<title>{escape(hovers[i])}: {escape(_value_text(value, unit))} "
                f"{escape(s.name)}</title></rect>"
            )
        if rects:
            out.append(f'<g class="series" fill="{s.colour}">{"".join(rects)}</g>')
    for s in lines:
        out.append(_line(s, band, y, hovers, unit))
    for index, text in marks:
        values = [s.values[index] for s in series if s.values[index] is not None]
        if values:
            cx, cy = _LEFT + band * (index + 0.5), y(max(v for v in values if v is not None))
            out.append(
                f'<text class="star" x="{cx:.1f}" y="{cy - 2:.1f}">\u2605'
                f"<title>{escape(text)}</title></text>"
            )
    if count <= 400:
        out.append(_hover_columns(series, band, plot_h, hovers, unit))
    out.append(
        f'<line class="axis" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>'
        "</svg>"
    )
    svg = "".join(out)
    if show_legend and len(series) > 1:
        svg += legend([(s.name, s.colour) for s in series])
    return f'<div class="scroll">{svg}</div>'


def _value_text(value: float | None, unit: str) -> str:
    if value is None:
        return "no value"
    if unit == "bytes":
        return human_bytes(value)
    if unit == "s":
        return f"{value:.3f} s"
    return number(value)


def _line(s: Series, band: float, y: object, hovers: Sequence[str], unit: str) -> str:
    """A polyline broken at each missing value; a point with no neighbour is a dot."""
    assert callable(y)
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(s.values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((i, float(value)))
    path = []
    dots = []
    for run in runs:
        if len(run) == 1:
            i, value = run[0]
            dots.append(
                f'<circle cx="{_LEFT + band * (i + 0.5):.1f}" cy="{y(value):.1f}" r="3">'
                f"<title>{escape(hovers[i])}: {escape(_value_text(value, unit))} "
                f"{escape(s.name)}</title></circle>"
            )
        elif run:
            points = " L".join(f"{_LEFT + band * (i + 0.5):.1f} {y(v):.1f}" for i, v in run)
            path.append(f"M{points}")
    dash = ' stroke-dasharray="4 3"' if s.dash else ""
    drawn = f'<path class="line" d="{" ".join(path)}" stroke="{s.colour}"{dash}/>' if path else ""
    return f'<g class="series" fill="{s.colour}">{drawn}{"".join(dots)}</g>'


def _hover_columns(
    series: Sequence[Series], band: float, plot_h: int, hovers: Sequence[str], unit: str
) -> str:
    cells = []
    for i, hover in enumerate(hovers):
        parts = "; ".join(f"{s.name} {_value_text(s.values[i], unit)}" for s in series)
        cells.append(
            f'<rect x="{_LEFT + band * i:.1f}" y="{_TOP}" width="{band:.1f}" height="{plot_h}">'
            f"<title>{escape(hover)}: {escape(parts)}</title></rect>"
        )
    return f'<g class="hover">{"".join(cells)}</g>'


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def heat_map(chart_id: str, cells: Sequence[Sequence[int]], what: str = "requests") -> str:
    """Weekday (rows, Monday first) by hour of day (columns) as shaded squares."""
    top = max((v for row in cells for v in row), default=0)
    if top == 0:
        return empty("No requests in this range.")
    size_w, size_h, left, head = 34, 26, 44, 18
    width, height = left + 24 * size_w + 4, head + 7 * size_h + 4
    out = [
        f'<svg class="chart heat" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" '
        'role="img" xmlns="http://www.w3.org/2000/svg">'
    ]
    for hour in range(0, 24, 2):
        out.append(
            f'<text class="xt" x="{left + size_w * (hour + 0.5):.0f}" y="{head - 5}">'
            f"{hour:02d}h</text>"
        )
    for day, row in enumerate(cells):
        ty = head + size_h * day
        out.append(
            f'<text class="yt" x="{left - 6}" y="{ty + size_h / 2 + 4:.0f}">{_DAYS[day]}</text>'
        )
        for hour, value in enumerate(row):
            share = value / top
            colour = _shade(share) if value else "#f4f4f4"
            out.append(
                f'<rect x="{left + size_w * hour}" y="{ty}" width="{size_w - 2}" '
                f'height="{size_h - 2}" fill="{colour}"><title>{_DAYS[day]} {hour:02d}:00\u2013'
                f"{hour:02d}:59: {value:,} {escape(what)}</title></rect>"
            )
    out.append("</svg>")
    return f'<div class="scroll">{"".join(out)}</div>'


def _shade(share: float) -> str:
    """Light blue to dark blue in proportion (an empty hour is grey)."""
    low, high = (222, 235, 247), (8, 48, 107)
    t = max(0.0, min(share, 1.0))
    r, g, b = (round(a + (z - a) * t) for a, z in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
