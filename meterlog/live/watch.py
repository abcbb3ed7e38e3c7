"""The watch loop: follow log files, commit micro-batches exactly once, keep live figures.

Each batch is an ordinary ingest of the files that changed (:func:`meterlog.ingest.ingest_inputs`):
the same sources, content identities and per-source progress committed in the same Delta
commit as the rows, the same rejects table and compaction. The store's lock is taken for the
length of a batch only, so cron ``ingest``, ``bill`` and ``maintain`` wait at most about one
batch; an ``ingest`` running over the same files in between simply finds less (or nothing)
left to read, and ``watch`` then finds that ``ingest`` has read it. Killing ``watch`` at any
moment leaves what a killed ``ingest`` leaves: whole commits only, picked up by the next run.

Plugging into the loop: every batch committed is handed to the callables in
:attr:`Watcher.on_batch` (see :class:`Batch`), after the figures were updated. A callback
that raises is reported on the log in one line (said again only when its message changes
or after it succeeded) and does not stop the loop.

What the log says: ``error:`` for what needs someone's attention; ``note:`` for routine
waits that resolve themselves (another run holding the store's lock, a rotated file renamed
while it was read), each said once per episode.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.billing import Identity
from meterlog.billing.plans import TOTAL_CHARGE, PlanFile
from meterlog.errors import MeterlogError, StoreBusyError, StoreError
from meterlog.ingest import FAILED, IngestOptions, IngestSummary, ingest_inputs
from meterlog.live.follow import Follower, PollResult
from meterlog.live.mtd import MonthToDate
from meterlog.live.stats import DEFAULT_MAX_ACCOUNTS, LiveStats
from meterlog.meters import MauMeter, Meter, PeakMeter
from meterlog.query.endpoints import ENDPOINT_COLUMN, EndpointTemplates
from meterlog.query.events import pin
from meterlog.query.identity import with_identity
from meterlog.sources import path_text
from meterlog.store import AUTO_COMPACT_FILES, Store

DEFAULT_INTERVAL = 2.0
DEFAULT_BATCH_LINES = 100_000
#: How often the files are looked at between batches (to commit early after many lines).
POLL_SECONDS = 0.25
#: While idle, how often the store is checked for other writers' commits.
STORE_CHECK_SECONDS = 10.0
#: How often the day partitions written to are checked for many small files (one per batch).
COMPACT_SECONDS = 60.0
#: Size watch compacts files to: files this large are not rewritten again by watch, so a
#: busy day is not rewritten over and over (``meterlog maintain`` makes larger files).
WATCH_COMPACT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Batch:
    """What one batch committed.

    ``events``: the rows as stored, plus ``user`` and ``account`` (as ``meterlog usage`` reads
    them) and ``endpoint`` (a template); ``rejects``: the rejected lines (rejects table
    columns); ``summary``: the ingest summary (files, counts); ``store_version`` after it.
    """

    events: pl.DataFrame
    rejects: pl.DataFrame
    summary: IngestSummary
    store_version: int | None
    committed_at: float


BatchCallback = Callable[[Batch], None]
LogCallback = Callable[[str], None]


def error_line(exc: BaseException) -> str:
    """An exception as one line: its message's first line (Polars adds the query plan below),
    after its type unless it is one of meterlog's own errors (whose message says it all)."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    if isinstance(exc, MeterlogError) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def callback_name(callback: object) -> str:
    """How the log names a batch callback: its ``name``, else its function or class name."""
    name = getattr(callback, "name", None) or getattr(callback, "__name__", None)
    return str(name or type(callback).__name__)


@dataclass
class WatchOptions:
    """How ``watch`` batches and what it keeps (see ``meterlog watch --help``)."""

    interval: float = DEFAULT_INTERVAL
    batch_lines: int = DEFAULT_BATCH_LINES
    identity: Identity = field(default_factory=Identity)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    #: Meters kept month to date; default: a plan's MAU and peak meters, else MAU and the
    #: hourly request peak. With a plan, every meter of it is kept for the running invoice.
    meters: Sequence[Meter] = ()
    plan: PlanFile | None = None
    max_accounts: int = DEFAULT_MAX_ACCOUNTS
    templates: EndpointTemplates = field(default_factory=EndpointTemplates)

    def kept_meters(self) -> list[Meter]:
        if self.meters:
            return list(self.meters)
        if self.plan is not None:
            kept: list[Meter] = [
                m for m in self.plan.meters() if isinstance(m, MauMeter | PeakMeter)
            ]
            if kept:
                return kept
        return [MauMeter(), PeakMeter()]


@dataclass(frozen=True)
class Health:
    lag_seconds: float
    last_commit: float | None
    store_version: int | None
    followed_files: int
    commits: int
    last_error: str | None
    #: The routine wait going on (another run holds the lock, ...), if any.
    last_note: str | None = None


@dataclass(frozen=True)
class PlanUsage:
    """One charge of an account's plan against its month-to-date quantity."""

    account: str | None
    plan: str
    charge: str
    quantity: int
    included: int
    amount: Decimal
    currency: str


class Watcher:
    """Follows ``paths`` and commits what is written to them to ``store`` (module doc)."""

    def __init__(
        self,
        store: Store,
        paths: Sequence[str],
        ingest_options: IngestOptions | None = None,
        options: WatchOptions | None = None,
        on_batch: Sequence[BatchCallback] = (),
        log: LogCallback | None = None,
    ) -> None:
        self.store = store
        self.ingest_options = ingest_options or IngestOptions()
        self.options = options or WatchOptions()
        #: Called with every committed :class:`Batch` (e.g. anomaly detectors).
        self.on_batch: list[BatchCallback] = list(on_batch)
        #: The live anomaly detectors (:class:`meterlog.anomalies.live.LiveAnomalies`), if on.
        self.anomalies: Any = None
        self.log = log
        self.follower = Follower(
            paths,
            self.ingest_options.include,
            self.ingest_options.exclude,
            follow_symlinks=self.ingest_options.follow_symlinks,
        )
        self.stats = LiveStats(self.options.max_accounts)
        self.mtd = MonthToDate(self.options.kept_meters(), self.options.tz, self.options.plan)
        self.mtd_lock = threading.Lock()
        self._registered: set[tuple[str, str]] = set()
        #: Symbolic links leading outside the paths followed, said once each.
        self._links_noted: set[str] = set()
        self._version: int | None = None
        self._pending_since: float | None = None
        self._last_commit: float | None = None
        self._last_store_check = 0.0
        self._commits = 0
        self._bytes_read = 0
        self._lines_read = 0
        self._last_error: str | None = None
        self._reported: set[str] = set()
        self._noted: set[str] = set()
        self._last_note: str | None = None
        self._callback_errors: dict[str, str] = {}
        self._failed_files: set[str] = set()
        self._started = False
        self._days_written: set[date] = set()
        self._last_compaction = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Compute the month-to-date figures from the store (done by the first step too)."""
        self._reload()
        self._started = True

    def close(self) -> None:
        self.follower.close()

    def run(self, stop: threading.Event) -> None:
        """Batch until ``stop`` is set, then commit what was written up to then and return."""
        if not self._started:
            self.start()
        self.step()
        due = time.monotonic() + self.options.interval
        while not stop.wait(max(0.0, min(POLL_SECONDS, due - time.monotonic()))):
            if time.monotonic() >= due or self._many_lines_waiting():
                self.step()
                due = time.monotonic() + self.options.interval
        self.step()

    # -- one batch -------------------------------------------------------------------------
    def step(self) -> Batch | None:
        """Read what changed and commit it; the batch, or None when there was nothing."""
        if not self._started:
            self.start()
        now = time.time()
        if self.mtd.needs_reset(datetime.fromtimestamp(now, UTC)):
            self._reload()
        result = self.follower.poll()
        for link in sorted(self.follower.outside_links - self._links_noted):
            self._links_noted.add(link)
            if self.log is not None:
                self.log(
                    f"note: {path_text(link)}: not read: a symbolic link to a file outside "
                    "the folders named; give --follow-symlinks to read it"
                )
        if not result.inputs:
            if now - self._last_store_check >= STORE_CHECK_SECONDS:
                self._last_store_check = now
                self._check_store()
            return None
        if self._pending_since is None:
            self._pending_since = now
        committed: list[tuple[pl.DataFrame, pl.DataFrame]] = []
        options = dataclasses.replace(
            self.ingest_options,
            on_commit=lambda events, rejects: committed.append((events, rejects)),
            compact=False,  # done by _compact once in a while, after the figures are current
            # waiting for another run's lock happens between batches (so a stop is seen)
            lock_timeout=min(self.ingest_options.lock_timeout, self.options.interval),
        )
        before = self._version
        try:
            summary = ingest_inputs(
                self.store,
                result.inputs,
                options,
                registered=self._registered,
                live=result.live,
            )
        except StoreBusyError as exc:
            # a long cron ingest or maintain holds the lock: routine, tried again next interval
            self._note(f"{str(exc).split(';')[0]}; what was written is committed once it is done")
            self._account(committed, None, before, retry=True)
            return None
        except MeterlogError as exc:
            self._error(str(exc), once=True)
            self._account(committed, None, before, retry=True)
            return None
        vanished = self._vanished(result, summary)
        self.follower.done(_without(result, vanished))
        self._bytes_read += summary.bytes_read
        self._lines_read += summary.parsed + sum(summary.rejected.values())
        batch = self._account(committed, summary, before, retry=False)
        self._pending_since = None
        self._last_error = None
        self._reported.clear()  # a store failure seen again after a success is said again
        if not vanished:
            self._noted.clear()  # and a routine wait, in a later episode
            self._last_note = None
        for index, report in enumerate(summary.sources):
            if index in vanished:
                # renamed (rotated) between the poll and the read: found under its new name
                # by the next poll and read then
                self._note(
                    f"{report.path}: renamed or removed while it was read (rotation); "
                    "read under its new name by the next batch, if it has one"
                )
            elif report.status == FAILED and report.error:
                # a file in another format: said once (not at each line written to it)
                self._last_error = report.error
                if report.error not in self._failed_files:
                    self._failed_files.add(report.error)
                    self._error(report.error)
        if self.ingest_options.compact:
            self._compact(summary)
        return batch

    def _vanished(self, result: PollResult, summary: IngestSummary) -> set[int]:
        """Indexes of the inputs that failed because their name no longer exists: a rotated
        file renamed while the batch read it (it is not marked done, so it is read again)."""
        if len(summary.sources) != len(result.inputs):
            return set()
        return {
            index
            for index, (source, report) in enumerate(
                zip(result.inputs, summary.sources, strict=True)
            )
            if report.status == FAILED and not source.is_stdin and not os.path.lexists(source.path)
        }

    def _compact(self, summary: IngestSummary) -> None:
        """Compact the day partitions written to that hold many small files (as ``ingest``
        does after a run), at most every :data:`COMPACT_SECONDS`."""
        for report in summary.sources:
            if report.bytes_read and report.ts_min and report.ts_max:
                first, last = report.ts_min.date(), report.ts_max.date()
                if (last - first).days > 31:  # odd timestamps: the ends only
                    self._days_written.update((first, last))
                else:
                    self._days_written.update(
                        first + timedelta(days=n) for n in range((last - first).days + 1)
                    )
        if time.monotonic() - self._last_compaction < COMPACT_SECONDS:
            return
        self._last_compaction = time.monotonic()
        days, self._days_written = self._days_written, set()
        try:
            with self.store.lock(min(self.ingest_options.lock_timeout, self.options.interval)):
                before = self.store.version()
                crowded = [
                    day
                    for day, files in self.store.files_per_day(days).items()
                    if files > AUTO_COMPACT_FILES
                ]
                if not crowded:
                    return
                self.store.compact(crowded, target_size=WATCH_COMPACT_BYTES)
                after = self.store.version()
        except StoreBusyError:
            self._days_written |= days  # compacted another time
            return
        except MeterlogError as exc:
            self._error(str(exc), once=True)
            self._days_written |= days
            return
        if before != self._version:
            self._reload(after)  # another writer committed since the last batch
        else:
            self._version = after

    def _account(
        self,
        committed: list[tuple[pl.DataFrame, pl.DataFrame]],
        summary: IngestSummary | None,
        before: int | None,
        retry: bool,
    ) -> Batch | None:
        """Update the figures from the chunks committed (also those of a batch that failed
        part way: they are in the store)."""
        now = time.time()
        if not committed:
            return None
        events = pl.concat([e for e, _ in committed], how="diagonal_relaxed")
        rejects = pl.concat([r for _, r in committed])
        identified = self._identify(events.lazy()).collect()
        self.stats.add(identified, rejects, now)
        version = summary.store_version if summary is not None else self._store_version()
        commits = len(committed)
        if before is None or version != before + commits or retry:
            self._reload(version)  # another writer committed too: read the figures again
        else:
            # the meter states see the rows as bill reads them from the store (identity
            # applied, no endpoint templates): the same partial states, the same quantities
            month_rows = self.options.identity.apply(events.lazy())
            with self.mtd_lock:
                self.mtd.add(month_rows)
            self._version = version
        self._commits += len(committed)
        self._last_commit = now
        if summary is None:
            return None
        batch = Batch(identified, rejects, summary, version, now)
        if self.log is not None:
            self.log(self._commit_line(batch))
        for callback in self.on_batch:
            name = callback_name(callback)
            try:
                callback(batch)
            except Exception as exc:  # a plug-in must not stop the loop
                message = f"batch callback {name} failed: {error_line(exc)}"
                if self._callback_errors.get(name) != message:  # not again at every batch
                    self._callback_errors[name] = message
                    self._error(message)
            else:
                self._callback_errors.pop(name, None)
        return batch

    def _identify(self, events: pl.LazyFrame) -> pl.LazyFrame:
        identity = self.options.identity
        identified = with_identity(
            events, identity.user_field, identity.account_field, identity.accounts
        )
        return identified.with_columns(
            self.options.templates.expression(pl.col("path")).alias(ENDPOINT_COLUMN)
        )

    def _reload(self, version: int | None = None) -> None:
        """Month-to-date figures from the store (at ``version``, default current)."""
        version = self._store_version() if version is None else version
        now = datetime.now(UTC)
        with self.mtd_lock:
            if version is None:
                self.mtd.load(self._identify(_no_events()), now)
            else:
                self.mtd.load_store(pin(self.store, version), self.options.identity, now)
            accounts = sorted(
                self.mtd.requests().items(), key=lambda item: (-item[1], item[0] or "")
            )
        self.stats.accounts.admit([account for account, _ in accounts])
        self._version = version

    def _store_version(self) -> int | None:
        try:
            return self.store.version()
        except StoreError as exc:
            self._error(str(exc))
            return self._version

    def _check_store(self) -> None:
        """Another writer (a cron ingest) committed: read the figures again."""
        version = self._store_version()
        if version != self._version:
            self._reload(version)

    def _many_lines_waiting(self) -> bool:
        """About ``batch_lines`` lines were written since the last batch (estimated from the
        average line length read so far)."""
        average = self._bytes_read / self._lines_read if self._lines_read else 200.0
        return self.follower.unread_bytes() >= self.options.batch_lines * average

    def report_error(self, message: str) -> None:
        """Say ``message`` on the log as an error (for parts such as the metrics server,
        which say each of their errors once and keep serving what they can)."""
        self._error(message)

    def _error(self, message: str, once: bool = False) -> None:
        if once and message in self._reported:
            return
        self._reported.add(message)
        self._last_error = message
        if self.log is not None:
            self.log(f"error: {message}")

    def _note(self, message: str) -> None:
        """A routine wait or retry, said once per episode (not an error)."""
        self._last_note = message
        if message in self._noted:
            return
        self._noted.add(message)
        if self.log is not None:
            self.log(f"note: {message}")

    def _commit_line(self, batch: Batch) -> str:
        summary = batch.summary
        rejected = batch.rejects.height
        read = [s for s in summary.sources if s.bytes_read]
        when = datetime.fromtimestamp(batch.committed_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{when} committed {batch.events.height:,} lines"
            + (f" ({rejected:,} rejected)" if rejected else "")
            + f" from {len(read)} file{'s' if len(read) != 1 else ''}"
            + f", store version {batch.store_version}"
        )

    # -- figures ---------------------------------------------------------------------------
    def health(self) -> Health:
        lag = 0.0 if self._pending_since is None else time.time() - self._pending_since
        return Health(
            lag_seconds=lag,
            last_commit=self._last_commit,
            store_version=self._version,
            followed_files=self.follower.followed,
            commits=self._commits,
            last_error=self._last_error,
            last_note=self._last_note,
        )

    def plan_usage(self) -> list[PlanUsage]:
        """With a plan: each billed account's lines of ``bill --month current`` now (base fee
        and charges with their month-to-date quantities and amounts); requests without an
        account are never billed."""
        with self.mtd_lock:
            lines = self.mtd.invoice_lines(self._version)
        if lines is None:
            return []
        return [
            PlanUsage(
                line["account"],
                line["plan"],
                line["charge"],
                line["quantity"] or 0,
                line["included"] or 0,
                Decimal(line["amount"]),
                line["currency"],
            )
            for line in lines.iter_rows(named=True)
            if line["charge"] != TOTAL_CHARGE
        ]

    def accrued(self) -> dict[str, tuple[Decimal, str]]:
        """With a plan: each billed account's month-to-date amount and currency, the TOTAL
        ``bill --month current`` prints for it at the same store version."""
        with self.mtd_lock:
            return self.mtd.accrued()

    def included_units(self) -> dict[tuple[str | None, str], int]:
        """``(account, meter kind) -> included units`` of each billed account's plan (with a
        plan); requests without an account are on no plan."""
        plan_file = self.options.plan
        if plan_file is None:
            return {}
        units: dict[tuple[str | None, str], int] = {}
        for account in self.accrued():
            for charge in plan_file.plan_for(account).charges:
                if charge.included:
                    units[(account, charge.meter.kind)] = charge.included
        return units


def _without(result: PollResult, indexes: set[int]) -> PollResult:
    """``result`` without the inputs at ``indexes`` (so they are handed out again)."""
    if not indexes:
        return result
    keep = [i for i in range(len(result.inputs)) if i not in indexes]
    return PollResult(
        [result.inputs[i] for i in keep],
        [result.keys[i] for i in keep],
        [result.seen[i] for i in keep],
        result.missing,
        result.live,
    )


def _no_events() -> pl.LazyFrame:
    from meterlog.schema import CANONICAL_COLUMNS, PARTITION_COLUMN

    return pl.LazyFrame(schema={**CANONICAL_COLUMNS, PARTITION_COLUMN: pl.Date()})
