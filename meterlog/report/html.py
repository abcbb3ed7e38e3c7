"""``meterlog report``: one light, self-contained HTML file to pass around and open offline.

The charts are SVG and HTML drawn by :mod:`meterlog.report.draw` (no chart library), the
tables sort with a few lines of inline script, and the page's Content-Security-Policy allows
that one script (by its hash) and no network request at all. Everything is read from one
store version (the current one, named on the page); the same version and options give the
same bytes (no clock is read).

Panels: summary; traffic per day (per hour for ranges up to three days) by account with
errors, and distinct users; monthly active users per account; each top account's peak window
(the billed one starred); the invoice (with a plan); client addresses and networks (/24,
/48); user agents by group with the raw agents; referrers; status codes with the top paths
of each 4xx/5xx code; endpoints with error share and latency; weekday by hour of day; latency
over time (when logged); data quality; anomaly findings (when :mod:`meterlog.anomalies` is
installed). The numbers come from :mod:`meterlog.report.panels`, the usage metrics, the
meters and the invoice code the commands use.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from meterlog.billing import Identity
from meterlog.errors import MeterlogError
from meterlog.meters import PeakMeter, meter_from_params
from meterlog.meters.run import meter_evidence, meter_report
from meterlog.periods import Month, parse_month, parse_months
from meterlog.query.aggregations import DIMENSIONS
from meterlog.query.endpoints import with_endpoint
from meterlog.query.events import pin
from meterlog.query.filters import DEFAULT_BOT_PATTERNS
from meterlog.query.identity import NO_KEY
from meterlog.query.metrics import METRICS, with_quantiles
from meterlog.query.settings import ReportSettings
from meterlog.query.usage import UsageQuery, usage_plan, zero_filled
from meterlog.report import panels
from meterlog.report.draw import (
    ERROR_COLOUR,
    OTHER_COLOUR,
    PALETTE,
    STATUS_COLOURS,
    Bar,
    Series,
    bar_list,
    empty,
    figures,
    heat_map,
    human_bytes,
    label_html,
    number,
    time_chart,
)
from meterlog.store import Store

#: How many accounts get their own series; the others are summed as "other".
DEFAULT_TOP_ACCOUNTS = 5
#: Requests on up to this many calendar days are charted by hour, on more by day.
HOURLY_UP_TO_DAYS = 4
_OTHER = "\x00other"
#: A peak chart draws at most this many points (the plot is about as many pixels wide).
MAX_PEAK_POINTS = 900

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


@dataclass(frozen=True)
class HtmlReportQuery:
    """The range reported (``month``, or ``since``/``until`` as for ``usage``) and options."""

    month: str | None = None
    since: str | None = None
    until: str | None = None
    plan: str | Path | None = None
    top_accounts: int = DEFAULT_TOP_ACCOUNTS
    #: Where the invoice section's meters are computed, and the Spark master (see
    #: :mod:`meterlog.engines`); the invoice is the same bytes on every engine.
    engine: str = "polars"
    spark_master: str = "local[*]"

    def time_bounds(self) -> tuple[str | None, str | None]:
        """``since``/``until`` as ``usage`` takes them (a month is its first to its last day)."""
        if self.month is None:
            return self.since, self.until
        if self.since or self.until:
            raise MeterlogError("give either --month or --since/--until, not both")
        month = parse_month(self.month)
        last = calendar.monthrange(month.year, month.month)[1]
        return f"{month}-01", f"{month}-{last:02d}"


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
class _Page:
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


# -- tables -----------------------------------------------------------------------------------


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


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


# -- building ---------------------------------------------------------------------------------


@dataclass
class _Context:
    """What every panel reads: the settings, the range's requests at one store version."""

    settings: ReportSettings
    store: Store
    version: int
    events: pl.LazyFrame  # the store's events at ``version``, with ``user`` and ``account``
    requests: pl.LazyFrame  # ``events`` in the range reported
    bucket: str
    span: tuple[datetime, datetime]
    has_users: bool
    has_latency: bool
    top: list[str | None]


def build_html_report(
    settings: ReportSettings,
    query: HtmlReportQuery,
    *,
    store: Store | None = None,
) -> HtmlReport:
    """Compute every panel of the report from one version of the store (the current one, or
    the version ``store`` is pinned at when it is a :class:`~meterlog.store.Snapshot`)."""
    store = pin(store or Store(settings.store))
    version = store.pinned
    return report_from_events(settings, query, store.scan_events(version), store, version)


def report_from_events(
    settings: ReportSettings,
    query: HtmlReportQuery,
    stored: pl.LazyFrame,
    store: Store,
    version: int,
) -> HtmlReport:
    """The report over ``stored`` (the store's events table read at ``version``)."""
    since, until = query.time_bounds()
    plan = usage_plan(stored, settings, UsageQuery(since=since, until=until))
    totals = plan.totals.collect().row(0, named=True)
    when = plan.time_range.describe(settings.tz)
    if totals["requests"] == 0:
        raise MeterlogError(
            f"{store.uri}: no requests stored {when or 'at all'}; check --month or --since/--until"
        )
    stored_span = plan.scoped.select(pl.col("ts").min(), pl.col("ts").max().alias("b")).collect()
    data_first, data_last = stored_span.row(0)
    first = plan.time_range.start or data_first
    last = (
        plan.time_range.end - timedelta(microseconds=1)
        if plan.time_range.end is not None
        else data_last
    )
    when = when or (
        f"from {first.astimezone(settings.tz):%Y-%m-%d} to {last.astimezone(settings.tz):%Y-%m-%d}"
    )
    names = stored.collect_schema().names()
    has_latency = totals.get("latency_p50") is not None
    by_account = (
        plan.scoped.group_by("account")
        .agg(pl.len().alias("requests"))
        .sort(["requests", "account"], descending=[True, False], nulls_last=True)
        .collect()
    )
    ctx = _Context(
        settings=settings,
        store=store,
        version=version,
        events=settings.identity().apply(stored),
        requests=plan.scoped,
        bucket="hour" if _days(data_first, data_last, settings) <= HOURLY_UP_TO_DAYS else "day",
        span=(data_first, data_last),
        has_users=totals["users"] > 0,
        has_latency=has_latency,
        top=by_account.get_column("account").head(query.top_accounts).to_list(),
    )
    page = _Page(title=f"meterlog report: {query.month or when} ({settings.tz_name})")
    report = HtmlReport(html="", charts=page.charts, warnings=_identity_warnings(settings, names))
    anonymous = _summary(page, ctx, totals, by_account.height, when)
    _traffic(page, ctx)
    _mau(page, ctx, first, last)
    plans = _load_plans(query.plan)
    months = _months_between(first, last, settings)
    _peaks(page, ctx, months, plans)
    if plans is not None:
        period = query.month or str(months[0])
        _invoice(page, store, version, plans, period, settings, settings.identity(), report, query)
    _clients(page, ctx)
    _agents(page, ctx)
    _referrers(page, ctx)
    _statuses(page, ctx)
    _endpoints(page, ctx)
    _time_of_day(page, ctx)
    if has_latency:
        _latency(page, ctx)
    _quality(page, store, totals["requests"], anonymous)
    _anomalies(page, settings, since, until, store)
    report.html = page.render()
    return report


def write_html_report(
    settings: ReportSettings, query: HtmlReportQuery, output: str | Path
) -> HtmlReport:
    """Build the report and write it to ``output`` (its folder must exist), atomically: the
    file is written beside it and renamed over it, so a reader never sees half a page."""
    path = Path(output)
    if not path.parent.exists():
        raise MeterlogError(f"{path}: folder {path.parent} does not exist; create it first")
    report = build_html_report(settings, query)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(report.html, encoding="utf-8")
    partial.replace(path)
    return report


def _identity_warnings(settings: ReportSettings, names: Sequence[str]) -> list[str]:
    warnings = []
    if settings.account_field is not None and settings.account_field not in names:
        warnings.append(
            f"account field {settings.account_field!r} is not a stored column, so every "
            "request has an empty account"
        )
    if settings.user_field not in names:
        warnings.append(
            f"user field {settings.user_field!r} is not a stored column, so every request "
            "counts as anonymous"
        )
    return warnings


def _days(first: datetime, last: datetime, settings: ReportSettings) -> int:
    """How many local calendar days from ``first`` to ``last`` touch."""
    return (last.astimezone(settings.tz).date() - first.astimezone(settings.tz).date()).days + 1


def _months_between(first: datetime, last: datetime, settings: ReportSettings) -> list[Month]:
    start = first.astimezone(settings.tz)
    end = last.astimezone(settings.tz)
    return parse_months(f"{start:%Y-%m}..{end:%Y-%m}")


def _load_plans(plan: str | Path | None) -> Any:
    if plan is None:
        return None
    from meterlog.billing.plans import load_plan_file

    return load_plan_file(plan)


def _peak_meter(plans: Any, account: str | None) -> PeakMeter:
    """The first peak meter of the account's plan (the window, metric and statistic billed),
    else the busiest hour by requests."""
    if plans is not None:
        for charge in plans.plan_for(account or "").charges:
            if isinstance(charge.meter, PeakMeter):
                return charge.meter
    meter = meter_from_params("peak", {"metric": "requests", "window": "1h"})
    assert isinstance(meter, PeakMeter)
    return meter


def _account(value: str | None) -> str:
    if value == _OTHER:
        return "other"
    return NO_KEY if value is None or not value.strip() else value


#: How a time bucket is written in a table.
_TABLE_TIMES = {"hour": "%Y-%m-%d %H:%M", "day": "%Y-%m-%d (%a)", "month": "%Y-%m"}


def _tick(bucket: str) -> Callable[[datetime], str]:
    formats = {"hour": "%d %b %Hh", "day": "%d %b", "month": "%Y-%m"}
    return lambda moment: moment.strftime(formats[bucket])


def _hover(bucket: str) -> Callable[[datetime], str]:
    formats = {"hour": "%Y-%m-%d %H:00", "day": "%a %Y-%m-%d", "month": "%Y-%m"}
    return lambda moment: moment.strftime(formats[bucket])


# -- panels -----------------------------------------------------------------------------------


def _summary(page: _Page, ctx: _Context, totals: dict[str, Any], accounts: int, when: str) -> int:
    counts = ctx.requests.select(
        pl.col("user").is_null().sum().alias("anonymous"),
        panels.blank_expr("remote_addr").drop_nulls().n_unique().alias("clients"),
    ).collect()
    anonymous = int(counts.item(0, "anonymous"))
    errors = totals["errors_4xx"] + totals["errors_5xx"]
    share = anonymous / totals["requests"] if totals["requests"] else 0.0
    items = [
        ("requests", f"{totals['requests']:,}"),
        ("errors (4xx + 5xx)", f"{errors:,}"),
        ("bytes sent", human_bytes(totals["bytes_sent"])),
        ("distinct users", f"{totals['users']:,}"),
        ("accounts", f"{accounts:,}"),
        ("client addresses", f"{counts.item(0, 'clients'):,}"),
        ("anonymous requests", f"{share:.1%}"),
    ]
    if totals.get("latency_p95") is not None:
        items.append(("latency p95", f"{totals['latency_p95']:.3f} s"))
    tz = ctx.settings.tz
    first, last = (moment.astimezone(tz) for moment in ctx.span)
    text = (
        f"{when}; requests stored from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}; "
        f"store {ctx.store.uri}, version {ctx.version}."
    )
    page.section("summary", "Summary", figures(items), _note(text))
    return anonymous


def _traffic(page: _Page, ctx: _Context) -> None:
    bucket = ctx.bucket
    key = DIMENSIONS[bucket].key(ctx.settings.tz_name).alias(bucket)
    names = ("requests", "errors_4xx", "errors_5xx", "bytes_sent", "users")
    metrics = [METRICS[n] for n in names]
    grouped = (
        ctx.requests.group_by(key).agg(METRICS[n].aggregation().alias(n) for n in names).collect()
    )
    per_bucket = zero_filled(grouped, bucket, ctx.span, ctx.settings.tz_name, metrics).sort(bucket)
    per_bucket = per_bucket.with_columns(panels.errors_expr())
    stacked = panels.series_by(ctx.requests, key, ctx.top, _OTHER).collect()
    moments = per_bucket.get_column(bucket).to_list()
    index = {moment: i for i, moment in enumerate(moments)}
    series = []
    for number_, account in enumerate([*ctx.top, _OTHER]):
        rows = stacked.filter(
            pl.col("series").is_null() if account is None else pl.col("series") == account
        )
        if rows.height == 0:
            continue
        values: list[float | None] = [0] * len(moments)
        for moment, requests in rows.select(bucket, "requests").iter_rows():
            values[index[moment]] = requests
        colour = OTHER_COLOUR if account == _OTHER else PALETTE[number_ % len(PALETTE)]
        series.append(Series(_account(account), values, colour))
    series.append(
        Series(
            "errors (4xx + 5xx)",
            per_bucket.get_column("errors").to_list(),
            ERROR_COLOUR,
            kind="line",
            dash=True,
        )
    )
    ticks = [_tick(bucket)(m) for m in moments]
    hovers = [_hover(bucket)(m) for m in moments]
    requests_chart = page.chart(
        "chart-requests", time_chart("chart-requests", ticks, hovers, series)
    )
    active = per_bucket.get_column("requests").to_list()
    users: list[float | None] = [
        u if r else None
        for u, r in zip(per_bucket.get_column("users").to_list(), active, strict=True)
    ]
    users_chart = (
        page.chart(
            "chart-users",
            time_chart(
                "chart-users",
                ticks,
                hovers,
                [Series("distinct users", users, PALETTE[3], kind="line")],
            ),
        )
        if ctx.has_users
        else _no_users(ctx)
    )
    bucket_table = table(
        per_bucket,
        [
            Column(bucket, bucket, "time", time_format=_TABLE_TIMES[bucket]),
            Column("requests", "requests"),
            Column("errors", "errors"),
            *_users_column(ctx),
            Column("bytes_sent", "bytes sent", "bytes"),
        ],
    )
    page.section(
        "traffic",
        f"Requests per {bucket} by account (top {len(ctx.top)}, the rest as other), with errors",
        requests_chart,
        f"<h3>Distinct users per {bucket}</h3>",
        users_chart,
        f"<details><summary>Per {bucket} as a table</summary>{bucket_table}</details>",
    )


def _users_column(ctx: _Context) -> list[Column]:
    return [Column("users", "distinct users")] if ctx.has_users else []


def _no_users(ctx: _Context) -> str:
    field_name = ctx.settings.user_field
    return empty(
        f"No request in this range names a user (user field {field_name}): every request is "
        "anonymous, so there is no count of distinct users."
    )


def _mau(page: _Page, ctx: _Context, first: datetime, last: datetime) -> None:
    tz = ctx.settings.tz
    local_month = pl.col("ts").dt.convert_time_zone(ctx.settings.tz_name).dt.strftime("%Y-%m")
    stored_months = set(
        ctx.events.select(local_month.unique().alias("m")).collect().get_column("m").to_list()
    )
    months = parse_months(f"{min(stored_months)}..{max(stored_months)}")
    frame = meter_report(ctx.events, meter_from_params("mau", {}), months, tz)
    labels = [str(m) for m in months]
    series = []
    for number_, account in enumerate(ctx.top):
        rows = frame.filter(
            pl.col("account").is_null() if account is None else pl.col("account") == account
        )
        seen = dict(rows.select("month", "mau").iter_rows())
        values: list[float | None] = [
            seen.get(m, 0) if m in stored_months else None for m in labels
        ]
        series.append(
            Series(_account(account), values, PALETTE[number_ % len(PALETTE)], kind="line")
        )
    missing = [m for m in labels if m not in stored_months]
    note = (
        _note(f"No request is stored in {len(missing)} of these months: the lines stop there.")
        if missing
        else ""
    )
    chart = (
        page.chart("chart-mau", time_chart("chart-mau", labels, labels, series))
        if ctx.has_users
        else _no_users(ctx)
    )
    wide = frame.filter(
        pl.col("account").is_in([a for a in ctx.top if a is not None])
        | (pl.col("account").is_null() if None in ctx.top else pl.lit(False))
    ).sort("account", "month", nulls_last=True)
    page.section(
        "mau",
        "Monthly active users per account, over the months in the store",
        chart,
        note,
        table(
            wide,
            [
                Column("account", "account", "label", blank=NO_KEY),
                Column("month", "month", "text"),
                Column("mau", "MAU"),
            ],
        ),
    )


def _peaks(page: _Page, ctx: _Context, months: list[Month], plans: Any) -> None:
    """One chart per top account: its window series, the billed window starred."""
    meters = {account: _peak_meter(plans, account) for account in ctx.top}
    evidence = {
        meter: meter_evidence(ctx.events, meter, months, ctx.settings.tz)
        for meter in dict.fromkeys(meters.values())
    }
    parts = []
    billed_rows = []
    for number_, account in enumerate(ctx.top):
        meter = meters[account]
        rows = (
            evidence[meter]
            .filter(
                pl.col("account").is_null() if account is None else pl.col("account") == account
            )
            .sort("window_start")
        )
        name = _account(account)
        parts.append(f"<h3>{label_html(name)}: {html.escape(meter.description)}</h3>")
        if rows.height == 0:
            parts.append(empty("No window with requests in this range."))
            continue
        for start, value in rows.filter(pl.col("is_peak")).select("window_start", "value").rows():
            local = start.astimezone(ctx.settings.tz).replace(tzinfo=None)
            billed_rows.append((name, meter.description, local, value))
        # the windows of the requests' time span (before and after it nothing is stored)
        rows = rows.filter(
            pl.col("window_end") > ctx.span[0], pl.col("window_start") <= ctx.span[1]
        )
        starts = [s.astimezone(ctx.settings.tz) for s in rows.get_column("window_start").to_list()]
        values = rows.get_column("value").to_list()
        peaks = [i for i, flag in enumerate(rows.get_column("is_peak").to_list()) if flag]
        marks = [(i, f"billed: {values[i]:,} from {starts[i]:%Y-%m-%d %H:%M}") for i in peaks]
        chart_id = f"chart-peak-{number_ + 1}"
        hovers = [f"{s:%Y-%m-%d %H:%M}" for s in starts]
        step = -(-len(values) // MAX_PEAK_POINTS)
        if step > 1:  # more windows than pixels: each point is the largest of `step` windows
            values = [max(values[i : i + step]) for i in range(0, len(values), step)]
            starts = starts[::step]
            hovers = [f"{h} (largest of {step} windows from)" for h in hovers[::step]]
            marks = [(i // step, text) for i, text in marks]
        parts.append(
            page.chart(
                chart_id,
                time_chart(
                    chart_id,
                    [f"{s:%d %b %H:%M}" for s in starts],
                    hovers,
                    [Series(meter.metric, values, PALETTE[number_ % len(PALETTE)], kind="line")],
                    height=170,
                    marks=marks,
                ),
            )
        )
    billed = pl.DataFrame(
        billed_rows,
        schema={"account": pl.String, "meter": pl.String, "when": pl.Datetime, "value": pl.Int64},
        orient="row",
    )
    parts.append(
        table(
            billed,
            [
                Column("account", "account", "label", blank=NO_KEY),
                Column("meter", "meter", "text"),
                Column(
                    "when",
                    f"window start ({ctx.settings.tz_name})",
                    "time",
                    time_format="%Y-%m-%d %H:%M",
                ),
                Column("value", "value billed"),
            ],
        )
    )
    page.section(
        "peak",
        "Peak window per account, as billed (\u2605 the window whose value is billed)",
        *parts,
    )


def _bars(
    frame: pl.DataFrame,
    key: str,
    blank: str,
    *,
    part: str | None = None,
    colour: Callable[[Any], str] | None = None,
    shown: Callable[[Any], str] = number,
) -> list[Bar]:
    bars = []
    for row in frame.head(panels.CHART_ROWS).iter_rows(named=True):
        value = row[key]
        label = blank if value is None or not str(value).strip() else str(value)
        bars.append(
            Bar(
                label=label,
                value=row["requests"],
                shown=shown(row["requests"]),
                part=row[part] if part else None,
                part_shown=number(row[part]) if part else "",
                colour=colour(value) if colour else PALETTE[0],
            )
        )
    return bars


_CLIENT_COLUMNS = [
    Column("requests", "requests"),
    Column("errors", "errors"),
    Column("bytes_sent", "bytes sent", "bytes"),
    Column("accounts", "accounts"),
    Column("account_names", "accounts used", "text"),
]


def _clients(page: _Page, ctx: _Context) -> None:
    addresses = panels.clients(ctx.requests)
    networks = panels.clients(ctx.requests, by="network")
    parts = []
    for frame, key, name, heading, chart_id in (
        (addresses, "remote_addr", "address", "Client addresses", "chart-clients"),
        (
            networks,
            "network",
            "network",
            "Client networks (/24 for IPv4, /48 for IPv6)",
            "chart-networks",
        ),
    ):
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        if frame.height == 0:
            parts.append(empty("No client address is logged."))
            continue
        bars = _bars(frame, key, "(none)", part="errors")
        parts.append(page.chart(chart_id, bar_list(chart_id, bars, part_name="errors")))
        parts.append(table(frame, [Column(key, name, "label", blank="(none)"), *_CLIENT_COLUMNS]))
    page.section("clients", "Clients (top addresses and networks, errors in red)", *parts)


def _agents(page: _Page, ctx: _Context) -> None:
    patterns = ctx.settings.bot_patterns or DEFAULT_BOT_PATTERNS
    per_agent = panels.agents(ctx.requests, patterns).collect()
    groups = panels.agent_groups(per_agent)
    group_colours = dict(zip(panels.AGENT_GROUPS, [*PALETTE[:4], OTHER_COLOUR], strict=True))
    bars = _bars(groups, "group", "(none)", colour=lambda g: group_colours.get(g, OTHER_COLOUR))
    top = per_agent.head(panels.TABLE_ROWS)
    agent_bars = _bars(per_agent, "user_agent", panels.NO_AGENT)
    page.section(
        "agents",
        "User agents (browsers, crawlers, HTTP libraries and tools)",
        page.chart("chart-agent-groups", bar_list("chart-agent-groups", bars)),
        table(
            groups,
            [
                Column("group", "group", "text"),
                Column("requests", "requests"),
                Column("agents", "distinct agents"),
                Column("errors", "errors"),
                Column("bytes_sent", "bytes sent", "bytes"),
            ],
        ),
        f"<h3>Top user agents ({len(per_agent):,} distinct)</h3>",
        page.chart("chart-agents", bar_list("chart-agents", agent_bars)),
        table(
            top,
            [
                Column("user_agent", "user agent", "label", width=80, blank=panels.NO_AGENT),
                Column("group", "group", "text"),
                Column("requests", "requests"),
                *_users_column(ctx),
                Column("errors", "errors"),
                Column("bytes_sent", "bytes sent", "bytes"),
            ],
        ),
    )


def _referrers(page: _Page, ctx: _Context) -> None:
    frame = panels.referrers(ctx.requests).collect()
    if frame.height == 0:
        page.section("referrers", "Referrers", empty("No request in this range names a referrer."))
        return
    page.section(
        "referrers",
        "Referrers (requests without one left out)",
        page.chart("chart-referrers", bar_list("chart-referrers", _bars(frame, "referrer", "-"))),
        table(
            frame,
            [
                Column("referrer", "referrer", "label", width=80),
                Column("requests", "requests"),
                *_users_column(ctx),
                Column("bytes_sent", "bytes sent", "bytes"),
            ],
        ),
    )


def _statuses(page: _Page, ctx: _Context) -> None:
    codes = panels.statuses(ctx.requests).collect()
    paths = panels.error_paths(ctx.requests).collect()
    total = int(codes.get_column("requests").sum())
    top_paths = paths.group_by("status", maintain_order=True).agg(
        pl.format("{} ({})", pl.col("path").fill_null("(no path)"), pl.col("requests"))
        .str.join(", ")
        .alias("top_paths")
    )
    codes = codes.join(top_paths, on="status", how="left").with_columns(
        (pl.col("requests") / total).alias("share")
    )
    bars = [
        Bar(
            label=str(status) if status is not None else "(none)",
            value=requests,
            shown=f"{requests:,}",
            colour=STATUS_COLOURS.get(str(status)[:1], OTHER_COLOUR),
        )
        for status, requests in codes.select("status", "requests").iter_rows()
    ]
    chart = (
        page.chart("chart-status", bar_list("chart-status", bars))
        if len(bars) > 1
        else figures([(f"status {b.label}", b.shown) for b in bars])
    )
    paths_part = (
        table(
            paths,
            [
                Column("status", "status", "code"),
                Column("path", "path", "label", width=80, blank="(no path)"),
                Column("requests", "requests"),
            ],
        )
        if paths.height
        else empty("No request was answered with a 4xx or 5xx status.")
    )
    page.section(
        "status",
        "Status codes",
        chart,
        table(
            codes,
            [
                Column("status", "status", "code"),
                Column("requests", "requests"),
                Column("share", "share", "share"),
                Column("bytes_sent", "bytes sent", "bytes"),
                Column("top_paths", "top paths (4xx, 5xx)", "label", width=90),
            ],
        ),
        f"<h3>Top paths per error status (at most {panels.PATHS_PER_CODE} each)</h3>",
        paths_part,
    )


def _endpoints(page: _Page, ctx: _Context) -> None:
    requests = with_endpoint(ctx.requests, ctx.settings.endpoint_templates())
    frame = panels.endpoints(requests, ctx.has_latency).collect()
    bars = _bars(frame, "endpoint", "(no path)", part="errors")
    page.section(
        "endpoints",
        "Endpoints (top by requests, errors in red)",
        page.chart("chart-endpoints", bar_list("chart-endpoints", bars, part_name="errors")),
        table(
            frame,
            [
                Column("endpoint", "endpoint", "label", width=64, blank="(no path)"),
                Column("requests", "requests"),
                Column("errors", "errors"),
                Column("error_share", "error share", "share"),
                Column("bytes_sent", "bytes sent", "bytes"),
                Column("latency_p50", "p50", "seconds"),
                Column("latency_p95", "p95", "seconds"),
            ],
        ),
    )


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _time_of_day(page: _Page, ctx: _Context) -> None:
    frame = panels.weekday_hour(ctx.requests, ctx.settings.tz_name).collect()
    cells = panels.heat_cells(frame)
    wide = pl.DataFrame(
        {"hour": [f"{h:02d}:00" for h in range(24)]}
        | {day: [cells[d][h] for h in range(24)] for d, day in enumerate(_WEEKDAYS)}
    )
    rows = table(wide, [Column("hour", "hour", "text"), *(Column(d, d) for d in _WEEKDAYS)])
    page.section(
        "time-of-day",
        f"Requests by weekday and hour of day ({ctx.settings.tz_name})",
        page.chart("chart-heat", heat_map("chart-heat", cells)),
        f"<details><summary>As a table</summary>{rows}</details>",
    )


def _latency(page: _Page, ctx: _Context) -> None:
    bucket = ctx.bucket
    key = DIMENSIONS[bucket].key(ctx.settings.tz_name).alias(bucket)
    quantiles = [METRICS[n] for n in ("latency_p50", "latency_p95", "latency_p99")]
    counts = ctx.requests.group_by(key).agg(METRICS["requests"].aggregation().alias("requests"))
    grouped = with_quantiles(counts, ctx.requests, [key], [METRICS["requests"], *quantiles])
    frame = zero_filled(grouped.collect(), bucket, ctx.span, ctx.settings.tz_name, quantiles)
    frame = frame.sort(bucket)
    moments = frame.get_column(bucket).to_list()
    series = [
        Series(m.name.replace("latency_", ""), frame.get_column(m.name).to_list(), colour, "line")
        for m, colour in zip(quantiles, (PALETTE[2], PALETTE[1], ERROR_COLOUR), strict=True)
    ]
    page.section(
        "latency",
        f"Latency percentiles per {bucket} (request time, seconds; gaps: no request timed)",
        page.chart(
            "chart-latency",
            time_chart(
                "chart-latency",
                [_tick(bucket)(m) for m in moments],
                [_hover(bucket)(m) for m in moments],
                series,
                unit="s",
            ),
        ),
    )


def _invoice(
    page: _Page,
    store: Store,
    version: int,
    plans: Any,
    period: str,
    settings: ReportSettings,
    identity: Identity,
    report: HtmlReport,
    query: HtmlReportQuery,
) -> None:
    from meterlog.billing import compute_invoice
    from meterlog.engines import open_engine
    from meterlog.output import compact_invoice

    engine = open_engine(query.engine, store, version, query.spark_master)
    try:
        invoice = compute_invoice(
            store, plans, period, settings.tz, identity, as_of=version, engine=engine
        )
    finally:
        if engine is not None:
            engine.close()
    report.warnings.extend([*invoice.warnings, *invoice.incomplete])
    view = compact_invoice(invoice.lines)
    columns = [
        Column(name, name, "text" if view.frame.schema[name] == pl.String else "int")
        for name in view.frame.columns
    ]
    shown = view.frame.with_columns(
        pl.col(n).cast(pl.String) for n, t in view.frame.schema.items() if t.is_decimal()
    )
    columns = [
        Column(c.name, c.name, "text") if shown.schema[c.name] == pl.String else c for c in columns
    ]
    page.section("invoice", f"Invoice {period} ({view.describe()})", table(shown, columns))


def _quality(page: _Page, store: Store, requests: int, anonymous: int) -> None:
    rejects = (
        store.scan_rejects()
        .group_by("reason")
        .agg(pl.len().cast(pl.Int64).alias("requests"))
        .sort(["requests", "reason"], descending=[True, False])
        .collect()
    )
    rejected = int(rejects.get_column("requests").sum()) if rejects.height else 0
    share = anonymous / requests if requests else 0.0
    parts = [
        figures(
            [
                ("rejected lines (whole store)", f"{rejected:,}"),
                ("anonymous requests", f"{anonymous:,} ({share:.1%})"),
            ]
        )
    ]
    if rejects.height == 0:
        parts.append(empty("No line was rejected."))
    elif rejects.height == 1:
        parts.append(
            _note(
                f"Every rejected line has the reason {rejects.item(0, 'reason')}; "
                "see meterlog rejects."
            )
        )
    else:
        bars = _bars(rejects, "reason", "(none)", colour=lambda _r: "#9c755f")
        parts.append(page.chart("chart-rejects", bar_list("chart-rejects", bars)))
        parts.append(_note("Rejected lines by reason; see meterlog rejects."))
    page.section("quality", "Data quality", *parts)


def _anomalies(
    page: _Page, settings: ReportSettings, since: str | None, until: str | None, store: Store
) -> None:
    """Findings of ``meterlog anomalies`` over the same range, when that module exists."""
    try:
        from meterlog.anomalies.runner import (  # type: ignore[import-not-found,unused-ignore]  # optional module
            AnomalyQuery,
            run_anomalies,
        )
    except ImportError:  # not part of this installation: no section
        return
    try:
        found = run_anomalies(settings, AnomalyQuery(since=since, until=until), store=store)
    except MeterlogError as exc:
        page.section("anomalies", "Anomalies", empty(str(exc)))
        return
    findings: pl.DataFrame = found.findings
    if findings.height == 0:
        page.section("anomalies", "Anomalies", empty("No findings in this range."))
        return
    shown = findings.head(50).drop("evidence", strict=False)
    columns = [
        Column(
            name,
            name,
            "int"
            if dtype.is_integer()
            else "float"
            if dtype.is_float()
            else "time"
            if dtype.is_temporal()
            else "label",
            width=40,
        )
        for name, dtype in shown.schema.items()
    ]
    more = (
        _note(f"{findings.height - 50:,} more: see meterlog anomalies.")
        if findings.height > 50
        else ""
    )
    page.section(
        "anomalies", f"Anomalies ({findings.height:,} findings)", table(shown, columns), more
    )
