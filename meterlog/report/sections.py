"""The sections of ``meterlog report``, each from the numbers of :mod:`meterlog.report.data`, the
usage metrics, the meters and the invoice code the commands use, drawn by
:mod:`meterlog.report.charts` into a :class:`~meterlog.report.page.Page`."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from meterlog.billing import Identity
from meterlog.errors import MeterlogError
from meterlog.meters import PeakMeter, meter_from_params
from meterlog.meters.run import meter_evidence, meter_report
from meterlog.periods import Month, parse_months
from meterlog.query.aggregations import DIMENSIONS
from meterlog.query.endpoints import with_endpoint
from meterlog.query.filters import DEFAULT_BOT_PATTERNS
from meterlog.query.identity import NO_KEY
from meterlog.query.metrics import METRICS, with_quantiles
from meterlog.query.settings import ReportSettings
from meterlog.query.usage import zero_filled
from meterlog.report import data
from meterlog.report.charts import (
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
from meterlog.report.page import Column, HtmlReport, Page, note_html, table
from meterlog.store import Store

_OTHER = "\x00other"


#: A peak chart draws at most this many points (the plot is about as many pixels wide).
MAX_PEAK_POINTS = 900


@dataclass
class Context:
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


def summary_section(
    page: Page, ctx: Context, totals: dict[str, Any], accounts: int, when: str
) -> int:
    counts = ctx.requests.select(
        pl.col("user").is_null().sum().alias("anonymous"),
        data.blank_expr("remote_addr").drop_nulls().n_unique().alias("clients"),
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
    page.section("summary", "Summary", figures(items), note_html(text))
    return anonymous


def traffic_section(page: Page, ctx: Context) -> None:
    bucket = ctx.bucket
    key = DIMENSIONS[bucket].key(ctx.settings.tz_name).alias(bucket)
    names = ("requests", "errors_4xx", "errors_5xx", "bytes_sent", "users")
    metrics = [METRICS[n] for n in names]
    grouped = (
        ctx.requests.group_by(key).agg(METRICS[n].aggregation().alias(n) for n in names).collect()
    )
    per_bucket = zero_filled(grouped, bucket, ctx.span, ctx.settings.tz_name, metrics).sort(bucket)
    per_bucket = per_bucket.with_columns(data.errors_expr())
    stacked = data.series_by(ctx.requests, key, ctx.top, _OTHER).collect()
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


def _users_column(ctx: Context) -> list[Column]:
    return [Column("users", "distinct users")] if ctx.has_users else []


def _no_users(ctx: Context) -> str:
    field_name = ctx.settings.user_field
    return empty(
        f"No request in this range names a user (user field {field_name}): every request is "
        "anonymous, so there is no count of distinct users."
    )


def mau_section(page: Page, ctx: Context, first: datetime, last: datetime) -> None:
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
        note_html(f"No request is stored in {len(missing)} of these months: the lines stop there.")
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


def peaks_section(page: Page, ctx: Context, months: list[Month], plans: Any) -> None:
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
    for row in frame.head(data.CHART_ROWS).iter_rows(named=True):
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


def clients_section(page: Page, ctx: Context) -> None:
    addresses = data.clients(ctx.requests)
    networks = data.clients(ctx.requests, by="network")
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


def agents_section(page: Page, ctx: Context) -> None:
    patterns = ctx.settings.bot_patterns or DEFAULT_BOT_PATTERNS
    per_agent = data.agents(ctx.requests, patterns).collect()
    groups = data.agent_groups(per_agent)
    group_colours = dict(zip(data.AGENT_GROUPS, [*PALETTE[:4], OTHER_COLOUR], strict=True))
    bars = _bars(groups, "group", "(none)", colour=lambda g: group_colours.get(g, OTHER_COLOUR))
    top = per_agent.head(data.TABLE_ROWS)
    agent_bars = _bars(per_agent, "user_agent", data.NO_AGENT)
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
                Column("user_agent", "user agent", "label", width=80, blank=data.NO_AGENT),
                Column("group", "group", "text"),
                Column("requests", "requests"),
                *_users_column(ctx),
                Column("errors", "errors"),
                Column("bytes_sent", "bytes sent", "bytes"),
            ],
        ),
    )


def referrers_section(page: Page, ctx: Context) -> None:
    frame = data.referrers(ctx.requests).collect()
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


def statuses_section(page: Page, ctx: Context) -> None:
    codes = data.statuses(ctx.requests).collect()
    paths = data.error_paths(ctx.requests).collect()
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
        f"<h3>Top paths per error status (at most {data.PATHS_PER_CODE} each)</h3>",
        paths_part,
    )


def endpoints_section(page: Page, ctx: Context) -> None:
    requests = with_endpoint(ctx.requests, ctx.settings.endpoint_templates())
    frame = data.endpoints(requests, ctx.has_latency).collect()
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


def time_of_day_section(page: Page, ctx: Context) -> None:
    frame = data.weekday_hour(ctx.requests, ctx.settings.tz_name).collect()
    cells = data.heat_cells(frame)
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


def latency_section(page: Page, ctx: Context) -> None:
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


def invoice_section(
    page: Page,
    store: Store,
    version: int,
    plans: Any,
    period: str,
    settings: ReportSettings,
    identity: Identity,
    report: HtmlReport,
    engine_name: str,
    spark_master: str,
) -> None:
    from meterlog.billing import compute_invoice
    from meterlog.engines import open_engine
    from meterlog.output import compact_invoice

    engine = open_engine(engine_name, store, version, spark_master)
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


def quality_section(page: Page, store: Store, requests: int, anonymous: int) -> None:
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
            note_html(
                f"Every rejected line has the reason {rejects.item(0, 'reason')}; "
                "see meterlog rejects."
            )
        )
    else:
        bars = _bars(rejects, "reason", "(none)", colour=lambda _r: "#9c755f")
        parts.append(page.chart("chart-rejects", bar_list("chart-rejects", bars)))
        parts.append(note_html("Rejected lines by reason; see meterlog rejects."))
    page.section("quality", "Data quality", *parts)


def anomalies_section(
    page: Page, settings: ReportSettings, since: str | None, until: str | None, store: Store
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
        note_html(f"{findings.height - 50:,} more: see meterlog anomalies.")
        if findings.height > 50
        else ""
    )
    page.section(
        "anomalies", f"Anomalies ({findings.height:,} findings)", table(shown, columns), more
    )
