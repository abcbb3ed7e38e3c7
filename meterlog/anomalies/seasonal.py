"""The hourly seasonal baseline shared by ``spike`` and ``drop``.

Requests are counted per entity and UTC hour over the baseline and the range (hours without
requests count 0). For each hour judged, the history is the same hour of the week in each of
the earlier weeks the baseline covers (``--baseline 28d``: four weeks). To stay right across
daylight-saving changes in whatever zone an account's traffic follows, each earlier week
contributes the *largest* (for spikes) or *smallest* (for drops) of the hour before, the hour
and the hour after, so a one-hour shift of a daily pattern raises nothing. Weeks before an
entity's first request are not history; with fewer than ``min_history_weeks`` weeks there is no
baseline and no finding.

The expectation is the median of those weekly values and the spread the median absolute
deviation (MAD, scaled by 1.4826 to estimate a standard deviation), never below the Poisson
spread ``sqrt(expected)`` of a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from meterlog.anomalies.base import Context

WEEK_HOURS = 7 * 24


def weeks_of_history(ctx: Context) -> int:
    return ctx.baseline // timedelta(days=7)


def hourly_history(
    events: pl.LazyFrame,
    baseline: pl.LazyFrame,
    ctx: Context,
    keys: Sequence[str],
    *,
    neighbour: str,
) -> pl.LazyFrame:
    """Per ``keys`` and judged hour: ``hour``, ``n`` (requests), ``weeks`` (history weeks),
    ``expected`` (median of the weekly values) and ``spread``; ``neighbour`` is ``max`` or
    ``min``. Only entities with at least one week of history are returned."""
    keys = list(keys)
    weeks = weeks_of_history(ctx)
    if weeks < 1:
        return pl.LazyFrame(
            schema={
                **{k: pl.String for k in keys},
                "hour": pl.Datetime("us", "UTC"),
                "n": pl.Float64,
                "weeks": pl.UInt32,
                "expected": pl.Float64,
                "spread": pl.Float64,
            }
        )
    first_hour = ctx.baseline_start.replace(minute=0, second=0, microsecond=0)
    counts = (
        pl.concat([baseline.select("ts", *keys), events.select("ts", *keys)])
        .filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
        .group_by(*keys, pl.col("ts").dt.truncate("1h").alias("hour"))
        .agg(n=pl.len())
    )
    entities = counts.group_by(keys).agg(first=pl.col("hour").min())
    hours = pl.LazyFrame(
        {"hour": pl.datetime_range(first_hour, ctx.end, "1h", closed="left", eager=True)}
    ).with_columns(pl.col("hour").dt.cast_time_unit("us").dt.replace_time_zone("UTC"))
    grid = (
        entities.join(hours, how="cross")
        .join(counts, on=[*keys, "hour"], how="left")
        .with_columns(pl.col("n").fill_null(0).cast(pl.Float64))
        .sort([*keys, "hour"])
    )
    n = pl.col("n")
    window = (n.rolling_max if neighbour == "max" else n.rolling_min)(3, center=True, min_samples=1)
    grid = grid.with_columns(_near=window.over(keys))
    weekly = []
    for k in range(1, weeks + 1):
        value = pl.col("_near").shift(WEEK_HOURS * k).over(keys)
        # the neighbour window reaches one hour back: that week counts once the entity was seen
        seen = pl.col("hour") - pl.duration(hours=WEEK_HOURS * k + 1) >= pl.col("first")
        weekly.append(pl.when(seen).then(value).otherwise(None))
    history = pl.concat_list(weekly).list.drop_nulls()
    median = pl.element().median()
    return (
        grid.with_columns(_history=history)
        .filter((pl.col("hour") >= pl.lit(ctx.start)) & (pl.col("hour") < pl.lit(ctx.end)))
        .with_columns(
            weeks=pl.col("_history").list.len(),
            expected=pl.col("_history").list.median(),
            mad=pl.col("_history").list.eval((pl.element() - median).abs().median()).list.first(),
        )
        .with_columns(
            spread=pl.max_horizontal(pl.col("mad") * 1.4826, pl.col("expected").sqrt(), pl.lit(1.0))
        )
        .drop("_near", "_history", "mad", "first")
    )
