"""Incremental month-end: meter states kept in the store, so a later run reads only new files.

A meter's state (:meth:`meterlog.meters.Meter.partial`) of a billing period is written to the
store's ``meter_states`` Delta table (one atomic append per run), keyed by

* the meter's definition (its parameters and counting rules), the period (month, billing zone,
  active days) and the accounts it covers (an invoice group),
* the identity (user field, account field and a digest of the accounts file's mapping),
* the format of the state (:data:`STATE_FORMAT`),

together with the events-table version it covers and the data files of the period's day
partitions at that version. A later run at version ``V`` takes the newest cached state of
each key at a version ``<= V`` and walks the Delta log from there to ``V``:

* files appended since are read and their partial states merged into the cached one
  (a late line for a closed day is in such a file, so it counts);
* a compaction (a commit that rewrites files without changing data) replaces covered files
  by the files it wrote and invalidates nothing, unless it merged covered files with files
  added since (then the period is computed afresh once);
* data removed (``check --repair``), a log entry no longer kept, or files that do not add up
  compute the period afresh.

A changed plan, zone or account mapping is another key, so it computes afresh; reading an old
version (``--as-of``) takes only states at or before it, so the bytes are those of a run
without the cache. Object stores compute afresh (the log walk reads the local log).
``meterlog maintain`` keeps only the newest state of each key.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from meterlog.errors import StoreError
from meterlog.meters import Meter, Period
from meterlog.periods import Month, utc_days
from meterlog.query.identity import Identity
from meterlog.schema import PARTITION_COLUMN
from meterlog.store import EVENTS_TABLE, METER_STATES_TABLE, Snapshot, Store

#: The selection of states that cover every request of the period (``mau``, ``peak``).
EVERY_ACCOUNT = "every account"
#: Bumped whenever a meter's state changes shape: older cached states are then ignored.
STATE_FORMAT = 1

CACHE_COLUMNS: dict[str, pl.DataType] = {
    "key": pl.String(),
    "store_version": pl.Int64(),
    "files": pl.List(pl.String()),
    "state": pl.Binary(),
}


class Mergeable(Protocol):
    """What the cache keeps the state of: a :class:`~meterlog.meters.Meter`, or another
    mergeable aggregate of the events (the invoice's quality counts). Its ``repr`` names its
    definition (it is part of the cache key)."""

    def partial(self, events: pl.LazyFrame, period: Period) -> pl.LazyFrame: ...

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame: ...


@dataclass(frozen=True)
class StateJob:
    """One state to keep: ``meter`` over ``period``, of the events ``selects`` keeps
    (``selection`` names that choice in the cache key). ``span`` is the time the aggregate
    reads when it is not the period's (it sets the day partitions looked at)."""

    meter: Mergeable
    period: Period
    selects: pl.Expr
    selection: str
    span: tuple[datetime, datetime] | None = None
    #: The aggregate reads every day of the store (e.g. the newest request's time).
    every_day: bool = False


@dataclass
class CacheReport:
    """What a run read: the data files it opened for partial states, and how many states came
    from the cache."""

    files_read: set[str] = field(default_factory=set)
    reused: int = 0
    computed: int = 0


def cache_key(job: StateJob, identity: Identity) -> str:
    accounts = hashlib.sha256(
        json.dumps(sorted(identity.accounts.items()), ensure_ascii=False).encode()
    ).hexdigest()
    period = job.period
    parts = {
        "format": STATE_FORMAT,
        "span": [str(moment) for moment in job.span or ()],
        "every_day": job.every_day,
        "meter": repr(job.meter),
        "month": str(period.month),
        "tz": period.tz.key,
        "first_day": str(period.first_day),
        "end_day": str(period.end_day),
        "user_field": identity.user_field,
        "account_field": identity.account_field,
        "accounts": accounts,
        "selection": job.selection,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _day_prefixes(job: StateJob) -> tuple[str, ...]:
    if job.every_day:
        return ("",)
    start, end = job.span or (job.period.start, job.period.end)
    return tuple(f"{PARTITION_COLUMN}={day.isoformat()}/" for day in utc_days(start, end))


def _files_at(snapshot: Snapshot, version: int) -> list[str]:
    from deltalake import DeltaTable

    table = DeltaTable(snapshot.table_uri(EVENTS_TABLE), version=version)
    actions = pa.table(table.get_add_actions(flatten=True))
    return [str(path) for path in actions.column("path").to_pylist()]


@dataclass
class _Walk:
    """Files covered by a cached state and files added since, brought up to a version."""

    covered: set[str]
    added: set[str]


def _walk(
    log: Path, covered: set[str], start: int, end: int, prefixes: tuple[str, ...]
) -> _Walk | None:
    """Follow the commits ``start+1..end`` of the log (only files of the period's days)."""
    walk = _Walk(set(covered), set())
    for version in range(start + 1, end + 1):
        try:
            text = (log / f"{version:020d}.json").read_text(encoding="utf-8")
        except OSError:
            return None  # the log entry is gone (cleaned up): compute afresh
        appended: set[str] = set()
        rewritten_from: set[str] = set()
        rewritten_to: set[str] = set()
        for line in text.splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            for kind in ("add", "remove"):
                entry = action.get(kind)
                if entry is None or not str(entry.get("path", "")).startswith(prefixes):
                    continue
                path = str(entry["path"])
                changes = bool(entry.get("dataChange", True))
                if kind == "add":
                    (appended if changes else rewritten_to).add(path)
                elif changes:
                    return None  # data removed (a repair): compute afresh
                else:
                    rewritten_from.add(path)
        if rewritten_from:
            if rewritten_from <= walk.covered:
                walk.covered = (walk.covered - rewritten_from) | rewritten_to
            elif rewritten_from <= walk.added:
                walk.added = (walk.added - rewritten_from) | rewritten_to
            else:
                return None  # covered and new rows compacted together
        elif rewritten_to:
            return None
        walk.added |= appended
    return walk


def _state_bytes(state: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    state.write_ipc(buffer)
    return buffer.getvalue()


def _read_cache(
    store: Store, keys: Sequence[str], version: int
) -> dict[str, tuple[int, list[str], bytes]]:
    """The newest cached state of each key at or before ``version`` (none when the cache is
    missing or cannot be read: it is derived data, a bill never fails because of it)."""
    try:
        if store.table(METER_STATES_TABLE) is None:
            return {}
        cache = pl.scan_delta(
            store.table_uri(METER_STATES_TABLE), storage_options=store.storage_options
        )
        # first the newest version of each key (small columns), then only those states
        # (each run appends one file of one store version: the others are skipped by the
        # table's file statistics)
        newest = (
            cache.select("key", "store_version")
            .filter(pl.col("key").is_in(list(keys)) & (pl.col("store_version") <= version))
            .group_by("key")
            .agg(pl.col("store_version").max())
            .collect()
        )
        versions = newest.get_column("store_version").unique().to_list()
        rows = (
            cache.filter(pl.col("store_version").is_in(versions) & pl.col("key").is_in(list(keys)))
            .join(newest.lazy(), on=["key", "store_version"], how="semi")
            .unique("key", keep="first")
            .collect()
        )
    except Exception:
        store.forget(METER_STATES_TABLE)
        return {}
    return {
        key: (int(at), list(files), bytes(state))
        for key, at, files, state in rows.select(list(CACHE_COLUMNS)).iter_rows()
    }


def _new_events(snapshot: Snapshot, paths: Sequence[str], identity: Identity) -> pl.LazyFrame:
    schema = snapshot.scan_events().collect_schema()
    stored = {name: dtype for name, dtype in schema.items() if name != PARTITION_COLUMN}
    root = Path(snapshot.table_uri(EVENTS_TABLE).removeprefix("file://"))
    if not paths:
        return identity.apply(pl.LazyFrame(schema=stored))
    scan = pl.scan_parquet(
        [str(root / path) for path in paths],
        schema=stored,
        missing_columns="insert",
        extra_columns="ignore",
        hive_partitioning=False,
    )
    return identity.apply(scan)


def cached_states(
    snapshot: Snapshot,
    identity: Identity,
    jobs: Sequence[StateJob],
    report: CacheReport | None = None,
) -> list[pl.DataFrame]:
    """The state of every job at the snapshot's version, from the cache and the files added
    since where possible, else from every event of the period (see the module doc). The new
    states are cached (nothing is written when the store cannot be written to)."""
    report = report if report is not None else CacheReport()
    version = snapshot.pinned
    keys = [cache_key(job, identity) for job in jobs]
    if not snapshot.is_local:
        return _fresh(snapshot, identity, jobs, report)
    cached = _read_cache(snapshot, keys, version)
    log = Path(snapshot.table_uri(EVENTS_TABLE).removeprefix("file://")) / "_delta_log"
    files_now = _files_at(snapshot, version)
    states: list[pl.DataFrame | None] = [None] * len(jobs)
    plans: list[pl.LazyFrame] = []
    planned: list[int] = []
    covered_now: list[list[str]] = []
    for index, (job, key) in enumerate(zip(jobs, keys, strict=True)):
        prefixes = _day_prefixes(job)
        in_period = sorted(path for path in files_now if path.startswith(prefixes))
        covered_now.append(in_period)
        hit = cached.get(key)
        walk = None if hit is None else _walk(log, set(hit[1]), hit[0], version, prefixes)
        if hit is None or walk is None or walk.covered | walk.added != set(in_period):
            continue
        cached_state = pl.read_ipc(io.BytesIO(hit[2]))
        if not walk.added:
            states[index] = cached_state
            report.reused += 1
            continue
        added = sorted(walk.added)
        report.files_read.update(added)
        events = _new_events(snapshot, added, identity).filter(job.selects)
        plans.append(job.meter.merge(cached_state.lazy(), job.meter.partial(events, job.period)))
        planned.append(index)
        report.reused += 1
    for index, state in zip(planned, pl.collect_all(plans), strict=True):
        states[index] = state
    missing = [index for index, state in enumerate(states) if state is None]
    if missing:
        fresh = _fresh(snapshot, identity, [jobs[index] for index in missing], report)
        for index, state in zip(missing, fresh, strict=True):
            states[index] = state
    done = [state for state in states if state is not None]
    rows = [
        {"key": key, "store_version": version, "files": files, "state": _state_bytes(state)}
        for key, files, state, hit in zip(
            keys, covered_now, done, [cached.get(key) for key in keys], strict=True
        )
        if hit is None or hit[0] != version
    ]
    if rows:
        _write(snapshot, rows)
    return done


def _fresh(
    snapshot: Snapshot, identity: Identity, jobs: Sequence[StateJob], report: CacheReport
) -> list[pl.DataFrame]:
    events = identity.apply(snapshot.scan_events())
    report.computed += len(jobs)
    if snapshot.is_local:
        files = _files_at(snapshot, snapshot.pinned)
        for job in jobs:
            report.files_read.update(p for p in files if p.startswith(_day_prefixes(job)))
    return pl.collect_all(
        [job.meter.partial(events.filter(job.selects), job.period) for job in jobs]
    )


def _write(snapshot: Snapshot, rows: Sequence[Mapping[str, object]]) -> None:
    writer = Store(snapshot.uri, snapshot.storage_options)
    frame = pl.DataFrame(rows, schema=CACHE_COLUMNS)
    # a store this user may only read: nothing is cached, the next run computes again
    with contextlib.suppress(StoreError, OSError):
        writer.record_meter_states(frame)


def month_states(
    snapshot: Snapshot,
    identity: Identity,
    meter: Meter,
    months: Sequence[Month],
    tz: ZoneInfo,
) -> list[pl.LazyFrame]:
    """``meter``'s state of every account in each month (``meterlog mau``, ``peak``), cached."""
    jobs = [StateJob(meter, Period(month, tz), pl.lit(True), EVERY_ACCOUNT) for month in months]
    return [state.lazy() for state in cached_states(snapshot, identity, jobs)]
