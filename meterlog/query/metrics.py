"""Metrics: what is computed per group of requests, shared by ``usage`` and the meters.

One registry: a name, a one-line description for ``--help`` and the manual, and a Polars
aggregation over requests that carry the canonical columns plus ``user`` (see
:mod:`meterlog.query.identity`). ``usage`` computes them per group, the ``peak`` meter per window.
Adding a metric is adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Metric:
    """A value per group: ``aggregation`` gives the column named ``name``."""

    name: str
    description: str
    aggregation: Callable[[], pl.Expr]
    needs: str | None = None  # a stored column; the metric is left out when it has no values
    additive: bool = True  # the sum over groups is the overall value
    whole: bool = True  # a whole number: meters can bill it (latency quantiles are not)
    #: For a quantile of ``needs`` (latency): which one. Reports compute these from counts of
    #: distinct values per group (:func:`quantiles_from_counts`), in memory bounded by the
    #: distinct values rather than the rows; ``aggregation`` gives the same value directly.
    quantile: float | None = None


def _latency(quantile: float) -> Callable[[], pl.Expr]:
    """A quantile of ``request_time``, linearly interpolated between the two nearest requests
    (numpy's default), in seconds rounded to the microsecond; requests without a request time
    are ignored."""
    column = pl.col(_REQUEST_TIME).cast(pl.Float64)
    return lambda: column.quantile(quantile, interpolation="linear").round(6)


def _status_count(first: int) -> Callable[[], pl.Expr]:
    return lambda: pl.col("status").is_between(first, first + 99).sum().cast(pl.Int64)


_REQUEST_TIME = "request_time"
_METRICS = (
    Metric("requests", "number of requests", lambda: pl.len().cast(pl.Int64)),
    Metric("errors_4xx", "requests answered with a 4xx status", _status_count(400)),
    Metric("errors_5xx", "requests answered with a 5xx status", _status_count(500)),
    Metric(
        "bytes_sent",
        "bytes sent to clients",
        lambda: pl.col("bytes_sent").sum().cast(pl.Int64),
    ),
    Metric(
        "users",
        "distinct non-anonymous users",
        lambda: pl.col("user").drop_nulls().n_unique().cast(pl.Int64),
        additive=False,
    ),
    Metric(
        "latency_p50",
        "median request time (s)",
        _latency(0.50),
        _REQUEST_TIME,
        additive=False,
        whole=False,
        quantile=0.50,
    ),
    Metric(
        "latency_p95",
        "95th percentile request time (s)",
        _latency(0.95),
        _REQUEST_TIME,
        additive=False,
        whole=False,
        quantile=0.95,
    ),
    Metric(
        "latency_p99",
        "99th percentile request time (s)",
        _latency(0.99),
        _REQUEST_TIME,
        additive=False,
        whole=False,
        quantile=0.99,
    ),
)

#: Every metric, by name, in output column order.
METRICS: dict[str, Metric] = {metric.name: metric for metric in _METRICS}

#: Metrics a meter can bill (whole numbers per window or period), e.g. for ``peak``.
WHOLE_METRICS: tuple[str, ...] = tuple(metric.name for metric in _METRICS if metric.whole)


def quantiles_from_counts(
    frame: pl.LazyFrame, keys: list[pl.Expr], metrics: Sequence[Metric]
) -> pl.LazyFrame:
    """The quantile ``metrics`` of ``frame`` per group of ``keys`` (named as the keys), equal
    to their ``aggregation``: linear interpolation between the two nearest values (numpy's
    default), rounded to the microsecond, nulls ignored.

    First the requests are counted per group and distinct value, a streaming aggregation whose
    size is the number of distinct values (request times have millisecond resolution), not of
    requests; then each quantile's two neighbouring order statistics are found from the
    cumulative counts. Holding every value of a group at once, as a direct quantile does, took
    more memory than the rest of a report over millions of requests."""
    column = metrics[0].needs
    assert column is not None and all(m.needs == column and m.quantile for m in metrics)
    keys = keys or [pl.lit(0).alias("_all")]
    names = [key.meta.output_name() for key in keys]
    counts = (
        frame.select(*keys, pl.col(column).cast(pl.Float64).alias("_value"))
        .drop_nulls("_value")
        .group_by([*names, "_value"])
        .agg(pl.len().alias("_count"))
        .sort([*names, "_value"], nulls_last=True)
        .with_columns(
            pl.col("_count").cum_sum().over(names).alias("_through"),
            pl.col("_count").sum().over(names).alias("_total"),
        )
    )

    def order_statistic(position: pl.Expr) -> pl.Expr:
        # the value of 0-based rank ``position``: the first whose cumulative count passes it
        return pl.col("_value").filter(pl.col("_through") > position).min()

    values = []
    for metric in metrics:
        assert metric.quantile is not None
        position = (pl.col("_total").first() - 1).cast(pl.Float64) * metric.quantile
        low, high = order_statistic(position.floor()), order_statistic(position.ceil())
        value = low + (position - position.floor()) * (high - low)
        values.append(value.round(6).alias(metric.name))
    return counts.group_by(names).agg(values)


def with_quantiles(
    grouped: pl.LazyFrame,
    frame: pl.LazyFrame,
    keys: list[pl.Expr],
    metrics: Sequence[Metric],
) -> pl.LazyFrame:
    """``grouped`` (one row per group of ``keys`` of ``frame``, or a single row without keys)
    with the quantile ``metrics`` of each group, in ``metrics`` order after the keys."""
    quantiles = [m for m in metrics if m.quantile is not None]
    if not quantiles:
        return grouped
    names = [key.meta.output_name() for key in keys] or ["_all"]
    if not keys:
        grouped = grouped.with_columns(pl.lit(0).alias("_all"))
    joined = grouped.join(
        quantiles_from_counts(frame, keys, quantiles), on=names, how="left", nulls_equal=True
    )
    return joined.select(*[n for n in names if n != "_all"], *[m.name for m in metrics])
