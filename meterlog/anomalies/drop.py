"""``drop``: an account that is normally busy at this hour of the week goes quiet or loses most
of its traffic, for a sustained time (its integration broke, or its traffic moved elsewhere).

Rule, per account and UTC hour of the range (history as described in
:mod:`meterlog.anomalies.seasonal`, with each earlier week contributing the *smallest* of the
three hours around the same hour of the week): an hour is low when

* ``expected >= min_expected`` requests (default 1), and
* ``observed <= (1 - min_fall) * expected`` (default ``min_fall`` 0.8: at least 80% gone).

Consecutive low hours, with the hour on each side of them that lost at least ``edge_fall``
(default 0.5) of its traffic (an outage rarely starts on the hour), are a run; a run of at
least ``min_hours`` hours (default 3, edges included) is a finding when the chance of so few
requests from a Poisson count of mean ``expected`` (the run's total) is at most ``max_p``
(default 1e-7; a Chernoff bound of the tail, so never understated). What decides is
significance, so a small account's outage is found too; the missing requests set the
severity: low when fewer than ``min_missing`` (default 100) are missing, else high when the
account was quiet (at most 1% of the expected requests), else medium. Hours after the newest
request in the store are not judged (the logs may simply not be ingested yet), nor is the
hour holding it. An account with fewer than ``min_history_weeks`` weeks of history is not
judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import polars as pl

from meterlog.anomalies.base import Context, DetectorBase, Params, finalize, merge_intervals
from meterlog.anomalies.seasonal import hourly_history


def poisson_log_low_tail(observed: pl.Expr, expected: pl.Expr) -> pl.Expr:
    """An upper bound of ``log P(X <= observed)`` for ``X`` Poisson with mean ``expected``: the
    Chernoff bound ``-m + k (1 + ln m - ln k)`` for ``k < m`` (``-m`` for ``k = 0``), else 0."""
    m = expected.cast(pl.Float64)
    k = observed.cast(pl.Float64)
    bound = pl.when(k > 0).then(-m + k * (1.0 + m.log() - k.log())).otherwise(-m)
    return pl.when(k < m).then(bound).otherwise(pl.lit(0.0))


@dataclass(frozen=True)
class DropParams(Params):
    min_expected: float = 1.0
    min_fall: float = 0.8
    edge_fall: float = 0.5
    max_p: float = 1e-7
    min_missing: float = 100.0
    min_hours: int = 3
    min_history_weeks: int = 2


@dataclass
class Drop(DetectorBase):
    kind: ClassVar[str] = "drop"
    params_type: ClassVar[type[Params]] = DropParams
    entity_types: ClassVar[tuple[str, ...]] = ("account",)
    needs_history: ClassVar[bool] = True
    params: DropParams = DropParams()

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        p = self.params
        newest = events.select(pl.col("ts").max().dt.truncate("1h").alias("newest"))
        hours = hourly_history(events, baseline, ctx, ["account"], neighbour="min")
        n, expected = pl.col("n"), pl.col("expected")
        judged = (
            hours.join(newest, how="cross")
            .filter((pl.col("hour") < pl.col("newest")) & (pl.col("weeks") >= p.min_history_weeks))
            .sort("account", "hour")
            .with_columns(
                low=(expected >= p.min_expected) & (n <= ((1.0 - p.min_fall) * expected).round(9)),
                part=(expected >= p.min_expected) & (n <= ((1.0 - p.edge_fall) * expected)),
            )
        )

        # an edge hour is a partly low hour next to a low one (the same account, an hour apart)
        def beside(shift: int) -> pl.Expr:
            return (
                pl.col("low").shift(shift).over("account").fill_null(False)
                & (
                    (pl.col("hour") - pl.col("hour").shift(shift).over("account")).abs()
                    == pl.duration(hours=1)
                )
            ).fill_null(False)

        runs = judged.filter(pl.col("low") | (pl.col("part") & (beside(1) | beside(-1))))
        merged = merge_intervals(
            runs.select(
                "account",
                pl.col("hour").alias("start"),
                (pl.col("hour") + pl.duration(hours=1)).alias("end"),
                "n",
                "expected",
                "low",
            ),
            ["account"],
            [
                pl.col("n").sum(),
                pl.col("expected").sum(),
                pl.len().alias("hours"),
                pl.col("low").any(),
            ],
            gap=timedelta(0),
        ).filter(
            pl.col("low")
            & (pl.col("hours") >= p.min_hours)
            & (poisson_log_low_tail(pl.col("n"), pl.col("expected")) <= math.log(p.max_p))
        )
        fall = 1.0 - pl.col("n") / pl.col("expected")
        return finalize(
            merged.select(
                pl.lit("account").alias("entity_type"),
                pl.col("account").alias("entity"),
                "account",
                "start",
                "end",
                pl.col("n").alias("observed"),
                "expected",
                fall.round(3).alias("score"),
                pl.when(pl.col("expected") - pl.col("n") < p.min_missing)
                .then(pl.lit("low"))
                .when(fall >= 0.99)
                .then(pl.lit("high"))
                .otherwise(pl.lit("medium"))
                .alias("severity"),
            ),
            self.kind,
        )

    def explain(self, finding: Mapping[str, Any]) -> str:
        p = self.params
        hours = (finding["end"] - finding["start"]) / timedelta(hours=1)
        return (
            f"drop: {finding['observed']:g} requests where {finding['expected']:g} were expected "
            f"over {hours:g} hours ({finding['score']:.0%} gone; fires when hours losing at "
            f"least {p.min_fall:.0%} of their expected requests, with edges losing at least "
            f"{p.edge_fall:.0%}, last {p.min_hours} hours in a row and so few requests have a "
            f"Poisson chance of at most {p.max_p:g})"
        )
