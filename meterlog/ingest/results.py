"""What a run did: each source's :class:`SourceReport` and the run's :class:`IngestSummary`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from meterlog.timewindow import OutsideWindow

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
