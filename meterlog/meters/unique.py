"""Unique: the number of distinct values of a column among the period's counted requests.

MAU generalised: ``column = "remote_addr"`` counts distinct client addresses,
``column = "endpoint"`` distinct endpoints (paths templated by the automatic rules of
:mod:`meterlog.query.endpoints`, e.g. ``/v1/users/{id}``), ``column = "user"`` is MAU. Values are
compared as text with surrounding blanks removed; null, empty and ``-`` values never count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Self

import polars as pl

from meterlog.meters.base import (
    DistinctValueMeter,
    MeterSpec,
    Period,
    RequestFilter,
    SetState,
    events_in_period,
)
from meterlog.query.endpoints import ENDPOINT_COLUMN, automatic_endpoint
from meterlog.query.identity import identity_expr
from meterlog.validation import Text, key

#: Columns computed from others rather than stored.
_DERIVED = ("user", "account", ENDPOINT_COLUMN)


class UniqueSpec(MeterSpec, tag="unique", kw_only=True):
    what = "a unique meter"
    column: Annotated[
        Text, key("the column whose distinct values are counted (`remote_addr`, `endpoint`)")
    ]


@dataclass(frozen=True)
class UniqueMeter(DistinctValueMeter):
    """Distinct values of ``column`` per account."""

    column: str = "remote_addr"
    counting: RequestFilter = field(default_factory=RequestFilter)

    kind = "unique"
    spec = UniqueSpec
    evidence_order = "value"

    @classmethod
    def from_spec(cls, spec: UniqueSpec) -> Self:
        return cls(column=str(spec.column), counting=RequestFilter.from_spec(spec))

    @property
    def description(self) -> str:
        return self._describe(f"unique {self.column}")

    def needs(self) -> tuple[str, ...]:
        return () if self.column in _DERIVED else (self.column,)

    def report_columns(self) -> list[pl.Expr]:
        return [pl.lit(self.column).alias("column"), pl.col("quantity").alias("unique")]

    def _value(self, names: list[str]) -> pl.Expr:
        if self.column == ENDPOINT_COLUMN and ENDPOINT_COLUMN not in names:
            value = automatic_endpoint(pl.col("path"))
            return pl.when(value.str.strip_chars().is_in(["", "-"])).then(None).otherwise(value)
        if self.column not in names:
            return pl.lit(None, pl.String)
        return identity_expr(self.column)

    def state_of(self, in_period: pl.LazyFrame, counts: pl.Expr, period: Period) -> pl.LazyFrame:
        """The distinct ``account, value`` pairs of counted requests."""
        value = self._value(in_period.collect_schema().names())
        return SetState.state(in_period, counts, value)

    def evidence(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """One row per account and value counted: ``account, value, first_seen, last_seen,
        requests`` (counted requests only)."""
        counted = events_in_period(events, period).filter(self.counting.expr())
        value = self._value(counted.collect_schema().names()).alias("value")
        return (
            counted.with_columns(value)
            .filter(pl.col("value").is_not_null())
            .group_by("account", "value")
            .agg(
                first_seen=pl.col("ts").min(),
                last_seen=pl.col("ts").max(),
                requests=pl.len().cast(pl.Int64),
            )
            .sort("account", "value", nulls_last=True)
        )
