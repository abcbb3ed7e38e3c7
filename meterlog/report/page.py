"""The HTML page of ``meterlog report``: one self-contained document, its style, the links to
its sections, sortable tables (a few lines of inline script allowed by its hash in the
Content-Security-Policy; no network request at all), and what it holds."""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from meterlog.report.charts import (
    human_bytes,
    label_html,
    number,
)

#: Sorts a table by the column whose heading is clicked (numbers by their ``data-v``).
_SORT_SCRIPT = (
    "document.querySelectorAll('table.sort th').forEach(function(h){"
    "h.tabIndex=0;function go(){var t=h.closest('table'),b=t.tBodies[0],i=h.cellIndex,"
    "d=h.getAttribute('aria-sort')==='descending'?1:-1,n=h.classList.contains('n');"
    "t.querySelectorAll('th').forEach(function(o){o.removeAttribute('aria-sort')});"
    "h.setAttribute('aria-sort',d>0?'ascending':'descending');"
    "function v(r){var c=r.cells[i];return c.hasAttribute('data-v')?c.getAttribute('data-v')"
    ":c.textContent}"
    "Array.prototype.slice.call(b.rows).sort(function(x,y){var p=v(x),q=v(y),c=n?"
    "(p===''?-1/0:+p)-(q===''?-1/0:+q):p.localeCompare(q);return d*c})"
    ".forEach(function(r){b.appendChild(r)})}"
    "h.addEventListener('click',go);h.addEventListener('keydown',function(e){"
    "if(e.key==='Enter'){go()}})});"
)


_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SORT_SCRIPT.encode()).digest()).decode()


_CSP = (
    f"default-src 'none'; script-src 'sha256-{_SCRIPT_HASH}'; style-src 'unsafe-inline'; "
    "img-src 'none'; connect-src 'none'; form-action 'none'; base-uri 'none'"
)


@dataclass
class HtmlReport:
    """The HTML text and what it holds (chart ids, for checks), plus messages for stderr."""

    html: str
    charts: list[str]
    warnings: list[str] = field(default_factory=list)


#: Short names of panels in the links at the top of the page.
_NAV = {
    "traffic": "Traffic",
    "mau": "MAU",
    "peak": "Peak windows",
    "invoice": "Invoice",
    "time-of-day": "Time of day",
}


@dataclass
class Page:
    title: str
    sections: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    nav: list[tuple[str, str]] = field(default_factory=list)

    def section(self, anchor: str, heading: str, *parts: str, nav: str = "") -> None:
        """A panel: its heading and its parts (charts, tables, text) in order; ``nav`` is its
        name in the links at the top (the heading up to a parenthesis by default)."""
        self.nav.append((anchor, nav or _NAV.get(anchor) or heading.split(" (")[0]))
        self.sections.append(
            f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{"".join(parts)}</section>'
        )

    def chart(self, chart_id: str, markup: str) -> str:
        """``markup`` as drawn; its id is listed when it is a chart (not numbers or a note)."""
        if f'id="{chart_id}"' in markup:
            self.charts.append(chart_id)
        return markup

    def render(self) -> str:
        links = "".join(f'<a href="#{anchor}">{html.escape(name)}</a>' for anchor, name in self.nav)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1><nav>{links}</nav>"
            + "".join(self.sections)
            + "<footer>Written by meterlog. Click a table heading to sort by it.</footer>"
            f"<script>{_SORT_SCRIPT}</script></body></html>\n"
        )


_STYLE = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1rem auto;
max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .5rem}h2{font-size:1.1rem;margin:1.2rem 0 .5rem}
h3{font-size:.95rem;margin:1rem 0 .4rem;color:#444}
nav{display:flex;flex-wrap:wrap;gap:.2rem .8rem;font-size:.85rem;margin-bottom:.5rem}
nav a{color:#2a5d9f}
section{border-top:1px solid #ddd;padding-bottom:.5rem}
.figures{display:flex;flex-wrap:wrap;gap:.6rem;margin:.4rem 0}
.figure{background:#f3f5f8;border-radius:6px;padding:.4rem .8rem;font-size:.85rem}
.figure b{display:block;font-size:1.25rem}
.scroll{overflow-x:auto}
svg.chart{display:block;width:100%;min-width:520px;height:auto;font-size:11px}
svg.heat{max-width:900px}
svg text{fill:#555}svg .yt{text-anchor:end}svg .xt{text-anchor:middle}
svg .grid{stroke:#e6e6e6}svg .axis{stroke:#888}
svg .line{fill:none;stroke-width:1.8}
svg .hover rect{fill:transparent}svg .hover rect:hover{fill:rgba(0,0,0,.06)}
svg .mark{fill:rgba(0,0,0,.08)}svg .star{text-anchor:middle;font-size:18px;fill:#000}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.8rem;margin:.2rem 0 .6rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
.bars{display:grid;grid-template-columns:minmax(6rem,22rem) 1fr auto;gap:2px .6rem;
font-size:.85rem;margin:.4rem 0 .8rem;max-width:1000px}
.bar{display:contents}.bar .lbl{overflow:hidden;white-space:nowrap;text-overflow:ellipsis}
.track{position:relative;background:#f3f5f8;height:1.05rem;align-self:center}
.track i{position:absolute;left:0;top:0;bottom:0;min-width:1px}
.track i.part{background:#d62728;opacity:.85}
.bar .v{text-align:right;font-variant-numeric:tabular-nums}
.wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85rem;margin:.3rem 0 .8rem}
td,th{padding:.2rem .5rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#fafafa;white-space:nowrap}
table.sort th{cursor:pointer}table.sort th:after{content:" \\2195";color:#bbb}
th[aria-sort=ascending]:after{content:" \\2191";color:#333}
th[aria-sort=descending]:after{content:" \\2193";color:#333}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.empty{color:#777;font-style:italic}.note{color:#555;font-size:.85rem}
footer{margin-top:2rem;color:#888;font-size:.8rem}
@media (max-width:600px){body{padding:0 .5rem}.bars{grid-template-columns:8rem 1fr auto}}
@media print{nav,footer{display:none}section{break-inside:avoid}.scroll{overflow:visible}
svg.chart{min-width:0}.wrap{overflow:visible}table.sort th:after{content:""}}
"""


@dataclass(frozen=True)
class Column:
    """A table column: the frame's column, its heading and how values are shown."""

    name: str
    heading: str
    kind: str = "int"  # int, bytes, share, seconds, text, label, time, code
    width: int = 48
    blank: str = ""  # shown for a missing text value
    time_format: str = "%Y-%m-%d %H:%M:%S%z"  # for kind "time"


def _cell(value: Any, column: Column) -> str:
    if column.kind in ("text", "label", "time"):
        if value is None:
            return f'<td class="empty">{html.escape(column.blank)}</td>'
        text = value.strftime(column.time_format) if isinstance(value, datetime) else str(value)
        if column.kind == "label":
            return f'<td data-v="{html.escape(text)}">{label_html(text, column.width)}</td>'
        return f"<td>{html.escape(text)}</td>"
    sort = (
        ""
        if value is None
        else html.escape(repr(value) if isinstance(value, float) else str(value))
    )
    if value is None:
        shown = ""
    elif column.kind == "bytes":
        shown = human_bytes(value)
    elif column.kind == "share":
        shown = f"{value:.1%}"
    elif column.kind == "seconds":
        shown = f"{value:.3f} s"
    elif column.kind == "code":
        shown = str(value)
    else:
        shown = number(value)
    return f'<td class="n" data-v="{sort}">{html.escape(shown)}</td>'


def table(frame: pl.DataFrame, columns: Sequence[Column], *, sortable: bool = True) -> str:
    """An HTML table of ``frame``'s ``columns``, sortable by clicking a heading."""
    present = [c for c in columns if c.name in frame.columns]
    head = "".join(
        f'<th class="{"" if c.kind in ("text", "label", "time") else "n"}" scope="col">'
        f"{html.escape(c.heading)}</th>"
        for c in present
    )
    rows = [
        "<tr>" + "".join(_cell(row[c.name], c) for c in present) + "</tr>"
        for row in frame.iter_rows(named=True)
    ]
    css = ' class="sort"' if sortable else ""
    return (
        f'<div class="wrap"><table{css}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def note_html(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'
