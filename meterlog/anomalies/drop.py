"""``drop``: an account that is normally busy at this hour of the week goes quiet or loses most
of its traffic, for a sustained time (its integration broke, or its traffic moved elsewhere).

Rule, per account and UTC hour of the range (history as described in
:mod:`meterlog.anomalies.seasonal`, with each earlier week contributing the *smallest* of the
three hours around the same hour of the week): an hour is low when

* ``expected >= min_expected`` requests (default 20: the account is normally busy then), and
* ``observed <= (1 - min_fall) * expected`` (default ``min_fall`` 0.8: at least 80% gone), and
* ``(expected - observed) / sqrt(expected) >= min_score`` (default 4: not chance).

``min_hours`` (default 3) or more low hours in a row are one finding. Hours after the newest
request in the store are not judged (the logs may simply not be ingested yet), nor is the hour
holding it. Severity: high when the account was quiet (at most 1% of the expected requests),
else medium. An account with fewer than ``min_history_weeks`` weeks of history is not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import polars as pl

from meterlog.anomalies.base import Context, DetectorBase, Params, finalize, merge_intervals
from meterlog.anomalies.seasonal import hourly_history


@dataclass(frozen=True)
class DropParams(Params):
    min_expected: float = 20.0
    min_fall: float = 0.8
    min_score: float = 4.0
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
        low = hours.join(newest, how="cross").filter(
            (pl.col("hour") < pl.col("newest"))
            & (pl.col("weeks") >= p.min_history_weeks)
            & (expected >= p.min_expected)
            & (n <= ((1.0 - p.min_fall) * expected).round(9))
            & ((expected - n) / expected.sqrt() >= p.min_score)
        )
        merged = merge_intervals(
            low.select(
                "account",
                pl.col("hour").alias("start"),
                (pl.col("hour") + pl.duration(hours=1)).alias("end"),
                "n",
                "expected",
            ),
            ["account"],
            [pl.col("n").sum(), pl.col("expected").sum(), pl.len().alias("hours")],
            gap=timedelta(0),
        ).filter(pl.col("hours") >= p.min_hours)
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
                pl.when(fall >= 0.99)
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
            f"over {hours:g} hours ({finding['score']:.0%} gone; fires when at least "
            f"{p.min_fall:.0%} of at least {p.min_expected:g} expected requests an hour are gone, "
            f"z ≥ {p.min_score:g}, for {p.min_hours} hours in a row)"
        )
