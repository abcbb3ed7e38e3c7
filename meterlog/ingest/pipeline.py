"""The three-stage pipeline of one source: a thread reads (and decompresses) the next chunk and
finds its lines, a pool parses the slices of the chunks in flight, and the caller commits chunks
in order, each with the source's progress, exactly as a sequential loop would."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np
import polars as pl

from meterlog.errors import StoreError
from meterlog.formats import LogFormat
from meterlog.ingest.options import IngestOptions
from meterlog.ingest.results import FAILED, GROWN, NEW, SourceReport
from meterlog.ingest.source_identity import verified_head
from meterlog.ingest.summary import _format_hint
from meterlog.ingest.timewindow import outside_window
from meterlog.schema import REJECT_COLUMNS
from meterlog.sources import (
    DEFAULT_CHUNK_BYTES,
    LineBatch,
    decode_for_display,
    drop_blank_lines,
    line_ends,
    span_of,
    split_lines,
)
from meterlog.store import Progress, ProgressMoved, Pseudonymization, Store

#: Default chunk size of formats parsed a whole chunk at a time (see ``IngestOptions``).
WHOLE_CHUNK_BYTES = 16 * 1024 * 1024
#: Chunks being parsed while the oldest parsed one is committed. Two keep both cores busy
#: through a commit (3% faster than one on 10M lines) for about 0.1 GB more memory.
CHUNKS_IN_FLIGHT = 2

#: A chunk is parsed in slices of about this many bytes, cut at line ends, by parallel threads
#: (Polars releases the GIL); commits stay one per chunk, with the same rows as before.
SLICE_BYTES = 8 * 1024 * 1024


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
    slices: list[Future[_SliceResult]]

    def cancel(self) -> None:
        for future in self.slices:
            future.cancel()

    def result(self) -> _SliceResult:
        """Events and rejects (in line order) of the whole chunk."""
        parts = [future.result() for future in self.slices]
        if len(parts) == 1:
            return parts[0]
        notes: Counter[str] = Counter()
        for part in parts:
            notes.update(part.notes)
        return _SliceResult(
            pl.concat([part.events for part in parts], how="diagonal_relaxed"),
            pl.concat([part.rejects for part in parts]),
            sum(part.blank for part in parts),
            sum(part.too_long for part in parts),
            notes,
        )


class _SliceResult(NamedTuple):
    """A parsed slice (or chunk): its events, its rejected lines, how many lines were blank
    (skipped), how many were too long (rejected), and what the format noted
    (``ParseResult.notes``)."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    blank: int
    too_long: int
    notes: Counter[str]


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
        chunk = _ParsedChunk(plan.start, plan.size, lines_before + 1, plan.lines, [])
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
    ) -> _SliceResult:
        batch = split_lines(data, start, first_line, self.options.max_line_bytes, ends)  # type: ignore[arg-type]
        lines, blank = drop_blank_lines(batch.lines)
        result = self.log_format.parse(lines)
        rejects = _rejects_frame(batch, result.rejects, self.source_id, self.path, self.run_at)
        return _SliceResult(result.events, rejects, blank, batch.too_long.height, result.notes)


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

    @property
    def size(self) -> int:
        """The bytes of the source the chunk covers (more than ``data`` for a cut line)."""
        return span_of(self.data)


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
    #: Called after each commit with the chunk's end offset and its lines.
    on_committed: Callable[[int, int], None] | None
    now: datetime
    pseudonymization: Pseudonymization | None = None
    #: The source's first bytes (complete lines, up to 4 KiB) and the file's (device, inode):
    #: recorded with the commits that reach into them, and with a run's first commit.
    head: bytes = b""
    file_key: tuple[int, int] | None = None
    #: The progress the next chunk follows when another writer has stored beyond its start.
    start: Progress = field(default_factory=Progress)
    _head_recorded: bool = False

    def commit(self, chunk: _ParsedChunk) -> bool:
        """Commit ``chunk``; False (and the source failed) when too many lines are rejected."""
        options, report, store = self.options, self.report, self.store
        events, rejects, blank, too_long, notes = chunk.result()
        # Blank lines and over-long lines (counted apart) do not make a file the wrong format.
        # A file already holding stored lines had its format judged on them: a few bad lines
        # appended to it (one hostile request on a quiet log) are rejects, not a wrong format.
        judged = chunk.lines - blank - too_long
        established = self.progress.lines > 0
        if (
            judged
            and not established
            and (rejects.height - too_long) / judged > options.max_reject_ratio
        ):
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
            head = None
            if self.head and (not self._head_recorded or start.offset < len(self.head)):
                head = verified_head(self.head, end.offset, self.file_key)
            try:
                store.commit_events(
                    events,
                    self.source_id,
                    end,
                    metadata=metadata,
                    start=start,
                    pseudonymization=self.pseudonymization,
                    head=head,
                )
                self._head_recorded = True
                break
            except ProgressMoved as moved:
                self._check_not_rewound(moved, start.offset)
                start = moved.found
        self.start = end
        report.outside.add(outside)
        report.status = GROWN if self.progress.offset else NEW
        report.bytes_read += chunk.size
        report.parsed += events.height
        report.blank_lines += blank
        report.notes.update(notes)
        _note_rejects(report, rejects, options.examples_per_source)
        if events.height:
            low, high = events.select(
                pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")
            ).row(0)
            report.ts_min = low if report.ts_min is None else min(report.ts_min, low)
            report.ts_max = high if report.ts_max is None else max(report.ts_max, high)
        if self.on_committed is not None:
            self.on_committed(end.offset, chunk.lines)
        if options.on_commit is not None:
            options.on_commit(events, rejects)
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
