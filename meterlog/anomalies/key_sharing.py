"""``key_sharing``: an API key suddenly used from many more client addresses, networks or user
agents than it ever was (a leaked or shared key).

Rule, per key (the raw value of the account field) and window of ``window`` (default one hour,
aligned to the hour): for each of client networks (/24 for IPv4, /48 for IPv6), client
addresses in networks new to the key, and user agents, count the distinct values in the window
and those *new* to the key (never seen with it before the window, in the baseline or earlier
in the range). The window is suspicious when, for any of the three,

* the new values number at least ``min_new_networks`` (default 10), ``min_new_ips`` (20) or
  ``min_new_agents`` (5), and
* the distinct values are at least ``min_ratio`` (default 3) times the most the key had in one
  window of the baseline.

New addresses inside networks the key already used (a customer's own servers or office) never
count. A key without history (no request in the baseline) is judged on new networks alone: a
new customer's first servers are not a leak, ten new networks in an hour are. Consecutive
suspicious windows are one finding; ``observed`` is the most distinct networks in one window,
``expected`` the baseline's most, ``score`` the most new networks. Without an account field
there are no keys and no findings. Severity: medium, high from 50 new networks, critical from
500.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

import polars as pl

from meterlog.anomalies.base import (
    Context,
    DetectorBase,
    Params,
    finalize,
    merge_intervals,
    severity_from_score,
    with_network,
)
from meterlog.anomalies.windows import parse_window


@dataclass(frozen=True)
class KeySharingParams(Params):
    window: str = "1h"
    min_new_networks: int = 10
    min_new_ips: int = 20
    min_new_agents: int = 5
    min_ratio: float = 3.0
    high_new_networks: int = 50
    critical_new_networks: int = 500


@dataclass
class KeySharing(DetectorBase):
    kind: ClassVar[str] = "key_sharing"
    params_type: ClassVar[type[Params]] = KeySharingParams
    entity_types: ClassVar[tuple[str, ...]] = ("key",)
    needs_history: ClassVar[bool] = False
    params: KeySharingParams = KeySharingParams()

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        p = self.params
        window = parse_window(p.window, f"anomalies.{self.kind}.window")
        slot = pl.col("ts").dt.truncate(window).alias("start")
        keyed = pl.concat([baseline, events]).filter(pl.col("key").is_not_null())
        # one row per key, window and address (and per key, window and agent): small
        addresses = with_network(
            keyed.group_by("key", slot, "ip").agg(pl.col("account").first())
        ).collect()
        agents = keyed.select("key", slot, "user_agent").unique().collect()
        in_range = pl.col("start") >= pl.lit(ctx.start)

        def first_seen(frame: pl.DataFrame, column: str) -> pl.DataFrame:
            return frame.group_by("key", column).agg(pl.col("start").min().alias("first"))

        net_first = first_seen(addresses, "network")
        ip_first = first_seen(addresses, "ip")
        addresses = (
            addresses.join(net_first, on=["key", "network"])
            .rename({"first": "network_first"})
            .join(ip_first, on=["key", "ip"])
            .with_columns(
                new_network=pl.col("network_first") == pl.col("start"),
                new_ip=(pl.col("first") == pl.col("start"))
                & (pl.col("network_first") == pl.col("start")),
            )
        )
        agents = agents.join(first_seen(agents, "user_agent"), on=["key", "user_agent"])
        per_window = addresses.group_by("key", "start").agg(
            pl.col("account").mode().min(),
            pl.col("network").n_unique().alias("networks"),
            pl.col("ip").filter(pl.col("new_ip")).n_unique().alias("ips"),
            pl.col("network").filter(pl.col("new_network")).n_unique().alias("new_networks"),
            pl.col("ip").filter(pl.col("new_ip")).n_unique().alias("new_ips"),
        )
        per_window = per_window.join(
            agents.group_by("key", "start").agg(
                pl.len().alias("agents"),
                (pl.col("first") == pl.col("start")).sum().alias("new_agents"),
            ),
            on=["key", "start"],
            how="left",
        )
        most = (
            per_window.filter(~in_range)
            .group_by("key")
            .agg(pl.col(c).max().alias(f"most_{c}") for c in ("networks", "ips", "agents"))
        )
        frame = per_window.filter(in_range).join(most, on="key", how="left")
        history = pl.col("most_networks").is_not_null()

        def trigger(name: str, minimum: int) -> pl.Expr:
            return (pl.col(f"new_{name}").fill_null(0) >= minimum) & (
                pl.col(name).fill_null(0) >= p.min_ratio * pl.col(f"most_{name}").fill_null(0)
            )

        suspicious = (
            trigger("networks", p.min_new_networks)
            | (history & trigger("ips", p.min_new_ips))
            | (history & trigger("agents", p.min_new_agents))
        )
        flagged = frame.filter(suspicious).select(
            "key",
            "account",
            "start",
            (pl.col("start") + pl.lit(window)).alias("end"),
            pl.col("networks").cast(pl.Float64).alias("observed"),
            pl.col("most_networks").fill_null(0).cast(pl.Float64).alias("expected"),
            pl.col("new_networks").cast(pl.Float64),
        )
        merged = merge_intervals(
            flagged.lazy(),
            ["key"],
            [
                pl.col("account").mode().min(),
                pl.col("observed").max(),
                pl.col("expected").max(),
                pl.col("new_networks").max(),
            ],
            gap=timedelta(0),
        )
        severity = severity_from_score(
            pl.col("new_networks"), 0, p.high_new_networks, p.critical_new_networks
        )
        return finalize(
            merged.select(
                pl.lit("key").alias("entity_type"),
                pl.col("key").alias("entity"),
                "account",
                "start",
                "end",
                "observed",
                "expected",
                pl.col("new_networks").alias("score"),
                pl.when(severity == "low")
                .then(pl.lit("medium"))
                .otherwise(severity)
                .alias("severity"),
            ),
            self.kind,
        )
