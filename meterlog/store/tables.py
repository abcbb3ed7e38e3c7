"""Reading and writing the store's Delta tables (see :mod:`meterlog.store`)."""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from meterlog.errors import StoreError
from meterlog.schema import PARTITION_COLUMN, REJECT_COLUMNS
from meterlog.store import maintenance, recovery
from meterlog.store.layout import (
    COMMIT_ATTEMPTS,
    COMPACT_TARGET_BYTES,
    DEFAULT_RETENTION,
    DEFAULT_STORE,
    EVENTS_TABLE,
    EVENTS_WRITER_PROPERTIES,
    HEAD_FIELDS,
    LOCK_FILE,
    METER_STATES_TABLE,
    REJECTS_TABLE,
    SOURCE_COLUMNS,
    SOURCES_TABLE,
    Progress,
    SourceHead,
    head_app_id,
    lines_app_id,
    offset_app_id,
)
from meterlog.store.lock import hold_lock
from meterlog.store.native import native_errors_held_back
from meterlog.store.pseudonyms import Pseudonymization, check_pseudonymization, mismatch_in
from meterlog.store.recovery import damage_message, missing_data_files


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
        except PermissionError:
            raise StoreError(
                f"permission denied: {root}; run as the user that owns the store, "
                "or give this user access to it"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"{root}: cannot open the store: {exc.strerror}; check the path"
            ) from None
        if not is_folder:
            raise StoreError(f"{root}: is not a folder; give the store's folder with --store")
        real_root = Path(os.path.realpath(root))
        for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE, METER_STATES_TABLE, LOCK_FILE):
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
            self._check_readable(name)
            return None
        except (DeltaError, OSError) as exc:
            self._check_readable(name)
            raise StoreError(damage_message(self, name, str(exc))) from None
        self._tables[name] = table
        return table

    def forget(self, name: str) -> None:
        """Drop the open table ``name`` (its files changed behind Delta's back: a repair)."""
        self._tables.pop(name, None)

    def _check_readable(self, name: str) -> None:
        """A table that looks absent or broken because this user may not read it is named as
        such (local stores): ``permission denied: PATH``."""
        if not self.is_local:
            return
        for path in (self.root, self.root / name, self.root / name / "_delta_log"):
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        if path.name == "_delta_log" and entry.is_file():
                            with open(entry.path, "rb"):
                                pass
            except FileNotFoundError:
                return
            except PermissionError as exc:
                where = exc.filename or path
                raise StoreError(
                    f"permission denied: {where}; run as the user that owns the store, "
                    "or give this user read access"
                ) from None
            except OSError:
                return

    def check_data_files(self) -> None:
        """StoreError naming a data file the events table uses that is gone (local stores), and
        what to do: reading would fail, and ingesting would not bring those lines back."""
        missing = missing_data_files(self, EVENTS_TABLE)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise StoreError(
                f"{missing[0]}: data file is missing{more}; run 'meterlog check --store "
                f"{self.uri} --repair' to remove it from the table and rewind the sources that "
                "wrote it (the next ingest reads those lines again)"
            )

    def is_store(self) -> bool:
        """Whether a meterlog store is here: one of its tables, or the lock file an ingest
        leaves (a store where nothing was stored yet)."""
        if any(
            self.table(name) is not None for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE)
        ):
            return True
        return self.is_local and (self.root / LOCK_FILE).exists()

    def require(self) -> Store:
        """This store; StoreError when there is none at its location (a mistyped --store)."""
        if not self.is_store():
            raise NoStoreError(f"no meterlog store at {self.uri} (check --store / METERLOG_STORE)")
        return self

    def version(self) -> int | None:
        """The events table's current version (None when nothing was ever ingested)."""
        table = self.table(EVENTS_TABLE)
        return None if table is None else table.version()

    def progress(self, source_id: str) -> Progress:
        """What the events table holds of ``source_id`` (zero for a new source)."""
        return _progress_in(self.table(EVENTS_TABLE), source_id)

    def source_head(self, source_id: str) -> SourceHead | None:
        """What the store records of ``source_id``'s head (None: nothing, a store written
        before heads were recorded)."""
        table = self.table(EVENTS_TABLE)
        if table is None:
            return None
        values = [table.transaction_version(head_app_id(f, source_id)) for f in HEAD_FIELDS]
        length, digest, dev, ino = values
        if not length or digest is None:
            return None
        key = (int(dev or 0), int(ino)) if ino else None
        return SourceHead(int(length), int(digest), key)

    def rejects_offset(self, source_id: str) -> int:
        return _offset_in(self.table(REJECTS_TABLE), source_id)

    def scan_events(self, version: int | None = None) -> pl.LazyFrame:
        """The events as a lazy frame (at ``version`` for time travel)."""
        table = self.require().table(EVENTS_TABLE)
        if table is None:
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
        expect: Callable[[DeltaTable | None], Progress | None] | None = None,
    ) -> None:
        """Append ``data`` to table ``name`` in one commit.

        ``expect``, when given, is asked about the snapshot the commit will be based on (the
        table brought up to date just before writing): None when the data is still to be
        written there, else the progress found instead, and :class:`ProgressMoved` is raised
        without writing. A commit is based on that snapshot: Delta refuses it when another
        writer committed in between a transaction of the same application id (the same
        source), so what was checked is what is committed on. Another writer's commit that
        conflicts in another way (several hosts writing to one object store) makes the commit
        fail; it is checked and tried again, up to :data:`COMMIT_ATTEMPTS` times.
        """
        # without writer properties the writer's defaults apply
        tuning: dict[str, Any] = (
            {} if writer_properties is None else {"writer_properties": writer_properties}
        )
        if expect is not None and self.table(name) is None:
            self._create(name, data, partition_by)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            table = self.table(name)
            if expect is not None and table is None:
                raise StoreError(f"{self.table_uri(name)}: the table disappeared while writing")
            if expect is not None:
                found = expect(table)
                if found is not None:
                    raise ProgressMoved(self.table_uri(name), found)
            try:
                with native_errors_held_back():
                    write_deltalake(
                        table if table is not None else self.table_uri(name),
                        data,
                        mode="append",
                        partition_by=partition_by,
                        schema_mode="merge",
                        storage_options=self.storage_options,
                        **tuning,
                        commit_properties=CommitProperties(
                            app_transactions=transactions, custom_metadata=metadata
                        ),
                    )
                return
            except (CommitFailedError, DeltaError) as exc:
                # Lost a race: another writer committed first.
                if not isinstance(exc, CommitFailedError):
                    raise StoreError(_write_error(self.table_uri(name), str(exc))) from None
                if attempt == COMMIT_ATTEMPTS:
                    raise StoreError(
                        f"{self.table_uri(name)}: cannot write: {exc}; other writers changed "
                        f"the table {COMMIT_ATTEMPTS} times while this one tried and nothing "
                        "of this chunk was committed: run again"
                    ) from None
                time.sleep(0.05 * attempt)
            except OSError as exc:
                raise StoreError(
                    _write_error(self.table_uri(name), exc.strerror or str(exc))
                ) from None

    def _create(self, name: str, data: pa.Table, partition_by: list[str] | None) -> None:
        """Create table ``name`` with ``data``'s columns and no rows, in a commit of its own.

        Data checked against a progress is never committed in the commit that creates a
        table: Delta checks a commit against those made since the snapshot it was based on,
        and a creating commit has no snapshot, so two writers that both found no table could
        both commit the same lines.
        Two creators racing here at worst both commit an empty table.
        """
        try:
            with native_errors_held_back():
                write_deltalake(
                    self.table_uri(name),
                    data.slice(0, 0),
                    mode="append",
                    partition_by=partition_by,
                    storage_options=self.storage_options,
                    commit_properties=CommitProperties(
                        custom_metadata={"meterlog.operation": "create"}
                    ),
                )
        except (DeltaError, OSError) as exc:
            if self.table(name) is None:  # not created by another writer meanwhile
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise StoreError(_write_error(self.table_uri(name), detail or str(exc))) from None

    def commit_events(
        self,
        events: pl.DataFrame,
        source_id: str,
        end: Progress,
        metadata: dict[str, str] | None = None,
        start: Progress | None = None,
        pseudonymization: Pseudonymization | None = None,
        head: SourceHead | None = None,
    ) -> None:
        """Append ``events`` and set ``source_id``'s progress to ``end`` in one atomic commit.

        ``head``, when given, is recorded for the source in the same commit (see
        :meth:`source_head`).

        ``pseudonymization`` says how the rows' user identifiers were written (None: raw);
        with ``start``, a commit on a store written another way is refused (StoreError, see
        :mod:`meterlog.store.pseudonyms`).

        With ``start`` (the progress the rows follow), the commit is made only on a snapshot
        in which the source's progress is ``start``; otherwise (another writer committed
        these lines, or some of them, first) :class:`ProgressMoved` is raised with the progress
        found, nothing is written, and the caller re-plans from there.
        """
        data = events.with_columns(pl.col("ts").dt.date().alias(PARTITION_COLUMN))

        def moved(table: DeltaTable | None) -> Progress | None:
            refused = mismatch_in(table, self.uri, pseudonymization)
            if refused is not None:
                raise StoreError(refused)
            found = _progress_in(table, source_id)
            return None if found == start else found

        self._write(
            EVENTS_TABLE,
            # Arrow string views: Polars' own layout, handed over without copying the strings
            data.to_arrow(compat_level=pl.CompatLevel.newest()),
            partition_by=[PARTITION_COLUMN],
            writer_properties=EVENTS_WRITER_PROPERTIES,
            transactions=[
                Transaction(offset_app_id(source_id), end.offset),
                Transaction(lines_app_id(source_id), end.lines),
                *(_head_transactions(source_id, head) if head is not None else ()),
                *(pseudonymization.transactions() if pseudonymization is not None else ()),
            ],
            metadata=metadata,
            expect=None if start is None else moved,
        )

    def commit_rejects(
        self,
        rejects: pl.DataFrame,
        source_id: str,
        end_offset: int,
        start_offset: int | None = None,
    ) -> None:
        """Append rejected lines and set the rejects table's progress for ``source_id``; with
        ``start_offset``, only on a snapshot where that progress is ``start_offset`` (else
        :class:`ProgressMoved` with the offset found, as for :meth:`commit_events`)."""

        def moved(table: DeltaTable | None) -> Progress | None:
            found = _offset_in(table, source_id)
            return None if found == start_offset else Progress(found)

        self._write(
            REJECTS_TABLE,
            rejects.select(list(REJECT_COLUMNS)).to_arrow(),
            transactions=[Transaction(offset_app_id(source_id), end_offset)],
            expect=None if start_offset is None else moved,
        )

    def record_sources(self, rows: pl.DataFrame) -> None:
        """Append rows describing sources read in a run (informational: paths, formats)."""
        if rows.height:
            self._write(SOURCES_TABLE, rows.select(list(SOURCE_COLUMNS)).to_arrow())

    def record_meter_states(self, rows: pl.DataFrame) -> None:
        """Append cached meter states (:mod:`meterlog.meters.cache`) in one commit."""
        if rows.height:
            self._write(METER_STATES_TABLE, rows.to_arrow())

    def replace_meter_states(self, rows: pl.DataFrame) -> None:
        """Replace the cached meter states by ``rows`` in one commit (``maintain``)."""
        try:
            with native_errors_held_back():
                write_deltalake(
                    self.table_uri(METER_STATES_TABLE),
                    rows.to_arrow(),
                    mode="overwrite",
                    storage_options=self.storage_options,
                )
        except (DeltaError, OSError) as exc:
            raise StoreError(_write_error(self.table_uri(METER_STATES_TABLE), str(exc))) from None

    def check_pseudonymization(self, run: Pseudonymization | None) -> None:
        """Refuse a run that writes user identifiers otherwise than the store holds them
        (see :mod:`meterlog.store.pseudonyms`)."""
        check_pseudonymization(self, run)

    # -- maintenance (meterlog.store.maintenance) ------------------------------------------
    def files_per_day(self, days: Iterable[date] | None = None) -> dict[date, int]:
        """How many data files each day partition of the events table holds."""
        return maintenance.files_per_day(self, days)

    def compact(
        self, days: Iterable[date] | None = None, target_size: int = COMPACT_TARGET_BYTES
    ) -> dict[str, int]:
        """Compact the small files of the events table (see :func:`maintenance.compact`)."""
        return maintenance.compact(self, days, target_size)

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


class Snapshot(Store):
    """A store read at one pinned version of its events table: every read of events through
    it (:meth:`scan_events` without a version, :meth:`version`) sees that version, so a report,
    an invoice and its evidence computed from one snapshot can never mix versions. Reading an
    older version explicitly (``scan_events(version=N)``) still works. A snapshot is for
    reading: writing through it is refused."""

    def __init__(self, store: Store, version: int) -> None:
        super().__init__(store.uri, store.storage_options)
        self._tables = store._tables
        self._layout_checked = store._layout_checked
        self.pinned = version

    def version(self) -> int | None:
        return self.pinned

    def scan_events(self, version: int | None = None) -> pl.LazyFrame:
        return super().scan_events(self.pinned if version is None else version)

    def _write(self, name: str, data: pa.Table, **kwargs: Any) -> None:
        raise StoreError(f"{self.uri}: a snapshot at store version {self.pinned} is read-only")


class NoStoreError(StoreError):
    """There is no meterlog store where one is to be read (a mistyped ``--store``)."""


class ProgressMoved(StoreError):
    """A commit was not made: the source's progress in the table is not the one the data
    follows (another writer committed some or all of these lines first)."""

    def __init__(self, where: str, found: Progress) -> None:
        super().__init__(
            f"{where}: another writer stored lines of this source first (its progress is now "
            f"{found.offset} bytes); nothing of this chunk was committed: run again"
        )
        self.found = found


def _head_transactions(source_id: str, head: SourceHead) -> list[Transaction]:
    dev, ino = head.key if head.key is not None else (0, 0)
    values = (head.length, head.digest, dev & (2**63 - 1), ino & (2**63 - 1))
    return [
        Transaction(head_app_id(field, source_id), value)
        for field, value in zip(HEAD_FIELDS, values, strict=True)
    ]


def _offset_in(table: DeltaTable | None, source_id: str) -> int:
    """Bytes of ``source_id`` consumed, in the snapshot ``table`` holds."""
    if table is None:
        return 0
    return table.transaction_version(offset_app_id(source_id)) or 0


def _progress_in(table: DeltaTable | None, source_id: str) -> Progress:
    """``source_id``'s progress in the snapshot ``table`` holds (zero for a new source)."""
    if table is None:
        return Progress()
    return Progress(
        _offset_in(table, source_id), table.transaction_version(lines_app_id(source_id)) or 0
    )


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


def now_utc() -> datetime:
    return datetime.now(UTC)


def resolve_store(explicit: str | None, configured: str | None = None) -> Store:
    """The store named by ``--store``/``$METERLOG_STORE``, else the config file, else the
    default location."""
    return Store(explicit or configured or DEFAULT_STORE)
