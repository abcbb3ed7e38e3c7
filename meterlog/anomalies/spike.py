"""``spike``: an account's request rate far above what its own history predicts for that hour.

Rule, per account and UTC hour of the range (history as described in
:mod:`meterlog.anomalies.seasonal`): with ``expected`` the median of the earlier weeks' values
for that hour of the week and ``spread`` their robust spread, an hour is a spike when

* ``observed >= min_ratio * expected`` (default 3 times), and
* ``(observed - expected) / spread >= min_score`` (default 6 robust standard deviations), and
* the chance of so many requests from a Poisson count of mean ``expected`` (at least 1) is at
  most ``max_p`` (default 1e-7; a Chernoff bound of the tail, so never understated): what
  decides is significance, not size, so a small account's spike is found too.

Consecutive spike hours are one finding; ``observed`` and ``expected`` are the requests of the
finding's hours, ``score`` the highest hourly robust z-score. Severity by impact and ratio:
low when the finding adds fewer than ``min_excess`` requests (default 100: a small account's
spike), else medium, high from ``high_ratio`` (10) times, critical from ``critical_ratio`` (50)
times. An account with fewer than ``min_history_weeks`` weeks of history (default 2) is not
judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import polars as pl

from meterlog.anomalies.base import (
    Context,
    DetectorBase,
    Params,
    finalize,
    merge_intervals,
    severity_from_score,
)
from meterlog.anomalies.seasonal import hourly_history


def poisson_log_tail(observed: pl.Expr, expected: pl.Expr) -> pl.Expr:
    """An upper bound of ``log P(X >= observed)`` for ``X`` Poisson with mean ``expected``
    (at least 1): the Chernoff bound ``-m + k (1 + ln m - ln k)`` for ``k > m``, else 0."""
    m = pl.max_horizontal(expected, pl.lit(1.0))
    k = observed.cast(pl.Float64)
    bound = -m + k * (1.0 + m.log() - k.log())
    return pl.when(k > m).then(bound).otherwise(pl.lit(0.0))


@dataclass(frozen=True)
class SpikeParams(Params):
    min_ratio: float = 3.0
    min_excess: float = 100.0
    min_score: float = 6.0
    max_p: float = 1e-7
    min_history_weeks: int = 2
    high_ratio: float = 10.0
    critical_ratio: float = 50.0


@dataclass
class Spike(DetectorBase):
    kind: ClassVar[str] = "spike"
    params_type: ClassVar[type[Params]] = SpikeParams
    entity_types: ClassVar[tuple[str, ...]] = ("account",)
    needs_history: ClassVar[bool] = True
    params: SpikeParams = SpikeParams()

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        p = self.params
        hours = hourly_history(events, baseline, ctx, ["account"], neighbour="max")
        n, expected = pl.col("n"), pl.col("expected")
        z = (n - expected) / pl.col("spread")
        flagged = hours.filter(
            (pl.col("weeks") >= p.min_history_weeks)
            & (n >= p.min_ratio * expected)
            & (z >= p.min_score)
            & (poisson_log_tail(n, expected) <= math.log(p.max_p))
        ).select(
            "account",
            pl.col("hour").alias("start"),
            (pl.col("hour") + pl.duration(hours=1)).alias("end"),
            "n",
            "expected",
            z.alias("z"),
        )
        merged = merge_intervals(
            flagged,
            ["account"],
            [pl.col("n").sum(), pl.col("expected").sum(), pl.col("z").max()],
            gap=timedelta(0),
        )
        ratio = pl.col("observed") / pl.max_horizontal(pl.col("expected"), pl.lit(1.0))
        return finalize(
            merged.select(
                pl.lit("account").alias("entity_type"),
                pl.col("account").alias("entity"),
                "account",
                "start",
                "end",
                pl.col("n").alias("observed"),
                "expected",
                pl.col("z").round(2).alias("score"),
            ).with_columns(
                severity=pl.when(pl.col("observed") - pl.col("expected") < p.min_excess)
                .then(pl.lit("low"))
                .otherwise(severity_from_score(ratio, p.min_ratio, p.high_ratio, p.critical_ratio))
            ),
            self.kind,
        )

    def explain(self, finding: Mapping[str, Any]) -> str:
        p = self.params
        return (
            f"spike: {finding['observed']:g} requests where {finding['expected']:g} were expected "
            f"(fires at ≥ {p.min_ratio:g}× expected, ≥ {p.min_excess:g} more and a robust z-score "
            f"≥ {p.min_score:g}; highest z {finding['score']:g})"
        )
