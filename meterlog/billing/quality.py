"""The data-quality block of an invoice: what the figures rest on.

Shown under the invoice table, written as the ``quality`` object of ``--format json`` and,
with ``bill --quality FILE``, as a one-row CSV:

* ``store_version``: the events table version the invoice was computed from;
* ``requests``: requests in the billing period (every account, billable or not);
* ``anonymous_requests`` and ``anonymous_percent``: those without a user (they count in
  request-based charges, never in MAU), and their share in percent (two decimals, half-even);
* ``rejected_lines``: lines rejected at ingest that lie between the period's first and last
  stored line of the same source (a rejected line has no trustworthy time of its own, so its
  place in the file dates it);
* ``outside_window_lines``: lines stored while flagged as outside the accept window (see
  ``ingest --accept-window``), over the whole store up to ``store_version``, as recorded in
  each ingest commit;
* ``incomplete``: the number of reasons the store may not hold the whole period yet (see
  :mod:`meterlog.billing.completeness`; each is also a warning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl

from meterlog.meters import Period, events_between
from meterlog.store import Store

OUTSIDE_WINDOW_KEY = "meterlog.outside_window"


@dataclass(frozen=True)
class Quality:
    store_version: int
    period_start: str | None
    period_end: str | None
    requests: int
    anonymous_requests: int
    anonymous_percent: str
    rejected_lines: int
    outside_window_lines: int
    incomplete: int

    def frame(self) -> pl.DataFrame:
        """One row, one column per field."""
        return pl.DataFrame([asdict(self)])

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The block as short lines for people (under the invoice table; each fits 80 columns)."""
        complete = "yes" if not self.incomplete else f"no ({self.incomplete} completeness warnings)"
        return [
            f"data quality (store version {self.store_version}):",
            f"  requests in the period: {self.requests:,}",
            f"  anonymous requests: {self.anonymous_requests:,} ({self.anonymous_percent}%)",
            f"  rejected lines in the period: {self.rejected_lines:,}",
            f"  lines stored outside the accept window: {self.outside_window_lines:,}",
            f"  complete: {complete}",
        ]


@dataclass(frozen=True)
class QualityCounts:
    """The figures of the quality block that are read from events, as a mergeable aggregate
    (like a meter: :meth:`partial`, :meth:`merge`), so month-end runs can cache them: per
    source, the requests and anonymous requests between ``start`` and ``end`` and the first
    and last stored line."""

    start: datetime
    end: datetime

    def partial(self, events: pl.LazyFrame, period: Period | None = None) -> pl.LazyFrame:
        return (
            events_between(events, self.start, self.end)
            .group_by(pl.col("source_id").cast(pl.String))
            .agg(
                requests=pl.len().cast(pl.Int64),
                anonymous=pl.col("user").is_null().sum().cast(pl.Int64),
                first=pl.col("source_line").min().cast(pl.Int64),
                last=pl.col("source_line").max().cast(pl.Int64),
            )
        )

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        return (
            pl.concat([first, second], how="vertical_relaxed")
            .group_by("source_id")
            .agg(
                pl.col("requests").sum(),
                pl.col("anonymous").sum(),
                pl.col("first").min(),
                pl.col("last").max(),
            )
        )


def quality_span(periods: Sequence[Period]) -> tuple[datetime, datetime]:
    """From the first start to the last end of the billing ``periods``."""
    return min(period.start for period in periods), max(period.end for period in periods)


def data_quality(
    store: Store,
    events: pl.LazyFrame,
    version: int,
    periods: Sequence[Period],
    incomplete: Sequence[str],
    counted: pl.DataFrame | None = None,
) -> Quality:
    """The quality block for the billing ``periods`` (``events`` with ``user``); ``counted``
    is :class:`QualityCounts`' state of the events when already known (a cached state)."""
    if not periods:
        return Quality(version, None, None, 0, 0, "0.00", 0, 0, len(incomplete))
    start, end = quality_span(periods)
    if counted is None:
        counted = QualityCounts(start, end).partial(events).collect()
    spans = counted.select("source_id", "first", "last")
    requests = int(counted.get_column("requests").sum())
    anonymous = int(counted.get_column("anonymous").sum())
    share = (
        (Decimal(anonymous) * 100 / Decimal(requests)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )
        if requests
        else Decimal("0.00")
    )
    first_period = periods[0]
    return Quality(
        store_version=version,
        period_start=first_period.iso(start),
        period_end=first_period.iso(end),
        requests=requests,
        anonymous_requests=anonymous,
        anonymous_percent=format(share, "f"),
        rejected_lines=_rejected_between(store, spans),
        outside_window_lines=_outside_window(store, version),
        incomplete=len(incomplete),
    )


def _rejected_between(store: Store, spans: pl.DataFrame) -> int:
    if spans.is_empty():
        return 0
    rejected = (
        store.scan_rejects()
        .select("source_id", "source_line")
        .join(spans.lazy(), on="source_id")
        .filter(pl.col("source_line").is_between(pl.col("first"), pl.col("last")))
        .select(pl.len())
        .collect()
        .item()
    )
    return int(rejected)


def _outside_window(store: Store, version: int) -> int:
    """Lines flagged outside the accept window by the ingest commits up to ``version``."""
    from meterlog.store import EVENTS_TABLE

    table = store.table(EVENTS_TABLE)
    if table is None:
        return 0
    total = 0
    for commit in table.history():
        flagged = commit.get(OUTSIDE_WINDOW_KEY)
        if int(commit.get("version", 0)) <= version and flagged is not None:
            try:
                total += int(str(flagged))
            except ValueError:
                continue
    return total
