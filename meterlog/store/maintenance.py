"""Keeping a store fast and bounded: compaction, checkpoints, vacuum of files and log entries."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError

from meterlog.errors import StoreError
from meterlog.schema import PARTITION_COLUMN
from meterlog.store.handle import StoreHandle
from meterlog.store.layout import (
    COMPACT_TARGET_BYTES,
    DEFAULT_RETENTION,
    DELTA_LOG_RETENTION,
    EVENTS_TABLE,
    EVENTS_WRITER_PROPERTIES,
    METER_STATES_TABLE,
    REJECTS_TABLE,
    SOURCES_TABLE,
)
from meterlog.store.native import native_errors_held_back


@dataclass(frozen=True)
class MaintenanceResult:
    """What ``maintain`` did to one table."""

    table: str
    files_before: int
    files_after: int
    files_compacted: int
    files_written: int
    files_deleted: int


def files_per_day(store: StoreHandle, days: Iterable[date] | None = None) -> dict[date, int]:
    """How many data files each day partition of the events table holds."""
    table = store.table(EVENTS_TABLE)
    if table is None:
        return {}
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    column = f"partition.{PARTITION_COLUMN}"
    if actions.height == 0 or column not in actions.columns:
        return {}
    counts = actions.group_by(column).len()
    wanted = None if days is None else set(days)
    return {
        day: count
        for day, count in counts.iter_rows()
        if day is not None and (wanted is None or day in wanted)
    }


def compact(
    store: StoreHandle, days: Iterable[date] | None = None, target_size: int = COMPACT_TARGET_BYTES
) -> dict[str, int]:
    """Rewrite the small files of the events table (of ``days`` only, if given) into files of
    about ``target_size`` bytes. Rows, progress and older versions are unchanged."""
    table = store.table(EVENTS_TABLE)
    if table is None:
        return {"files_added": 0, "files_removed": 0}
    filters = None
    if days is not None:
        values = sorted({day.isoformat() for day in days})
        if not values:
            return {"files_added": 0, "files_removed": 0}
        filters = [(PARTITION_COLUMN, "in", values)]
    try:
        metrics = table.optimize.compact(
            partition_filters=filters,
            target_size=target_size,
            writer_properties=EVENTS_WRITER_PROPERTIES,
            commit_properties=CommitProperties(custom_metadata={"meterlog.operation": "compact"}),
        )
    except (DeltaError, OSError) as exc:
        raise StoreError(f"{store.table_uri(EVENTS_TABLE)}: cannot compact: {exc}") from None
    return {
        "files_added": int(metrics.get("numFilesAdded", 0)),
        "files_removed": int(metrics.get("numFilesRemoved", 0)),
    }


def maintain(
    store: StoreHandle, retention: timedelta = DEFAULT_RETENTION, dry_run: bool = False
) -> list[MaintenanceResult]:
    """Compact small files, checkpoint the log and delete what only versions older than
    ``retention`` use (data files and log entries), in every table of the store, and data files
    no commit refers to (left by a stopped run) once they are older than ``retention``.

    Versions within ``retention`` stay readable (``--as-of``). Sources' progress is part of
    each version and of the checkpoint, so nothing is ingested twice afterwards.
    """
    hours = max(0, int(retention.total_seconds() // 3600))
    interval = f"interval {hours} hours"
    results: list[MaintenanceResult] = []
    if not dry_run:
        prune_meter_states(store)  # only the newest cached state of each key is kept
    for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE, METER_STATES_TABLE):
        table = store.table(name)
        if table is None:
            continue
        files_before = len(table.file_uris())
        try:
            if dry_run:
                doomed = table.vacuum(
                    retention_hours=hours,
                    dry_run=True,
                    enforce_retention_duration=False,
                    full=True,
                )
                results.append(
                    MaintenanceResult(name, files_before, files_before, 0, 0, len(doomed))
                )
                continue
            if retention > DELTA_LOG_RETENTION and _log_retention(table) < retention:
                # log entries older than this go at checkpoints; --as-of needs them
                table.alter.set_table_properties({"delta.logRetentionDuration": interval})
            with native_errors_held_back():  # a full disk: a native panic report, then an error
                metrics = table.optimize.compact(
                    target_size=COMPACT_TARGET_BYTES,
                    writer_properties=EVENTS_WRITER_PROPERTIES if name == EVENTS_TABLE else None,
                    commit_properties=CommitProperties(
                        custom_metadata={"meterlog.operation": "maintain"}
                    ),
                )
                table.create_checkpoint()
            # Full mode: also data files no commit refers to (a run stopped between writing
            # a file and committing it), once older than the retention, on every store kind.
            deleted = table.vacuum(
                retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=True
            )
            table.cleanup_metadata()
        except (DeltaError, OSError) as exc:
            raise StoreError(f"{store.table_uri(name)}: cannot maintain: {exc}") from None
        results.append(
            MaintenanceResult(
                name,
                files_before,
                len(table.file_uris()),
                int(metrics.get("numFilesRemoved", 0)),
                int(metrics.get("numFilesAdded", 0)),
                len(deleted),
            )
        )
    return results


def prune_meter_states(store: StoreHandle) -> int:
    """Keep only the newest cached meter state of each key (the one a later run starts from;
    an older version asked for with ``--as-of`` is then computed afresh, to the same bytes).
    Returns the rows removed."""
    import polars as pl

    if store.table(METER_STATES_TABLE) is None:
        return 0
    rows = pl.scan_delta(store.table_uri(METER_STATES_TABLE), storage_options=store.storage_options)
    total = rows.select(pl.len()).collect().item()
    newest = rows.sort("store_version").group_by("key", maintain_order=True).agg(pl.all().last())
    kept = newest.collect()
    if kept.height == total:
        return 0
    store.replace_meter_states(kept.select(rows.collect_schema().names()))
    return int(total - kept.height)


_INTERVAL = re.compile(r"^\s*interval\s+(\d+)\s+(second|minute|hour|day|week)s?\s*$", re.I)


def _log_retention(table: DeltaTable) -> timedelta:
    """The table's ``delta.logRetentionDuration`` (Delta's default when unset or unreadable)."""
    value = table.metadata().configuration.get("delta.logRetentionDuration") or ""
    match = _INTERVAL.match(value)
    if match is None:
        return DELTA_LOG_RETENTION
    return timedelta(**{match.group(2).lower() + "s": int(match.group(1))})
