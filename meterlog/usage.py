"""``meterlog usage``: request counts, errors, bytes, distinct users and latency per group.

The report is one lazy Polars plan over the store's events table:

1. time range: filters on ``ts`` and on the ``day`` partition column, so Delta Lake only hands
   over the files of the days the range touches (a one-day question reads one day);
2. identity: ``user`` and ``account`` columns (:mod:`meterlog.identity`);
3. request filters (:mod:`meterlog.filters`);
4. ``endpoint`` column when grouping by endpoint (:mod:`meterlog.endpoints`);
5. group by the ``--by`` dimensions and compute every metric (:mod:`meterlog.aggregations`);
6. order: by the group keys (empty values last), or by ``--sort`` metric (descending, ties by
   group keys) with ``--top N`` keeping the first ``N`` rows.

Only the columns the plan needs are read (projection pushdown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.aggregations import DIMENSIONS, METRICS, Metric
from meterlog.endpoints import with_endpoint
from meterlog.errors import MeterlogError, UsageError
from meterlog.filters import (
    RequestFilter,
    TimeRange,
    exclude_bots_filter,
    exclude_path_filter,
    method_filter,
    parse_time_range,
    path_filter,
    status_filter,
    value_filter,
)
from meterlog.identity import identity_expr, with_identity
from meterlog.reports import ReportSettings
from meterlog.store import Store

#: How many unmapped account keys a warning lists before saying "and N more".
MAX_KEYS_LISTED = 20


@dataclass(frozen=True)
class UsageQuery:
    """What to report: dimensions, filters and ordering. Values as given on the command line."""

    by: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    accounts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    exclude_bots: bool = False
    top: int | None = None
    sort: str | None = None

    def check(self, tz: ZoneInfo) -> None:
        """Raise UsageError for an unknown dimension or metric, a bad ``top`` or time range."""
        for name in self.by:
            if name not in DIMENSIONS:
                raise UsageError(f"unknown --by {name!r}: use one of {', '.join(DIMENSIONS)}")
        if self.sort is not None and self.sort not in METRICS:
            raise UsageError(f"unknown --sort {self.sort!r}: use one of {', '.join(METRICS)}")
        if self.top is not None and self.top < 1:
            raise UsageError(f"--top {self.top}: give a number of rows of 1 or more")
        parse_time_range(self.since, self.until, tz)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """``by`` without repeats, in the order given."""
        return tuple(dict.fromkeys(self.by))

    @property
    def sort_metric(self) -> str | None:
        """The metric rows are ranked by: ``sort``, or ``requests`` when only ``top`` is given."""
        if self.sort is not None:
            return self.sort
        return "requests" if self.top is not None else None


@dataclass
class UsageReport:
    """A computed report: the rows, exact totals (when asked for) and messages for stderr."""

    frame: pl.DataFrame
    group_columns: tuple[str, ...]
    metric_columns: tuple[str, ...]
    time_range: TimeRange
    sort_metric: str | None = None
    totals: dict[str, object] | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_time_series(self) -> bool:
        return any(DIMENSIONS[name].is_time for name in self.group_columns)

    @property
    def bar_column(self) -> str | None:
        """The metric drawn as a bar in tables: for time series only (``--sort`` or requests)."""
        if not self.is_time_series or not self.metric_columns:
            return None
        return self.sort_metric if self.sort_metric in self.metric_columns else "requests"

    def title(self, tz_name: str) -> str:
        """A table title: ``Usage by day, account (Europe/Berlin, from ... to ...)``."""
        grouping = f" by {', '.join(self.group_columns)}" if self.group_columns else ""
        when = self.time_range.describe(ZoneInfo(tz_name))
        return f"Usage{grouping} ({tz_name}{', ' + when if when else ''})"

    @property
    def summed_columns(self) -> tuple[str, ...]:
        """Metric columns a table's totals row may sum (none when there is a single row)."""
        if not self.group_columns:
            return ()
        return tuple(name for name in self.metric_columns if METRICS[name].additive)


def request_filters(query: UsageQuery, settings: ReportSettings) -> list[RequestFilter]:
    """The request filters of ``query`` (the time range is handled separately)."""
    filters = []
    if query.accounts:
        filters.append(value_filter("--account", "account", query.accounts))
    if query.users:
        filters.append(value_filter("--user", "user", query.users))
    if query.statuses:
        filters.append(status_filter(query.statuses))
    if query.methods:
        filters.append(method_filter(query.methods))
    if query.paths:
        filters.append(path_filter(query.paths))
    if query.exclude_paths:
        filters.append(exclude_path_filter(query.exclude_paths))
    if query.exclude_bots:
        filters.append(exclude_bots_filter(settings.bot_patterns))
    return filters


def _apply(frame: pl.LazyFrame, predicates: Sequence[pl.Expr]) -> pl.LazyFrame:
    return frame.filter(*predicates) if predicates else frame


def available_metrics(columns: Sequence[str]) -> list[Metric]:
    """The metrics the stored columns allow (latency needs ``request_time``)."""
    return [m for m in METRICS.values() if m.needs is None or m.needs in columns]


@dataclass(frozen=True)
class UsagePlan:
    """The lazy plans of one report, sharing one scan of the store."""

    scoped: pl.LazyFrame  # requests in the time range, with ``user`` and ``account``
    requests: pl.LazyFrame  # ``scoped`` after the request filters (and with ``endpoint``)
    report: pl.LazyFrame  # grouped and ordered, ``--top`` applied
    totals: pl.LazyFrame  # every metric over all of ``requests``
    time_range: TimeRange
    filters: tuple[RequestFilter, ...]
    metrics: tuple[Metric, ...]


def usage_plan(events: pl.LazyFrame, settings: ReportSettings, query: UsageQuery) -> UsagePlan:
    """The lazy plans for ``query`` over ``events`` (ordered as described in the module doc)."""
    query.check(settings.tz)
    time_range = parse_time_range(query.since, query.until, settings.tz)
    scoped = with_identity(
        _apply(events, time_range.predicates()),
        settings.user_field,
        settings.account_field,
        settings.accounts,
    )
    filters = tuple(request_filters(query, settings))
    requests = _apply(scoped, [f.predicate for f in filters])
    dimensions = [DIMENSIONS[name] for name in query.dimensions]
    if any(d.needs_endpoint for d in dimensions):
        requests = with_endpoint(requests, settings.endpoint_templates())
    metrics = tuple(available_metrics(events.collect_schema().names()))
    aggregations = [m.aggregation().alias(m.name) for m in metrics]
    totals = requests.select(aggregations)
    plan = UsagePlan(scoped, requests, totals, totals, time_range, filters, metrics)
    if not dimensions:
        return plan
    keys = [d.key(settings.tz_name).alias(d.name) for d in dimensions]
    grouped = requests.group_by(keys).agg(aggregations)
    key_names = [d.name for d in dimensions]
    sort_metric = query.sort_metric
    if sort_metric is None:
        return replace(plan, report=grouped.sort(key_names, nulls_last=True))
    if sort_metric not in {m.name for m in metrics}:
        raise MeterlogError(
            f"--sort {sort_metric}: the store has no {METRICS[sort_metric].needs} column; "
            f"sort by one of {', '.join(m.name for m in metrics)}"
        )
    ranked = grouped.sort(
        [sort_metric, *key_names],
        descending=[True] + [False] * len(key_names),
        nulls_last=True,
    )
    return replace(plan, report=ranked.head(query.top) if query.top is not None else ranked)


def run_usage(
    settings: ReportSettings,
    query: UsageQuery,
    *,
    with_totals: bool = False,
    store: Store | None = None,
) -> UsageReport:
    """Compute the usage report. ``with_totals`` also computes exact totals over all requests
    the filters keep (distinct users and latency quantiles are not sums of the rows)."""
    query.check(settings.tz)
    store = store or Store(settings.store)
    events = store.scan_events()
    columns = events.collect_schema().names()
    plan = usage_plan(events, settings, query)
    plans = {"report": plan.report}
    if with_totals and query.dimensions:
        plans["totals"] = plan.totals
    unmapped_plan = _unmapped_keys_plan(plan.requests, settings, columns)
    if unmapped_plan is not None:
        plans["unmapped"] = unmapped_plan
    results = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    frame = results["report"]
    if not query.dimensions and frame.item(0, "requests") == 0:
        frame = frame.clear()
    dropped = _empty_optional_metrics(frame, plan.metrics)
    frame = frame.drop(dropped)
    report = UsageReport(
        frame=frame,
        group_columns=query.dimensions,
        metric_columns=tuple(m.name for m in plan.metrics if m.name not in dropped),
        time_range=plan.time_range,
        sort_metric=query.sort_metric,
    )
    if "totals" in results and frame.height:
        totals = results["totals"].drop(dropped).row(0, named=True)
        if query.top is not None:
            totals[query.dimensions[0]] = "all requests"
        report.totals = totals
    report.warnings = _identity_warnings(settings, columns)
    if "unmapped" in results and results["unmapped"].height:
        keys = results["unmapped"].get_column("key").to_list()
        report.warnings.append(_unmapped_warning(keys, settings))
    if frame.height == 0:
        report.notes.append(explain_empty(plan, settings.tz))
    return report


def _empty_optional_metrics(frame: pl.DataFrame, metrics: Sequence[Metric]) -> list[str]:
    """Optional metrics (latency) without a single value: left out of the report."""
    optional = [m.name for m in metrics if m.needs is not None]
    if not optional:
        return []
    if frame.height == 0:
        return optional
    counts = frame.select(pl.col(optional).count()).row(0, named=True)
    return [name for name in optional if counts[name] == 0]


def _identity_warnings(settings: ReportSettings, columns: Sequence[str]) -> list[str]:
    warnings = []
    stored = ", ".join(c for c in columns if c != "day")
    if settings.user_field not in columns:
        warnings.append(
            f"user field {settings.user_field!r} is not a stored column, so every request "
            f"counts as anonymous; stored columns: {stored}"
        )
    if settings.account_field is not None and settings.account_field not in columns:
        warnings.append(
            f"account field {settings.account_field!r} is not a stored column, so every "
            f"request has an empty account; stored columns: {stored}"
        )
    return warnings


def _unmapped_keys_plan(
    filtered: pl.LazyFrame, settings: ReportSettings, columns: Sequence[str]
) -> pl.LazyFrame | None:
    """Raw account keys of the selected requests that the accounts file does not map."""
    field_name = settings.account_field
    if settings.accounts is None or field_name is None or field_name not in columns:
        return None
    return (
        filtered.select(identity_expr(field_name).alias("key"))
        .drop_nulls()
        .unique()
        .filter(~pl.col("key").is_in(list(settings.accounts)))
        .sort("key")
    )


def _unmapped_warning(keys: list[str], settings: ReportSettings) -> str:
    listed = ", ".join(keys[:MAX_KEYS_LISTED])
    more = f" and {len(keys) - MAX_KEYS_LISTED} more" if len(keys) > MAX_KEYS_LISTED else ""
    noun = "key is" if len(keys) == 1 else "keys are"
    return (
        f"{len(keys)} account {noun} not in {settings.accounts_path} and reported under the raw "
        f"value: {listed}{more}; add them to the file to roll them up to an account"
    )


def explain_empty(plan: UsagePlan, tz: ZoneInfo) -> str:
    """One sentence naming what matched nothing: the time range, single filters, or their mix."""
    counts = plan.scoped.select(
        pl.len().alias("in_range"),
        *[f.predicate.sum().alias(f"filter_{i}") for i, f in enumerate(plan.filters)],
    ).collect()
    when = plan.time_range.describe(tz)
    span = f" {when}" if when else ""
    if counts.item(0, "in_range") == 0:
        if when:
            return f"no requests stored {when}; check --since/--until and --tz"
        return "the store holds no requests"
    unmatched = [f.label for i, f in enumerate(plan.filters) if counts.item(0, f"filter_{i}") == 0]
    if unmatched:
        return f"no requests{span} match {', nor '.join(unmatched)}"
    labels = " and ".join(f.label for f in plan.filters)
    return f"no requests{span} match {labels} together"
