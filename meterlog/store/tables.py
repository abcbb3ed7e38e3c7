"""Reading and writing the store's Delta tables (see :mod:`meterlog.store`)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from meterlog.errors import StoreError
from meterlog.schema import PARTITION_COLUMN, REJECT_COLUMNS
from meterlog.store import maintenance, recovery
from meterlog.store.layout import (
    COMMIT_ATTEMPTS,
    DEFAULT_RETENTION,
    DEFAULT_STORE,
    EVENTS_TABLE,
    EVENTS_WRITER_PROPERTIES,
    LOCK_FILE,
    REJECTS_TABLE,
    SOURCE_COLUMNS,
    SOURCES_TABLE,
    Progress,
    lines_app_id,
    offset_app_id,
)
from meterlog.store.lock import hold_lock


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
        return self.table(EVENTS_TABLE) is not None

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
    def table(self, name: str) -> DeltaTable | None:
        """Table ``name`` brought up to date (None when it does not exist yet)."""
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
        table = self.table(EVENTS_TABLE)
        return None if table is None else table.version()

    def progress(self, source_id: str) -> Progress:
        """What the events table holds of ``source_id`` (zero for a new source)."""
        table = self.table(EVENTS_TABLE)
        if table is None:
            return Progress()
        offset = table.transaction_version(offset_app_id(source_id)) or 0
        lines = table.transaction_version(lines_app_id(source_id)) or 0
        return Progress(offset, lines)

    def rejects_offset(self, source_id: str) -> int:
        table = self.table(REJECTS_TABLE)
        if table is None:
            return 0
        return table.transaction_version(offset_app_id(source_id)) or 0

    def scan_events(self, version: int | None = None) -> pl.LazyFrame:
        """The events as a lazy frame (at ``version`` for time travel)."""
        if self.table(EVENTS_TABLE) is None:
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
        if self.table(REJECTS_TABLE) is None:
            return pl.LazyFrame(schema=REJECT_COLUMNS)
        return pl.scan_delta(self.table_uri(REJECTS_TABLE), storage_options=self.storage_options)

    def known_source_ids(self) -> set[str]:
        """Ids of the sources the ``sources`` table has a row for."""
        if self.table(SOURCES_TABLE) is None:
            return set()
        ids = (
            pl.scan_delta(self.table_uri(SOURCES_TABLE), storage_options=self.storage_options)
            .select(pl.col("source_id").unique())
            .collect()
        )
        return set(ids.get_column("source_id").to_list())

    def source_paths(self) -> dict[str, str]:
        """The latest path recorded for each source id (what ``status`` shows)."""
        if self.table(SOURCES_TABLE) is None:
            return {}
        latest = (
            pl.scan_delta(self.table_uri(SOURCES_TABLE), storage_options=self.storage_options)
            .sort("seen_at")
            .group_by("source_id")
            .agg(pl.col("path").last())
            .collect()
        )
        return dict(latest.iter_rows())

    def sources(self) -> pl.DataFrame:
        """Every source ever read, under the latest path an ingest saw it at, with its
        committed progress."""
        table = self.table(SOURCES_TABLE)
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
                        self.table(name) or self.table_uri(name),
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
                Transaction(offset_app_id(source_id), end.offset),
                Transaction(lines_app_id(source_id), end.lines),
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
            transactions=[Transaction(offset_app_id(source_id), end_offset)],
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

    # -- maintenance (meterlog.store.maintenance) ------------------------------------------
    def files_per_day(self, days: Iterable[date] | None = None) -> dict[date, int]:
        """How many data files each day partition of the events table holds."""
        return maintenance.files_per_day(self, days)

    def compact(self, days: Iterable[date] | None = None) -> dict[str, int]:
        """Compact the small files of the events table (see :func:`maintenance.compact`)."""
        return maintenance.compact(self, days)

    def maintain(
        self, retention: timedelta = DEFAULT_RETENTION, dry_run: bool = False
    ) -> list[maintenance.MaintenanceResult]:
        """Compact, checkpoint and vacuum every table (see :func:`maintenance.maintain`)."""
        return maintenance.maintain(self, retention, dry_run)

    # -- interrupted writes (meterlog.store.recovery) --------------------------------------
    def writing(self) -> contextlib.AbstractContextManager[list[str]]:
        """Mark the store as being written to (see :func:`recovery.writing`)."""
        return recovery.writing(self)

    def cleanup_orphans(self, since: float) -> list[str]:
        """Delete what a stopped run left behind (see :func:`recovery.cleanup_orphans`)."""
        return recovery.cleanup_orphans(self, since)

    # -- locking (meterlog.store.lock) -----------------------------------------------------
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
        with hold_lock(self.root, timeout):
            yield


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


def now_utc() -> datetime:
    return datetime.now(UTC)


def resolve_store(explicit: str | None, configured: str | None = None) -> Store:
    """The store named by ``--store``/``$METERLOG_STORE``, else the config file, else the
    default location."""
    return Store(explicit or configured or DEFAULT_STORE)
