"""``probing``: one client asking, within minutes, for many distinct paths that do not exist
(404) or for well-known sensitive paths (``/.env``, ``/.git/``, ``wp-login.php``, path
traversal, ...), as scanners do.

Rule, per client address and window of ``window`` (default 5 minutes, sliding by the minute):
the window is probing when the client asked for

* at least ``min_not_found`` (default 20) distinct paths answered 404, counting paths as
  endpoints (``/v1/items/1`` and ``/v1/items/2`` are one, ``/v1/items/{id}``, so a client
  looking up missing records is not a scanner), or
* at least ``min_sensitive`` (default 3) distinct paths matching ``sensitive_patterns``
  (regular expressions, case-insensitive), whatever the answer.

Overlapping probing windows of one client are one finding; ``observed`` is the most distinct
paths in one window. No baseline: a client's past does not excuse scanning. Severity: medium;
high when a sensitive path was answered with a 2xx (something may have leaked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from meterlog.anomalies.base import Context, DetectorBase, Params, finalize, merge_intervals
from meterlog.anomalies.windows import parse_window
from meterlog.endpoints import automatic_endpoint, strip_query

SENSITIVE_PATTERNS: tuple[str, ...] = (
    r"/\.env",
    r"/\.git(/|$)",
    r"/\.svn(/|$)",
    r"/\.hg(/|$)",
    r"/\.aws(/|$)",
    r"/\.ssh(/|$)",
    r"/\.htaccess",
    r"/\.htpasswd",
    r"/\.ds_store",
    r"wp-login\.php",
    r"/wp-admin",
    r"/wp-content",
    r"/wp-includes",
    r"xmlrpc\.php",
    r"phpmyadmin",
    r"/phpinfo",
    r"\.\./",
    r"\.\.%2f",
    r"%2e%2e",
    r"/etc/passwd",
    r"/cgi-bin/",
    r"/server-status",
    r"/actuator",
    r"/config\.(json|ya?ml|php)",
    r"\.(sql|bak|old|swp)$",
    r"/backup",
    r"/vendor/phpunit",
    r"/boaform",
)


@dataclass(frozen=True)
class ProbingParams(Params):
    window: str = "5m"
    min_not_found: int = 20
    min_sensitive: int = 3
    sensitive_patterns: tuple[str, ...] = SENSITIVE_PATTERNS


def sensitive_expr(patterns: tuple[str, ...]) -> pl.Expr:
    if not patterns:
        return pl.lit(False)
    joined = "(?i)(" + "|".join(f"(?:{p})" for p in patterns) + ")"
    return pl.col("path").str.contains(joined).fill_null(False)


@dataclass
class Probing(DetectorBase):
    kind: ClassVar[str] = "probing"
    params_type: ClassVar[type[Params]] = ProbingParams
    entity_types: ClassVar[tuple[str, ...]] = ("ip",)
    needs_history: ClassVar[bool] = False
    params: ProbingParams = ProbingParams()

    def evidence_filter(self) -> pl.Expr:
        return (pl.col("status") == 404).fill_null(False) | sensitive_expr(
            self.params.sensitive_patterns
        )

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        p = self.params
        window = parse_window(p.window, f"anomalies.{self.kind}.window")
        sensitive = sensitive_expr(p.sensitive_patterns)
        not_found = (pl.col("status") == 404).fill_null(False)
        path = strip_query(pl.col("path"))
        probes = (
            events.filter(pl.col("ip").is_not_null() & (not_found | sensitive))
            .select(
                "ip",
                "account",
                "ts",
                pl.when(not_found).then(automatic_endpoint(path)).alias("missing"),
                pl.when(sensitive).then(path).alias("sensitive"),
                (sensitive & (pl.col("status") // 100 == 2)).fill_null(False).alias("leak"),
            )
            .sort("ip", "ts")
        )
        windows = (
            probes.group_by_dynamic(
                "ts", every="1m", period=window, group_by="ip", start_by="window"
            )
            .agg(
                pl.col("missing").drop_nulls().n_unique().alias("missing"),
                pl.col("sensitive").drop_nulls().n_unique().alias("sensitive"),
                pl.col("leak").any().alias("leak"),
                pl.col("account").mode().min().alias("account"),
            )
            .filter(
                (pl.col("missing") >= p.min_not_found) | (pl.col("sensitive") >= p.min_sensitive)
            )
            .select(
                "ip",
                "account",
                pl.col("ts").alias("start"),
                (pl.col("ts") + pl.lit(window)).alias("end"),
                pl.max_horizontal("missing", "sensitive").alias("observed"),
                "leak",
            )
        )
        merged = merge_intervals(
            windows,
            ["ip"],
            [pl.col("account").mode().min(), pl.col("observed").max(), pl.col("leak").any()],
        )
        return finalize(
            merged.select(
                pl.lit("ip").alias("entity_type"),
                pl.col("ip").alias("entity"),
                "account",
                pl.max_horizontal(pl.col("start"), pl.lit(ctx.start)).alias("start"),
                pl.min_horizontal(pl.col("end"), pl.lit(ctx.end)).alias("end"),
                "observed",
                pl.lit(0.0).alias("expected"),
                pl.col("observed").cast(pl.Float64).alias("score"),
                pl.when(pl.col("leak"))
                .then(pl.lit("high"))
                .otherwise(pl.lit("medium"))
                .alias("severity"),
            ),
            self.kind,
        )
