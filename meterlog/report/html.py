"""``meterlog report``: one light, self-contained HTML file to pass around and open offline.

The numbers come from :mod:`meterlog.report.data`, the charts are SVG and HTML drawn by
:mod:`meterlog.report.charts` (no chart library), each section is built by
:mod:`meterlog.report.sections` into the page of :mod:`meterlog.report.page`. The tables sort
with a few lines of inline script, and the page's Content-Security-Policy allows that one
script (by its hash) and no network request at all. Everything is read from one
store version (the current one, named on the page); the same version and options give the
same bytes (no clock is read).

Panels: summary; traffic per day (per hour for ranges up to three days) by account with
errors, and distinct users; monthly active users per account; each top account's peak window
(the billed one starred); the invoice (with a plan); client addresses and networks (/24,
/48); user agents by group with the raw agents; referrers; status codes with the top paths
of each 4xx/5xx code; endpoints with error share and latency; weekday by hour of day; latency
over time (when logged); data quality; anomaly findings (when :mod:`meterlog.anomalies` is
installed). Every number comes from the usage metrics, the meters and the invoice code the
commands use.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from meterlog.errors import MeterlogError
from meterlog.periods import Month, parse_month, parse_months
from meterlog.query.events import pin
from meterlog.query.settings import ReportSettings
from meterlog.query.usage import UsageQuery, usage_plan
from meterlog.report.page import HtmlReport, Page
from meterlog.report.sections import (
    Context,
    agents_section,
    anomalies_section,
    clients_section,
    endpoints_section,
    invoice_section,
    latency_section,
    mau_section,
    peaks_section,
    quality_section,
    referrers_section,
    statuses_section,
    summary_section,
    time_of_day_section,
    traffic_section,
)
from meterlog.store import Store

#: How many accounts get their own series; the others are summed as "other".
DEFAULT_TOP_ACCOUNTS = 5


#: Requests on up to this many calendar days are charted by hour, on more by day.
HOURLY_UP_TO_DAYS = 4


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
    ctx = Context(
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
    page = Page(title=f"meterlog report: {query.month or when} ({settings.tz_name})")
    report = HtmlReport(html="", charts=page.charts, warnings=_identity_warnings(settings, names))
    anonymous = summary_section(page, ctx, totals, by_account.height, when)
    traffic_section(page, ctx)
    mau_section(page, ctx, first, last)
    plans = _load_plans(query.plan)
    months = _months_between(first, last, settings)
    peaks_section(page, ctx, months, plans)
    if plans is not None:
        period = query.month or str(months[0])
        invoice_section(
            page,
            store,
            version,
            plans,
            period,
            settings,
            settings.identity(),
            report,
            query.engine,
            query.spark_master,
        )
    clients_section(page, ctx)
    agents_section(page, ctx)
    referrers_section(page, ctx)
    statuses_section(page, ctx)
    endpoints_section(page, ctx)
    time_of_day_section(page, ctx)
    if has_latency:
        latency_section(page, ctx)
    quality_section(page, store, totals["requests"], anonymous)
    anomalies_section(page, settings, since, until, store)
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
