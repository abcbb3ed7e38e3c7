"""``error_surge``: the share of 5xx answers for an account far above its baseline.

Rule, per account, over windows of one hour and of ``long_window`` hours (default 3) ending at
each UTC hour of the range: with ``usual`` the account's share of 5xx answers over the whole
baseline (for an account without history: the share over all accounts in the baseline; never
below ``min_usual_share``, default 0.5%), a window surges when

* it has at least ``min_errors`` 5xx answers (default 10), and
* its 5xx share is at least ``min_ratio`` (default 4) times the usual share, and at least
  ``min_increase`` (default 0.1, ten percentage points) above it, and
* the binomial z-score ``(errors - n * usual) / sqrt(n * usual * (1 - usual))`` is at least
  ``min_score`` (default 6).

The long window catches a smaller account's sustained surge that no single hour shows with
enough errors. Overlapping surging windows are one finding; ``observed`` is the 5xx share over
the finding's hours and ``expected`` the usual share. Severity: medium, high from a 50% share,
critical from 90%.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class ErrorSurgeParams(Params):
    min_errors: int = 10
    long_window: int = 3
    min_ratio: float = 4.0
    min_increase: float = 0.1
    min_score: float = 6.0
    min_usual_share: float = 0.005


def _server_error() -> pl.Expr:
    return (pl.col("status") >= 500).fill_null(False)


@dataclass
class ErrorSurge(DetectorBase):
    kind: ClassVar[str] = "error_surge"
    params_type: ClassVar[type[Params]] = ErrorSurgeParams
    entity_types: ClassVar[tuple[str, ...]] = ("account",)
    needs_history: ClassVar[bool] = False
    params: ErrorSurgeParams = ErrorSurgeParams()

    def evidence_filter(self) -> pl.Expr:
        return _server_error()

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        p = self.params
        error = _server_error()
        usual_all = baseline.select(error.mean().fill_null(0.0).alias("usual_all"))
        usual = baseline.group_by("account").agg(error.mean().alias("usual"))
        hourly = (
            events.group_by("account", pl.col("ts").dt.truncate("1h").alias("hour"))
            .agg(pl.len().alias("n"), error.sum().alias("errors"))
            .sort("account", "hour")
        )
        span = timedelta(hours=max(p.long_window, 1))
        windows = pl.concat(
            [
                hourly.select(
                    "account",
                    pl.col("hour").alias("start"),
                    (pl.col("hour") + pl.duration(hours=1)).alias("end"),
                    "n",
                    "errors",
                ),
                hourly.select(
                    "account",
                    (pl.col("hour") + pl.duration(hours=1) - pl.lit(span)).alias("start"),
                    (pl.col("hour") + pl.duration(hours=1)).alias("end"),
                    pl.col("n").rolling_sum_by("hour", window_size=span).over("account"),
                    pl.col("errors").rolling_sum_by("hour", window_size=span).over("account"),
                ),
            ]
        )
        hours = (
            windows.join(usual, on="account", how="left")
            .join(usual_all, how="cross")
            .with_columns(
                usual=pl.max_horizontal(
                    pl.coalesce("usual", "usual_all"), pl.lit(p.min_usual_share)
                )
            )
        )
        n, errors, share = pl.col("n"), pl.col("errors"), pl.col("errors") / pl.col("n")
        usual_share = pl.col("usual")
        z = (errors - n * usual_share) / (n * usual_share * (1.0 - usual_share)).sqrt()
        flagged = hours.filter(
            (errors >= p.min_errors)
            & (share >= p.min_ratio * usual_share)
            & (share >= usual_share + p.min_increase)
            & (z >= p.min_score)
        ).select(
            "account",
            pl.max_horizontal(pl.col("start"), pl.lit(ctx.start)).alias("start"),
            "end",
            "usual",
            z.alias("z"),
        )
        # the finding's hours, and the requests and errors in them
        spans = merge_intervals(
            flagged,
            ["account"],
            [pl.col("usual").first(), pl.col("z").max()],
            gap=timedelta(0),
        )
        # the finding's hours with more errors than usual, and the requests and errors in them
        excess = pl.col("errors") > pl.col("n") * pl.col("usual")
        merged = (
            spans.join(hourly, on="account")
            .filter((pl.col("hour") >= pl.col("start")) & (pl.col("hour") < pl.col("end")))
            .filter(excess)
            .group_by("account", "start")
            .agg(
                pl.col("hour").min().alias("first"),
                (pl.col("hour").max() + pl.duration(hours=1)).alias("last"),
                pl.col("usual").first(),
                pl.col("z").first(),
                pl.col("n").sum(),
                pl.col("errors").sum(),
            )
            .drop("start")
            .rename({"first": "start", "last": "end"})
        )
        observed = pl.col("errors") / pl.col("n")
        return finalize(
            merged.select(
                pl.lit("account").alias("entity_type"),
                pl.col("account").alias("entity"),
                "account",
                "start",
                "end",
                observed.round(4).alias("observed"),
                pl.col("usual").round(4).alias("expected"),
                pl.col("z").round(2).alias("score"),
                severity_from_score(observed, 0.0, 0.5, 0.9).alias("severity"),
            ).with_columns(
                severity=pl.when(pl.col("severity") == "low")
                .then(pl.lit("medium"))
                .otherwise(pl.col("severity"))
            ),
            self.kind,
        )

    def explain(self, finding: Mapping[str, Any]) -> str:
        p = self.params
        return (
            f"error_surge: 5xx share {finding['observed']:.1%} where {finding['expected']:.1%} is "
            f"usual (fires at ≥ {p.min_errors} errors, ≥ {p.min_ratio:g}× and "
            f"+{p.min_increase:.0%} the usual share, z ≥ {p.min_score:g}; z {finding['score']:g})"
        )
