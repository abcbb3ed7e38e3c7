"""Dimensions (what to group by) of usage reports; the metrics are in :mod:`meterlog.query.metrics`.

Each is one entry in a registry: a name, a one-line description for ``--help`` and the manual,
and a Polars expression. Adding a dimension is adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from meterlog.query.endpoints import ENDPOINT_COLUMN
from meterlog.query.metrics import METRICS, Metric

__all__ = ["DIMENSIONS", "METRICS", "Dimension", "Metric"]


@dataclass(frozen=True)
class Dimension:
    """A group key: ``key(tz)`` gives the expression for the column named ``name``."""

    name: str
    description: str
    key: Callable[[str], pl.Expr]
    is_time: bool = False  # a time bucket: the report is a time series
    needs_endpoint: bool = False  # needs the ``endpoint`` column (see meterlog.query.endpoints)


def _time_bucket(every: str) -> Callable[[str], pl.Expr]:
    """Start of the bucket holding ``ts``, in the report's time zone.

    The timestamp is converted to the zone first and truncated there, so days, weeks and months
    follow local midnight across DST changes (a day may last 23 or 25 hours), and the two
    local 02:00 hours of an autumn change stay apart (their offsets differ).
    """

    def key(tz: str) -> pl.Expr:
        return pl.col("ts").dt.convert_time_zone(tz).dt.truncate(every)

    return key


def _column(name: str) -> Callable[[str], pl.Expr]:
    return lambda _tz: pl.col(name)


_DIMENSIONS = (
    Dimension("hour", "start of the hour", _time_bucket("1h"), is_time=True),
    Dimension("day", "start of the day (local midnight)", _time_bucket("1d"), is_time=True),
    Dimension("week", "start of the ISO week (Monday)", _time_bucket("1w"), is_time=True),
    Dimension("month", "start of the calendar month", _time_bucket("1mo"), is_time=True),
    Dimension("account", "the paying customer (--account-field, --accounts)", _column("account")),
    Dimension("user", "the end user (--user-field); empty for anonymous", _column("user")),
    Dimension(
        "endpoint",
        "the path as a template, e.g. /v1/users/{id}",
        _column(ENDPOINT_COLUMN),
        needs_endpoint=True,
    ),
    Dimension("method", "the HTTP method", lambda _tz: pl.col("method").str.to_uppercase()),
    Dimension("status", "the HTTP status code", _column("status")),
    Dimension(
        "status_class",
        "1xx, 2xx, 3xx, 4xx or 5xx",
        lambda _tz: (pl.col("status") // 100).cast(pl.String) + pl.lit("xx"),
    ),
)

#: Every dimension of ``--by``, by name, in the order ``--help`` lists them.
DIMENSIONS: dict[str, Dimension] = {dimension.name: dimension for dimension in _DIMENSIONS}
