"""``meterlog report``: one self-contained HTML file with charts, to pass around and open offline.

The charts are drawn by plotly.js, inlined from the ``plotly`` Python package (no CDN): the
file makes no network request, and its Content-Security-Policy forbids any. Figures are plain
plotly JSON built here from the same library calls as the commands (``usage``, ``mau``,
``peak``, ``bill``), so the numbers are the commands' numbers. The same store version and
options give the same bytes (element ids are fixed, no clock is read).

Sections: summary figures; requests over time per top account (the rest as ``other``) with
errors; MAU per account per month over the months in the store; each top account's peak window
marked on its window series (the plan's peak meter, else requests per hour); top endpoints;
status mix; latency percentiles (when logged); the invoice summary (with a plan); data quality
(rejected lines by reason, anonymous share); and anomaly findings when
:mod:`meterlog.anomalies` is installed.
"""

from __future__ import annotations

import calendar
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from meterlog.billing import Identity, identified_events
from meterlog.errors import MeterlogError
from meterlog.events import pin
from meterlog.metering import meter_evidence, meter_report
from meterlog.meters import PeakMeter, meter_from_params
from meterlog.periods import Month, parse_month, parse_months
from meterlog.reports import ReportSettings
from meterlog.store import Store
from meterlog.usage import UsageQuery, run_usage

#: How many accounts get their own line; the others are summed as "other".
DEFAULT_TOP_ACCOUNTS = 5
#: Ranges up to this long are charted by hour, longer ones by day.
HOURLY_UP_TO = timedelta(days=3)
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'"
)
_ERROR_COLOUR = "#d62728"


@dataclass(frozen=True)
class HtmlReportQuery:
    """The range reported (``month``, or ``since``/``until`` as for ``usage``) and options."""

    month: str | None = None
    since: str | None = None
    until: str | None = None
    plan: str | Path | None = None
    top_accounts: int = DEFAULT_TOP_ACCOUNTS

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


@dataclass
class _Page:
    title: str
    sections: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)

    def chart(
        self, name: str, heading: str, traces: list[dict[str, Any]], layout: dict[str, Any]
    ) -> None:
        chart_id = f"chart-{name}"
        figure = {
            "data": traces,
            "layout": {
                "margin": {"l": 60, "r": 20, "t": 10, "b": 50},
                "height": 360,
                "legend": {"orientation": "h", "y": -0.2},
                "hovermode": "x unified",
                **layout,
            },
        }
        script = (
            f"Plotly.newPlot({json.dumps(chart_id)}, {_json(figure['data'])}, "
            f"{_json(figure['layout'])}, {{displaylogo: false, responsive: true}});"
        )
        self.charts.append(chart_id)
        self.sections.append(
            f'<section><h2>{html.escape(heading)}</h2><div class="chart" id="{chart_id}"></div>'
            f"<script>{script}</script></section>"
        )

    def text(self, heading: str, body: str) -> None:
        self.sections.append(f"<section><h2>{html.escape(heading)}</h2>{body}</section>")

    def render(self) -> str:
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]  # no stubs

        plotly_js = get_plotlyjs().replace("</script", "<\\/script")
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style>"
            f"<script>{plotly_js}</script></head><body>"
            f"<h1>{html.escape(self.title)}</h1>"
            + "".join(self.sections)
            + "<footer>Written by meterlog.</footer></body></html>\n"
        )


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:1200px;
color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
section{border-top:1px solid #ddd}.chart{width:100%;min-height:360px}
.figures{display:flex;flex-wrap:wrap;gap:.75rem}
.figure{background:#f5f7fa;border-radius:6px;padding:.5rem .9rem}
.figure b{display:block;font-size:1.3rem}
table{border-collapse:collapse;font-size:.9rem}
td,th{padding:.2rem .6rem;border-bottom:1px solid #eee}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}footer{margin-top:2rem;color:#888}
"""


def _json(value: object) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _label(value: object, blank: str) -> str:
    """A value from the logs as a chart label: plotly reads a few HTML tags in labels, so
    ``<`` and ``&`` are escaped; blank values get a visible name."""
    text = "" if value is None else str(value)
    return html.escape(text) if text.strip() else blank


def _iso(values: Sequence[object]) -> list[str]:
    return [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]


def build_html_report(
    settings: ReportSettings,
    query: HtmlReportQuery,
    *,
    store: Store | None = None,
) -> HtmlReport:
    """Compute every section of the report from one version of the store (the current one,
    or the version ``store`` is pinned at when it is a :class:`~meterlog.store.Snapshot`)."""
    store = pin(store or Store(settings.store))
    version = store.pinned
    since, until = query.time_bounds()
    base = UsageQuery(since=since, until=until)
    overall = run_usage(settings, base, store=store)
    if overall.frame.height == 0:
        raise MeterlogError(
            f"{store.uri}: no requests stored {overall.time_range.describe(settings.tz)}; "
            "check --month or --since/--until"
        )
    first, last = _span(store, settings, base)
    bucket = "hour" if last - first <= HOURLY_UP_TO else "day"
    when = overall.time_range.describe(settings.tz) or (
        f"from {first.astimezone(settings.tz):%Y-%m-%d} to {last.astimezone(settings.tz):%Y-%m-%d}"
    )
    page = _Page(title=f"meterlog report: {query.month or when} ({settings.tz_name})")
    report = HtmlReport(html="", charts=page.charts, warnings=list(overall.warnings))
    totals = overall.frame.row(0, named=True)
    by_account = run_usage(
        settings, UsageQuery(since=since, until=until, by=("account",)), store=store
    )
    anonymous = _anonymous_requests(settings, base, store)
    _summary(page, totals, by_account.frame.height, anonymous, when, store, version)
    top = _top_accounts(by_account.frame, query.top_accounts)
    series = run_usage(
        settings, UsageQuery(since=since, until=until, by=(bucket, "account")), store=store
    )
    _requests_chart(page, series.frame, bucket, top)
    events = identified_events(store, settings.identity(), version)
    _mau_chart(page, events, settings, first, last, top)
    plans = _load_plans(query.plan)
    months = _months_between(first, last, settings)
    _peak_chart(page, events, settings, months, top, plans)
    _endpoints_chart(page, settings, since, until, store)
    _status_chart(page, settings, since, until, store)
    if "latency_p50" in overall.frame.columns:
        latency = run_usage(
            settings, UsageQuery(since=since, until=until, by=(bucket,)), store=store
        )
        _latency_chart(page, latency.frame, bucket)
    if plans is not None:
        period = query.month or str(months[0])
        _invoice_section(page, store, plans, period, settings, settings.identity(), report)
    _quality_section(page, store, totals["requests"], anonymous)
    _anomalies_section(page, settings, since, until, store)
    report.html = page.render()
    return report


def write_html_report(
    settings: ReportSettings, query: HtmlReportQuery, output: str | Path
) -> HtmlReport:
    """Build the report and write it to ``output`` (its folder must exist)."""
    path = Path(output)
    if not path.parent.exists():
        raise MeterlogError(f"{path}: folder {path.parent} does not exist; create it first")
    report = build_html_report(settings, query)
    path.write_text(report.html, encoding="utf-8")
    return report


# -- data ------------------------------------------------------------------------------------


def _span(store: Store, settings: ReportSettings, query: UsageQuery) -> tuple[datetime, datetime]:
    """First and last instant charted: the range asked for, else the stored requests'."""
    from meterlog.filters import parse_time_range

    bounds = parse_time_range(query.since, query.until, settings.tz)
    stored = (
        store.scan_events()
        .filter(*bounds.predicates() or [pl.lit(True)])
        .select(pl.col("ts").min(), pl.col("ts").max().alias("last"))
        .collect()
        .row(0)
    )
    first = bounds.start or stored[0]
    last = bounds.end - timedelta(microseconds=1) if bounds.end is not None else stored[1]
    return first, last


def _anonymous_requests(settings: ReportSettings, query: UsageQuery, store: Store) -> int:
    frame = run_usage(
        settings, UsageQuery(since=query.since, until=query.until, by=("user",)), store=store
    ).frame
    return int(frame.filter(pl.col("user").is_null()).get_column("requests").sum())


def _top_accounts(by_account: pl.DataFrame, count: int) -> list[str | None]:
    ranked = by_account.sort(["requests", "account"], descending=[True, False], nulls_last=True)
    return ranked.get_column("account").head(count).to_list()


def _months_between(first: datetime, last: datetime, settings: ReportSettings) -> list[Month]:
    start = first.astimezone(settings.tz)
    end = last.astimezone(settings.tz)
    return parse_months(f"{start:%Y-%m}..{end:%Y-%m}")


def _load_plans(plan: str | Path | None) -> Any:
    if plan is None:
        return None
    from meterlog.plans import load_plan_file

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


# -- sections --------------------------------------------------------------------------------


def _figure(label: str, value: str) -> str:
    return f'<div class="figure">{html.escape(label)}<b>{html.escape(value)}</b></div>'


def _summary(
    page: _Page,
    totals: dict[str, Any],
    accounts: int,
    anonymous: int,
    when: str,
    store: Store,
    version: int,
) -> None:
    errors = totals["errors_4xx"] + totals["errors_5xx"]
    share = anonymous / totals["requests"] if totals["requests"] else 0.0
    figures = [
        ("requests", f"{totals['requests']:,}"),
        ("errors (4xx + 5xx)", f"{errors:,}"),
        ("bytes sent", f"{totals['bytes_sent']:,}"),
        ("distinct users", f"{totals['users']:,}"),
        ("accounts", f"{accounts:,}"),
        ("anonymous requests", f"{share:.1%}"),
    ]
    if totals.get("latency_p95") is not None:
        figures.append(("latency p95", f"{totals['latency_p95']:.3f} s"))
    body = '<div class="figures">' + "".join(_figure(k, v) for k, v in figures) + "</div>"
    body += f"<p>{html.escape(when)}; store {html.escape(store.uri)}, version {version}.</p>"
    page.text("Summary", body)


def _requests_chart(page: _Page, frame: pl.DataFrame, bucket: str, top: list[str | None]) -> None:
    grouped = frame.with_columns(
        pl.when(
            pl.col("account").is_in([a for a in top if a is not None])
            | (pl.col("account").is_null() if None in top else pl.lit(False))
        )
        .then(pl.col("account"))
        .otherwise(pl.lit("\x00other"))
        .alias("series"),
        (pl.col("errors_4xx") + pl.col("errors_5xx")).alias("errors"),
    )
    per_series = (
        grouped.group_by(bucket, "series")
        .agg(pl.col("requests").sum())
        .sort(bucket, "series", nulls_last=True)
    )
    traces: list[dict[str, Any]] = []
    for name in [*top, "\x00other"]:
        rows = per_series.filter(
            pl.col("series").is_null() if name is None else pl.col("series") == name
        )
        if rows.height == 0:
            continue
        label = "other" if name == "\x00other" else _label(name, "(no key)")
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "stackgroup": "requests",
                "name": label,
                "x": _iso(rows.get_column(bucket).to_list()),
                "y": rows.get_column("requests").to_list(),
            }
        )
    errors = grouped.group_by(bucket).agg(pl.col("errors").sum()).sort(bucket)
    traces.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "errors (4xx + 5xx)",
            "line": {"color": _ERROR_COLOUR, "dash": "dot", "width": 2},
            "x": _iso(errors.get_column(bucket).to_list()),
            "y": errors.get_column("errors").to_list(),
        }
    )
    page.chart(
        "requests",
        f"Requests per {bucket} by account (top {len(top)}, the rest as other), with errors",
        traces,
        {"yaxis": {"title": {"text": f"requests per {bucket}"}, "rangemode": "tozero"}},
    )


def _mau_chart(
    page: _Page,
    events: pl.LazyFrame,
    settings: ReportSettings,
    first: datetime,
    last: datetime,
    top: list[str | None],
) -> None:
    stored = events.select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).collect()
    lo, hi = stored.row(0)
    months = _months_between(min(lo, first), max(hi, last), settings)
    meter = meter_from_params("mau", {})
    frame = meter_report(events, meter, months, settings.tz)
    traces = []
    for account in top:
        rows = frame.filter(
            pl.col("account").is_null() if account is None else pl.col("account") == account
        ).sort("month")
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _label(account, "(no key)"),
                "x": rows.get_column("month").to_list(),
                "y": rows.get_column("mau").to_list(),
            }
        )
    page.chart(
        "mau",
        "Monthly active users per account, over the months in the store",
        traces,
        {
            "xaxis": {"type": "category", "title": {"text": "month"}},
            "yaxis": {"title": {"text": "MAU"}, "rangemode": "tozero"},
        },
    )


def _peak_chart(
    page: _Page,
    events: pl.LazyFrame,
    settings: ReportSettings,
    months: list[Month],
    top: list[str | None],
    plans: Any,
) -> None:
    """One panel per top account: its window series, the billed window starred and shaded."""
    meters = {account: _peak_meter(plans, account) for account in top}
    evidence = {
        meter: meter_evidence(events, meter, months, settings.tz)
        for meter in dict.fromkeys(meters.values())
    }
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    panels = len(top)
    gap = 0.06
    height = (1 - gap * (panels - 1)) / max(panels, 1)
    for index, account in enumerate(top):
        meter = meters[account]
        windows = evidence[meter]
        rows = windows.filter(
            pl.col("account").is_null() if account is None else pl.col("account") == account
        ).sort("window_start")
        axis = "" if index == 0 else str(index + 1)
        top_edge = 1 - index * (height + gap)
        layout[f"yaxis{axis}"] = {
            "domain": [max(0.0, top_edge - height), top_edge],
            "rangemode": "tozero",
            "title": {"text": meter.metric},
        }
        layout[f"xaxis{axis}"] = {"anchor": f"y{axis}", "matches": "x" if axis else None}
        if axis:
            layout[f"xaxis{axis}"]["showticklabels"] = index == panels - 1
        else:
            layout["xaxis"]["showticklabels"] = panels == 1
        name = _label(account, "(no key)")
        colour = _PALETTE[index % len(_PALETTE)]
        annotations.append(
            {
                "text": f"<b>{name}</b>: {html.escape(meter.description)}",
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": top_edge,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "line": {"color": colour, "width": 1},
                "x": _iso(rows.get_column("window_start").to_list()),
                "y": rows.get_column("value").to_list(),
            }
        )
        peaks = rows.filter(pl.col("is_peak"))
        traces.append(
            {
                "type": "scatter",
                "mode": "markers+text",
                "name": f"{name} billed window",
                "showlegend": False,
                "xaxis": f"x{axis}",
                "yaxis": f"y{axis}",
                "marker": {"symbol": "star", "size": 14, "color": "#000"},
                "text": [f"{v:,}" for v in peaks.get_column("value").to_list()],
                "textposition": "middle right",
                "x": _iso(peaks.get_column("window_start").to_list()),
                "y": peaks.get_column("value").to_list(),
            }
        )
        for start, end in peaks.select("window_start", "window_end").iter_rows():
            shapes.append(
                {
                    "type": "rect",
                    "xref": f"x{axis}",
                    "yref": f"y{axis} domain",
                    "x0": start.isoformat(),
                    "x1": end.isoformat(),
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "#000",
                    "opacity": 0.2,
                    "line": {"width": 1, "color": "#000"},
                }
            )
    page.chart(
        "peak",
        "Peak window per account, as billed (star: the window whose value is billed)",
        traces,
        {
            **layout,
            "shapes": shapes,
            "annotations": annotations,
            "showlegend": False,
            "height": 170 * max(panels, 1) + 60,
            "margin": {"l": 70, "r": 20, "t": 25, "b": 40},
            "hovermode": "closest",
        },
    )


def _endpoints_chart(
    page: _Page, settings: ReportSettings, since: str | None, until: str | None, store: Store
) -> None:
    query = UsageQuery(since=since, until=until, by=("endpoint",), top=15, sort="requests")
    frame = run_usage(settings, query, store=store).frame.reverse()  # largest at the top
    labels = [_label(v, "(no path)") for v in frame.get_column("endpoint").to_list()]
    errors = frame.select(pl.col("errors_4xx") + pl.col("errors_5xx")).to_series().to_list()
    page.chart(
        "endpoints",
        "Top endpoints by requests",
        [
            {
                "type": "bar",
                "orientation": "h",
                "name": "requests",
                "y": labels,
                "x": frame.get_column("requests").to_list(),
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "errors (4xx + 5xx)",
                "y": labels,
                "x": errors,
                "marker": {"color": _ERROR_COLOUR},
            },
        ],
        {
            "barmode": "overlay",
            "height": max(360, 28 * frame.height + 80),
            "margin": {"l": 260, "r": 20, "t": 30, "b": 50},
            "hovermode": "y unified",
        },
    )


def _status_chart(
    page: _Page, settings: ReportSettings, since: str | None, until: str | None, store: Store
) -> None:
    query = UsageQuery(since=since, until=until, by=("status_class",))
    frame = run_usage(settings, query, store=store).frame
    labels = [_label(v, "(no status)") for v in frame.get_column("status_class").to_list()]
    colours = {
        "1xx": "#7f7f7f",
        "2xx": "#2ca02c",
        "3xx": "#1f77b4",
        "4xx": "#ff7f0e",
        "5xx": _ERROR_COLOUR,
    }
    page.chart(
        "status",
        "Status mix",
        [
            {
                "type": "pie",
                "hole": 0.4,
                "sort": False,
                "labels": labels,
                "values": frame.get_column("requests").to_list(),
                "marker": {"colors": [colours.get(v, "#bcbd22") for v in labels]},
            }
        ],
        {"hovermode": "closest"},
    )


def _latency_chart(page: _Page, frame: pl.DataFrame, bucket: str) -> None:
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "name": name.replace("latency_", ""),
            "connectgaps": False,
            "x": _iso(frame.get_column(bucket).to_list()),
            "y": frame.get_column(name).to_list(),
        }
        for name in ("latency_p50", "latency_p95", "latency_p99")
    ]
    page.chart(
        "latency",
        f"Latency percentiles per {bucket} (request_time, seconds)",
        traces,
        {"yaxis": {"title": {"text": "seconds"}, "rangemode": "tozero"}},
    )


def _table(frame: pl.DataFrame, numeric: Sequence[str] = ()) -> str:
    head = "".join(
        f'<th class="{"n" if n in numeric else ""}">{html.escape(n)}</th>' for n in frame.columns
    )
    rows = []
    for row in frame.iter_rows():
        cells = []
        for name, value in zip(frame.columns, row, strict=True):
            shown = "" if value is None else (f"{value:,}" if isinstance(value, int) else value)
            css = "n" if name in numeric else ""
            cells.append(f'<td class="{css}">{html.escape(str(shown))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _invoice_section(
    page: _Page,
    store: Store,
    plans: Any,
    period: str,
    settings: ReportSettings,
    identity: Identity,
    report: HtmlReport,
) -> None:
    from meterlog.billing import compute_invoice
    from meterlog.output import compact_invoice

    invoice = compute_invoice(store, plans, period, settings.tz, identity)
    report.warnings.extend([*invoice.warnings, *invoice.incomplete])
    view = compact_invoice(invoice.lines)
    body = _table(view.frame, numeric=("quantity", "amount"))
    page.text(f"Invoice {period} ({view.describe()})", body)


def _quality_section(page: _Page, store: Store, requests: int, anonymous: int) -> None:
    rejects = (
        store.scan_rejects()
        .group_by("reason")
        .agg(pl.len().alias("lines"))
        .sort("reason")
        .collect()
    )
    rejected = int(rejects.get_column("lines").sum()) if rejects.height else 0
    share = anonymous / requests if requests else 0.0
    figures = (
        '<div class="figures">'
        + _figure("rejected lines (whole store)", f"{rejected:,}")
        + _figure("anonymous requests", f"{anonymous:,} ({share:.1%})")
        + "</div>"
    )
    page.text("Data quality", figures + "<p>Rejected lines by reason; see meterlog rejects.</p>")
    page.chart(
        "rejects",
        "Rejected lines by reason",
        [
            {
                "type": "bar",
                "name": "rejected lines",
                "x": rejects.get_column("reason").to_list() or ["(none)"],
                "y": rejects.get_column("lines").to_list() or [0],
                "marker": {"color": "#8c564b"},
            }
        ],
        {"hovermode": "closest", "height": 300},
    )


def _anomalies_section(
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
        page.text("Anomalies", f"<p>{html.escape(str(exc))}</p>")
        return
    findings: pl.DataFrame = found.findings
    if findings.height == 0:
        page.text("Anomalies", "<p>No findings in this range.</p>")
        return
    text = findings.head(50).with_columns(
        pl.col(n).cast(pl.String) for n, t in findings.schema.items() if not t.is_integer()
    )
    more = (
        f"<p>{findings.height - 50:,} more: see meterlog anomalies.</p>"
        if findings.height > 50
        else ""
    )
    page.text(f"Anomalies ({findings.height:,} findings)", _table(text) + more)


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
