"""Ingest: read log sources, parse them and commit new lines to the store exactly once.

For each source: fingerprint it, look up how much of it the store already holds, skip that,
parse the rest chunk by chunk and commit each chunk's rows together with the source's new
progress (see :mod:`meterlog.store`). Re-running over the same files, renamed, rotated or
compressed files adds nothing; a grown file adds only its new lines.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from meterlog.errors import InputError, StoreError
from meterlog.formats import LogFormat, auto_candidates, detect_format
from meterlog.pseudonymize import Pseudonymizer
from meterlog.schema import REJECT_COLUMNS
from meterlog.sources import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_EXCLUDE,
    DEFAULT_INCLUDE,
    DEFAULT_MAX_LINE_BYTES,
    InputFile,
    LineBatch,
    LineReader,
    decode_for_display,
    discover_inputs,
    line_ends,
    path_for_display,
    read_ahead,
    split_lines,
)
from meterlog.store import (
    AUTO_COMPACT_FILES,
    SOURCE_COLUMNS,
    Progress,
    ProgressMoved,
    Pseudonymization,
    Store,
    now_utc,
)
from meterlog.timewindow import (
    DEFAULT_ACCEPT_WINDOW,
    AcceptWindow,
    OutsideWindow,
    outside_window,
    parse_accept_window,
)

#: Default chunk size of formats parsed a whole chunk at a time (see ``IngestOptions``).
WHOLE_CHUNK_BYTES = 16 * 1024 * 1024
#: Chunks being parsed while the oldest parsed one is committed. Two keep both cores busy
#: through a commit (3% faster than one on 10M lines) for about 0.1 GB more memory.
CHUNKS_IN_FLIGHT = 2

#: A chunk is parsed in slices of about this many bytes, cut at line ends, by parallel threads
#: (Polars releases the GIL); commits stay one per chunk, with the same rows as before.
SLICE_BYTES = 8 * 1024 * 1024


def default_threads() -> int:
    """Threads parsing at once: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


#: Statuses a source can end a run with.
NEW, GROWN, UNCHANGED, DUPLICATE, WAITING, FAILED = (
    "new",
    "grown",
    "unchanged",
    "duplicate",
    "waiting",
    "failed",
)


@dataclass
class IngestOptions:
    """How to ingest. ``log_format`` forces one format; otherwise each file's format is detected
    among ``custom_format`` (if any) and the built-in formats."""

    log_format: LogFormat | None = None
    custom_format: LogFormat | None = None
    include: Sequence[str] = DEFAULT_INCLUDE
    exclude: Sequence[str] = DEFAULT_EXCLUDE
    max_reject_ratio: float = 0.5
    #: Bytes per chunk; None: :data:`DEFAULT_CHUNK_BYTES`, or :data:`WHOLE_CHUNK_BYTES` for a
    #: format parsed a whole chunk at a time (JSON lines), whose memory grows with the chunk.
    chunk_bytes: int | None = None
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    lock_timeout: float = 60.0
    examples_per_source: int = 3
    #: Threads parsing slices of chunks at once (0: one per CPU).
    threads: int = 0
    #: Compact the day partitions written to when they hold many small files.
    compact: bool = True
    #: Event times outside this window around the run's time are kept but flagged.
    accept_window: AcceptWindow | None = field(
        default_factory=lambda: parse_accept_window(DEFAULT_ACCEPT_WINDOW)
    )
    #: The time the accept window is centred on (default: the start of the run).
    now: datetime | None = None
    #: Replace user identifiers by keyed digests before anything is committed.
    pseudonymizer: Pseudonymizer | None = None


@dataclass
class SourceReport:
    """What one run did with one input."""

    path: str
    status: str = UNCHANGED
    source_id: str | None = None
    format: str | None = None
    compression: str = "none"
    bytes_read: int = 0
    parsed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str, str]] = field(default_factory=list)
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    partial_line_bytes: int = 0
    outside: OutsideWindow = field(default_factory=OutsideWindow)
    error: str | None = None
    note: str | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass
class IngestSummary:
    sources: list[SourceReport]
    seconds: float
    store_version: int | None
    #: Day partitions compacted after the run (see ``IngestOptions.compact``).
    compacted_days: int = 0

    def count(self, status: str) -> int:
        return sum(1 for s in self.sources if s.status == status)

    @property
    def parsed(self) -> int:
        return sum(s.parsed for s in self.sources)

    @property
    def rejected(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for source in self.sources:
            total.update(source.rejected)
        return total

    @property
    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in self.sources)

    @property
    def outside(self) -> OutsideWindow:
        total = OutsideWindow()
        for source in self.sources:
            total.add(source.outside)
        return total

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status == FAILED]

    @property
    def time_range(self) -> tuple[datetime | None, datetime | None]:
        starts = [s.ts_min for s in self.sources if s.ts_min is not None]
        ends = [s.ts_max for s in self.sources if s.ts_max is not None]
        return (min(starts) if starts else None, max(ends) if ends else None)


ProgressCallback = Callable[[str, int], None]


def ingest(
    store: Store,
    paths: Sequence[str],
    options: IngestOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestSummary:
    """Ingest ``paths`` (files, directories, globs, ``-``) into ``store``; never raises for a
    bad line or a bad file (those are reported in the summary), only for a store failure."""
    options = options or IngestOptions()
    inputs = discover_inputs(paths, options.include, options.exclude)
    started = time.monotonic()
    reports: list[SourceReport] = []
    run_at = now_utc()
    threads = options.threads or default_threads()
    with (
        store.lock(options.lock_timeout),
        store.writing(),
        ThreadPoolExecutor(threads, thread_name_prefix="meterlog-parse") as pool,
    ):
        seen: set[str] = set()
        registry: list[dict[str, object]] = []
        store.check_pseudonymization(_pseudonymization(options))
        known = store.known_source_ids()
        for source in inputs:
            report = SourceReport(path=path_for_display(source.path))
            reports.append(report)
            try:
                _ingest_source(store, source, options, report, seen, run_at, on_progress, pool)
            except InputError as exc:
                report.status = FAILED
                report.error = str(exc)
            if report.source_id and report.status != DUPLICATE:
                # Registered after reading new data, and also when an earlier run that was
                # stopped before its end committed the data but not the registration.
                progress = store.progress(report.source_id)
                if not progress.offset or (not report.bytes_read and report.source_id in known):
                    continue
                known.add(report.source_id)
                registry.append(
                    {
                        "source_id": report.source_id,
                        "path": source.path if source.is_stdin else os.path.abspath(source.path),
                        "format": report.format,
                        "compression": report.compression,
                        "offset": progress.offset,
                        "lines": progress.lines,
                        "seen_at": run_at,
                    }
                )
        if registry:
            store.record_sources(pl.DataFrame(registry, schema=SOURCE_COLUMNS))
        compacted = _compact_written_days(store, reports) if options.compact else 0
    summary = IngestSummary(reports, time.monotonic() - started, store.version())
    summary.compacted_days = compacted
    return summary


def _pseudonymization(options: IngestOptions) -> Pseudonymization | None:
    """How the run writes user identifiers, as the store records it."""
    pseudonymizer = options.pseudonymizer
    if pseudonymizer is None:
        return None
    return Pseudonymization(pseudonymizer.key_id, pseudonymizer.fields)


def _compact_written_days(store: Store, reports: list[SourceReport]) -> int:
    """Compact the day partitions this run wrote to that now hold more than
    :data:`AUTO_COMPACT_FILES` files (frequent runs add a few small files each); the number
    of days compacted."""
    days: set[date] = set()
    for report in reports:
        if report.status in (NEW, GROWN) and report.ts_min and report.ts_max:
            first, last = report.ts_min.date(), report.ts_max.date()
            if (last - first).days > 3660:  # odd timestamps: the ends only
                days.update((first, last))
                continue
            days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    files = store.files_per_day(days)
    crowded = [day for day, count in files.items() if count > AUTO_COMPACT_FILES]
    if crowded:
        store.compact(crowded)
    return len(crowded)


def _choose_format(reader: LineReader, options: IngestOptions) -> tuple[LogFormat, int, int]:
    """The format for a source, with how many of the sampled first lines it parses."""
    head = split_lines(reader.head_lines(), 0, 1, options.max_line_bytes).lines
    if options.log_format is not None:
        matched = options.log_format.parse(head).events.height if head.height else 0
        return options.log_format, matched, head.height
    detection = detect_format(head, auto_candidates(options.custom_format))
    return detection.format, detection.matched, detection.sampled


def _format_hint(path: str, log_format: LogFormat | None) -> str:
    what = (
        f"most lines do not match the {log_format.describe()} log format"
        if log_format is not None
        else "no line matches a known log format (json, main, combined, common)"
    )
    return (
        f"{path}: {what}; "
        "the file was not ingested. Give its format with --log-format "
        "'$remote_addr - $remote_user [$time_local] \"$request\" ...' "
        "or --nginx-conf /etc/nginx/nginx.conf --log-format-name NAME"
    )


def _ingest_source(
    store: Store,
    source: InputFile,
    options: IngestOptions,
    report: SourceReport,
    seen: set[str],
    run_at: datetime,
    on_progress: ProgressCallback | None,
    pool: ThreadPoolExecutor,
) -> None:
    with LineReader(source) as reader:
        report.compression = reader.compression
        candidates = reader.fingerprint_candidates()
        if not candidates:
            if reader.damage is not None:
                raise reader.damage
            report.status = WAITING if reader.can_grow else UNCHANGED
            return
        duplicate_of = next((c for c in candidates if c in seen), None)
        if duplicate_of is not None:
            report.source_id = duplicate_of
            report.status = DUPLICATE
            return
        source_id = next((c for c in candidates if store.progress(c).offset), candidates[0])
        report.source_id = source_id
        seen.add(source_id)
        log_format, matched, sampled = _choose_format(reader, options)
        report.format = log_format.name
        if sampled and matched / sampled < 1 - options.max_reject_ratio:
            report.status = FAILED
            detected = matched > 0 or options.log_format is not None
            report.error = _format_hint(report.path, log_format if detected else None)
            return
        progress = store.progress(source_id)
        rejects_offset = store.rejects_offset(source_id)
        if not reader.skip_to(progress.offset):
            report.note = (
                f"shorter than the {progress.offset} bytes already stored for it; "
                "nothing read (was it truncated in place?)"
            )
            return
        # A pipeline: a thread reads (and decompresses) the next chunk, the pool parses the
        # slices of the CHUNKS_IN_FLIGHT chunks after the one being committed, and this thread
        # commits chunks in order, each with the source's progress, exactly as a sequential
        # loop would.
        parser = _ChunkParser(log_format, options, source_id, report.path, run_at, pool)
        committer = _ChunkCommitter(
            store,
            source_id,
            log_format,
            options,
            report,
            progress,
            rejects_offset,
            on_progress,
            options.now or run_at,
            _pseudonymization(options),
        )
        lines_read = progress.lines
        chunks = read_ahead(
            (
                _plan_chunk(start, data, parser.slice_bytes)
                for start, data in reader.chunks(_chunk_bytes(options, log_format))
            ),
            wait=not source.is_stdin,
        )
        with contextlib.closing(chunks):
            waiting: collections.deque[_ParsedChunk] = collections.deque()
            failed = False
            while not failed:
                try:
                    plan = next(chunks)
                except StopIteration:
                    break
                except InputError:
                    for chunk in waiting:  # keep the lines before the damage
                        if not committer.commit(chunk):
                            break
                    raise
                parsed = parser.submit(plan, lines_read)
                lines_read += parsed.lines
                waiting.append(parsed)
                while len(waiting) > CHUNKS_IN_FLIGHT:
                    if not committer.commit(waiting.popleft()):
                        failed = True
                        break
            for chunk in waiting:
                if failed or not committer.commit(chunk):
                    failed = True
                    chunk.cancel()
        report.partial_line_bytes = reader.partial_line_bytes


def _chunk_bytes(options: IngestOptions, log_format: LogFormat) -> int:
    if options.chunk_bytes:
        return options.chunk_bytes
    return DEFAULT_CHUNK_BYTES if log_format.lines_independent else WHOLE_CHUNK_BYTES


@dataclass
class _ParsedChunk:
    """A chunk whose slices are being parsed: where it starts, its bytes and lines."""

    start: int
    size: int
    first_line: int
    lines: int
    slices: list[Future[tuple[pl.DataFrame, pl.DataFrame]]]

    def cancel(self) -> None:
        for future in self.slices:
            future.cancel()

    def result(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Events and rejects (in line order) of the whole chunk."""
        parts = [future.result() for future in self.slices]
        if len(parts) == 1:
            return parts[0]
        events = pl.concat([events for events, _ in parts], how="diagonal_relaxed")
        return events, pl.concat([rejects for _, rejects in parts])


@dataclass
class _ChunkParser:
    """Parses chunks in slices on a thread pool."""

    log_format: LogFormat
    options: IngestOptions
    source_id: str
    path: str
    run_at: datetime
    pool: ThreadPoolExecutor

    @property
    def slice_bytes(self) -> int:
        # A format whose result for a line depends on the other lines of the chunk (JSON's
        # schema) is parsed a chunk at a time.
        return SLICE_BYTES if self.log_format.lines_independent else 0

    def submit(self, plan: _ChunkPlan, lines_before: int) -> _ParsedChunk:
        chunk = _ParsedChunk(plan.start, len(plan.data), lines_before + 1, plan.lines, [])
        view = memoryview(plan.data)
        for (begin, end, lines_in_front), ends in zip(plan.slices, plan.slice_ends, strict=True):
            first_line = chunk.first_line + lines_in_front
            chunk.slices.append(
                self.pool.submit(
                    self._parse, view[begin:end], plan.start + begin, first_line, ends - begin
                )
            )
        return chunk

    def _parse(
        self, data: memoryview, start: int, first_line: int, ends: np.ndarray
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        batch = split_lines(data, start, first_line, self.options.max_line_bytes, ends)  # type: ignore[arg-type]
        result = self.log_format.parse(batch.lines)
        rejects = _rejects_frame(batch, result.rejects, self.source_id, self.path, self.run_at)
        return result.events, rejects


@dataclass
class _ChunkPlan:
    """A chunk read from a source: its lines, and the slices it is parsed in."""

    start: int
    data: bytes | bytearray
    lines: int
    #: ``(begin, end, lines before begin)`` of each slice.
    slices: list[tuple[int, int, int]]
    #: The line ends (:func:`line_ends`, offsets in ``data``) of each slice.
    slice_ends: list[np.ndarray]


def _plan_chunk(start: int, data: bytes | bytearray, slice_bytes: int) -> _ChunkPlan:
    """Find ``data``'s lines and cut it into slices of about ``slice_bytes`` at line ends (one
    slice when ``slice_bytes`` is 0). Runs on the read-ahead thread; the line ends found here
    are the ones the slices are split at."""
    ends = line_ends(data)
    slices: list[tuple[int, int, int]] = []
    slice_ends: list[np.ndarray] = []
    begin = first = 0
    while begin < len(data):
        last = len(ends) - 1  # index of the slice's last line end
        if slice_bytes and begin + slice_bytes < len(data):
            last = min(last, int(np.searchsorted(ends, begin + slice_bytes)))
        slices.append((begin, int(ends[last]), first))
        slice_ends.append(ends[first : last + 1])
        begin, first = int(ends[last]), last + 1
    return _ChunkPlan(start, data, len(ends), slices, slice_ends)


@dataclass
class _ChunkCommitter:
    """Commits a source's parsed chunks in order: rejects, then events with the progress."""

    store: Store
    source_id: str
    log_format: LogFormat
    options: IngestOptions
    report: SourceReport
    progress: Progress
    rejects_offset: int
    on_progress: ProgressCallback | None
    now: datetime
    pseudonymization: Pseudonymization | None = None
    #: The progress the next chunk follows when another writer has stored beyond its start.
    start: Progress = field(default_factory=Progress)

    def commit(self, chunk: _ParsedChunk) -> bool:
        """Commit ``chunk``; False (and the source failed) when too many lines are rejected."""
        options, report, store = self.options, self.report, self.store
        events, rejects = chunk.result()
        if chunk.lines and rejects.height / chunk.lines > options.max_reject_ratio:
            report.status = FAILED
            report.error = _format_hint(report.path, self.log_format)
            return False
        end = Progress(chunk.start + chunk.size, chunk.first_line - 1 + chunk.lines)
        if options.pseudonymizer is not None:
            # a line that did not parse cannot be searched for identifiers: keep no text
            rejects = rejects.with_columns(pl.lit(None, pl.String).alias("line"))
        while rejects.height and self.rejects_offset < end.offset:
            # A run stopped between the two commits, or another writer, may have stored part
            # of these already: only those after the stored progress are committed.
            rejects = rejects.filter(pl.col("source_offset") >= self.rejects_offset)
            try:
                store.commit_rejects(
                    rejects, self.source_id, end.offset, start_offset=self.rejects_offset
                )
                self.rejects_offset = end.offset
            except ProgressMoved as moved:
                self._check_not_rewound(moved, self.rejects_offset)
                self.rejects_offset = moved.found.offset
        events = events.with_columns(pl.lit(self.source_id).alias("source_id"))
        if options.pseudonymizer is not None:
            events = options.pseudonymizer.apply(events)
        outside = outside_window(events, options.accept_window, self.now)
        metadata = {"meterlog.source": report.path, "meterlog.format": self.log_format.name}
        if outside.total:
            metadata["meterlog.outside_window"] = str(outside.total)
        if options.pseudonymizer is not None:
            metadata["meterlog.pseudonymized"] = ",".join(options.pseudonymizer.fields)
            metadata["meterlog.key_id"] = options.pseudonymizer.key_id
        start = (
            self.start
            if self.start.offset > chunk.start
            else Progress(chunk.start, chunk.first_line - 1)
        )
        while True:
            if start.offset >= end.offset:  # another writer stored all of these lines
                self.start = start
                return True
            if start.offset > chunk.start:  # ... or the first of them: commit the rest
                events = events.filter(pl.col("source_offset") >= start.offset)
                outside = outside_window(events, options.accept_window, self.now)
                if outside.total:
                    metadata["meterlog.outside_window"] = str(outside.total)
                else:
                    metadata.pop("meterlog.outside_window", None)
            try:
                store.commit_events(
                    events,
                    self.source_id,
                    end,
                    metadata=metadata,
                    start=start,
                    pseudonymization=self.pseudonymization,
                )
                break
            except ProgressMoved as moved:
                self._check_not_rewound(moved, start.offset)
                start = moved.found
        self.start = end
        report.outside.add(outside)
        report.status = GROWN if self.progress.offset else NEW
        report.bytes_read += chunk.size
        report.parsed += events.height
        _note_rejects(report, rejects, options.examples_per_source)
        if events.height:
            low, high = events.select(
                pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")
            ).row(0)
            report.ts_min = low if report.ts_min is None else min(report.ts_min, low)
            report.ts_max = high if report.ts_max is None else max(report.ts_max, high)
        if self.on_progress is not None:
            self.on_progress(report.path, chunk.size)
        return True

    def _check_not_rewound(self, moved: ProgressMoved, expected: int) -> None:
        """Another writer's progress is ahead of this run's (it stored these lines first):
        re-plan from there. Behind it, the source was rewound (``meterlog check --repair``)
        while this run wrote: stop, the next run reads from the rewound progress."""
        if moved.found.offset < expected:
            raise StoreError(
                f"{self.report.path}: the store's progress for this source went back to "
                f"{moved.found.offset} bytes while this run was writing (a repair?); "
                "nothing more of it was committed: run again"
            )


def _rejects_frame(
    batch: LineBatch, parse_rejects: pl.DataFrame, source_id: str, path: str, run_at: datetime
) -> pl.DataFrame:
    """All rejected lines of a chunk (invalid UTF-8, too long, not parsed) in line order."""
    invalid = batch.invalid.select(
        "source_offset",
        "source_line",
        pl.lit("invalid_utf8").alias("reason"),
        pl.Series(
            "line", [decode_for_display(raw) for raw in batch.invalid["raw"]], dtype=pl.String
        ),
    )
    too_long = batch.too_long.select(
        "source_offset",
        "source_line",
        pl.lit("line_too_long").alias("reason"),
        pl.col("line").str.slice(0, 4096),
    )
    return (
        pl.concat([invalid, too_long, parse_rejects])
        .sort("source_offset")
        .with_columns(
            pl.lit(source_id).alias("source_id"),
            pl.lit(path).alias("source_path"),
            pl.lit(run_at).cast(REJECT_COLUMNS["ingested_at"]).alias("ingested_at"),
        )
        .select(list(REJECT_COLUMNS))
    )


def _note_rejects(report: SourceReport, rejects: pl.DataFrame, limit: int) -> None:
    if rejects.height == 0:
        return
    counts = rejects.group_by("reason").len()
    for reason, count in counts.iter_rows():
        report.rejected[reason] += count
    room = limit - len(report.examples)
    if room > 0:
        for number, reason, text in (
            rejects.head(room).select("source_line", "reason", "line").iter_rows()
        ):
            report.examples.append((number, reason, (text or "")[:200]))


def ingest_paths(
    store_uri: str,
    paths: Sequence[str],
    options: IngestOptions | None = None,
) -> IngestSummary:
    """Convenience for library users: ingest ``paths`` into the store at ``store_uri``."""
    return ingest(Store(store_uri), paths, options)


def _count_line(summary: IngestSummary) -> str:
    parts = [f"{summary.count(status)} {status}" for status in (NEW, GROWN, UNCHANGED, DUPLICATE)]
    for status in (WAITING, FAILED):
        if summary.count(status):
            parts.append(f"{summary.count(status)} {status}")
    return f"files: {len(summary.sources)} ({', '.join(parts)})"


def summary_lines(summary: IngestSummary) -> list[str]:
    """The run's summary as plain text lines (fit for a terminal or cron mail)."""
    rejected = summary.rejected
    lines = [
        _count_line(summary),
        f"lines: {summary.parsed + sum(rejected.values()):,} read, {summary.parsed:,} stored, "
        f"{sum(rejected.values()):,} rejected",
    ]
    if rejected:
        lines.append(
            "rejected by reason: "
            + ", ".join(f"{reason} {count:,}" for reason, count in sorted(rejected.items()))
        )
    low, high = summary.time_range
    if low is not None and high is not None:
        lines.append(f"time range: {low.isoformat()} .. {high.isoformat()}")
    outside = summary.outside
    if outside.total:
        parts = []
        if outside.before and outside.earliest is not None:
            parts.append(f"{outside.before:,} in the far past (earliest {outside.earliest})")
        if outside.after and outside.latest is not None:
            parts.append(f"{outside.after:,} in the future (latest {outside.latest})")
        lines.append(
            f"warning: {outside.total:,} lines have times outside the accept window "
            f"({'; '.join(parts)}); they were stored: check the clock and time zone of "
            "those logs, or set --accept-window"
        )
    seconds = max(summary.seconds, 1e-9)
    read = summary.parsed + sum(rejected.values())
    lines.append(
        f"throughput: {read / seconds:,.0f} lines/s, "
        f"{summary.bytes_read / seconds / 1e6:,.1f} MB/s ({summary.seconds:.2f} s)"
    )
    lines.append(f"store version: {summary.store_version}")
    if summary.compacted_days:
        lines.append(f"compacted: {summary.compacted_days} day partitions with many small files")
    for source in summary.sources:
        detail = f"  {source.status:<9} {source.path}"
        if source.format:
            detail += f" [{source.format}]"
        if source.parsed or source.rejected_total:
            detail += f" +{source.parsed:,} rows"
        if source.rejected_total:
            detail += f", {source.rejected_total:,} rejected"
        if source.outside.total:
            detail += f", {source.outside.total:,} outside the accept window"
        if source.partial_line_bytes:
            detail += (
                f" (last line incomplete, {source.partial_line_bytes} bytes wait for next run)"
            )
        if source.note:
            detail += f" ({source.note})"
        lines.append(detail)
        for number, reason, text in source.examples:
            lines.append(f"      line {number}: {reason}: {text}")
    return lines
