"""``scraping``: one user or key walking through an endpoint's ids, far faster than usual.

Rule, per client (the user; for anonymous requests the key; without either the client
address) and window of ``window`` (default one hour, aligned to the hour): for each endpoint
with a parameter (``/v1/orders/{id}``, see the endpoint rules), count the distinct paths the
client asked for in the window (distinct ids). The window is scraping when, for one endpoint,

* the distinct ids number at least ``min_ids`` (default 300), and
* they are at least ``min_ratio`` (default 5) times the most distinct paths the client asked
  for in any one window of the baseline (over all endpoints).

Consecutive scraping windows of one client are one finding; ``observed`` is the most distinct
ids in one window, ``expected`` the baseline's most distinct paths. A client without history
is judged by ``min_ids`` alone. Severity: medium, high from 10 times ``min_ids``.
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
    empty_findings,
    finalize,
    merge_intervals,
)
from meterlog.anomalies.windows import parse_window
from meterlog.endpoints import automatic_endpoint, strip_query


@dataclass(frozen=True)
class ScrapingParams(Params):
    window: str = "1h"
    min_ids: int = 300
    min_ratio: float = 5.0


def client_columns() -> list[pl.Expr]:
    return [
        pl.when(pl.col("user").is_not_null())
        .then(pl.lit("user"))
        .when(pl.col("key").is_not_null())
        .then(pl.lit("key"))
        .otherwise(pl.lit("ip"))
        .alias("entity_type"),
        pl.coalesce("user", "key", "ip").alias("entity"),
    ]


@dataclass
class Scraping(DetectorBase):
    kind: ClassVar[str] = "scraping"
    params_type: ClassVar[type[Params]] = ScrapingParams
    entity_types: ClassVar[tuple[str, ...]] = ("user", "key", "ip")
    needs_history: ClassVar[bool] = False
    params: ScrapingParams = ScrapingParams()

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        p = self.params
        window = parse_window(p.window, f"anomalies.{self.kind}.window")
        slot = pl.col("ts").dt.truncate(window).alias("start")
        path = strip_query(pl.col("path"))
        # only paths with a segment that may be an id are templated (most API paths)
        candidates = events.filter(
            pl.col("path").is_not_null()
            & pl.col("path").str.contains(r"/[^/?]*[0-9][^/?]*(/|\?|$)")
        ).select(*client_columns(), "account", slot, path.alias("path"))
        per_endpoint = (
            candidates.with_columns(endpoint=automatic_endpoint(pl.col("path")))
            .filter(pl.col("endpoint") != pl.col("path"))
            .group_by("entity_type", "entity", "start", "endpoint")
            .agg(pl.col("path").n_unique().alias("ids"), pl.col("account").mode().min())
            .filter(pl.col("ids") >= p.min_ids)
            .collect()
        )
        if per_endpoint.is_empty():
            return empty_findings()
        # the history of those clients only
        clients = per_endpoint.select("entity_type", "entity").unique()

        def named(entity_type: str) -> pl.Series:
            return clients.filter(pl.col("entity_type") == entity_type).get_column("entity")

        maybe = (
            pl.col("user").is_in(named("user").implode())
            | pl.col("key").is_in(named("key").implode())
            | pl.col("ip").is_in(named("ip").implode())
        ).fill_null(False)
        most = (
            ctx.full_baseline(baseline)
            .filter(maybe & pl.col("path").is_not_null())
            .select(*client_columns(), slot, path.hash().alias("path"))
            .join(clients.lazy(), on=["entity_type", "entity"], how="semi")
            .group_by("entity_type", "entity", "start")
            .agg(pl.col("path").n_unique().alias("paths"))
            .group_by("entity_type", "entity")
            .agg(pl.col("paths").max().alias("expected"))
        )
        per_endpoint_lazy = (
            per_endpoint.lazy()
            .join(most, on=["entity_type", "entity"], how="left")
            .with_columns(pl.col("expected").fill_null(0).cast(pl.Float64))
            .filter(pl.col("ids") >= p.min_ratio * pl.col("expected"))
            .select(
                "entity_type",
                "entity",
                "account",
                "start",
                (pl.col("start") + pl.lit(window)).alias("end"),
                pl.col("ids").alias("observed"),
                "expected",
            )
        )
        merged = merge_intervals(
            per_endpoint_lazy,
            ["entity_type", "entity"],
            [pl.col("account").mode().min(), pl.col("observed").max(), pl.col("expected").max()],
            gap=timedelta(0),
        )
        score = pl.col("observed") / pl.max_horizontal(pl.col("expected"), pl.lit(1.0))
        return finalize(
            merged.with_columns(
                score=score.round(2),
                severity=pl.when(pl.col("observed") >= 10 * p.min_ids)
                .then(pl.lit("high"))
                .otherwise(pl.lit("medium")),
            ),
            self.kind,
        )
