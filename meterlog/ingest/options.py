"""How to ingest: :class:`IngestOptions`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from meterlog.formats import LogFormat
from meterlog.ingest.pseudonymize import Pseudonymizer
from meterlog.ingest.timewindow import DEFAULT_ACCEPT_WINDOW, AcceptWindow, parse_accept_window
from meterlog.sources import DEFAULT_EXCLUDE, DEFAULT_INCLUDE, DEFAULT_MAX_LINE_BYTES


def default_threads() -> int:
    """Threads parsing at once: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


#: Called after each commit with the events committed and the lines rejected with them.
CommitCallback = Callable[[pl.DataFrame, pl.DataFrame], None]


@dataclass
class IngestOptions:
    """How to ingest. ``log_format`` forces one format; otherwise each file's format is detected
    among ``custom_format`` (if any) and the built-in formats."""

    log_format: LogFormat | None = None
    custom_format: LogFormat | None = None
    #: The JSON lines format ``auto`` tries (a key mapping, preset or time zone for JSON logs).
    json_format: LogFormat | None = None
    include: Sequence[str] = DEFAULT_INCLUDE
    exclude: Sequence[str] = DEFAULT_EXCLUDE
    #: Read symbolic links found in folders that lead outside the folders and files named.
    follow_symlinks: bool = False
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
    #: Called after each commit with the rows just committed (events as stored, after
    #: pseudonymisation, with ``source_id``) and the lines rejected with them.
    on_commit: CommitCallback | None = None
