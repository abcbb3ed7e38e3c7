"""Sum: the sum of a numeric column over the period's counted requests, in a unit of your
choice, rounded to a step ("USD 0.09 per GB transferred", "per started GB", compute seconds).

* ``column``: a stored numeric column, e.g. ``bytes_sent`` or ``request_time`` (seconds), or
  a column logged as text that holds numbers (``upstream_response_time``); values that are
  not numbers, and nulls, add nothing.
* ``divide_by``: the unit, in the column's own units (default 1): ``1_000_000_000`` bills
  bytes as GB, ``3600`` seconds as hours. A whole number.
* ``rounding`` and ``step``: the quantity billed is the sum divided by ``divide_by``, rounded
  ``up`` (default: "per started GB"), ``down`` or to the ``nearest`` multiple of ``step``
  (default 1; halves round up). The quantity is always a whole number of units: for a finer
  step, choose a smaller unit (``divide_by = 1_000_000`` for MB) and quote the price per
  ``per`` units.

The arithmetic is exact: integer columns are summed as integers; fractional values are
summed in millionths (each value rounded to six decimals first, far below any clock's
resolution in a log), and the division and rounding are done on whole numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, ClassVar, Self

import polars as pl

from meterlog.meters.base import (
    Meter,
    MeterSpec,
    Period,
    RequestFilter,
    concatenated,
    events_in_period,
)
from meterlog.meters.count import local_day
from meterlog.validation import ParameterError, Text, default, key

ROUNDINGS = ("up", "down", "nearest")
#: Fractional values are summed in units of 10**-FRACTION_DIGITS.
FRACTION_DIGITS = 6


class Divisor(int):
    """A whole number >= 1, written as an integer (``1_000_000_000``), an integral float
    (``1e9``) or a string (``"1e9"``)."""

    shown_type: ClassVar[str] = 'whole number ≥ 1 (`1e9` or `"1e9"` too)'

    @classmethod
    def decode(cls, value: object) -> Self:
        number: Decimal | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, float | str):
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                number = None
        if number is None or not number.is_finite() or number != number.to_integral_value():
            raise ParameterError("", f"must be a whole number such as 1000000000, not {value!r}")
        if number < 1:
            raise ParameterError("", f"must be at least 1, not {value!r}")
        return cls(int(number))


class SumSpec(MeterSpec, tag="sum", kw_only=True):
    what = "a sum meter"
    column: Annotated[Text, key("the numeric column summed (`bytes_sent`, `request_time`)")]
    divide_by: Annotated[
        Divisor, key("the unit, in the column's units (`1_000_000_000`: bytes as GB)")
    ] = Divisor(1)
    rounding: Annotated[
        Text, key(f"how the sum is rounded to whole steps: {', '.join(ROUNDINGS)}")
    ] = Text("up")
    step: Annotated[int, key("the quantity is a multiple of this many units", ge=1)] = 1

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDINGS:
            raise ParameterError(
                "rounding", f"unknown rounding {self.rounding!r}; use one of {', '.join(ROUNDINGS)}"
            )


@dataclass(frozen=True)
class SumMeter(Meter):
    """The sum of ``column`` per account, in units of ``divide_by``, rounded to ``step``."""

    column: str = "bytes_sent"
    divide_by: int = default(SumSpec, "divide_by")
    rounding: str = default(SumSpec, "rounding")
    step: int = default(SumSpec, "step")
    counting: RequestFilter = field(default_factory=RequestFilter)

    kind = "sum"
    spec = SumSpec
    evidence_order = "day"

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDINGS:
            raise ParameterError(
                "rounding", f"unknown rounding {self.rounding!r}; use one of {', '.join(ROUNDINGS)}"
            )

    @classmethod
    def from_spec(cls, spec: SumSpec) -> Self:
        return cls(
            column=str(spec.column),
            divide_by=int(spec.divide_by),
            rounding=str(spec.rounding),
            step=spec.step,
            counting=RequestFilter.from_spec(spec),
        )

    @property
    def description(self) -> str:
        unit = f"/{self.divide_by}" if self.divide_by != 1 else ""
        step = f" step {self.step}" if self.step != 1 else ""
        return self._describe(f"sum {self.column}{unit} {self.rounding}{step}")

    def needs(self) -> tuple[str, ...]:
        return (self.column,)

    def report_columns(self) -> list[pl.Expr]:
        return [pl.lit(self.column).alias("column"), pl.col("quantity").alias("sum")]

    def _scaled(self, schema: pl.Schema) -> tuple[pl.Expr, int]:
        """The column as whole numbers, and the scale they are in (1 or 10**6)."""
        dtype = schema.get(self.column)
        if dtype is None:
            return pl.lit(None, pl.Int64), 1
        if dtype.is_integer():
            return pl.col(self.column).cast(pl.Int64), 1
        column = pl.col(self.column)
        if not dtype.is_numeric():
            column = column.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        scale = 10**FRACTION_DIGITS
        return (column.cast(pl.Float64) * scale).round(0).cast(pl.Int64), scale

    def _units(self, raw: pl.Expr, scale: pl.Expr | int) -> pl.Expr:
        """``raw`` (in 1/scale of the column's unit) as whole billed units, rounded to step."""
        per_step = scale * (self.divide_by * self.step)
        if not isinstance(per_step, pl.Expr):
            per_step = pl.lit(per_step, pl.Int64)
        if self.rounding == "down":
            steps = raw // per_step
        elif self.rounding == "up":
            steps = -((-raw) // per_step)
        else:
            steps = (2 * raw + per_step) // (2 * per_step)
        return (steps * self.step).cast(pl.Int64)

    def state_of(self, in_period: pl.LazyFrame, counts: pl.Expr, period: Period) -> pl.LazyFrame:
        """``account, raw, scale``: the exact sum of the column over counted requests, as a
        whole number of 1/scale of the column's unit (scale 1 for integer columns, 10**6 for
        fractional ones)."""
        value, scale = self._scaled(in_period.collect_schema())
        return (
            in_period.select(
                pl.col("account").cast(pl.String),
                pl.when(counts).then(value).otherwise(None).alias("raw"),
            )
            .group_by("account")
            .agg(pl.col("raw").fill_null(0).sum().cast(pl.Int64), scale=pl.lit(scale, pl.Int64))
        )

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        """Sums added up; a part summed in whole units is brought to millionths when the
        other is in millionths (a column read as text in one part, as integers in another)."""
        both = concatenated(first, second)
        finest = pl.col("scale").max().over("account")
        return (
            both.with_columns(raw=pl.col("raw") * (finest // pl.col("scale")), scale=finest)
            .group_by("account")
            .agg(pl.col("raw").sum().cast(pl.Int64), pl.col("scale").first())
        )

    def finalize(self, state: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        measured = state.select(
            "account",
            quantity=self._units(pl.col("raw"), pl.col("scale")),
            peak_start=pl.lit(None, pl.Datetime("us", "UTC")),
        )
        return self.complete(state.select("account").unique(), measured, period)

    def empty_state(self) -> pl.DataFrame:
        return pl.DataFrame(schema={"account": pl.String(), "raw": pl.Int64(), "scale": pl.Int64()})

    def zero_peak_start(self, period: Period) -> datetime | None:
        return None

    def evidence(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """Per account and local day: ``account, day, requests, total`` (the exact sum of
        the column, as decimal text in the column's own unit)."""
        counted = events_in_period(events, period).filter(self.counting.expr())
        value, scale = self._scaled(counted.collect_schema())
        raw = pl.col("raw")
        if scale == 1:
            total = raw.cast(pl.String)
        else:
            digits = FRACTION_DIGITS
            total = (
                (raw // scale).cast(pl.String)
                + "."
                + (raw % scale).cast(pl.String).str.zfill(digits)
            )
        return (
            counted.group_by("account", local_day(period))
            .agg(requests=pl.len().cast(pl.Int64), raw=value.fill_null(0).sum().cast(pl.Int64))
            .with_columns(total=total)
            .drop("raw")
            .sort("account", "day", nulls_last=True)
        )
