"""``meterlog usage``: request counts, errors, bytes, distinct users and latency per group.

The report is one lazy Polars plan over the store's events table:

1. time range: filters on ``ts`` and on the ``day`` partition column, so Delta Lake only hands
   over the files of the days the range touches (a one-day question reads one day);
2. identity: ``user`` and ``account`` columns (:mod:`meterlog.query.identity`);
3. request filters (:mod:`meterlog.query.filters`);
4. ``endpoint`` column when grouping by endpoint (:mod:`meterlog.query.endpoints`);
5. group by the ``--by`` dimensions and compute every metric (:mod:`meterlog.query.aggregations`);
6. order: by the group keys (empty values last), or by ``--sort`` metric (descending, ties by
   group keys) with ``--top N`` keeping the first ``N`` rows.

Only the columns the plan needs are read (projection pushdown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.errors import MeterlogError, UsageError
from meterlog.query.aggregations import DIMENSIONS, METRICS, Metric
from meterlog.query.endpoints import with_endpoint
from meterlog.query.filters import (
    OptionFilter,
    TimeRange,
    exclude_bots_filter,
    exclude_path_filter,
    method_filter,
    parse_time_range,
    path_filter,
    status_filter,
    value_filter,
)
from meterlog.query.identity import NO_KEY, anonymous_note, identity_expr
from meterlog.query.metrics import with_quantiles
from meterlog.query.settings import ReportSettings
from meterlog.store import Store

#: How tables show blank group values (CSV and JSON keep them empty).
BLANK_LABELS = {"account": NO_KEY, "user": "(anonymous)"}

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
    def essential_columns(self) -> tuple[str, ...]:
        """Columns a narrow table keeps: the group keys, requests and the ``--sort`` metric."""
        metrics = ("requests", self.sort_metric) if self.sort_metric else ("requests",)
        return (*self.group_columns, *(m for m in metrics if m in self.metric_columns))

    @property
    def summed_columns(self) -> tuple[str, ...]:
        """Metric columns a table's totals row may sum (none when there is a single row)."""
        if not self.group_columns:
            return ()
        return tuple(name for name in self.metric_columns if METRICS[name].additive)


def request_filters(query: UsageQuery, settings: ReportSettings) -> list[OptionFilter]:
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
    grouped: pl.LazyFrame | None  # grouped, not ordered (None without dimensions)
    totals: pl.LazyFrame  # every metric over all of ``requests``
    time_range: TimeRange
    filters: tuple[OptionFilter, ...]
    metrics: tuple[Metric, ...]


def usage_plan(events: pl.LazyFrame, settings: ReportSettings, query: UsageQuery) -> UsagePlan:
    """The lazy plans for ``query`` over ``events`` (ordered as described in the module doc)."""
    query.check(settings.tz)
    time_range = parse_time_range(query.since, query.until, settings.tz)
    scoped = settings.identity().apply(_apply(events, time_range.predicates()))
    filters = tuple(request_filters(query, settings))
    requests = _apply(scoped, [f.predicate for f in filters])
    dimensions = [DIMENSIONS[name] for name in query.dimensions]
    if any(d.needs_endpoint for d in dimensions):
        requests = with_endpoint(requests, settings.endpoint_templates())
    metrics = tuple(available_metrics(events.collect_schema().names()))
    # quantiles come from counts of distinct values (see quantiles_from_counts): memory bounded
    aggregations = [m.aggregation().alias(m.name) for m in metrics if m.quantile is None]
    totals = with_quantiles(requests.select(aggregations), requests, [], metrics)
    plan = UsagePlan(scoped, requests, totals, None, totals, time_range, filters, metrics)
    if not dimensions:
        return plan
    keys = [d.key(settings.tz_name).alias(d.name) for d in dimensions]
    grouped = with_quantiles(requests.group_by(keys).agg(aggregations), requests, keys, metrics)
    sort_metric = query.sort_metric
    if sort_metric is not None and sort_metric not in {m.name for m in metrics}:
        raise MeterlogError(
            f"--sort {sort_metric}: the store has no {METRICS[sort_metric].needs} column; "
            f"sort by one of {', '.join(m.name for m in metrics)}"
        )
    return replace(plan, report=order_rows(grouped, query), grouped=grouped)


def order_rows(grouped: pl.LazyFrame, query: UsageQuery) -> pl.LazyFrame:
    """Rows by the group keys (empty values last), or ranked by ``--sort`` with ``--top``."""
    key_names = list(query.dimensions)
    sort_metric = query.sort_metric
    if sort_metric is None:
        return grouped.sort(key_names, nulls_last=True)
    ranked = grouped.sort(
        [sort_metric, *key_names],
        descending=[True] + [False] * len(key_names),
        nulls_last=True,
    )
    return ranked.head(query.top) if query.top is not None else ranked


#: Polars' ``truncate`` / ``datetime_range`` interval of each time dimension.
_BUCKET_EVERY = {"hour": "1h", "day": "1d", "week": "1w", "month": "1mo"}
#: About how long each bucket is, to size a zero-filled report before building it.
_BUCKET_SECONDS = {"hour": 3600, "day": 86_400, "week": 7 * 86_400, "month": 28 * 86_400}
#: A time series is zero-filled only when it then has at most this many rows (an hourly
#: report over years for every user would not fit in memory); a note says when it is not.
MAX_FILLED_ROWS = 2_000_000


def zero_filled(
    grouped: pl.DataFrame,
    time_dimension: str,
    span: tuple[datetime, datetime],
    tz_name: str,
    metrics: Sequence[Metric],
) -> pl.DataFrame:
    """``grouped`` with a row for every bucket of ``time_dimension`` from the bucket holding
    ``span[0]`` to the one holding ``span[1]`` (both UTC instants, inclusive), for every
    combination of the other group keys seen: an empty bucket is a row of zeros (latency
    null).

    Buckets are made in ``tz_name`` the way the report's keys are (local hours, days, ISO
    weeks, months), so a spring day has 23 hour rows and the repeated autumn hour two.
    """
    every = _BUCKET_EVERY[time_dimension]
    dtype = grouped.schema[time_dimension]

    def bucket(moment: datetime) -> pl.Expr:
        return pl.lit(moment).dt.convert_time_zone(tz_name).dt.truncate(every)

    buckets = pl.select(
        pl.datetime_range(bucket(span[0]), bucket(span[1]), every, closed="both")
        .cast(dtype)
        .alias(time_dimension)
    )
    others = [name for name in grouped.columns if name in DIMENSIONS and name != time_dimension]
    if others:
        buckets = buckets.join(grouped.select(others).unique(), how="cross")
    keys = [time_dimension, *others]
    filled = buckets.join(grouped, on=keys, how="left", nulls_equal=True)
    counts = [m.name for m in metrics if m.needs is None and m.name in filled.columns]
    return filled.with_columns(pl.col(counts).fill_null(0)).select(grouped.columns)


#: Each plan reads the store on its own: a scan shared between plans is held in memory whole,
#: which for millions of requests is most of a report's memory.
_NO_SHARED_SCANS = pl.QueryOptFlags(comm_subplan_elim=False)


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
    time_dimensions = [name for name in query.dimensions if DIMENSIONS[name].is_time]
    fill = len(time_dimensions) == 1 and plan.grouped is not None
    plans = {"report": plan.grouped if fill and plan.grouped is not None else plan.report}
    if fill:
        plans["span"] = plan.scoped.select(
            pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
        )
    if with_totals and query.dimensions:
        plans["totals"] = plan.totals
    unmapped_plan = _unmapped_keys_plan(plan.requests, settings, columns)
    if unmapped_plan is not None:
        plans["unmapped"] = unmapped_plan
    results = dict(
        zip(
            plans,
            pl.collect_all(
                list(plans.values()), engine="streaming", optimizations=_NO_SHARED_SCANS
            ),
            strict=True,
        )
    )
    frame = results["report"]
    fill_note = None
    if fill:
        frame, fill_note = _fill_time_series(frame, results["span"], plan, query, settings.tz_name)
    if not query.dimensions and frame.item(0, "requests") == 0:
        frame = frame.clear()
    dropped = _empty_optional_metrics(frame, plan.metrics)
    if "user" in query.dimensions:
        dropped.append("users")  # one user per row: always 1 (0 for the anonymous row)
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
    if fill_note is not None:
        report.notes.append(fill_note)
    if frame.height == 0:
        report.notes.append(explain_empty(plan, settings.tz))
    elif (
        "users" in frame.columns
        and settings.user_field in columns  # else a warning says the column is missing
        and frame.get_column("users").sum() == 0
    ):
        # a row's users is 0 only when none of its requests has a user
        report.notes.append(anonymous_note(settings.user_field, columns, settings.account_field))
    return report


def _fill_time_series(
    grouped: pl.DataFrame,
    span: pl.DataFrame,
    plan: UsagePlan,
    query: UsageQuery,
    tz_name: str,
) -> tuple[pl.DataFrame, str | None]:
    """Zero-filled over ``--since``/``--until`` (or, where not given, the stored requests'
    time span), then ordered as asked; nothing to fill when no request was selected."""
    first, last = span.row(0)
    if grouped.height and first is not None and last is not None:
        start = plan.time_range.start or first
        end = (
            plan.time_range.end - timedelta(microseconds=1)
            if plan.time_range.end is not None
            else last
        )
        time_dimension = next(name for name in query.dimensions if DIMENSIONS[name].is_time)
        others = [name for name in query.dimensions if name != time_dimension]
        combinations = grouped.select(others).n_unique() if others else 1
        buckets = (end - start).total_seconds() / _BUCKET_SECONDS[time_dimension] + 1
        if buckets * combinations > MAX_FILLED_ROWS:
            note = (
                f"time buckets without requests are left out: zero-filled, the report would "
                f"have about {int(buckets * combinations):,} rows; narrow --since/--until"
            )
            return order_rows(grouped.lazy(), query).collect(), note
        grouped = zero_filled(grouped, time_dimension, (start, end), tz_name, plan.metrics)
    return order_rows(grouped.lazy(), query).collect(), None


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
