"""Reading the store for a range and its baseline, running the detectors, and the findings.

Findings are deterministic for the same store version and options: each has a stable ``id``
(the first 12 hex digits of the SHA-256 of kind, entity type, entity and start), rows are
sorted by start, kind, entity type and entity, and evidence lists are ordered by count, then
value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.anomalies.base import (
    BASELINE_COLUMNS,
    DETECTOR_COLUMNS,
    FINDING_COLUMNS,
    SEVERITIES,
    Context,
    Detector,
    prepare_events,
    with_network,
)
from meterlog.anomalies.incidents import correlate
from meterlog.anomalies.registry import RULE_KINDS, build_detectors
from meterlog.anomalies.rules import RuleDetector, rule_detectors
from meterlog.anomalies.windows import parse_window
from meterlog.errors import MeterlogError, UsageError
from meterlog.query.endpoints import strip_query
from meterlog.query.filters import TimeRange, parse_time_range
from meterlog.query.settings import ReportSettings
from meterlog.store import Store

DEFAULT_BASELINE = "28d"
DEFAULT_RANGE = timedelta(hours=24)
#: How many values each evidence list names.
EVIDENCE_TOP = 3
#: Which prepared column holds each entity type.
ENTITY_COLUMNS = {
    "account": "account",
    "key": "key",
    "user": "user",
    "ip": "ip",
    "network": "network",
}
EVIDENCE_COLUMNS = (
    "ts",
    "account",
    "key",
    "user",
    "ip",
    "method",
    "path",
    "status",
    "user_agent",
    "source_id",
    "source_line",
)
#: Detectors that judge recent data on their own (``meterlog watch``): the rules and
#: ``key_sharing``; the other models compare whole hours with earlier weeks and run from
#: ``meterlog anomalies``.
LIVE_KINDS = (*RULE_KINDS, "key_sharing")


@dataclass(frozen=True)
class AnomalyQuery:
    """What to judge; values as given on the command line."""

    since: str | None = None
    until: str | None = None
    baseline: str = DEFAULT_BASELINE
    kinds: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    min_severity: str = "low"


@dataclass
class AnomalyReport:
    findings: pl.DataFrame
    context: Context
    store_version: int | None
    warnings: list[str] = field(default_factory=list)
    #: what could not be judged and why (no requests in the range, no history)
    notes: list[str] = field(default_factory=list)


def severity_rank(severity: str) -> int:
    if severity not in SEVERITIES:
        raise UsageError(f"unknown severity {severity!r}: use one of {', '.join(SEVERITIES)}")
    return SEVERITIES.index(severity)


def time_context(query: AnomalyQuery, tz: ZoneInfo, now: datetime | None = None) -> Context:
    """The range judged and its baseline. Without ``--until`` the range ends at the start of
    the current hour (an hour still being written would look like a drop); without
    ``--since`` it starts 24 hours before its end."""
    span = parse_time_range(query.since, query.until, tz)
    end = span.end
    if end is None:
        end = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = span.start if span.start is not None else end - DEFAULT_RANGE
    if start >= end:
        raise UsageError(f"--since {query.since} is not before the end of the range {end}")
    baseline = parse_window(query.baseline, "--baseline")
    return Context(start=start, end=end, baseline_start=start - baseline)


def scan_prepared(
    store: Store,
    settings: ReportSettings,
    start: datetime,
    end: datetime,
    *,
    provenance: bool = False,
) -> pl.LazyFrame:
    """The store's events in ``[start, end)`` as detectors read them (a lazy scan)."""
    return prepare_events(
        store.scan_events().filter(*TimeRange(start, end).predicates()),
        user_field=settings.user_field,
        account_field=settings.account_field,
        accounts=settings.accounts,
        provenance=provenance,
    )


def read_prepared(
    store: Store, settings: ReportSettings, ctx: Context, *, provenance: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, Context]:
    """The range's events (every column) and the baseline's (:data:`BASELINE_COLUMNS`) in
    memory, and ``ctx`` with the baseline's other columns to read on demand."""
    events, baseline = pl.collect_all(
        [
            scan_prepared(store, settings, ctx.start, ctx.end, provenance=provenance),
            scan_prepared(store, settings, ctx.baseline_start, ctx.start).select(BASELINE_COLUMNS),
        ]
    )
    history = scan_prepared(store, settings, ctx.baseline_start, ctx.start)
    return events, baseline, replace(ctx, history=history)


def detect(
    events: pl.DataFrame, baseline: pl.DataFrame, ctx: Context, detectors: Sequence[Detector]
) -> pl.DataFrame:
    """Run ``detectors`` on the range's ``events`` against the ``baseline`` events and return
    the incidents (findings about one event folded together, see
    :mod:`~meterlog.anomalies.incidents`) with ids, signals and evidence, sorted (see the
    module doc)."""
    parts = [d.detect(events.lazy(), baseline.lazy(), ctx) for d in detectors]
    findings = pl.concat(parts) if parts else pl.DataFrame(schema=DETECTOR_COLUMNS)
    findings = findings.filter(pl.col("entity").is_not_null())
    ids = [
        _finding_id(*row)
        for row in findings.select("kind", "entity_type", "entity", "start").iter_rows()
    ]
    findings = findings.with_columns(id=pl.Series(ids, dtype=pl.String))
    by_kind = {d.kind: d for d in detectors}
    if findings.height > 1:
        counts = (
            evidence_events(events.lazy(), findings, by_kind)
            .group_by("id")
            .agg(pl.len().alias("requests"))
            .collect()
        )
        rule_kinds = [d.kind for d in detectors if isinstance(d, RuleDetector)]
        models = [k for k in ("key_sharing", "error_surge", "spike", "drop") if k in by_kind]
        findings = correlate(findings, counts, [*rule_kinds, *models], rule_kinds)
    else:
        findings = findings.with_columns(signals=pl.lit("", pl.String))
    evidence = evidence_summaries(events.lazy(), findings, by_kind)
    networks = new_network_summaries(events.lazy(), baseline.lazy(), findings, by_kind)
    evidence = evidence.join(networks, on="id", how="left").select(
        "id",
        pl.concat_str("evidence", "new_networks", separator="; ", ignore_nulls=True).alias(
            "evidence"
        ),
    )
    findings = findings.join(evidence, on="id", how="left").with_columns(
        pl.col("evidence").fill_null("")
    )
    order = pl.col("kind").replace_strict(
        {kind: i for i, kind in enumerate(by_kind)}, return_dtype=pl.Int32
    )
    return (
        findings.with_columns(_order=order)
        .sort("start", "_order", "entity_type", "entity", "end")
        .select(list(FINDING_COLUMNS))
    )


def _finding_id(kind: str, entity_type: str, entity: str, start: datetime) -> str:
    text = f"{kind}\x1f{entity_type}\x1f{entity}\x1f{start.astimezone(UTC).isoformat()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def evidence_events(
    prepared: pl.LazyFrame, findings: pl.DataFrame, detectors: Mapping[str, Detector]
) -> pl.LazyFrame:
    """The events behind each finding, with its ``id``: the entity's events in the finding's
    time that the detector counts (e.g. only 401/403 answers for ``auth_failures``)."""
    parts = []
    for (kind, entity_type), group in findings.group_by("kind", "entity_type", maintain_order=True):
        column = ENTITY_COLUMNS[str(entity_type)]
        keys = group.select("id", pl.col("entity").alias(column), "start", "end").lazy()
        source = prepared.filter(detectors[str(kind)].evidence_filter())
        if column == "network":
            source = with_network(source)
        parts.append(
            source.join(keys, on=column, how="inner")
            .filter((pl.col("ts") >= pl.col("start")) & (pl.col("ts") < pl.col("end")))
            .drop("start", "end")
        )
    if not parts:
        return prepared.head(0).with_columns(id=pl.lit(None, pl.String))
    return pl.concat(parts, how="diagonal_relaxed")


def _top(frame: pl.LazyFrame, column: str, label: str) -> pl.LazyFrame:
    return (
        frame.filter(pl.col(column).is_not_null())
        .group_by("id", pl.col(column).cast(pl.String).alias("value"))
        .agg(pl.len().alias("count"))
        .sort(["id", "count", "value"], descending=[False, True, False])
        .group_by("id", maintain_order=True)
        .head(EVIDENCE_TOP)
        .group_by("id", maintain_order=True)
        .agg(
            (
                pl.lit(f"{label} ")
                + (pl.col("value") + " x" + pl.col("count").cast(pl.String)).str.join(", ")
            ).alias(label)
        )
    )


class _EveryRequest:
    """Evidence filter of an attacker's whole traffic (for what succeeded)."""

    def evidence_filter(self) -> pl.Expr:
        return pl.lit(True)


#: Entity types whose findings say how many of the entity's requests succeeded: the
#: attacker's, not a victim account's.
ATTACKER_TYPES = ("ip", "network", "user", "key")


def success_summaries(prepared: pl.LazyFrame, findings: pl.DataFrame) -> pl.LazyFrame:
    """``id``, ``succeeded``: how many of the entity's requests in the finding's time were
    answered 2xx, and on which paths (for findings about an attacker, see
    :data:`ATTACKER_TYPES`)."""
    narrow = findings.filter(pl.col("entity_type").is_in(ATTACKER_TYPES))
    every = {str(kind): _EveryRequest() for kind in narrow["kind"].unique()}
    rows = evidence_events(prepared, narrow, every)  # type: ignore[arg-type]
    ok = rows.filter((pl.col("status") // 100 == 2).fill_null(False)).with_columns(
        path=strip_query(pl.col("path"))
    )
    counts = (
        narrow.lazy()
        .select("id")
        .join(ok.group_by("id").agg(pl.len().alias("n")), on="id", how="left")
    )
    paths = _top(ok, "path", "on")
    return counts.join(paths, on="id", how="left").select(
        "id",
        (
            pl.col("n").fill_null(0).cast(pl.String)
            + pl.lit(" succeeded (2xx)")
            + pl.when(pl.col("on").is_not_null())
            .then(pl.lit(": ") + pl.col("on").str.strip_prefix("on "))
            .otherwise(pl.lit(""))
        ).alias("succeeded"),
    )


def new_network_summaries(
    prepared: pl.LazyFrame,
    baseline: pl.LazyFrame,
    findings: pl.DataFrame,
    detectors: Mapping[str, Detector],
) -> pl.DataFrame:
    """``id``, ``new_networks``: for each key finding, the networks its evidence requests came
    from that the key never used in the baseline (how many, and the busiest three), and how
    many known networks it was used from."""
    keys = findings.filter(pl.col("entity_type") == "key")
    if keys.height == 0:
        return pl.DataFrame(schema={"id": pl.String, "new_networks": pl.String})
    rows = with_network(evidence_events(prepared, keys, detectors))
    wanted = keys.get_column("entity").unique().implode()
    known = (
        with_network(baseline.filter(pl.col("key").is_in(wanted)).select("key", "ip"))
        .select("key", "network")
        .unique()
        .with_columns(known=pl.lit(True))
    )
    marked = rows.join(known, on=["key", "network"], how="left").with_columns(
        pl.col("known").fill_null(False)
    )
    counts = marked.group_by("id").agg(
        pl.col("network").filter(~pl.col("known")).n_unique().alias("new"),
        pl.col("network").filter(pl.col("known")).n_unique().alias("old"),
    )
    top = _top(marked.filter(~pl.col("known")), "network", "new")
    return (
        counts.join(top, on="id", how="left")
        .select(
            "id",
            (
                pl.col("new").cast(pl.String)
                + pl.lit(" new networks")
                + pl.when(pl.col("new") > 0)
                .then(pl.lit(" (") + pl.col("new_right").str.strip_prefix("new ") + pl.lit(")"))
                .otherwise(pl.lit(""))
                + pl.lit(", ")
                + pl.col("old").cast(pl.String)
                + pl.lit(" known")
            ).alias("new_networks"),
        )
        .collect()
    )


def evidence_summaries(
    prepared: pl.LazyFrame, findings: pl.DataFrame, detectors: Mapping[str, Detector]
) -> pl.DataFrame:
    """``id``, ``evidence``: the rule and thresholds crossed, then the requests, top addresses,
    statuses, paths and user agents, and for an attacker how many requests succeeded."""
    if findings.height == 0:
        return pl.DataFrame(schema={"id": pl.String, "evidence": pl.String})
    explained = pl.DataFrame(
        {
            "id": findings["id"],
            "why": [detectors[row["kind"]].explain(row) for row in findings.iter_rows(named=True)],
        },
        schema={"id": pl.String, "why": pl.String},
    ).lazy()
    rows = evidence_events(prepared, findings, detectors)
    summary = explained.join(
        rows.group_by("id").agg(pl.len().alias("requests")), on="id", how="left"
    ).with_columns(pl.col("requests").fill_null(0))
    for column, label in (
        ("ip", "ips"),
        ("status", "statuses"),
        ("path", "paths"),
        ("user_agent", "agents"),
    ):
        summary = summary.join(_top(rows, column, label), on="id", how="left")
    summary = summary.join(success_summaries(prepared, findings), on="id", how="left")
    parts = [pl.col("why"), pl.col("requests").cast(pl.String) + " requests"]
    parts += [pl.col(name) for name in ("ips", "statuses", "paths", "agents", "succeeded")]
    return summary.select(
        "id", pl.concat_str(parts, separator="; ", ignore_nulls=True).alias("evidence")
    ).collect()


def filter_findings(findings: pl.DataFrame, query: AnomalyQuery) -> pl.DataFrame:
    """``--account`` and ``--min-severity`` applied."""
    floor = severity_rank(query.min_severity)
    allowed = list(SEVERITIES[floor:])
    findings = findings.filter(pl.col("severity").is_in(allowed))
    if query.accounts:
        findings = findings.filter(pl.col("account").is_in(list(query.accounts)).fill_null(False))
    return findings


def unjudged_warnings(
    events: pl.DataFrame, baseline: pl.DataFrame, detectors: Sequence[Detector]
) -> list[str]:
    """A warning naming the accounts the models that need history could not judge (no
    request in the baseline), so silence is not taken for a clean bill of health."""
    needing = [d.kind for d in detectors if d.needs_history]
    if not needing or events.height == 0:
        return []
    seen = baseline.get_column("account").unique().implode()
    missing = (
        events.filter(~pl.col("account").is_in(seen) & pl.col("account").is_not_null())
        .get_column("account")
        .unique()
        .sort()
        .to_list()
    )
    if not missing:
        return []
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return [
        f"{' and '.join(needing)} could not judge {len(missing)} account(s) without history "
        f"before the range ({shown}); the rules and the other models did"
    ]


def run_anomalies(
    settings: ReportSettings,
    query: AnomalyQuery,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    *,
    store: Store | None = None,
    now: datetime | None = None,
) -> AnomalyReport:
    """Judge the range of ``query`` against its baseline with the enabled detectors."""
    severity_rank(query.min_severity)
    detectors = build_detectors(overrides, query.kinds)
    ctx = time_context(query, settings.tz, now)
    store = store or Store(settings.store)
    version = store.version()
    events, baseline, ctx = read_prepared(store, settings, ctx)
    findings = filter_findings(detect(events, baseline, ctx, detectors), query)
    report = AnomalyReport(findings, ctx, version)
    report.notes = judgement_notes(store, events, baseline, ctx, detectors, query.baseline)
    report.warnings += unjudged_warnings(events, baseline, detectors)
    if settings.account_field is None:
        report.warnings.append(
            "no account field: every request is account 'default' and key_sharing has no keys "
            "to judge; give --account-field (e.g. http_x_api_key) or account_field in "
            "meterlog.toml"
        )
    return report


def judgement_notes(
    store: Store,
    events: pl.DataFrame,
    baseline: pl.DataFrame,
    ctx: Context,
    detectors: Sequence[Detector],
    baseline_text: str,
) -> list[str]:
    """Why a run may have judged nothing: no requests in the range (and where the store's
    requests are), and the detectors that compare with history when there is none."""
    notes = []
    span = f"{ctx.start.isoformat()} to {ctx.end.isoformat()}"
    if events.height == 0:
        first, last = (
            store.scan_events()
            .select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
            .collect()
            .row(0)
        )
        stored = (
            f"the store holds requests from {first.isoformat()} to {last.isoformat()}; "
            "give --since/--until in that range"
            if first is not None
            else "the store holds no requests"
        )
        notes.append(f"no requests from {span}: nothing to judge ({stored})")
    weeks = ctx.baseline // timedelta(days=7)
    earliest = baseline.get_column("ts").min() if baseline.height else None
    held = (ctx.start - earliest) // timedelta(days=7) if isinstance(earliest, datetime) else 0
    short: list[tuple[str, int]] = []
    empty: list[str] = []
    young: list[tuple[str, int]] = []
    for detector in detectors:
        if not detector.needs_history:
            continue
        needed = int(getattr(detector.params, "min_history_weeks", 1))
        if weeks < needed:
            short.append((detector.kind, needed))
        elif baseline.height == 0:
            empty.append(detector.kind)
        elif held < needed:
            young.append((detector.kind, needed))
    if short:
        needed = max(n for _, n in short)
        notes.append(
            f"{', '.join(kind for kind, _ in short)} could not judge: they compare each hour "
            f"with the same hour of {needed} earlier weeks and --baseline {baseline_text} "
            f"holds {weeks}; give --baseline {7 * needed}d or longer"
        )
    if empty:
        notes.append(
            f"{', '.join(empty)} could not judge: no history (no requests in the "
            f"--baseline {baseline_text} before {ctx.start.isoformat()})"
        )
    if young and isinstance(earliest, datetime):
        notes.append(
            f"{', '.join(kind for kind, _ in young)} could not judge: the history begins at "
            f"{earliest.isoformat()}, less than {max(n for _, n in young)} weeks before "
            f"{ctx.start.isoformat()} (no history to compare with)"
        )
    return notes


def explained_finding(
    settings: ReportSettings,
    query: AnomalyQuery,
    finding_id: str,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    *,
    store: Store | None = None,
    now: datetime | None = None,
) -> tuple[pl.DataFrame, dict[str, object]]:
    """The evidence rows (events, with their source and line) behind the finding ``finding_id``
    of the same range and options, and the finding (its ``evidence`` starts with the rule and
    thresholds it crossed)."""
    detectors = build_detectors(overrides, query.kinds)
    ctx = time_context(query, settings.tz, now)
    store = store or Store(settings.store)
    events, baseline, ctx = read_prepared(store, settings, ctx, provenance=True)
    findings = detect(events, baseline, ctx, detectors)
    match = findings.filter(pl.col("id") == finding_id.strip().lower())
    if match.height == 0:
        raise MeterlogError(
            f"no finding {finding_id!r} between {ctx.start.isoformat()} and "
            f"{ctx.end.isoformat()}: run the same command without --explain to list the ids, "
            "with the same --since/--until/--baseline"
        )
    by_kind = {d.kind: d for d in detectors}
    rows = evidence_events(events.lazy(), match, by_kind).collect()
    columns = [c for c in EVIDENCE_COLUMNS if c in rows.columns]
    ordered = rows.sort("ts", *[c for c in ("source_id", "source_line") if c in columns])
    return ordered.select(columns), match.row(0, named=True)


def explain_finding(
    settings: ReportSettings,
    query: AnomalyQuery,
    finding_id: str,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    *,
    store: Store | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """The evidence rows behind the finding ``finding_id`` (see :func:`explained_finding`)."""
    return explained_finding(settings, query, finding_id, overrides, store=store, now=now)[0]


def detect_recent(
    recent: pl.DataFrame,
    store: Store | None,
    settings: ReportSettings,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    *,
    kinds: tuple[str, ...] = LIVE_KINDS,
    baseline: str = DEFAULT_BASELINE,
    start: datetime | None = None,
) -> pl.DataFrame:
    """Findings on ``recent`` events (stored columns, e.g. the last minutes a live process
    read), judged against the baseline before them read from ``store`` (none: no history).

    The range is from ``start`` (default: the earliest recent event; give a whole minute at
    or before it to get the starts and ids ``meterlog anomalies`` gives) to just after the
    latest recent event. For a live view; the security detectors (:data:`LIVE_KINDS`) are the
    ones that need no whole hours.
    """
    detectors = build_detectors(overrides, kinds)
    if recent.height == 0 or not detectors:
        return pl.DataFrame(schema=FINDING_COLUMNS)
    first, last = recent.select(pl.col("ts").min().alias("a"), pl.col("ts").max().alias("b")).row(0)
    if start is not None:
        first = min(first, start)
    ctx = Context(
        start=first,
        end=last + timedelta(microseconds=1),
        baseline_start=first - parse_window(baseline, "baseline"),
    )

    events = prepare_events(
        recent.lazy(),
        user_field=settings.user_field,
        account_field=settings.account_field,
        accounts=settings.accounts,
    ).collect()
    if store is not None and store.exists():
        history = scan_prepared(store, settings, ctx.baseline_start, ctx.start)
        before = history.select(BASELINE_COLUMNS).collect()
        ctx = replace(ctx, history=history)
    else:
        # no history, but with every column a detector may read from it (user agents, paths)
        before = events.head(0).select(BASELINE_COLUMNS)
        ctx = replace(ctx, history=events.head(0).lazy())
    return detect(events, before, ctx, detectors)


def run_rules(
    events: pl.DataFrame,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    *,
    signatures_only: bool = True,
) -> pl.DataFrame:
    """Findings of the request rules on a batch of prepared events alone (no baseline): for a
    live process (``meterlog watch``) to call on each batch. With ``signatures_only`` only the
    rules that judge without history run (``min_ratio`` and ``min_score`` 0)."""
    detectors = [
        d
        for d in rule_detectors(overrides).values()
        if d.params.enabled
        and (not signatures_only or not (d.params.min_ratio or d.params.min_score))
    ]
    if events.height == 0 or not detectors:
        return pl.DataFrame(schema=FINDING_COLUMNS)
    first, last = events.select(
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
    ).row(0)
    ctx = Context(start=first, end=last + timedelta(seconds=1), baseline_start=first)
    return detect(events, events.head(0), ctx, detectors)
