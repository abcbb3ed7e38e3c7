"""``key_sharing``: an API key suddenly used from many more client addresses, networks or user
agents than it ever was (a leaked or shared key).

Rule, per key (the raw value of the account field) and window of ``window`` (default one hour,
aligned to the hour): count the client networks (/24 for IPv4, /48 for IPv6), the client
addresses in networks, and the user agents that are *new* to the key in the window (never seen
with it before the window, in the baseline or earlier in the range). The window is suspicious
when, for any of the three,

* the new values number at least ``min_new_networks`` (default 10), ``min_new_ips`` (20) or
  ``min_new_agents`` (5), and
* they are at least ``min_growth`` (default 0.5) times as many as the key used in the whole
  baseline (a key used from 3 networks in four weeks that shows up from 10 new ones in an hour
  is suspicious; a consumer app's key seen from thousands of networks is not, by 10 more).

New addresses count only inside networks new to the key (a customer's new servers in its own
network are not a leak), and a key without history is judged on new networks alone: a new
customer's first servers are not a leak, ten networks in one hour are. Consecutive suspicious
windows are one finding; ``observed`` is the most distinct networks in one window,
``expected`` the networks the key used in the baseline, ``score`` the most new networks.
Only requests the key was accepted on count (not those answered 401 or 403: a credential
stuffing run that carries a customer's key is not a leak of it). Without an account field
there are no keys and no findings. Severity: medium, high from 50
new networks, critical from 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, ClassVar

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

#: Answers that refuse a key: requests with them do not count as the key's use.
REFUSED = (401, 403)


@dataclass(frozen=True)
class KeySharingParams(Params):
    window: str = "1h"
    min_new_networks: int = 10
    min_new_ips: int = 20
    min_new_agents: int = 5
    min_growth: float = 0.5
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
        # only requests the key was accepted on: a stuffing run refused with 401 is no leak
        accepted = ~pl.col("status").is_in(REFUSED).fill_null(False)
        events, baseline = events.filter(accepted), baseline.filter(accepted)
        if ctx.history is not None:
            ctx = replace(ctx, history=ctx.history.filter(accepted))
        # only keys with a window in the range that could reach a threshold are looked at
        # (new values are a part of the distinct ones): few keys, so little of the baseline
        windows = (
            events.filter(pl.col("key").is_not_null())
            .group_by("key", slot)
            .agg(pl.col("ip").n_unique().alias("ips"), pl.col("user_agent").n_unique().alias("uas"))
            .collect()
        )
        candidates = (
            windows.filter(
                (pl.col("ips") >= min(p.min_new_networks, p.min_new_ips))
                | (pl.col("uas") >= p.min_new_agents)
            )
            .get_column("key")
            .unique()
        )
        # the baseline's user agents are read only for keys with enough agents in a window
        agent_keys = windows.filter(pl.col("uas") >= p.min_new_agents).get_column("key").unique()
        if candidates.is_empty():
            return empty_findings()
        wanted = pl.col("key").is_in(candidates.implode())
        keyed = pl.concat([baseline.select("ts", "key", "ip"), events.select("ts", "key", "ip")])
        keyed = keyed.filter(wanted)
        before = pl.col("first") < pl.lit(ctx.start)
        # when each address, network and agent was first seen with the key (small tables)
        addresses = with_network(
            keyed.group_by("key", "ip").agg(pl.col("ts").min().alias("first"))
        ).with_columns(network_first=pl.col("first").min().over("key", "network"))
        with_agents = pl.col("key").is_in(agent_keys.implode())
        agents = (
            pl.concat(
                [
                    ctx.full_baseline(baseline)
                    .filter(with_agents)
                    .select("key", "user_agent", "ts"),
                    events.filter(with_agents).select("key", "user_agent", "ts"),
                ]
            )
            .group_by("key", "user_agent")
            .agg(pl.col("ts").min().alias("first"))
        )
        history = (
            addresses.group_by("key")
            .agg(
                pl.col("network").filter(before).n_unique().alias("base_networks"),
                pl.col("ip").filter(before).n_unique().alias("base_ips"),
            )
            .join(
                agents.group_by("key").agg(
                    pl.col("user_agent").filter(before).n_unique().alias("base_agents")
                ),
                on="key",
                how="left",
            )
        )
        recent = events.filter(wanted)
        seen = (
            recent.group_by("key", slot, "ip")
            .agg(pl.col("account").first())
            .join(addresses, on=["key", "ip"])
            .with_columns(
                new_network=pl.col("network_first") >= pl.col("start"),
                new_ip=(pl.col("first") >= pl.col("start"))
                & (pl.col("network_first") >= pl.col("start")),
            )
            .group_by("key", "start")
            .agg(
                pl.col("account").mode().min(),
                pl.col("network").n_unique().alias("networks"),
                pl.col("network").filter(pl.col("new_network")).n_unique().alias("new_networks"),
                pl.col("ip").filter(pl.col("new_ip")).n_unique().alias("new_ips"),
            )
        )
        new_agents = (
            recent.select("key", slot, "user_agent")
            .unique()
            .join(agents, on=["key", "user_agent"])
            .group_by("key", "start")
            .agg((pl.col("first") >= pl.col("start")).sum().alias("new_agents"))
        )
        frame = (
            seen.join(new_agents, on=["key", "start"], how="left")
            .join(history, on="key", how="left")
            .collect()
        )

        def trigger(name: str, minimum: int) -> pl.Expr:
            new = pl.col(f"new_{name}").fill_null(0)
            return (new >= minimum) & (new >= p.min_growth * pl.col(f"base_{name}").fill_null(0))

        has_history = pl.col("base_networks").fill_null(0) > 0
        suspicious = (
            trigger("networks", p.min_new_networks)
            | (has_history & trigger("ips", p.min_new_ips))
            | (has_history & trigger("agents", p.min_new_agents))
        )
        flagged = frame.filter(suspicious).select(
            "key",
            "account",
            "start",
            (pl.col("start") + pl.lit(window)).alias("end"),
            pl.col("networks").cast(pl.Float64).alias("observed"),
            pl.col("base_networks").fill_null(0).cast(pl.Float64).alias("expected"),
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

    def evidence_filter(self) -> pl.Expr:
        return ~pl.col("status").is_in(REFUSED).fill_null(False)

    def explain(self, finding: Mapping[str, Any]) -> str:
        p = self.params
        return (
            f"key_sharing: {finding['score']:g} networks new to the key in one {p.window}, "
            f"{finding['observed']:g} in one window against {finding['expected']:g} known from "
            f"the baseline (fires at ≥ {p.min_new_networks} new networks, ≥ {p.min_new_ips} new "
            f"addresses or ≥ {p.min_new_agents} new agents, and ≥ {p.min_growth:g}× the "
            "baseline's; only requests the key was accepted on count)"
        )
