"""The store: Delta Lake tables holding events, rejected lines and the sources seen.

Layout under the store root (a folder, or an object-store URL such as ``s3://bucket/meterlog``):

* ``events/``: one row per parsed request, canonical schema (:mod:`meterlog.schema`),
  partitioned by the UTC day of ``ts`` (column ``day``).
* ``rejects/``: one row per rejected line, with source, line number, reason and the line itself.
* ``sources/``: one row each time an ingest run read new data from a source (path, fingerprint).
* ``.meterlog.lock``: the writers' lock (local stores only).

Exactly-once: each commit to ``events`` carries two Delta *application transactions* for the
source it read, ``meterlog-offset:<id>`` (bytes of the decompressed source consumed) and
``meterlog-lines:<id>`` (lines consumed), in the same atomic commit as the rows. Data and
progress therefore can never disagree. ``rejects`` carries its own offset transaction, so a
crash between the two commits is repaired by the next run without duplicating anything.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from meterlog.errors import StoreError
from meterlog.schema import PARTITION_COLUMN, REJECT_COLUMNS

DEFAULT_STORE = str(Path.home() / ".local" / "share" / "meterlog" / "store")
EVENTS_TABLE = "events"
REJECTS_TABLE = "rejects"
SOURCES_TABLE = "sources"
LOCK_FILE = ".meterlog.lock"
#: Present while a run writes; left behind by a run that was stopped (killed, power loss).
WRITING_MARKER = ".meterlog.writing"
#: Files this much older than the marker are not considered the stopped run's (clock steps).
_MARKER_SLACK_SECONDS = 2.0

SOURCE_COLUMNS: dict[str, pl.DataType] = {
    "source_id": pl.String(),
    "path": pl.String(),
    "format": pl.String(),
    "compression": pl.String(),
    "offset": pl.Int64(),
    "lines": pl.Int64(),
    "seen_at": pl.Datetime("us", "UTC"),
}


#: Parquet settings for event files: zstd; no dictionary for columns whose values rarely
#: repeat (trying one costs time and saves nothing), and no min/max statistics for long free
#: text nobody filters files by. Files are about half the default size and faster to write.
_NO_DICTIONARY = (
    "ts",
    "path",
    "query",
    "bytes_sent",
    "request_time",
    "source_offset",
    "source_line",
)
_NO_STATISTICS = ("path", "query", "referer", "user_agent")
EVENTS_WRITER_PROPERTIES = WriterProperties(
    compression="ZSTD",
    compression_level=1,
    column_properties={
        name: ColumnProperties(
            dictionary_enabled=False if name in _NO_DICTIONARY else None,
            statistics_enabled="NONE" if name in _NO_STATISTICS else None,
        )
        for name in (*_NO_DICTIONARY, *_NO_STATISTICS)
    },
)


#: How long old table versions stay readable by default (``meterlog maintain --retention``):
#: time travel (``--as-of``) works this far back; files only older versions use are then deleted.
DEFAULT_RETENTION = timedelta(days=30)
#: How long Delta keeps log entries unless the table says otherwise.
DELTA_LOG_RETENTION = timedelta(days=30)
#: After an ingest, a day partition it wrote to that holds more files than this is compacted.
AUTO_COMPACT_FILES = 16
#: Tries of a commit that loses races with other writers (see ``Store._write``).
COMMIT_ATTEMPTS = 10
#: Size compaction aims for, per file.
COMPACT_TARGET_BYTES = 128 * 1024 * 1024


def _offset_app_id(source_id: str) -> str:
    return f"meterlog-offset:{source_id}"


def _lines_app_id(source_id: str) -> str:
    return f"meterlog-lines:{source_id}"


@dataclass(frozen=True)
class Progress:
    """How much of a source the store holds: bytes (decompressed) and lines consumed."""

    offset: int = 0
    lines: int = 0


class Store:
    """A meterlog store at ``uri`` (local folder or object-store URL)."""

    def __init__(self, uri: str | Path, storage_options: dict[str, str] | None = None) -> None:
        self.uri = str(uri).rstrip("/") if "://" in str(uri) else str(Path(uri).expanduser())
        self.storage_options = storage_options
        self._tables: dict[str, DeltaTable] = {}
        self._layout_checked = False

    # -- locations -------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return "://" not in self.uri or self.uri.startswith("file://")

    def table_uri(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def exists(self) -> bool:
        return self._table(EVENTS_TABLE) is not None

    @property
    def root(self) -> Path:
        """The local store's folder (only for local stores)."""
        return Path(self.uri.removeprefix("file://"))

    def check_layout(self) -> None:
        """Refuse a local store path that is not a folder, or whose tables, their logs or the
        lock file are symbolic links leading outside the store's folder (writes must not land
        anywhere but under the store). A store folder that is itself a link is fine."""
        if not self.is_local or self._layout_checked:
            return
        root = self.root
        try:
            is_folder = stat.S_ISDIR(root.stat().st_mode)
        except FileNotFoundError:
            is_folder = True  # a new store
        except OSError as exc:
            raise StoreError(
                f"{root}: cannot open the store: {exc.strerror}; check the path"
            ) from None
        if not is_folder:
            raise StoreError(f"{root}: is not a folder; give the store's folder with --store")
        real_root = Path(os.path.realpath(root))
        for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE, LOCK_FILE):
            for path in (root / name, root / name / "_delta_log"):
                target = Path(os.path.realpath(path))
                if target != real_root and not target.is_relative_to(real_root):
                    raise StoreError(
                        f"{path}: is a symbolic link to {target}, outside the store; "
                        "meterlog does not follow links out of the store: "
                        "replace the link with the folder itself"
                    )
        self._layout_checked = True

    # -- reading ---------------------------------------------------------------------------
    def _table(self, name: str) -> DeltaTable | None:
        table = self._tables.get(name)
        if table is not None:
            table.update_incremental()
            return table
        self.check_layout()
        try:
            table = DeltaTable(self.table_uri(name), storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        except (DeltaError, OSError) as exc:
            raise StoreError(
                f"{self.table_uri(name)}: cannot open the store table: {exc}"
            ) from None
        self._tables[name] = table
        return table

    def version(self) -> int | None:
        """The events table's current version (None when nothing was ever ingested)."""
        table = self._table(EVENTS_TABLE)
        return None if table is None else table.version()

    def progress(self, source_id: str) -> Progress:
        """What the events table holds of ``source_id`` (zero for a new source)."""
        table = self._table(EVENTS_TABLE)
        if table is None:
            return Progress()
        offset = table.transaction_version(_offset_app_id(source_id)) or 0
        lines = table.transaction_version(_lines_app_id(source_id)) or 0
        return Progress(offset, lines)

    def rejects_offset(self, source_id: str) -> int:
        table = self._table(REJECTS_TABLE)
        if table is None:
            return 0
        return table.transaction_version(_offset_app_id(source_id)) or 0

    def scan_events(self, version: int | None = None) -> pl.LazyFrame:
        """The events as a lazy frame (at ``version`` for time travel)."""
        if self._table(EVENTS_TABLE) is None:
            raise StoreError(
                f"{self.uri}: no events stored yet: run 'meterlog ingest --store {self.uri} LOGS'"
            )
        try:
            return pl.scan_delta(
                self.table_uri(EVENTS_TABLE),
                version=version,
                storage_options=self.storage_options,
            )
        except Exception as exc:  # polars/deltalake raise several types for a bad version
            raise StoreError(
                f"{self.uri}: cannot read events at version {version}: {exc}"
            ) from None

    def scan_rejects(self) -> pl.LazyFrame:
        if self._table(REJECTS_TABLE) is None:
            return pl.LazyFrame(schema=REJECT_COLUMNS)
        return pl.scan_delta(self.table_uri(REJECTS_TABLE), storage_options=self.storage_options)

    def known_source_ids(self) -> set[str]:
        """Ids of the sources the ``sources`` table has a row for."""
        if self._table(SOURCES_TABLE) is None:
            return set()
        ids = (
            pl.scan_delta(self.table_uri(SOURCES_TABLE), storage_options=self.storage_options)
            .select(pl.col("source_id").unique())
            .collect()
        )
        return set(ids.get_column("source_id").to_list())

    def sources(self) -> pl.DataFrame:
        """Every source ever read, latest path first seen, with its committed progress."""
        table = self._table(SOURCES_TABLE)
        if table is None:
            return pl.DataFrame(schema=SOURCE_COLUMNS)
        seen = (
            pl.scan_delta(self.table_uri(SOURCES_TABLE), storage_options=self.storage_options)
            .sort("seen_at")
            .group_by("source_id")
            .agg(pl.all().last())
            .sort("path", "source_id")
            .collect()
        )
        committed = [self.progress(sid) for sid in seen.get_column("source_id")]
        return seen.with_columns(
            offset=pl.Series([p.offset for p in committed], dtype=pl.Int64),
            lines=pl.Series([p.lines for p in committed], dtype=pl.Int64),
        ).select(list(SOURCE_COLUMNS))

    # -- writing ---------------------------------------------------------------------------
    def _write(
        self,
        name: str,
        data: pa.Table,
        *,
        partition_by: list[str] | None = None,
        transactions: list[Transaction] | None = None,
        metadata: dict[str, str] | None = None,
        writer_properties: WriterProperties | None = None,
        retry_if: Callable[[], bool] | None = None,
    ) -> None:
        """Append ``data`` to table ``name`` in one commit.

        Another writer committing first (several hosts writing to one object store) makes the
        commit fail; it is tried again, up to :data:`COMMIT_ATTEMPTS` times, when ``retry_if``
        (asked after reading the other writer's commit) says the data is still to be written.
        """
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                with _native_errors_held_back():
                    # Writing through the open table (up to date) saves reading its log again.
                    write_deltalake(
                        self._table(name) or self.table_uri(name),
                        data,
                        mode="append",
                        partition_by=partition_by,
                        schema_mode="merge",
                        storage_options=self.storage_options,
                        writer_properties=writer_properties,
                        commit_properties=CommitProperties(
                            app_transactions=transactions, custom_metadata=metadata
                        ),
                    )
                return
            except CommitFailedError as exc:
                if attempt == COMMIT_ATTEMPTS or retry_if is None or not retry_if():
                    raise StoreError(
                        f"{self.table_uri(name)}: cannot write: {exc}; another writer changed "
                        "the table at the same time and nothing of this chunk was committed: "
                        "run again"
                    ) from None
                time.sleep(0.05 * attempt)
            except OSError as exc:
                raise StoreError(
                    _write_error(self.table_uri(name), exc.strerror or str(exc))
                ) from None
            except DeltaError as exc:
                raise StoreError(_write_error(self.table_uri(name), str(exc))) from None

    def commit_events(
        self,
        events: pl.DataFrame,
        source_id: str,
        end: Progress,
        metadata: dict[str, str] | None = None,
        start: Progress | None = None,
    ) -> None:
        """Append ``events`` and set ``source_id``'s progress to ``end`` in one atomic commit.

        With ``start`` (the progress the rows follow), a commit that loses a race with another
        writer is retried as long as the source's progress is still ``start``.
        """
        data = events.with_columns(pl.col("ts").dt.date().alias(PARTITION_COLUMN))
        self._write(
            EVENTS_TABLE,
            # Arrow string views: Polars' own layout, handed over without copying the strings
            data.to_arrow(compat_level=pl.CompatLevel.newest()),
            partition_by=[PARTITION_COLUMN],
            writer_properties=EVENTS_WRITER_PROPERTIES,
            transactions=[
                Transaction(_offset_app_id(source_id), end.offset),
                Transaction(_lines_app_id(source_id), end.lines),
            ],
            metadata=metadata,
            retry_if=None if start is None else (lambda: self.progress(source_id) == start),
        )

    def commit_rejects(
        self,
        rejects: pl.DataFrame,
        source_id: str,
        end_offset: int,
        start_offset: int | None = None,
    ) -> None:
        """Append rejected lines and set the rejects table's progress for ``source_id`` (retried
        after losing a race while that progress is still ``start_offset``)."""
        self._write(
            REJECTS_TABLE,
            rejects.select(list(REJECT_COLUMNS)).to_arrow(),
            transactions=[Transaction(_offset_app_id(source_id), end_offset)],
            retry_if=None
            if start_offset is None
            else (lambda: self.rejects_offset(source_id) == start_offset),
        )

    def record_sources(self, rows: pl.DataFrame) -> None:
        """Append rows describing sources read in a run (informational: paths, formats)."""
        if rows.height:
            self._write(
                SOURCES_TABLE, rows.select(list(SOURCE_COLUMNS)).to_arrow(), retry_if=lambda: True
            )

    # -- maintenance -----------------------------------------------------------------------
    def files_per_day(self, days: Iterable[date] | None = None) -> dict[date, int]:
        """How many data files each day partition of the events table holds."""
        table = self._table(EVENTS_TABLE)
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
        self, days: Iterable[date] | None = None, target_size: int = COMPACT_TARGET_BYTES
    ) -> dict[str, int]:
        """Rewrite the small files of the events table (of ``days`` only, if given) into files of
        about ``target_size`` bytes. Rows, progress and older versions are unchanged."""
        table = self._table(EVENTS_TABLE)
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
                partition_filters=filters,  # type: ignore[arg-type]
                target_size=target_size,
                writer_properties=EVENTS_WRITER_PROPERTIES,
                commit_properties=CommitProperties(
                    custom_metadata={"meterlog.operation": "compact"}
                ),
            )
        except (DeltaError, OSError) as exc:
            raise StoreError(f"{self.table_uri(EVENTS_TABLE)}: cannot compact: {exc}") from None
        return {
            "files_added": int(metrics.get("numFilesAdded", 0)),
            "files_removed": int(metrics.get("numFilesRemoved", 0)),
        }

    def maintain(
        self, retention: timedelta = DEFAULT_RETENTION, dry_run: bool = False
    ) -> list[MaintenanceResult]:
        """Compact small files, checkpoint the log and delete what only versions older than
        ``retention`` use (data files and log entries), in every table of the store.

        Versions within ``retention`` stay readable (``--as-of``). Sources' progress is part of
        each version and of the checkpoint, so nothing is ingested twice afterwards.
        """
        hours = max(0, int(retention.total_seconds() // 3600))
        interval = f"interval {hours} hours"
        results: list[MaintenanceResult] = []
        for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE):
            table = self._table(name)
            if table is None:
                continue
            files_before = len(table.file_uris())
            try:
                if dry_run:
                    doomed = table.vacuum(
                        retention_hours=hours, dry_run=True, enforce_retention_duration=False
                    )
                    results.append(
                        MaintenanceResult(name, files_before, files_before, 0, 0, len(doomed))
                    )
                    continue
                if retention > DELTA_LOG_RETENTION and _log_retention(table) < retention:
                    # log entries older than this go at checkpoints; --as-of needs them
                    table.alter.set_table_properties({"delta.logRetentionDuration": interval})
                metrics = table.optimize.compact(
                    target_size=COMPACT_TARGET_BYTES,
                    writer_properties=EVENTS_WRITER_PROPERTIES if name == EVENTS_TABLE else None,
                    commit_properties=CommitProperties(
                        custom_metadata={"meterlog.operation": "maintain"}
                    ),
                )
                table.create_checkpoint()
                deleted = table.vacuum(
                    retention_hours=hours, dry_run=False, enforce_retention_duration=False
                )
                table.cleanup_metadata()
            except (DeltaError, OSError) as exc:
                raise StoreError(f"{self.table_uri(name)}: cannot maintain: {exc}") from None
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

    # -- interrupted writes ----------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self) -> Iterator[list[str]]:
        """Mark the store as being written to, for the length of the block (hold the lock).

        A run that is stopped before its end (killed, out of memory, power loss) leaves data
        files that no commit refers to: readers never see them (Delta reads only committed
        files), and the next run removes them here before writing (the list it yields). The
        mark stays when the block raises, so files of a failed write are removed next time.
        """
        if not self.is_local:
            yield []
            return
        marker = self.root / WRITING_MARKER
        removed: list[str] = []
        try:
            since = marker.stat().st_mtime
        except FileNotFoundError:
            since = None
        except OSError as exc:
            raise StoreError(f"{marker}: cannot read: {exc.strerror}") from None
        if since is not None:
            removed = self.cleanup_orphans(since)
        try:
            marker.touch()
            os.utime(marker)
        except OSError as exc:
            raise StoreError(
                f"{self.root}: cannot write to the store: {exc.strerror}; "
                "check free space and permissions"
            ) from None
        yield removed
        marker.unlink(missing_ok=True)

    def cleanup_orphans(self, since: float) -> list[str]:
        """Delete data files a stopped run wrote after ``since`` (a POSIX time) that no commit
        refers to, and its unfinished commit files; return their paths. Local stores only;
        call it holding the lock. Files committed and later removed by a commit (compaction)
        are left to the retention-based vacuum."""
        if not self.is_local:
            return []
        after = since - _MARKER_SLACK_SECONDS
        removed: list[str] = []
        for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE):
            folder = self.root / name
            log = folder / "_delta_log"
            if not folder.is_dir():
                continue
            referenced: set[str] = set()
            for entry in os.scandir(log) if log.is_dir() else ():
                if entry.name.endswith(".tmp") and entry.stat().st_mtime >= after:
                    os.unlink(entry.path)  # a commit that was being written, never renamed
                    removed.append(entry.path)
                elif entry.name.endswith(".json") and entry.stat().st_mtime >= after:
                    referenced |= _paths_in_commit(folder, Path(entry.path))
            table = self._table(name)
            if table is not None:
                referenced |= {os.path.normpath(uri) for uri in table.file_uris()}
            for directory, subfolders, files in os.walk(folder):
                subfolders[:] = [d for d in subfolders if not d.startswith(("_", "."))]
                for file_name in files:
                    path = os.path.normpath(os.path.join(directory, file_name))
                    if (
                        file_name.endswith(".parquet")
                        and path not in referenced
                        and os.stat(path).st_mtime >= after
                    ):
                        os.unlink(path)
                        removed.append(path)
        return sorted(removed)

    # -- locking ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout: float = 0.0) -> Iterator[None]:
        """Hold the store's writer lock; wait up to ``timeout`` seconds, then fail clearly.

        Object stores have no lock file: Delta's optimistic concurrency and the per-source
        transactions keep concurrent writers from double counting there.
        """
        if not self.is_local:
            yield
            return
        self.check_layout()
        root = self.root
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise StoreError(
                f"{root}: cannot open the store for writing: {exc.strerror}; "
                "check the path and permissions"
            ) from None
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreError(
                            f"{root}: another meterlog run is writing to this store; "
                            "try again later or wait longer with --lock-timeout SECONDS"
                        ) from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)


_INTERVAL = re.compile(r"^\s*interval\s+(\d+)\s+(second|minute|hour|day|week)s?\s*$", re.I)


def _log_retention(table: DeltaTable) -> timedelta:
    """The table's ``delta.logRetentionDuration`` (Delta's default when unset or unreadable)."""
    value = table.metadata().configuration.get("delta.logRetentionDuration") or ""
    match = _INTERVAL.match(value)
    if match is None:
        return DELTA_LOG_RETENTION
    return timedelta(**{match.group(2).lower() + "s": int(match.group(1))})


@dataclass(frozen=True)
class MaintenanceResult:
    """What ``maintain`` did to one table."""

    table: str
    files_before: int
    files_after: int
    files_compacted: int
    files_written: int
    files_deleted: int


def _write_error(where: str, detail: str) -> str:
    """One line for a failed write: what the system said, that nothing was committed, and
    what to check. Known system errors are named plainly."""
    plain = {
        "os error 28": "no space left on the device",
        "os error 30": "the file system is read-only",
        "os error 13": "permission denied",
        "os error 27": "file too large (a size limit)",
    }
    reason = next((text for code, text in plain.items() if code in detail), detail)
    return (
        f"{where}: cannot write: {reason}; nothing of this chunk was committed "
        "(the store is as before): free space or fix permissions, then run again"
    )


@contextlib.contextmanager
def _native_errors_held_back() -> Iterator[None]:
    """Hold back what the Delta writer's native threads print on stderr during a write.

    When a write fails (disk full), the writer's upload threads print a panic report while
    they abort; the failure itself reaches Python as an exception and is reported as one line.
    What was printed is passed on unless the write failed.
    """
    try:
        capture = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    except OSError:
        yield  # no room even for that: let native messages through
        return
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    try:
        os.dup2(capture.fileno(), 2)
        yield
    except BaseException:
        failed = True
        raise
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if not failed:
            capture.seek(0)
            held = capture.read()
            if held:
                os.write(2, held)
        capture.close()


def _paths_in_commit(folder: Path, commit: Path) -> set[str]:
    """Data files a Delta commit file adds or removes, as normalised local paths."""
    paths: set[str] = set()
    try:
        text = commit.read_text(encoding="utf-8")
    except OSError:
        return paths
    for line in text.splitlines():
        try:
            action = json.loads(line)
        except ValueError:
            continue
        for kind in ("add", "remove"):
            if isinstance(action, dict) and isinstance(action.get(kind), dict):
                relative = unquote(str(action[kind].get("path", "")))
                paths.add(os.path.normpath(folder / relative))
    return paths


def now_utc() -> datetime:
    return datetime.now(UTC)


def resolve_store(explicit: str | None, configured: str | None = None) -> Store:
    """The store named by ``--store``/``$METERLOG_STORE``, else the config file, else the
    default location."""
    return Store(explicit or configured or DEFAULT_STORE)


@dataclass
class StoreStatus:
    uri: str
    version: int | None
    rows: int
    ts_min: datetime | None
    ts_max: datetime | None
    sources: pl.DataFrame
    rejects: pl.DataFrame


def store_status(store: Store) -> StoreStatus:
    """Rows, time range, version, sources with progress and reject counts of a store."""
    if not store.exists():
        return StoreStatus(store.uri, None, 0, None, None, store.sources(), _reject_counts(store))
    totals = (
        store.scan_events()
        .select(
            pl.len().alias("rows"), pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")
        )
        .collect()
        .row(0)
    )
    return StoreStatus(
        store.uri,
        store.version(),
        totals[0],
        totals[1],
        totals[2],
        store.sources(),
        _reject_counts(store),
    )


def _reject_counts(store: Store) -> pl.DataFrame:
    return (
        store.scan_rejects()
        .group_by("source_path", "reason")
        .agg(pl.len().alias("lines"))
        .sort("source_path", "reason")
        .collect()
    )
