"""Count: the number of counted requests in the period ("EUR 0.50 per 1,000 requests").

Which requests count is set with the same filters as every meter (``exclude_status``,
``exclude_paths``, ``methods``, ``endpoints``); anonymous requests count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

import polars as pl

from meterlog.meters.base import (
    Meter,
    MeterSpec,
    Period,
    RequestFilter,
    concatenated,
    events_in_period,
)


class CountSpec(MeterSpec, tag="count", kw_only=True):
    what = "a count meter"


def local_day(period: Period) -> pl.Expr:
    """The calendar day of ``ts`` in the period's time zone."""
    return pl.col("ts").dt.convert_time_zone(period.tz.key).dt.date().alias("day")


@dataclass(frozen=True)
class CountMeter(Meter):
    """Counted requests per account."""

    counting: RequestFilter = field(default_factory=RequestFilter)

    kind = "count"
    spec = CountSpec
    evidence_order = "day"

    @classmethod
    def from_spec(cls, spec: CountSpec) -> Self:
        return cls(counting=RequestFilter.from_spec(spec))

    @property
    def description(self) -> str:
        return self._describe("requests")

    def report_columns(self) -> list[pl.Expr]:
        return [pl.col("quantity").alias("requests")]

    def state_of(self, in_period: pl.LazyFrame, counts: pl.Expr, period: Period) -> pl.LazyFrame:
        """``account, counted``: the counted requests of every account with a request."""
        return (
            in_period.select(pl.col("account").cast(pl.String), counts.alias("counts"))
            .group_by("account")
            .agg(counted=pl.col("counts").sum().cast(pl.Int64))
        )

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        return (
            concatenated(first, second)
            .group_by("account")
            .agg(pl.col("counted").sum().cast(pl.Int64))
        )

    def finalize(self, state: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        measured = state.select(
            "account",
            quantity=pl.col("counted"),
            peak_start=pl.lit(None, pl.Datetime("us", "UTC")),
        )
        return self.complete(state.select("account").unique(), measured, period)

    def empty_state(self) -> pl.DataFrame:
        return pl.DataFrame(schema={"account": pl.String(), "counted": pl.Int64()})

    def zero_peak_start(self, period: Period) -> datetime | None:
        return None

    def evidence(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """Counted requests per account and local day: ``account, day, requests``."""
        counted = events_in_period(events, period).filter(self.counting.expr())
        return (
            counted.group_by("account", local_day(period))
            .agg(requests=pl.len().cast(pl.Int64))
            .sort("account", "day", nulls_last=True)
        )
