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
enough errors. The same windows are judged per endpoint (``/v1/orders/{id}``, by the automatic
endpoint rules) against that endpoint's usual share in the account's baseline (its account's
when it has fewer than 200 requests there): an outage of one endpoint that carries a fifth of
an account's traffic moves the account's share by a few points only. Overlapping surging
windows are one finding; ``observed`` is the 5xx share over the finding's hours and
``expected`` the usual share. Severity: medium, high from a 50% share, critical from 90%.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import polars as pl

from meterlog.anomalies.base import (
    TS,
    Context,
    DetectorBase,
    Params,
    finalize,
    merge_intervals,
    severity_from_score,
)
from meterlog.query.endpoints import automatic_endpoint

#: Requests an endpoint needs in the baseline to be judged against its own usual share.
MIN_ENDPOINT_HISTORY = 200


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


def _with_endpoint(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` with the ``endpoint`` of its ``path`` (templated once per distinct path)."""
    paths = frame.select("path").unique()
    return frame.join(
        paths.with_columns(endpoint=automatic_endpoint(pl.col("path"))), on="path", how="left"
    )


def _windows(hourly: pl.LazyFrame, keys: list[str], span: timedelta) -> pl.LazyFrame:
    """Per ``keys``: each hour, and the ``span`` of hours ending with it (``n``, ``errors``)."""
    return pl.concat(
        [
            hourly.select(
                *keys,
                pl.col("hour").alias("start"),
                (pl.col("hour") + pl.duration(hours=1)).alias("end"),
                "n",
                "errors",
            ),
            hourly.select(
                *keys,
                (pl.col("hour") + pl.duration(hours=1) - pl.lit(span)).alias("start"),
                (pl.col("hour") + pl.duration(hours=1)).alias("end"),
                pl.col("n").rolling_sum_by("hour", window_size=span).over(keys),
                pl.col("errors").rolling_sum_by("hour", window_size=span).over(keys),
            ),
        ]
    )


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
        hours = (
            _windows(hourly, ["account"], span)
            .join(usual, on="account", how="left")
            .join(usual_all, how="cross")
            .with_columns(
                usual=pl.max_horizontal(
                    pl.coalesce("usual", "usual_all"), pl.lit(p.min_usual_share)
                )
            )
        )
        flagged = self._surging(hours, pl.col("usual")).select(
            "account",
            pl.max_horizontal(pl.col("start"), pl.lit(ctx.start)).alias("start"),
            "end",
            "usual",
            "z",
        )
        flagged = flagged.collect().lazy()
        flagged = pl.concat(
            [flagged, self._endpoint_surges(events, baseline, ctx, hours, span, flagged)],
            how="vertical_relaxed",
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

    def _surging(self, windows: pl.LazyFrame, usual_share: pl.Expr) -> pl.LazyFrame:
        """The ``windows`` whose errors cross the thresholds against ``usual_share`` (with
        ``z``)."""
        p = self.params
        n, errors, share = pl.col("n"), pl.col("errors"), pl.col("errors") / pl.col("n")
        z = (errors - n * usual_share) / (n * usual_share * (1.0 - usual_share)).sqrt()
        return windows.with_columns(z=z).filter(
            (errors >= p.min_errors)
            & (share >= p.min_ratio * usual_share)
            & (share >= usual_share + p.min_increase)
            & (pl.col("z") >= p.min_score)
        )

    def _endpoint_surges(
        self,
        events: pl.LazyFrame,
        baseline: pl.LazyFrame,
        ctx: Context,
        account_windows: pl.LazyFrame,
        span: timedelta,
        account_flagged: pl.LazyFrame,
    ) -> pl.LazyFrame:
        """Windows where one endpoint's 5xx share surges against that endpoint's usual share
        (an outage of one endpoint barely moves the account's share); ``usual`` is the
        account's, for the finding's hours."""
        p = self.params
        error = _server_error()
        # endpoints are worked out once per distinct path, not per request
        rows = events.filter(pl.col("path").is_not_null()).select(
            "account", "path", pl.col("ts").dt.truncate("1h").alias("hour"), error.alias("error")
        )
        hourly = (
            _with_endpoint(rows)
            .group_by("account", "endpoint", "hour")
            .agg(pl.len().alias("n"), pl.col("error").sum().alias("errors"))
            .sort("account", "endpoint", "hour")
        )
        keys = ["account", "endpoint"]
        windows = _windows(hourly, keys, span)
        # candidates: enough errors and share at all; only their accounts' history is read
        # (windows of accounts whose own share already surges then are found without them)
        candidates = (
            windows.filter(
                (pl.col("errors") >= p.min_errors)
                & (pl.col("errors") / pl.col("n") >= p.min_increase + p.min_usual_share)
            )
            .join(
                account_flagged.select("account", "end").unique(),
                on=["account", "end"],
                how="anti",
            )
            .collect()
        )
        if candidates.is_empty():
            return pl.LazyFrame(
                schema={"account": pl.String, "start": TS, "end": TS, "usual": pl.Float64,
                        "z": pl.Float64}
            )  # fmt: skip
        accounts = candidates.get_column("account").unique().implode()
        per_path = (
            ctx.full_baseline(baseline)
            .filter(pl.col("account").is_in(accounts) & pl.col("path").is_not_null())
            .group_by("account", "path")
            .agg(pl.len().alias("n"), error.sum().alias("errors"))
        )
        past = (
            _with_endpoint(per_path)
            .group_by("account", "endpoint")
            .agg(
                (pl.col("errors").sum() / pl.col("n").sum()).alias("usual_endpoint"),
                pl.col("n").sum().alias("past"),
            )
        )
        account_usual = account_windows.select("account", "usual").unique("account")
        # an endpoint with little history is judged against its account's usual share
        usual_endpoint = pl.max_horizontal(
            pl.when(pl.col("past") >= MIN_ENDPOINT_HISTORY)
            .then(pl.col("usual_endpoint"))
            .otherwise(pl.col("usual")),
            pl.col("usual"),
            pl.lit(p.min_usual_share),
        )
        judged = (
            candidates.lazy()
            .join(past, on=keys, how="left")
            .join(account_usual, on="account", how="left")
        )
        return self._surging(judged, usual_endpoint).select(
            "account",
            pl.max_horizontal(pl.col("start"), pl.lit(ctx.start)).alias("start"),
            "end",
            "usual",
            "z",
        )

    def explain(self, finding: Mapping[str, Any]) -> str:
        p = self.params
        return (
            f"error_surge: 5xx share {finding['observed']:.1%} where {finding['expected']:.1%} is "
            f"usual (fires at ≥ {p.min_errors} errors, ≥ {p.min_ratio:g}× and "
            f"+{p.min_increase:.0%} the usual share, z ≥ {p.min_score:g}; z {finding['score']:g})"
        )
