"""``auth_failures``: a burst of 401/403 answers for one account, one client IP or one network
(credential stuffing, brute force), as a rate over a sliding window.

Rule, per entity (``account``, ``ip`` and ``network``: the /24 or /48), over a window of
``window`` (default 10 minutes) sliding by the minute: the window is a burst when its 401 and
403 answers number

* at least ``min_failures`` (default 50), and
* at least ``min_ratio`` (default 5) times the entity's usual count per window in the baseline
  (its failures in the baseline spread evenly, so an account with many failed logins every day
  needs a larger burst), and
* at least the usual count plus ``min_score`` (default 5) Poisson standard deviations.

Overlapping burst windows of one entity are one finding; ``observed`` is the largest window
count, ``expected`` the usual count per window. A network finding is left out when one of its
addresses already has a finding for the same burst holding most (80%) of it. Entities without
history are judged against zero: the absolute ``min_failures`` applies. Severity: medium, high
from 10 times ``min_failures``, critical from 100 times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from meterlog.anomalies.base import (
    Context,
    DetectorBase,
    Params,
    empty_findings,
    finalize,
    merge_intervals,
    severity_from_score,
    with_network,
)
from meterlog.anomalies.windows import parse_window

AUTH_STATUSES = (401, 403)


@dataclass(frozen=True)
class AuthFailuresParams(Params):
    window: str = "10m"
    min_failures: int = 50
    min_ratio: float = 5.0
    min_score: float = 5.0


def failed(frame: pl.LazyFrame) -> pl.LazyFrame:
    return with_network(frame.filter(pl.col("status").is_in(AUTH_STATUSES)))


@dataclass
class AuthFailures(DetectorBase):
    kind: ClassVar[str] = "auth_failures"
    params_type: ClassVar[type[Params]] = AuthFailuresParams
    entity_types: ClassVar[tuple[str, ...]] = ("account", "ip", "network")
    needs_history: ClassVar[bool] = False
    params: AuthFailuresParams = AuthFailuresParams()

    def evidence_filter(self) -> pl.Expr:
        return pl.col("status").is_in(AUTH_STATUSES)

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        p = self.params
        window = parse_window(p.window, f"anomalies.{self.kind}.window")
        windows_in_baseline = max(ctx.baseline / window, 1.0)
        found = []
        for entity_type in self.entity_types:
            usual = (
                failed(baseline)
                .filter(pl.col(entity_type).is_not_null())
                .group_by(pl.col(entity_type).alias("entity"))
                .agg((pl.len() / windows_in_baseline).alias("expected"))
            )
            minutes = (
                failed(events)
                .filter(pl.col(entity_type).is_not_null())
                .group_by(
                    pl.col(entity_type).alias("entity"),
                    pl.col("ts").dt.truncate("1m").alias("minute"),
                )
                .agg(pl.len().alias("failures"), pl.col("account").mode().min().alias("account"))
                .sort("entity", "minute")
                .with_columns(
                    observed=pl.col("failures")
                    .rolling_sum_by("minute", window_size=window)
                    .over("entity")
                )
            )
            expected = pl.col("expected").fill_null(0.0)
            bursts = (
                minutes.join(usual, on="entity", how="left")
                .with_columns(expected)
                .filter(
                    (pl.col("observed") >= p.min_failures)
                    & (pl.col("observed") >= p.min_ratio * pl.col("expected"))
                    & (
                        pl.col("observed")
                        >= pl.col("expected") + p.min_score * pl.col("expected").sqrt()
                    )
                )
                .select(
                    "entity",
                    "account",
                    (pl.col("minute") + pl.duration(minutes=1) - pl.lit(window)).alias("start"),
                    (pl.col("minute") + pl.duration(minutes=1)).alias("end"),
                    "observed",
                    "expected",
                )
            )
            merged = merge_intervals(
                bursts,
                ["entity"],
                [
                    pl.col("observed").max(),
                    pl.col("expected").first(),
                    pl.col("account").mode().min(),
                ],
            )
            # a burst starts at its first failure, not at the start of the first window
            first = (
                merged.join(minutes.select("entity", "minute"), on="entity")
                .filter((pl.col("minute") >= pl.col("start")) & (pl.col("minute") < pl.col("end")))
                .group_by("entity", "start")
                .agg(pl.col("minute").min().alias("first"))
            )
            merged = (
                merged.join(first, on=["entity", "start"], how="left")
                .with_columns(pl.coalesce("first", "start").alias("start"))
                .drop("first")
                .with_columns(entity_type=pl.lit(entity_type))
            )
            found.append(merged.collect())
        findings = pl.concat(found, how="diagonal_relaxed") if found else empty_findings()
        if findings.height == 0:
            return empty_findings()
        findings = _drop_explained_networks(findings)
        score = pl.col("observed") / pl.max_horizontal(pl.col("expected"), pl.lit(1.0))
        return finalize(
            findings.with_columns(
                score=score.round(2),
                start=pl.max_horizontal(pl.col("start"), pl.lit(ctx.start)),
                severity=severity_from_score(
                    pl.col("observed"),
                    float(p.min_failures),
                    10.0 * p.min_failures,
                    100.0 * p.min_failures,
                ),
            ),
            self.kind,
        )


def _drop_explained_networks(findings: pl.DataFrame) -> pl.DataFrame:
    """Network findings most of whose failures one address finding of the same time holds."""
    from meterlog.anomalies.base import network_expr

    ips = findings.filter(pl.col("entity_type") == "ip").select(
        network_expr(pl.col("entity")).alias("entity"),
        pl.col("start").alias("ip_start"),
        pl.col("end").alias("ip_end"),
        pl.col("observed").alias("ip_observed"),
    )
    networks = findings.filter(pl.col("entity_type") == "network").with_row_index("_n")
    explained = (
        networks.join(ips, on="entity")
        .filter(
            (pl.col("ip_start") < pl.col("end"))
            & (pl.col("ip_end") > pl.col("start"))
            & (pl.col("ip_observed") >= 0.8 * pl.col("observed"))
        )
        .get_column("_n")
        .unique()
    )
    kept = networks.filter(~pl.col("_n").is_in(explained.implode())).drop("_n")
    return pl.concat([findings.filter(pl.col("entity_type") != "network"), kept])
