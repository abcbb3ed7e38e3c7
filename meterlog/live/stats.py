"""Live counters kept from the batches ``watch`` commits: what ``/metrics`` and the dashboard show.

Every batch is aggregated with Polars expressions (one ``group_by`` per figure), never line by
line. Label values are bounded: accounts beyond ``max_accounts`` become ``other``, methods
outside the usual HTTP methods ``OTHER``, endpoints are templates (:mod:`meterlog.query.endpoints`),
never raw paths. Recent figures (rates, latency, busiest accounts and endpoints) are kept for
the last hour at most, so memory stays flat however long ``watch`` runs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from meterlog.query.identity import NO_KEY

#: Accounts named in labels; the rest are reported as :data:`OTHER_ACCOUNT`.
DEFAULT_MAX_ACCOUNTS = 1000
OTHER_ACCOUNT = "other"
#: Label of requests whose account is unknown (no account field value): ``(no key)``, as
#: every table names them.
NO_ACCOUNT = NO_KEY
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
OTHER_METHOD = "OTHER"
#: Upper bounds (seconds) of the request-time histogram (Prometheus' default buckets).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds of per-second history kept (the dashboard's sparkline covers the last hour).
HISTORY_SECONDS = 3600
#: Seconds of request times and of per-account/endpoint counts kept ("right now").
RECENT_SECONDS = 60


class AccountLabels:
    """Account names as label values: the first ``limit`` accounts keep their name (the ones
    seen in the store at start first, busiest first), later ones become ``other``."""

    def __init__(self, limit: int = DEFAULT_MAX_ACCOUNTS) -> None:
        self.limit = limit
        self.named: dict[str, str] = {}

    def admit(self, accounts: list[str | None]) -> None:
        for account in accounts:
            name = NO_ACCOUNT if account is None else account
            if name not in self.named and len(self.named) < self.limit:
                self.named[name] = name

    def expr(self, column: str = "account") -> pl.Expr:
        name = pl.col(column).fill_null(NO_ACCOUNT)
        return (
            pl.when(name.is_in(list(self.named)))
            .then(name)
            .otherwise(pl.lit(OTHER_ACCOUNT))
            .alias("account_label")
        )

    def label(self, account: str | None) -> str:
        name = NO_ACCOUNT if account is None else account
        return name if name in self.named else OTHER_ACCOUNT


def status_class_expr() -> pl.Expr:
    status = pl.col("status").cast(pl.Int32)
    return (
        pl.when(status.is_between(100, 599))
        .then((status // 100).cast(pl.String) + "xx")
        .otherwise(pl.lit("other"))
        .alias("status_class")
    )


def method_expr() -> pl.Expr:
    method = pl.col("method").str.to_uppercase()
    return (
        pl.when(method.is_in(METHODS)).then(method).otherwise(pl.lit(OTHER_METHOD)).alias("method")
    )


@dataclass
class Histogram:
    """Counts per bucket (the last one is +Inf, not cumulative) and the sum."""

    counts: np.ndarray = field(
        default_factory=lambda: np.zeros(len(DURATION_BUCKETS) + 1, dtype=np.int64)
    )
    total: float = 0.0


@dataclass(frozen=True)
class Recent:
    """What the dashboard shows about the last minutes."""

    rps_1m: float
    rps_5m: float
    errors_4xx_1m: int
    errors_5xx_1m: int
    latency_p50: float | None
    latency_p95: float | None
    #: Requests per minute over the last hour, oldest first (60 values).
    per_minute: list[int]
    top_accounts: list[tuple[str, int]]
    top_endpoints: list[tuple[str, int]]


class LiveStats:
    """Counters since start and the recent past, from committed batches (thread-safe)."""

    def __init__(self, max_accounts: int = DEFAULT_MAX_ACCOUNTS) -> None:
        self.lock = threading.Lock()
        self.accounts = AccountLabels(max_accounts)
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.bytes: Counter[str] = Counter()
        self.durations: dict[str, Histogram] = {}
        self.rejected: Counter[str] = Counter()
        self.lines_read = 0
        self.lines_stored = 0
        # per second of event time: requests, 4xx, 5xx
        self._seconds: dict[int, np.ndarray] = {}
        self._latency: deque[tuple[int, np.ndarray]] = deque()
        self._hot: deque[tuple[int, pl.DataFrame]] = deque()

    def add(self, events: pl.DataFrame, rejects: pl.DataFrame, now: float | None = None) -> None:
        """Count a committed batch: ``events`` with ``account`` (and ``endpoint`` when known)."""
        now = time.time() if now is None else now
        with self.lock:
            self._add(events, rejects, now)

    def _add(self, events: pl.DataFrame, rejects: pl.DataFrame, now: float) -> None:
        self.lines_read += events.height + rejects.height
        self.lines_stored += events.height
        if rejects.height:
            for reason, count in rejects.group_by("reason").len().iter_rows():
                self.rejected[str(reason)] += int(count)
        if events.height == 0:
            self._prune(now)
            return
        if self.accounts.limit > len(self.accounts.named):
            busiest = events.group_by("account").len().sort("len", "account", descending=True)
            self.accounts.admit(busiest.get_column("account").to_list())
        frame = events.select(
            self.accounts.expr(),
            status_class_expr(),
            method_expr(),
            pl.col("bytes_sent").fill_null(0),
            pl.col("request_time"),
            (pl.col("ts").dt.epoch("s")).alias("second"),
            pl.col("status").cast(pl.Int32),
            *([pl.col("endpoint")] if "endpoint" in events.columns else []),
        )
        for label, status, method, count in (
            frame.group_by("account_label", "status_class", "method").len().iter_rows()
        ):
            self.requests[(label, status, method)] += int(count)
        for label, sent in (
            frame.group_by("account_label").agg(pl.col("bytes_sent").sum()).iter_rows()
        ):
            self.bytes[label] += int(sent)
        timed = frame.filter(pl.col("request_time").is_not_null())
        if timed.height:
            buckets = pl.lit(pl.Series(DURATION_BUCKETS)).search_sorted(
                pl.col("request_time"), side="left"
            )
            grouped = (
                timed.group_by("account_label", buckets.alias("bucket"))
                .agg(pl.len(), pl.col("request_time").sum().alias("total"))
                .iter_rows()
            )
            for label, bucket, count, total in grouped:
                histogram = self.durations.setdefault(label, Histogram())
                histogram.counts[int(bucket)] += int(count)
                histogram.total += float(total)
        # the recent past, by event time
        horizon = int(now) - HISTORY_SECONDS
        per_second = (
            frame.filter(pl.col("second") > horizon)
            .group_by("second")
            .agg(
                pl.len().alias("n"),
                pl.col("status").is_between(400, 499).sum().alias("e4"),
                pl.col("status").is_between(500, 599).sum().alias("e5"),
            )
        )
        for second, n, e4, e5 in per_second.iter_rows():
            slot = self._seconds.setdefault(int(second), np.zeros(3, dtype=np.int64))
            slot += (n, e4, e5)
        recent = frame.filter(pl.col("second") > int(now) - RECENT_SECONDS)
        if recent.height:
            newest = int(recent.get_column("second").max())  # type: ignore[arg-type]
            times = recent.get_column("request_time").drop_nulls().to_numpy()
            if len(times):
                self._latency.append((newest, times))
            keys = ["account_label", *(["endpoint"] if "endpoint" in recent.columns else [])]
            self._hot.append((newest, recent.group_by(keys).len()))
        self._prune(now)

    def _prune(self, now: float) -> None:
        horizon = int(now) - HISTORY_SECONDS
        for second in [s for s in self._seconds if s <= horizon]:
            del self._seconds[second]
        recent = int(now) - RECENT_SECONDS
        while self._latency and self._latency[0][0] <= recent:
            self._latency.popleft()
        while self._hot and self._hot[0][0] <= recent:
            self._hot.popleft()

    def recent(self, now: float | None = None, top: int = 5) -> Recent:
        now = time.time() if now is None else now
        with self.lock:
            self._prune(now)
            current = int(now)
            seconds = self._seconds

            def window(length: int) -> np.ndarray:
                total = np.zeros(3, dtype=np.int64)
                for second, values in seconds.items():
                    if current - length < second <= current:
                        total += values
                return total

            last_minute, last_five = window(60), window(300)
            per_minute = [0] * 60
            for second, values in seconds.items():
                age = (current - second) // 60
                if 0 <= age < 60:
                    per_minute[59 - age] += int(values[0])
            p50 = p95 = None
            if self._latency:
                times = np.concatenate([values for _, values in self._latency])
                p50, p95 = (
                    float(v) for v in np.quantile(times, [0.5, 0.95], method="inverted_cdf")
                )
            accounts: list[tuple[str, int]] = []
            endpoints: list[tuple[str, int]] = []
            if self._hot:
                hot = pl.concat([frame for _, frame in self._hot], how="diagonal_relaxed")
                accounts = [
                    (str(name), int(n))
                    for name, n in hot.group_by("account_label")
                    .agg(pl.col("len").sum())
                    .sort(["len", "account_label"], descending=[True, False])
                    .head(top)
                    .iter_rows()
                ]
                if "endpoint" in hot.columns:
                    endpoints = [
                        (str(name), int(n))
                        for name, n in hot.group_by("endpoint")
                        .agg(pl.col("len").sum())
                        .drop_nulls("endpoint")
                        .sort(["len", "endpoint"], descending=[True, False])
                        .head(top)
                        .iter_rows()
                    ]
            return Recent(
                rps_1m=float(last_minute[0]) / 60,
                rps_5m=float(last_five[0]) / 300,
                errors_4xx_1m=int(last_minute[1]),
                errors_5xx_1m=int(last_minute[2]),
                latency_p50=p50,
                latency_p95=p95,
                per_minute=per_minute,
                top_accounts=accounts,
                top_endpoints=endpoints,
            )
