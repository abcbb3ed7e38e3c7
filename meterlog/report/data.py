"""The numbers behind the HTML report's traffic panels, as Polars plans over events.

Every function takes a lazy frame of the requests reported (the range's events with ``user``
and ``account`` columns, see :func:`meterlog.query.usage.usage_plan`), whichever store version it
was read at, and returns a small frame. Counts use the same aggregations as ``usage``
(:data:`meterlog.query.metrics.METRICS`), so a request count here is ``usage``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from meterlog.query.metrics import METRICS, with_quantiles

#: Rows of each table (and bars of each bar chart).
TABLE_ROWS = 25
CHART_ROWS = 12
#: Paths listed per 4xx/5xx status code.
PATHS_PER_CODE = 5

#: User-agent groups, in the order shown.
BROWSERS, CRAWLERS, TOOLS, OTHER, NO_AGENT = (
    "browsers",
    "crawlers and monitors",
    "HTTP libraries and tools",
    "other",
    "(no user agent)",
)
AGENT_GROUPS = (BROWSERS, CRAWLERS, TOOLS, OTHER, NO_AGENT)
#: Case-insensitive substrings naming HTTP client libraries and command-line tools.
TOOL_PATTERNS = (
    "curl",
    "wget",
    "python",
    "requests",
    "aiohttp",
    "httpx",
    "urllib",
    "okhttp",
    "axios",
    "node-fetch",
    "undici",
    "node",
    "go-http-client",
    "java",
    "apache-httpclient",
    "jakarta",
    "faraday",
    "ruby",
    "libwww-perl",
    "lwp",
    "guzzle",
    "php",
    "postman",
    "insomnia",
    "httpie",
    "powershell",
    "dart",
    "reqwest",
    "rust",
    ".net",
    "restsharp",
    "electron",
    "winhttp",
)
_BROWSER_MARKERS = ("mozilla/", "opera/")


def _sum(*names: str) -> list[pl.Expr]:
    return [METRICS[name].aggregation().alias(name) for name in names]


def errors_expr() -> pl.Expr:
    return (pl.col("errors_4xx") + pl.col("errors_5xx")).alias("errors")


def _ranked(frame: pl.LazyFrame, key: str, limit: int | None = TABLE_ROWS) -> pl.LazyFrame:
    ranked = frame.sort(["requests", key], descending=[True, False], nulls_last=True)
    return ranked.head(limit) if limit is not None else ranked


def blank_expr(column: str) -> pl.Expr:
    """``column`` as text, null for missing, empty and ``-`` values."""
    value = pl.col(column).cast(pl.String)
    return pl.when(value.str.strip_chars().is_in(["", "-"])).then(None).otherwise(value)


def account_names(limit: int = 3) -> list[pl.Expr]:
    """How many accounts a group's requests used and the first ``limit`` names."""
    names = pl.col("account").drop_nulls().unique().sort()
    return [
        names.len().cast(pl.Int64).alias("accounts"),
        names.head(limit).str.join(", ").alias("account_names"),
    ]


def network_expr(column: str = "remote_addr") -> pl.Expr:
    """The client's network: ``a.b.c.0/24`` for IPv4, the first 48 bits ``x:y:z::/48`` for IPv6,
    null for anything else (a host name, ``-``)."""
    value = pl.col(column).cast(pl.String).str.strip_chars().str.to_lowercase()
    v4 = value.str.extract(r"^(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$", 1)
    v6 = value.str.contains(":") & value.str.contains(r"^[0-9a-f:.]+$")
    head = value.str.split("::").list.first().str.split(":")
    groups = head.list.eval(
        pl.when(pl.element() == "")
        .then(pl.lit("0"))
        .otherwise(pl.element().str.strip_chars_start("0").replace("", "0"))
    )
    padded = pl.concat_list(groups, pl.lit(["0", "0", "0"])).list.head(3).list.join(":")
    return (
        pl.when(v4.is_not_null())
        .then(v4 + ".0/24")
        .when(v6)
        .then(padded + "::/48")
        .otherwise(None)
        .alias("network")
    )


def clients(
    requests: pl.LazyFrame, by: str = "remote_addr", limit: int = TABLE_ROWS
) -> pl.DataFrame:
    """The ``limit`` busiest client addresses (or ``network``): requests, errors, bytes and the
    accounts used. They are ranked first, then only their requests are looked at again (the
    accounts of every one of a million addresses cost five times the ranking)."""
    key = network_expr() if by == "network" else blank_expr("remote_addr").alias(by)
    keyed = requests.with_columns(key)
    top = _ranked(keyed.group_by(by).agg(*_sum("requests")), by, limit).collect()
    chosen = pl.col(by).is_in(top.get_column(by).drop_nulls().to_list())
    if top.get_column(by).null_count():
        chosen = chosen | pl.col(by).is_null()
    grouped = (
        keyed.filter(chosen)
        .group_by(by)
        .agg(*_sum("requests", "errors_4xx", "errors_5xx", "bytes_sent"), *account_names())
        .with_columns(errors_expr())
        .select(by, "requests", "errors", "bytes_sent", "accounts", "account_names")
    )
    return _ranked(grouped, by, limit).collect()


def agent_group_expr(bot_patterns: Sequence[str]) -> pl.Expr:
    """Browsers, crawlers (the ``--exclude-bots`` patterns), HTTP libraries and tools, other."""
    agent = blank_expr("user_agent")
    lower = agent.str.to_lowercase()
    crawler = lower.str.contains_any(list(bot_patterns) or ["bot"], ascii_case_insensitive=True)
    tool = lower.str.contains_any(list(TOOL_PATTERNS), ascii_case_insensitive=True)
    browser = lower.str.contains_any(list(_BROWSER_MARKERS), ascii_case_insensitive=True)
    return (
        pl.when(agent.is_null())
        .then(pl.lit(NO_AGENT))
        .when(crawler)
        .then(pl.lit(CRAWLERS))
        .when(browser & ~lower.str.starts_with("mozilla/5.0 (compatible;").fill_null(False))
        .then(pl.lit(BROWSERS))
        .when(tool)
        .then(pl.lit(TOOLS))
        .otherwise(pl.lit(OTHER))
        .alias("group")
    )


def agents(requests: pl.LazyFrame, bot_patterns: Sequence[str]) -> pl.LazyFrame:
    """Per raw user agent: its group, requests, distinct users, errors and bytes (all rows)."""
    return _ranked(
        requests.with_columns(blank_expr("user_agent").alias("user_agent"))
        .group_by("user_agent")
        .agg(*_sum("requests", "users", "errors_4xx", "errors_5xx", "bytes_sent"))
        .with_columns(errors_expr(), agent_group_expr(bot_patterns))
        .select("group", "user_agent", "requests", "users", "errors", "bytes_sent"),
        "user_agent",
        limit=None,
    )


def agent_groups(per_agent: pl.DataFrame) -> pl.DataFrame:
    """The groups of :func:`agents` rows: requests, distinct agents, errors and bytes."""
    return (
        per_agent.group_by("group")
        .agg(
            pl.col("requests").sum(),
            pl.len().cast(pl.Int64).alias("agents"),
            pl.col("errors").sum(),
            pl.col("bytes_sent").sum(),
        )
        .sort(["requests", "group"], descending=[True, False])
    )


def referrers(requests: pl.LazyFrame) -> pl.LazyFrame:
    """Per referrer (requests without one left out): requests, distinct users, bytes."""
    return _ranked(
        requests.with_columns(blank_expr("referer").alias("referrer"))
        .filter(pl.col("referrer").is_not_null())
        .group_by("referrer")
        .agg(*_sum("requests", "users", "bytes_sent")),
        "referrer",
    )


def statuses(requests: pl.LazyFrame) -> pl.LazyFrame:
    """Per status code: requests and bytes, by code."""
    return (
        requests.group_by("status")
        .agg(*_sum("requests", "bytes_sent"))
        .sort("status", nulls_last=True)
    )


def error_paths(requests: pl.LazyFrame, per_code: int = PATHS_PER_CODE) -> pl.LazyFrame:
    """The most requested paths of each 4xx and 5xx status code."""
    counted = (
        requests.filter(pl.col("status") >= 400)
        .with_columns(blank_expr("path").alias("path"))
        .group_by("status", "path")
        .agg(*_sum("requests"))
        .sort(["status", "requests", "path"], descending=[False, True, False], nulls_last=True)
    )
    return counted.filter(pl.int_range(pl.len()).over("status") < per_code)


def endpoints(requests: pl.LazyFrame, has_latency: bool, limit: int = TABLE_ROWS) -> pl.LazyFrame:
    """Per endpoint (``endpoint`` column): requests, error share, bytes, latency p50/p95."""
    keys = [pl.col("endpoint")]
    counts = requests.group_by(keys).agg(
        *_sum("requests", "errors_4xx", "errors_5xx", "bytes_sent")
    )
    if has_latency:
        quantiles = [METRICS["latency_p50"], METRICS["latency_p95"]]
        latency_columns = with_quantiles(counts.select("endpoint"), requests, keys, quantiles)
        counts = counts.join(latency_columns, on="endpoint", how="left", nulls_equal=True)
    latency = ["latency_p50", "latency_p95"] if has_latency else []
    grouped = counts.with_columns(
        errors_expr(),
        ((pl.col("errors_4xx") + pl.col("errors_5xx")) / pl.col("requests")).alias("error_share"),
    ).select("endpoint", "requests", "errors", "error_share", "bytes_sent", *latency)
    return _ranked(grouped, "endpoint", limit)


def weekday_hour(requests: pl.LazyFrame, tz_name: str) -> pl.LazyFrame:
    """Requests per local weekday (1 = Monday) and hour of day."""
    local = pl.col("ts").dt.convert_time_zone(tz_name)
    return (
        requests.group_by(
            local.dt.weekday().cast(pl.Int8).alias("weekday"),
            local.dt.hour().cast(pl.Int8).alias("hour"),
        )
        .agg(*_sum("requests"))
        .sort("weekday", "hour")
    )


def heat_cells(frame: pl.DataFrame) -> list[list[int]]:
    """:func:`weekday_hour` rows as 7 lists of 24 counts (Monday first)."""
    cells = [[0] * 24 for _ in range(7)]
    for weekday, hour, requests in frame.select("weekday", "hour", "requests").iter_rows():
        cells[weekday - 1][hour] = requests
    return cells


def series_by(
    requests: pl.LazyFrame, bucket: pl.Expr, top: Sequence[str | None], other: str
) -> pl.LazyFrame:
    """Requests per time bucket (``bucket`` names the column) and series: each ``top`` account
    on its own, the others as ``other``."""
    names = [a for a in top if a is not None]
    in_top = pl.col("account").is_in(names).fill_null(False)
    if None in top:
        in_top = in_top | pl.col("account").is_null()
    return (
        requests.with_columns(
            bucket, pl.when(in_top).then(pl.col("account")).otherwise(pl.lit(other)).alias("series")
        )
        .group_by(bucket.meta.output_name(), "series")
        .agg(*_sum("requests"))
    )
