"""The terminal dashboard of ``watch`` (rich): traffic now, the busiest accounts and endpoints,
month to date per account (against the plan with ``--plan``), and ingest health.

:func:`render` builds the screen from a :class:`DashboardData` for a given width and height:
every line is cut to the width (no wrapping) and tables get only the rows that fit. Values
from the logs (accounts, endpoints) are shown as plain text with control characters replaced,
so a log line cannot send escape sequences or markup to the terminal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from meterlog.live.mtd import PeakFigure
from meterlog.live.stats import Recent
from meterlog.live.watch import Health, PlanUsage, Watcher
from meterlog.query.identity import NO_KEY
from meterlog.text import printable

_SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class AccountRow:
    account: str | None
    requests: int
    mau: int
    peaks: tuple[PeakFigure, ...]


@dataclass(frozen=True)
class DashboardData:
    """Everything the dashboard shows, read from a watcher at one moment."""

    store: str
    month: str
    tz: str
    recent: Recent
    accounts: list[AccountRow]
    plan: list[PlanUsage]
    health: Health
    lines_read: int
    rejected: int
    now: float
    #: The newest live anomaly findings, one line each (newest last), when detectors run.
    findings: tuple[str, ...] = ()


def dashboard_data(watcher: Watcher, now: float | None = None) -> DashboardData:
    now = time.time() if now is None else now
    recent = watcher.stats.recent(now)
    with watcher.mtd_lock:
        mtd = watcher.mtd
        requests = mtd.requests()
        mau = mtd.mau()
        peaks = mtd.peaks()
        month = str(mtd.period.month) if mtd.period is not None else ""
    rows = [
        AccountRow(
            account,
            count,
            mau.get(account, 0),
            tuple(figure for figure in peaks if figure.account == account),
        )
        for account, count in sorted(requests.items(), key=lambda i: (-i[1], i[0] or ""))
    ]
    with watcher.stats.lock:
        lines_read = watcher.stats.lines_read
        rejected = sum(watcher.stats.rejected.values())
    findings: tuple[str, ...] = ()
    if watcher.anomalies is not None:
        from meterlog.anomalies.live import SHOWN, finding_line

        with watcher.anomalies.lock:
            newest = list(watcher.anomalies.recent_findings[-SHOWN:])
        findings = tuple(finding_line(row) for row in newest)
    return DashboardData(
        store=watcher.store.uri,
        month=month,
        tz=watcher.options.tz.key,
        recent=recent,
        accounts=rows,
        plan=watcher.plan_usage(),
        health=watcher.health(),
        lines_read=lines_read,
        rejected=rejected,
        now=now,
        findings=findings,
    )


def plain(value: object, blank: str = "-") -> Text:
    """A value from the logs as text that cannot style or control the terminal (``blank``
    for None)."""
    text = blank if value is None else printable(str(value)).replace("\t", " ")
    return Text(text, no_wrap=True, overflow="ellipsis")


def sparkline(values: list[int], width: int) -> str:
    """One character per value (the last ``width`` values), scaled to the largest."""
    values = values[-width:] if width > 0 else []
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values) if values else ""
    return "".join(
        " " if v <= 0 else _SPARK[min(len(_SPARK) - 1, v * len(_SPARK) // (top + 1))]
        for v in values
    )


def _ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int(now - moment))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.2f} s"


def _table(title: str, width: int) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        pad_edge=False,
        padding=(0, 1),
        width=width,
        show_edge=False,
    )
    return table


def _line(text: Text, width: int) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    text.truncate(width, overflow="ellipsis")
    return text


def render(data: DashboardData, width: int = 80, height: int = 40) -> RenderableType:
    """The dashboard for a terminal of ``width`` x ``height`` cells."""
    recent, health = data.recent, data.health
    parts: list[RenderableType] = []
    header = Text("meterlog watch ", style="bold")
    header.append(plain(data.store))
    header.append(f"  month {data.month} ({data.tz})")
    parts.append(_line(header, width))
    traffic = Text()
    traffic.append(f"req/s {recent.rps_1m:,.1f} (1 min) {recent.rps_5m:,.1f} (5 min)  ")
    traffic.append(f"4xx {recent.errors_4xx_1m:,}", style="yellow")
    traffic.append("  ")
    traffic.append(f"5xx {recent.errors_5xx_1m:,}", style="red")
    traffic.append(f"  p50 {_seconds(recent.latency_p50)}  p95 {_seconds(recent.latency_p95)}")
    parts.append(_line(traffic, width))
    spark_width = max(0, min(60, width - 14))
    spark = Text("last hour/min ")
    spark.append(sparkline(recent.per_minute, spark_width), style="cyan")
    parts.append(_line(spark, width))
    rejected_share = data.rejected / data.lines_read * 100 if data.lines_read else 0.0
    status = Text(
        f"lag {health.lag_seconds:,.1f} s  last commit {_ago(health.last_commit, data.now)}"
        f"  store v{health.store_version if health.store_version is not None else '-'}"
        f"  files {health.followed_files}  lines {data.lines_read:,}"
        f"  rejected {data.rejected:,} ({rejected_share:.1f}%)"
    )
    parts.append(_line(status, width))
    if health.last_error:
        parts.append(_line(Text("error: ", style="bold red") + plain(health.last_error), width))
    elif health.last_note:
        parts.append(_line(Text("note: ", style="yellow") + plain(health.last_note), width))
    if data.findings:
        parts.append(_line(Text("newest findings (meterlog anomalies --explain ID)"), width))
        for finding in data.findings:
            parts.append(_line(Text("  ") + plain(finding), width))
    # rows left for the tables: header lines above, a title and a header line per table
    room = max(3, height - len(parts) - 7)
    top_rows = max(1, min(5, room // 3))
    hot = _hot_tables(recent, width, top_rows)
    parts.append(hot)
    parts.append(_month_table(data, width, max(1, room - top_rows - 1)))
    return Group(*parts)


def _hot_tables(recent: Recent, width: int, rows: int) -> RenderableType:
    side_by_side = width >= 100
    half = (width - 2) // 2 if side_by_side else width
    accounts = _table("busiest accounts (1 min)", half)
    accounts.add_column("account", ratio=3, no_wrap=True, overflow="ellipsis")
    accounts.add_column("requests", justify="right", ratio=1, no_wrap=True)
    for name, count in recent.top_accounts[:rows]:
        accounts.add_row(plain(name), f"{count:,}")
    endpoints = _table("busiest endpoints (1 min)", half)
    endpoints.add_column("endpoint", ratio=3, no_wrap=True, overflow="ellipsis")
    endpoints.add_column("requests", justify="right", ratio=1, no_wrap=True)
    for name, count in recent.top_endpoints[:rows]:
        endpoints.add_row(plain(name), f"{count:,}")
    if not side_by_side:
        return Group(accounts, endpoints)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(width=half)
    grid.add_column(width=half)
    grid.add_row(accounts, endpoints)
    return grid


def _month_table(data: DashboardData, width: int, rows: int) -> RenderableType:
    table = _table(f"month to date ({data.month})", width)
    table.add_column("account", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("MAU", justify="right", no_wrap=True)
    peak_names: list[tuple[str, str, str]] = []
    for row in data.accounts:
        for figure in row.peaks:
            key = (figure.window, figure.metric, figure.statistic)
            if key not in peak_names:
                peak_names.append(key)
    shown_peaks = peak_names[: 1 if width < 100 else 3]
    for window, metric, statistic in shown_peaks:
        label = f"peak {metric}/{window}" + ("" if statistic == "max" else f" {statistic}")
        table.add_column(label, justify="right", no_wrap=True, overflow="ellipsis")
    usage: dict[str | None, tuple[str, Decimal, str]] = {}
    if data.plan:
        table.add_column("included", justify="right", no_wrap=True)
        table.add_column("accrued", justify="right", no_wrap=True)
        for line in data.plan:
            used, amount, currency = usage.get(line.account, ("", Decimal(0), line.currency))
            if line.included and not used:
                used = f"{line.quantity / line.included * 100:,.0f}% {line.charge}"
            usage[line.account] = (used, amount + line.amount, currency)
    for row in data.accounts[:rows]:
        cells: list[Text | str] = [plain(row.account, NO_KEY), f"{row.requests:,}", f"{row.mau:,}"]
        values = {(f.window, f.metric, f.statistic): f.value for f in row.peaks}
        cells += [f"{values.get(key, 0):,}" for key in shown_peaks]
        if data.plan and row.account in usage:
            used, amount, currency = usage[row.account]
            cells += [plain(used), f"{amount:,} {currency}"]
        elif data.plan:  # requests without an account (or not billed this month)
            cells += ["", ""]
        table.add_row(*cells)
    hidden = len(data.accounts) - rows
    if hidden > 0:
        table.caption = f"... and {hidden:,} more accounts"
        table.caption_justify = "left"
    return table
