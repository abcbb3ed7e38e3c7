"""MAU: the number of distinct users with at least one counted request in the period.

Users come from the ``user`` column (see :mod:`meterlog.query.identity`); anonymous requests (no
user) never make a user count, whatever they do. A user who uses several accounts counts once
in each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import polars as pl

from meterlog.meters.base import (
    DistinctValueMeter,
    MeterSpec,
    Period,
    RequestFilter,
    SetState,
    events_in_period,
)


class MauSpec(MeterSpec, tag="mau", kw_only=True):
    what = "a mau meter"


@dataclass(frozen=True)
class MauMeter(DistinctValueMeter):
    """Monthly active users per account."""

    counting: RequestFilter = field(default_factory=RequestFilter)

    kind = "mau"
    spec = MauSpec
    evidence_order = "user"

    @classmethod
    def from_spec(cls, spec: MauSpec) -> Self:
        return cls(counting=RequestFilter.from_spec(spec))

    @property
    def description(self) -> str:
        return self._describe("mau")

    def report_columns(self) -> list[pl.Expr]:
        return [pl.col("quantity").alias("mau")]

    def state_of(self, in_period: pl.LazyFrame, counts: pl.Expr, period: Period) -> pl.LazyFrame:
        """The distinct ``account, value`` (user) pairs of counted requests."""
        return SetState.state(in_period, counts, pl.col("user"))

    def evidence(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """One row per account and user counted: ``account, user, first_seen, last_seen,
        requests`` (counted requests only), sorted by account and user."""
        counted = events_in_period(events, period).filter(
            self.counting.expr() & pl.col("user").is_not_null()
        )
        return (
            counted.group_by("account", "user")
            .agg(
                first_seen=pl.col("ts").min(),
                last_seen=pl.col("ts").max(),
                requests=pl.len().cast(pl.Int64),
            )
            .sort("account", "user", nulls_last=True)
        )
