"""Orchestration: discover the inputs, and for each one fingerprint it, look up how much of it
the store already holds, choose its format and run the pipeline over the rest."""

from __future__ import annotations

import collections
import contextlib
import os
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

import polars as pl

from meterlog.errors import InputError
from meterlog.formats import LogFormat, auto_candidates, detect_format, detection_guess
from meterlog.ingest.options import IngestOptions, default_threads
from meterlog.ingest.pipeline import (
    CHUNKS_IN_FLIGHT,
    _chunk_bytes,
    _ChunkCommitter,
    _ChunkParser,
    _ParsedChunk,
    _plan_chunk,
)
from meterlog.ingest.results import (
    DUPLICATE,
    FAILED,
    GROWN,
    NEW,
    UNCHANGED,
    WAITING,
    ChunkCallback,
    IngestSummary,
    RunMonitor,
    SourceReport,
)
from meterlog.ingest.source_identity import SourceResolver, live_files
from meterlog.ingest.summary import _format_hint
from meterlog.sources import (
    InputFile,
    LineReader,
    discover,
    drop_blank_lines,
    path_for_display,
    path_text,
    read_ahead,
    split_lines,
)
from meterlog.store import AUTO_COMPACT_FILES, SOURCE_COLUMNS, Pseudonymization, Store, now_utc


def ingest(
    store: Store,
    paths: Sequence[str],
    options: IngestOptions | None = None,
    on_chunk: ChunkCallback | None = None,
    monitor: RunMonitor | None = None,
) -> IngestSummary:
    """Ingest ``paths`` (files, directories, globs, ``-``) into ``store``; never raises for a
    bad line or a bad file (those are reported in the summary), only for a store failure.

    ``on_chunk`` is called after each committed chunk; ``monitor`` follows the whole run in
    bytes on disk and lines (for a progress bar)."""
    options = options or IngestOptions()
    discovery = discover(paths, options.include, options.exclude, options.follow_symlinks)
    summary = ingest_inputs(store, discovery.inputs, options, on_chunk, monitor=monitor)
    summary.unread = discovery.unread_messages(options.include, options.exclude)
    summary.notes = discovery.outside_link_notes()
    summary.skipped = discovery.skipped
    return summary


def ingest_inputs(
    store: Store,
    inputs: Sequence[InputFile],
    options: IngestOptions | None = None,
    on_chunk: ChunkCallback | None = None,
    registered: set[tuple[str, str]] | None = None,
    monitor: RunMonitor | None = None,
    live: Mapping[tuple[int, int], str] | None = None,
) -> IngestSummary:
    """Ingest ``inputs`` (found by :func:`discover`, or given one by one as ``watch`` does)
    into ``store``, holding the store's lock for the length of the call.

    ``registered`` (kept by a caller that ingests again and again) holds the ``(source_id,
    path)`` pairs already recorded in the ``sources`` table: they are not recorded again.
    ``live`` maps ``(device, inode)`` to a path for every file the caller can see (default:
    the inputs), to tell files that start alike apart (see
    :mod:`meterlog.ingest.source_identity`).
    """
    options = options or IngestOptions()
    tracker = _Tracker(inputs, on_chunk, monitor)
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
        store.check_data_files()
        last_paths = store.source_paths()
        resolver = SourceResolver(
            store,
            live_files([source.path for source in inputs]) if live is None else live,
            last_paths,
        )
        for source in inputs:
            report = SourceReport(path=path_for_display(source.display))
            reports.append(report)
            try:
                _ingest_source(
                    store, source, options, report, seen, run_at, tracker, pool, resolver
                )
            except InputError as exc:
                report.status = FAILED
                report.error = str(exc)
            tracker.finish(source)
            if report.source_id and report.status != DUPLICATE:
                # Registered after reading new data, when the source was last seen under
                # another path (logrotate renamed it: status shows where it is now), and when
                # an earlier run that was stopped before its end committed the data but not
                # the registration.
                stored = store.progress(report.source_id)
                path = (
                    source.path if source.is_stdin else path_text(os.path.abspath(source.display))
                )
                if not stored.offset or (
                    not report.bytes_read and last_paths.get(report.source_id) == path
                ):
                    continue
                if registered is not None:
                    # a caller ingesting again and again records a source once per path
                    if (report.source_id, path) in registered and last_paths.get(
                        report.source_id
                    ) == path:
                        continue
                    registered.add((report.source_id, path))
                last_paths[report.source_id] = path
                registry.append(
                    {
                        "source_id": report.source_id,
                        "path": path,
                        "format": report.format,
                        "compression": report.compression,
                        "offset": stored.offset,
                        "lines": stored.lines,
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


class _Tracker:
    """Turns committed chunks into calls of the ``on_chunk`` callback and of an
    :class:`RunMonitor`, counting bytes on disk."""

    def __init__(
        self,
        inputs: Sequence[InputFile],
        on_chunk: ChunkCallback | None,
        monitor: RunMonitor | None,
    ) -> None:
        self.on_chunk, self.monitor = on_chunk, monitor
        self.sizes: dict[str, int] = {}
        self.done: dict[str, int] = {}
        total: int | None = 0
        for source in inputs:
            try:
                info = None if source.is_stdin else os.stat(source.path)
            except OSError:
                continue  # reported when the source is read
            if info is None or not stat.S_ISREG(info.st_mode):
                total = None
            else:
                self.sizes[source.path] = info.st_size
                total = None if total is None else total + info.st_size
        if monitor is not None:
            monitor.start(total)

    def follow(
        self, source: InputFile, shown: str, reader: LineReader
    ) -> Callable[[int, int], None] | None:
        """The committer's callback for ``source``: (end offset, lines) of each chunk."""
        if self.on_chunk is None and self.monitor is None:
            return None
        last_end = [reader.position]

        def committed(end: int, lines: int) -> None:
            if self.on_chunk is not None:
                self.on_chunk(shown, end - last_end[0])
            last_end[0] = end
            if self.monitor is not None:
                done = end if reader.compression == "none" else reader.raw_position()
                self._advance(source.path, shown, done, lines)

        return committed

    def finish(self, source: InputFile) -> None:
        """A source is done: the rest of its bytes (skipped, unchanged, failed) count as done."""
        if self.monitor is not None and source.path in self.sizes:
            self._advance(source.path, path_for_display(source.display), self.sizes[source.path], 0)

    def _advance(self, path: str, shown: str, done: int, lines: int) -> None:
        assert self.monitor is not None
        done = min(done, self.sizes.get(path, done))
        step = max(0, done - self.done.get(path, 0))
        self.done[path] = max(done, self.done.get(path, 0))
        self.monitor.advance(shown, step, lines)


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


def _choose_format(
    reader: LineReader, options: IngestOptions, report: SourceReport
) -> tuple[LogFormat, int, int]:
    """The format for a source, with how many of the sampled first lines it parses; a
    detected format that is a guess is named in ``report.warnings``."""
    head, _ = drop_blank_lines(split_lines(reader.head_lines(), 0, 1, options.max_line_bytes).lines)
    if options.log_format is not None:
        matched = options.log_format.parse(head).events.height if head.height else 0
        return options.log_format, matched, head.height
    detection = detect_format(head, auto_candidates(options.custom_format, options.json_format))
    guess = detection_guess(detection.format, head)
    if guess is not None:
        report.warnings.append(guess)
    return detection.format, detection.matched, detection.sampled


def _ingest_source(
    store: Store,
    source: InputFile,
    options: IngestOptions,
    report: SourceReport,
    seen: set[str],
    run_at: datetime,
    tracker: _Tracker,
    pool: ThreadPoolExecutor,
    resolver: SourceResolver,
) -> None:
    with LineReader(source) as reader:
        report.compression = reader.compression
        head, candidates = reader.identity_head()
        if not candidates:
            if reader.damage is not None:
                raise reader.damage
            report.status = WAITING if reader.can_grow else UNCHANGED
            return
        key = reader.file_key()
        identity = resolver.resolve(head, candidates, key)
        source_id = identity.source_id
        report.source_id = source_id
        if source_id in seen:
            report.status = DUPLICATE
            return
        seen.add(source_id)
        copy = identity.is_other_file(key) and reader.compression == "none"
        # From here on, every read checks that the file still starts with the head its
        # identity came from (a copytruncate rotation in between would hand out new lines).
        reader.guard_head(head)
        log_format, matched, sampled = _choose_format(reader, options, report)
        report.format = log_format.name
        if sampled and matched / sampled < 1 - options.max_reject_ratio:
            report.status = FAILED
            detected = matched > 0 or options.log_format is not None
            report.error = _format_hint(report.path, log_format if detected else None)
            if not detected:  # not the first candidate tried, which matched nothing either
                report.format = "no known format"
            return
        progress = store.progress(source_id)
        rejects_offset = store.rejects_offset(source_id)
        if not reader.skip_to(progress.offset):
            if copy:  # an earlier copy of a source stored further
                report.status = DUPLICATE
                return
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
            tracker.follow(source, report.path, reader),
            options.now or run_at,
            _pseudonymization(options),
            head=head,
            file_key=key,
        )
        lines_read = progress.lines
        chunks = read_ahead(
            (
                _plan_chunk(start, data, parser.slice_bytes)
                for start, data in reader.chunks(
                    _chunk_bytes(options, log_format), options.max_line_bytes
                )
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
        if reader.rewritten:
            report.note = (
                "truncated and written again while it was read (logrotate copytruncate): "
                "read up to there; the rest of those lines is read from its rotated copy"
            )
        if copy and not report.bytes_read and report.status == UNCHANGED:
            report.status = DUPLICATE  # a copy of lines already stored


def ingest_paths(
    store_uri: str,
    paths: Sequence[str],
    options: IngestOptions | None = None,
) -> IngestSummary:
    """Convenience for library users: ingest ``paths`` into the store at ``store_uri``."""
    return ingest(Store(store_uri), paths, options)
