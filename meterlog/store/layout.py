"""Names, constants and the progress type shared by the store's modules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
from deltalake import ColumnProperties, WriterProperties

DEFAULT_STORE = str(Path.home() / ".local" / "share" / "meterlog" / "store")
EVENTS_TABLE = "events"
REJECTS_TABLE = "rejects"
SOURCES_TABLE = "sources"
#: Cached meter states (see :mod:`meterlog.meters.cache`): derived data, safe to delete.
METER_STATES_TABLE = "meter_states"
LOCK_FILE = ".meterlog.lock"
#: Present while a run writes; left behind by a run that was stopped (killed, power loss).
WRITING_MARKER = ".meterlog.writing"
#: Files this much older than the marker are not considered the stopped run's (clock steps).
MARKER_SLACK_SECONDS = 2.0

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


def offset_app_id(source_id: str) -> str:
    return f"meterlog-offset:{source_id}"


def lines_app_id(source_id: str) -> str:
    return f"meterlog-lines:{source_id}"


#: What the store records of a young source's head (its first bytes, up to 4 KiB) and of the
#: file it was read from, as application transactions committed with its lines (so they are
#: exactly as current as its progress): see :mod:`meterlog.ingest.source_identity`.
HEAD_FIELDS = ("head", "headsha", "dev", "ino")


def head_app_id(field: str, source_id: str) -> str:
    return f"meterlog-{field}:{source_id}"


@dataclass(frozen=True)
class SourceHead:
    """A source's verified head: its first ``length`` bytes hash to ``digest`` (a 63-bit
    integer taken from their SHA-256), and the file they were last read from (``key``:
    ``(device, inode)``; None when not a plain file)."""

    length: int
    digest: int
    key: tuple[int, int] | None


@dataclass(frozen=True)
class Progress:
    """How much of a source the store holds: bytes (decompressed) and lines consumed."""

    offset: int = 0
    lines: int = 0
