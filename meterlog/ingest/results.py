"""What a run did: each source's :class:`SourceReport` and the run's :class:`IngestSummary`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from meterlog.ingest.timewindow import OutsideWindow

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
class SourceReport:
    """What one run did with one input."""

    path: str
    status: str = UNCHANGED
    source_id: str | None = None
    format: str | None = None
    compression: str = "none"
    bytes_read: int = 0
    parsed: int = 0
    #: Empty lines, skipped: they hold nothing to store or explain.
    blank_lines: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str, str]] = field(default_factory=list)
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    partial_line_bytes: int = 0
    outside: OutsideWindow = field(default_factory=OutsideWindow)
    error: str | None = None
    note: str | None = None
    #: What the format noted about the stored lines (``ParseResult.notes``), summed.
    notes: Counter[str] = field(default_factory=Counter)
    #: Warnings about how the source was read (e.g. a detected format that is a guess).
    warnings: list[str] = field(default_factory=list)

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
    #: One message per directory or glob given from which no file was read because every
    #: file in it was skipped by name (``--include``/``--exclude``): a run that fails.
    unread: list[str] = field(default_factory=list)
    #: Files found but not read, one line each, that do not fail the run (a symbolic link
    #: leading outside the folders named).
    notes: list[str] = field(default_factory=list)
    #: ``(file, reason)`` of files skipped by name in directories from which others were read.
    skipped: list[tuple[str, str]] = field(default_factory=list)

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
    def blank_lines(self) -> int:
        return sum(s.blank_lines for s in self.sources)

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
    def ok(self) -> bool:
        """No source failed and every directory given had a file to read."""
        return not self.failed and not self.unread

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status == FAILED]

    @property
    def time_range(self) -> tuple[datetime | None, datetime | None]:
        starts = [s.ts_min for s in self.sources if s.ts_min is not None]
        ends = [s.ts_max for s in self.sources if s.ts_max is not None]
        return (min(starts) if starts else None, max(ends) if ends else None)


#: Called after each committed chunk with the source's name and the chunk's bytes.
ChunkCallback = Callable[[str, int], None]


class RunMonitor(Protocol):
    """Follows a run for a progress display: ``start`` once with the bytes on disk of all
    inputs (None when one is standard input or a pipe), then ``advance`` with the bytes on
    disk done (compressed bytes for a compressed file) and the lines read, after each chunk and
    when a source is done (its skipped or unchanged bytes)."""

    def start(self, total_bytes: int | None) -> None: ...

    def advance(self, path: str, size: int, lines: int) -> None: ...
