"""What every detector shares: the finding schema, the detection context, and helpers.

A detector is a documented rule with tunable parameters (a frozen dataclass with defaults, set
from ``[anomalies.<kind>]`` in ``meterlog.toml``). It receives the *prepared* events of the
range being judged and of the baseline before it (see :func:`prepare_events`) as lazy frames
and returns a frame of findings with :data:`FINDING_COLUMNS` (``id`` and ``evidence`` are
filled in by the runner). Everything is Polars expressions; no Python loop over events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

import polars as pl

from meterlog.query.identity import identity_expr

#: Severities, lowest first.
SEVERITIES = ("low", "medium", "high", "critical")

TS = pl.Datetime("us", "UTC")
#: Columns of a finding, in output order.
FINDING_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.String(),
    "kind": pl.String(),
    "severity": pl.String(),
    "entity_type": pl.String(),
    "entity": pl.String(),
    "account": pl.String(),
    "start": TS,
    "end": TS,
    "observed": pl.Float64(),
    "expected": pl.Float64(),
    "score": pl.Float64(),
    "evidence": pl.String(),
    "signals": pl.String(),
}
#: Columns a detector returns (the runner adds ``id``, ``evidence`` and ``signals``).
DETECTOR_COLUMNS = {
    k: v for k, v in FINDING_COLUMNS.items() if k not in ("id", "evidence", "signals")
}

#: Columns of the baseline every detector may read; others come from ``Context.history``.
BASELINE_COLUMNS = ("ts", "account", "key", "user", "ip", "status")
#: Columns of a prepared event frame (see :func:`prepare_events`).
PREPARED_COLUMNS = (
    "ts",
    "account",
    "key",
    "user",
    "ip",
    "path",
    "query",
    "status",
    "user_agent",
    "method",
)


@dataclass(frozen=True)
class Context:
    """The time range judged ``[start, end)`` and the baseline ``[baseline_start, start)``.

    ``history`` is the baseline with every prepared column, read on demand (the ``baseline``
    frame a detector gets may hold only :data:`BASELINE_COLUMNS`); ``None`` when ``baseline``
    has them all.
    """

    start: datetime
    end: datetime
    baseline_start: datetime
    history: pl.LazyFrame | None = field(default=None, compare=False, repr=False)

    def full_baseline(self, baseline: pl.LazyFrame) -> pl.LazyFrame:
        return self.history if self.history is not None else baseline

    @property
    def baseline(self) -> timedelta:
        return self.start - self.baseline_start


@dataclass(frozen=True)
class Params:
    """Parameters every detector has."""

    enabled: bool = True


class Detector(Protocol):
    """A detector: ``kind``, its parameters and the rule."""

    kind: ClassVar[str]
    params_type: ClassVar[type[Params]]
    #: entity types this detector reports on
    entity_types: ClassVar[tuple[str, ...]]
    #: needs history (no baseline: no finding); security detectors do not
    needs_history: ClassVar[bool]
    params: Any

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        """Findings with :data:`DETECTOR_COLUMNS` (any order of rows)."""
        ...

    def evidence_filter(self) -> pl.Expr:
        """Which of an entity's events in a finding's time are its evidence."""
        ...

    def explain(self, finding: Mapping[str, Any]) -> str:
        """The rule and the thresholds a finding crossed, in one line."""
        ...


@dataclass
class DetectorBase:
    """Shared plumbing of the detectors (subclasses set the class variables and ``detect``);
    the default evidence filter is every event of the entity."""

    kind: ClassVar[str]
    params_type: ClassVar[type[Params]]
    entity_types: ClassVar[tuple[str, ...]]
    needs_history: ClassVar[bool]
    params: Any = field(default=None)

    def detect(self, events: pl.LazyFrame, baseline: pl.LazyFrame, ctx: Context) -> pl.DataFrame:
        raise NotImplementedError

    def evidence_filter(self) -> pl.Expr:
        return pl.lit(True)

    def explain(self, finding: Mapping[str, Any]) -> str:
        """The rule and thresholds a finding crossed, in one line (overridden per detector)."""
        return f"{self.kind}: observed {finding['observed']:g}, expected {finding['expected']:g}"


# -- preparing events ----------------------------------------------------------------------------


def network_expr(ip: pl.Expr) -> pl.Expr:
    """The client network of an address: ``a.b.c.0/24`` for IPv4, the ``/48`` for IPv6."""
    v4 = ip.str.replace(r"\.[0-9]+$", ".0/24")
    head = ip.str.to_lowercase().str.split("::").list.first().str.split(":")
    groups = [
        head.list.get(i, null_on_oob=True)
        .fill_null("0")
        .str.strip_chars_start("0")
        .replace("", "0")
        for i in range(3)
    ]
    v6 = pl.concat_str(groups, separator=":") + pl.lit("::/48")
    return (
        pl.when(ip.str.contains(":", literal=True))
        .then(v6)
        .when(ip.str.contains(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$"))
        .then(v4)
        .otherwise(ip)
    )


def with_network(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` with ``network``, the /24 or /48 of ``ip``."""
    return frame.with_columns(network=network_expr(pl.col("ip")))


def prepare_events(
    events: pl.LazyFrame,
    *,
    user_field: str = "remote_user",
    account_field: str | None = None,
    accounts: Mapping[str, str] | None = None,
    provenance: bool = False,
) -> pl.LazyFrame:
    """Stored events as detectors read them: :data:`PREPARED_COLUMNS` (and with
    ``provenance`` the source and line of each request, for ``--explain``).

    ``account`` is the paying customer (``default`` without an account field), ``key`` the raw
    value of the account field (an API key; null without one), ``user`` the end user (null when
    anonymous) and ``ip`` the client address. Detectors that need the client network add it
    with :func:`with_network` on the few rows they look at.
    """
    names = events.collect_schema().names()

    def column(name: str | None) -> pl.Expr:
        if name is None or name not in names:
            return pl.lit(None, pl.String)
        return identity_expr(name)

    key = column(account_field)
    account = pl.lit("default", pl.String) if account_field is None else key
    if account_field is not None and accounts:
        account = account.replace(dict(accounts))
    extra = [c for c in ("source_id", "source_line") if provenance and c in names]
    return events.select(
        pl.col("ts"),
        account.alias("account"),
        key.alias("key"),
        column(user_field).alias("user"),
        pl.col("remote_addr").alias("ip"),
        pl.col("path"),
        (pl.col("query") if "query" in names else pl.lit(None, pl.String)).alias("query"),
        pl.col("status").cast(pl.Int32),
        pl.col("user_agent"),
        (pl.col("method") if "method" in names else pl.lit(None, pl.String)).alias("method"),
        *[pl.col(c) for c in extra],
    )


# -- helpers for detectors -----------------------------------------------------------------------


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=DETECTOR_COLUMNS)


def finalize(frame: pl.DataFrame | pl.LazyFrame, kind: str) -> pl.DataFrame:
    """``frame`` with the detector columns in order and types (``kind`` filled in)."""
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    frame = frame.with_columns(kind=pl.lit(kind, pl.String))
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in DETECTOR_COLUMNS.items()
    )


def severity_from_score(score: pl.Expr, medium: float, high: float, critical: float) -> pl.Expr:
    """``low`` below ``medium``, then ``medium``, ``high`` and ``critical`` from those scores."""
    return (
        pl.when(score >= critical)
        .then(pl.lit("critical"))
        .when(score >= high)
        .then(pl.lit("high"))
        .when(score >= medium)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def merge_intervals(
    frame: pl.LazyFrame,
    keys: Sequence[str],
    aggregations: Sequence[pl.Expr],
    *,
    gap: timedelta = timedelta(0),
) -> pl.LazyFrame:
    """Merge rows with ``start``/``end`` per ``keys`` whose intervals overlap or lie less than
    ``gap`` apart; ``start``/``end`` of a merged row span its rows, ``aggregations`` the rest."""
    keys = list(keys)
    ordered = frame.sort([*keys, "start", "end"])
    reach = pl.col("end").cum_max().shift(1).over(keys)
    new = (reach.is_null() | (pl.col("start") > reach + pl.lit(gap))).cast(pl.Int64)
    return (
        ordered.with_columns(_run=new.cum_sum().over(keys))
        .group_by([*keys, "_run"], maintain_order=True)
        .agg(pl.col("start").min(), pl.col("end").max(), *aggregations)
        .drop("_run")
    )
