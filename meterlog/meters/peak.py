"""High watermark (peak): the busiest window of the period, or a percentile of all windows.

Windows
    The period is cut into consecutive windows aligned to the billing time zone's clock:

    * ``1m``, ``5m``, ``1h``: fixed lengths of elapsed time starting where the local clock
      shows a multiple of the length (``14:00``, ``14:05``...). When the clock changes (DST),
      each hour is still its own window: the repeated ``02:00-03:00`` of an autumn night gives
      two windows, the skipped spring hour none. A zone offset change always starts a new
      window, so in zones whose shift is not a multiple of the length the windows around the
      change are shorter.
    * ``1d``: local calendar days, midnight to midnight; a DST day lasts 23 or 25 hours.

    Every window of the period counts, also those without traffic (value 0).

Metrics (per window, counted requests only)
    The whole-number metrics of :mod:`meterlog.query.metrics` (the ones ``usage`` reports):
    ``requests`` (number of requests), ``errors_4xx``, ``errors_5xx``, ``bytes_sent`` (sum of
    ``bytes_sent``) and ``users`` (distinct non-anonymous users, so ``1d`` gives daily active
    users).

Statistic
    ``max`` (default): the highest window value. ``pNN`` (``p95``, ``p99.9``): the
    nearest-rank percentile. For the period's ``n`` window values sorted ascending, the p-th
    percentile is the value at 1-based rank ``ceil(p / 100 * n)``. It is always one of the
    window values (never interpolated); ``p100`` is the maximum. Example: a 30-day month has
    720 hourly windows; ``p95`` is the 684th smallest value, so the 36 busiest hours are not
    billed (the classic burstable-billing "95th percentile").

``peak_start`` is the start of the window holding the reported value; when several windows
hold it, the earliest.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Annotated, Self

import polars as pl

from meterlog.meters.base import (
    Meter,
    MeterSpec,
    Period,
    RequestFilter,
    concatenated,
    events_in_period,
)
from meterlog.query.metrics import METRICS as ALL_METRICS
from meterlog.query.metrics import WHOLE_METRICS
from meterlog.validation import ParameterError, Text, default, key

#: Window names and their length in seconds (``None``: the local calendar day).
WINDOWS: dict[str, int | None] = {"1m": 60, "5m": 300, "1h": 3600, "1d": None}
#: Metrics a peak can be taken of (see :mod:`meterlog.query.metrics`).
METRICS = WHOLE_METRICS
_PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d+)?)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_US = pl.Datetime("us", "UTC")


def _epoch_seconds(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds())


def _offset_seconds(epoch_seconds: int, period: Period) -> int:
    moment = datetime.fromtimestamp(epoch_seconds, UTC).astimezone(period.tz)
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_changes(period: Period) -> list[int]:
    """Epoch seconds inside the period at which the zone's UTC offset changes."""
    start, end = _epoch_seconds(period.start), _epoch_seconds(period.end)
    changes = []
    here, offset = start, _offset_seconds(start, period)
    while here < end:
        there = min(here + 3600, end)
        offset_there = _offset_seconds(there, period)
        if offset_there != offset:
            low, high = here, there  # offset(low) == offset, offset(high) differs
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_seconds(middle, period) == offset:
                    low = middle
                else:
                    high = middle
            if high < end:
                changes.append(high)
            offset = offset_there
        here = there
    return changes


def window_starts(period: Period, window: str) -> list[datetime]:
    """The start of every window of ``period`` (UTC, ascending); see the module doc."""
    return list(_window_starts(period, window))


@functools.lru_cache(maxsize=256)
def _window_starts(period: Period, window: str) -> tuple[datetime, ...]:
    length = WINDOWS[window]
    start, end = _epoch_seconds(period.start), _epoch_seconds(period.end)
    if length is None:
        first_day = period.local(period.start).date()
        last_day = period.local(period.end - timedelta(microseconds=1)).date()
        days = (first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1))
        midnights = {_epoch_seconds(_local_midnight(day, period)) for day in days}
        boundaries = {start} | {moment for moment in midnights if start <= moment < end}
    else:
        boundaries = set()
        segment_starts = [start, *offset_changes(period)]
        for segment_start, segment_end in zip(
            segment_starts, [*segment_starts[1:], end], strict=True
        ):
            offset = _offset_seconds(segment_start, period)
            first_aligned = -((-(segment_start + offset)) // length) * length - offset
            boundaries.add(segment_start)
            boundaries.update(range(first_aligned, segment_end, length))
    return tuple(datetime.fromtimestamp(second, UTC) for second in sorted(boundaries))


def _local_midnight(day: date, period: Period) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=period.tz).astimezone(UTC)


def window_grid(period: Period, window: str) -> pl.DataFrame:
    """``window`` (0-based index), ``window_start``, ``window_end`` for every window."""
    return _window_grid(period, window).clone()


@functools.lru_cache(maxsize=64)
def _window_grid(period: Period, window: str) -> pl.DataFrame:
    starts = _window_starts(period, window)
    return pl.DataFrame(
        {
            "window": pl.Series(range(len(starts)), dtype=pl.Int64),
            "window_start": pl.Series(starts, dtype=_UTC_US),
            "window_end": pl.Series([*starts[1:], period.end], dtype=_UTC_US),
        }
    )


def parse_statistic(value: str) -> Decimal:
    """``max`` or ``pNN`` -> the percentile (``max`` is 100)."""
    if value == "max":
        return Decimal(100)
    match = _PERCENTILE.match(value)
    if match and 0 < Decimal(match.group(1)) <= 100:
        return Decimal(match.group(1))
    raise ParameterError(
        "statistic", f"cannot read {value!r}: use max or a percentile p1..p100 such as p95"
    )


def nearest_rank(percentile: Decimal, windows: int) -> int:
    """1-based rank of the ``percentile`` among ``windows`` ascending values:
    ``ceil(percentile / 100 * windows)``."""
    return int((percentile * windows / 100).to_integral_value(rounding=ROUND_CEILING))


class PeakSpec(MeterSpec, tag="peak", kw_only=True):
    what = "a peak meter"
    metric: Annotated[Text, key(f"what is counted per window: {', '.join(METRICS)}")] = Text(
        "requests"
    )
    window: Annotated[Text, key(f"the window length: {', '.join(WINDOWS)}")] = Text("1h")
    statistic: Annotated[
        Text, key("`max` (the busiest window) or a percentile of all windows (`p95`)")
    ] = Text("max")


@dataclass(frozen=True)
class PeakMeter(Meter):
    """Per account, the window value chosen by ``statistic`` among all windows of the period."""

    metric: str = default(PeakSpec, "metric")
    window: str = default(PeakSpec, "window")
    statistic: str = default(PeakSpec, "statistic")
    counting: RequestFilter = field(default_factory=RequestFilter)

    kind = "peak"
    spec = PeakSpec
    evidence_order = "window_start"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ParameterError(
                "metric", f"unknown metric {self.metric!r}; use one of {', '.join(METRICS)}"
            )
        if self.window not in WINDOWS:
            raise ParameterError(
                "window", f"unknown window {self.window!r}; use one of {', '.join(WINDOWS)}"
            )
        parse_statistic(self.statistic)

    @classmethod
    def from_spec(cls, spec: PeakSpec) -> Self:
        return cls(
            metric=str(spec.metric),
            window=str(spec.window),
            statistic=str(spec.statistic).lower(),
            counting=RequestFilter.from_spec(spec),
        )

    @property
    def description(self) -> str:
        return self._describe(f"peak {self.metric}/{self.window} {self.statistic}")

    def report_columns(self) -> list[pl.Expr]:
        return [
            pl.lit(self.window).alias("window"),
            pl.lit(self.metric).alias("metric"),
            pl.col("quantity").alias("peak"),
            pl.col("peak_start"),
        ]

    def _metric(self) -> pl.Expr:
        return ALL_METRICS[self.metric].aggregation().cast(pl.Int64).alias("value")

    def window_values(self, counted: pl.LazyFrame, grid: pl.DataFrame) -> pl.LazyFrame:
        """``account, window, value`` for windows with at least one counted request."""
        return (
            counted.with_columns(window=self._window(grid))
            .group_by("account", "window")
            .agg(self._metric())
        )

    def _window(self, grid: pl.DataFrame) -> pl.Expr:
        """The 0-based index in ``grid`` of the window holding ``ts``."""
        starts = pl.lit(grid.get_column("window_start"))
        return starts.search_sorted(pl.col("ts"), side="right").cast(pl.Int64) - 1

    def state_of(self, in_period: pl.LazyFrame, counts: pl.Expr, period: Period) -> pl.LazyFrame:
        """Per account, the value of each window with counted requests, keyed by the window's
        start: ``account, window_start, value``. For ``users`` the value is a user (the
        distinct ``account, window_start, user`` triples: distinct users do not add up), for
        the other metrics the window's figure (they add up). An account without counted
        requests has one row with a null ``window_start``."""
        grid = window_grid(period, self.window)
        window = pl.when(counts).then(self._window(grid)).otherwise(None).alias("window")
        account = pl.col("account").cast(pl.String)
        if self.metric == "users":
            kept = in_period.select(
                account, window, pl.when(counts).then(pl.col("user")).cast(pl.String).alias("value")
            ).unique()
        else:
            kept = (
                in_period.group_by(account, window)
                .agg(self._metric())
                .with_columns(
                    pl.when(pl.col("window").is_not_null()).then(pl.col("value")).cast(pl.Int64)
                )
            )
        starts = grid.lazy().select("window", "window_start")
        return kept.join(starts, on="window", how="left").select("account", "window_start", "value")

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        both = concatenated(first, second)
        if self.metric == "users":
            return both.unique()
        return both.group_by("account", "window_start").agg(pl.col("value").sum().cast(pl.Int64))

    def finalize(self, state: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        grid = window_grid(period, self.window)
        observed = state.filter(pl.col("window_start").is_not_null())
        if self.metric == "users":
            observed = observed.group_by("account", "window_start").agg(
                value=pl.col("value").drop_nulls().n_unique().cast(pl.Int64)
            )
        values = observed.join(
            grid.lazy().select("window", "window_start"), on="window_start", how="inner"
        ).select("account", "window", pl.col("value").cast(pl.Int64))
        measured = self.choose(values, grid)
        return self.complete(state.select("account").unique(), measured, period)

    def empty_state(self) -> pl.DataFrame:
        value = pl.String() if self.metric == "users" else pl.Int64()
        return pl.DataFrame(
            schema={"account": pl.String(), "window_start": _UTC_US, "value": value}
        )

    def choose(self, values: pl.LazyFrame, grid: pl.DataFrame) -> pl.LazyFrame:
        """``account, quantity, peak_start`` from the window values (``account, window,
        value`` for windows with counted requests) of the period cut in ``grid``: what
        :meth:`finalize` reports."""
        windows = grid.height
        rank = nearest_rank(parse_statistic(self.statistic), windows)
        observed = pl.len().cast(pl.Int64)
        empty = windows - observed  # windows without counted requests: value 0
        chosen = (
            pl.when(pl.lit(rank) <= empty)
            .then(0)
            .otherwise(pl.col("value").sort().get((rank - empty - 1).clip(0)))
        )
        quantity = values.group_by("account").agg(quantity=chosen.cast(pl.Int64))
        # Earliest window holding the chosen value. When it is 0 and some windows are empty,
        # the first empty window competes: with the observed windows sorted, it is the count
        # of leading windows w whose index equals their position.
        first_observed = pl.col("window").filter(pl.col("value") == pl.col("quantity")).min()
        first_empty = (pl.col("window").sort() - pl.int_range(pl.len())).eq(0).sum()
        peak_window = (
            pl.when((pl.col("quantity").first() == 0) & (empty > 0))
            .then(pl.min_horizontal(first_observed, first_empty.cast(pl.Int64)))
            .otherwise(first_observed)
        )
        starts = grid.lazy().select(peak_window="window", peak_start="window_start")
        return (
            values.join(quantity, on="account", nulls_equal=True)
            .group_by("account")
            .agg(pl.col("quantity").first(), peak_window=peak_window)
            .join(starts, on="peak_window", how="left")
            .select("account", "quantity", "peak_start")
        )

    def zero_peak_start(self, period: Period) -> datetime | None:
        return period.start

    def evidence(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame:
        """Every window of the period for every account with traffic in it: ``account,
        window_start, window_end, value, rank, is_peak``. ``rank`` is the window's 1-based
        position among the account's values sorted ascending (ties by start); ``is_peak``
        marks the window reported as ``peak_start``."""
        grid = window_grid(period, self.window)
        in_period = events_in_period(events, period)
        values = self.window_values(in_period.filter(self.counting.expr()), grid)
        chosen = self.quantities(events, period).select("account", "peak_start")
        series = (
            in_period.select("account")
            .unique()
            .join(grid.lazy(), how="cross")
            .join(values, on=["account", "window"], how="left", nulls_equal=True)
            .with_columns(pl.col("value").fill_null(0))
            .sort("account", "value", "window", nulls_last=True)
            .with_columns(
                rank=(pl.int_range(pl.len()).over("account") + 1).cast(pl.Int64),
            )
            .join(chosen, on="account", how="left", nulls_equal=True)
            .with_columns(is_peak=pl.col("window_start") == pl.col("peak_start"))
        )
        return series.select(
            "account", "window_start", "window_end", "value", "rank", "is_peak"
        ).sort("account", "window_start", nulls_last=True)
