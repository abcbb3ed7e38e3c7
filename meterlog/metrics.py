"""Metrics: what is computed per group of requests, shared by ``usage`` and the meters.

One registry: a name, a one-line description for ``--help`` and the README, and a Polars
aggregation over requests that carry the canonical columns plus ``user`` (see
:mod:`meterlog.identity`). ``usage`` computes them per group, the ``peak`` meter per window.
Adding a metric is adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
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
    ),
    Metric(
        "latency_p95",
        "95th percentile request time (s)",
        _latency(0.95),
        _REQUEST_TIME,
        False,
        False,
    ),
    Metric(
        "latency_p99",
        "99th percentile request time (s)",
        _latency(0.99),
        _REQUEST_TIME,
        False,
        False,
    ),
)

#: Every metric, by name, in output column order.
METRICS: dict[str, Metric] = {metric.name: metric for metric in _METRICS}

#: Metrics a meter can bill (whole numbers per window or period), e.g. for ``peak``.
WHOLE_METRICS: tuple[str, ...] = tuple(metric.name for metric in _METRICS if metric.whole)
