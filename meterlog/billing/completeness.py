"""Whether the store holds every line that can belong to the billing period.

Two checks, reported as one line each (the first as one line for all of the periods'
time zones) (see :func:`completeness_problems`):

* **The store's data reaches the end of the period**: it holds a request at or after the end
  of every billing period (in each period's time zone). Otherwise the logs may simply not have
  been ingested yet, from this host or from another one writing to the same store.
* **No local log file holds unread lines of the period** (local stores, current version only).
  The log files are found where the store's sources were last seen: every file in those
  folders whose name ``meterlog ingest DIR`` would read (the default ``--include`` and
  ``--exclude`` names), plus each source's last recorded path. Each file is recognised by its
  content, as ``ingest`` recognises it (after logrotate, ``access.log.1`` is the source that
  was called ``access.log``). A file blocks the bill only when all of these hold:

  1. it has complete lines the store does not hold (an unterminated last line, nginx still
     writing it, never counts; in a compressed file every line is complete);
  2. the store's lines of that source do not reach the end of the period (log files are
     written in time order, so a source with a stored line at or after the end holds no
     unread line of the period);
  3. the first unread lines are not all timed at or after the end of the period (their time
     is read with the formats ``--input-format auto`` detects; when it cannot be read, the file
     blocks).

  Two shortcuts keep this fast on folders full of old rotated files: a file last modified
  more than two days before the period began cannot hold its lines and is not opened, and a
  gzip file whose recorded length (its trailer) equals what the store holds of it is not
  decompressed.

  So lines still being appended after the period, a rotation between the ingest and the bill
  and a half-written last line do not block, and a rotated file holding unread lines of the
  period, or one never ingested at all, does, naming the file.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from meterlog.errors import InputError
from meterlog.formats import auto_candidates, detect_format
from meterlog.ingest.source_identity import SourceResolver, live_files
from meterlog.meters import Period
from meterlog.schema import PARTITION_COLUMN
from meterlog.sources import (
    DEFAULT_EXCLUDE,
    DEFAULT_INCLUDE,
    STDIN,
    InputFile,
    LineReader,
    split_lines,
)
from meterlog.store import Store

#: Bytes of unread lines whose times are read to tell whether they can be in the period.
_PEEK_BYTES = 64 * 1024
#: Lines of those whose times are read.
_PEEK_LINES = 100
#: A file last modified this long before the period began cannot hold its lines (time zones
#: and clock slack included).
_MTIME_SLACK = timedelta(days=2)


def completeness_problems(
    store: Store,
    version: int,
    periods: Sequence[Period],
    check_sources: bool = True,
    latest: datetime | None = None,
) -> list[str]:
    """Why the store may not hold all of ``periods`` yet (empty when nothing is known to lack);
    see the module doc. ``check_sources`` looks at local log files too. ``latest``: the time
    of the newest stored request, when already known (:class:`LatestTime`)."""
    if latest is None:
        latest = latest_time(store.scan_events(version=version))
    problems = []
    # one line for every period the data does not reach, whatever the number of time zones
    ordered = sorted(set(periods), key=lambda period: (period.end, period.tz.key))
    short: dict[tuple[str, datetime], Period] = {}
    for period in ordered:
        if latest is None or latest < period.end:
            short.setdefault((period.tz.key, period.end), period)
    if short:
        first = next(iter(short.values()))
        ends = "holds no events" if latest is None else f"ends at {first.iso(latest)}"
        labels = sorted({period.label for period in short.values()})
        ends_of = "; ".join(f"{p.iso(p.end)}, {p.tz.key}" for p in short.values())
        problems.append(
            f"the store's data {ends}, before the end of period {', '.join(labels)} "
            f"({ends_of}): the invoice may be incomplete; "
            "ingest the rest of the logs or bill later"
        )
    if check_sources and store.is_local:
        last = max(periods, key=lambda period: (period.end, period.tz.key))
        problems += [str(lag) for lag in lagging_sources(store, version, last)]
    return problems


def latest_time(events: pl.LazyFrame) -> datetime | None:
    """The time of the newest stored request (None for none)."""
    value = LatestTime().partial(events).collect().item()
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class LatestTime:
    """The newest request's time as a mergeable aggregate (cached by month-end runs like a
    meter's state): the state is one row, ``latest``."""

    def partial(self, events: pl.LazyFrame, period: Period | None = None) -> pl.LazyFrame:
        return events.select(latest=pl.col("ts").max())

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        both = pl.concat([first, second], how="vertical_relaxed")
        return both.select(pl.col("latest").max())


def _since(events: pl.LazyFrame, moment: datetime) -> pl.LazyFrame:
    """Events at or after ``moment``, reading only the day partitions needed."""
    recent = events.filter(pl.col("ts") >= moment)
    if PARTITION_COLUMN in events.collect_schema().names():
        first_day = (moment - timedelta(microseconds=1)).date()
        recent = recent.filter(pl.col(PARTITION_COLUMN) >= first_day)
    return recent


@dataclass(frozen=True)
class LaggingSource:
    """A log file with unread lines that can belong to the period."""

    path: str
    period: Period
    #: Decompressed offset the store holds the source up to (0: never ingested).
    offset: int
    known: bool
    #: Earliest time among the first unread lines (None: could not be read).
    first_unread: datetime | None
    #: Last stored time of the source (None: nothing stored).
    stored_until: datetime | None

    def __str__(self) -> str:
        period = self.period
        when = (
            f"lines from {period.iso(self.first_unread)}"
            if self.first_unread is not None
            else "lines whose time could not be read"
        )
        if self.known:
            stored = (
                f"its stored lines end at {period.iso(self.stored_until)}"
                if self.stored_until is not None
                else "none of its lines are stored"
            )
            what = f"source {self.path} has {when} not ingested yet (after byte {self.offset}); "
            what += stored
        else:
            what = f"{self.path} was never ingested and holds {when}"
        folder = os.path.dirname(self.path) or "."
        return (
            f"{what}, before the end of period {period.label} ({period.iso(period.end)}, "
            f"{period.tz.key}): the invoice may be incomplete; run 'meterlog ingest {folder}' "
            "first"
        )


def _candidate_files(sources: pl.DataFrame) -> list[str]:
    """Files ``ingest`` would read in the folders sources were last seen in, and each
    source's last recorded path, sorted."""
    recorded = [path for path in sources.get_column("path").drop_nulls().to_list() if path != STDIN]
    found = {path for path in recorded if os.path.isfile(path)}
    for folder in sorted({os.path.dirname(path) for path in recorded}):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            full = os.path.join(folder, name)
            if _read_by_default(name) and os.path.isfile(full):
                found.add(full)
    return sorted(found)


def _read_by_default(name: str) -> bool:
    if name.startswith("."):
        return False
    included = any(fnmatch.fnmatch(name, pattern) for pattern in DEFAULT_INCLUDE)
    return included and not any(fnmatch.fnmatch(name, pattern) for pattern in DEFAULT_EXCLUDE)


def _reaching_sources(store: Store, version: int, reach: datetime) -> set[str]:
    """Sources with a stored line at or after ``reach``."""
    events = store.scan_events(version=version)
    reached = _since(events, reach).select(pl.col("source_id").unique()).collect()
    return set(reached.get_column("source_id").to_list())


def _earliest_time(data: bytes | bytearray) -> datetime | None:
    """The earliest time among the first lines of ``data`` (complete lines), in the format
    ``--input-format auto`` detects; None when no line parses."""
    cut = 0
    for _ in range(_PEEK_LINES):
        found = data.find(b"\n", cut)
        if found < 0:
            break
        cut = found + 1
    sample = bytes(data[: cut or len(data)])
    if not sample:
        return None
    lines = split_lines(sample, 0, 1).lines
    if not lines.height:
        return None
    detection = detect_format(lines, auto_candidates())
    if not detection.matched:
        return None
    times = detection.format.parse(lines).events.get_column("ts").drop_nulls()
    earliest = times.min() if times.len() else None
    return earliest if isinstance(earliest, datetime) else None


def _last_stored(store: Store, version: int, source_id: str) -> datetime | None:
    value = (
        store.scan_events(version=version)
        .filter(pl.col("source_id") == source_id)
        .select(pl.col("ts").max())
        .collect()
        .item()
    )
    return value if isinstance(value, datetime) else None


def lagging_sources(store: Store, version: int, period: Period) -> list[LaggingSource]:
    """Local log files that may hold lines of ``period`` the store does not (module doc)."""
    sources = store.sources()
    if sources.is_empty():
        return []
    reached = _reaching_sources(store, version, period.end)
    checked: set[str] = set()
    lagging = []
    too_old = (period.whole_month.start - _MTIME_SLACK).timestamp()
    files = list(_candidate_files(sources))
    resolver = SourceResolver(store, live_files(files), store.source_paths())
    for path in files:
        try:
            if os.stat(path).st_mtime < too_old:
                continue
            lag = _check_file(store, version, path, period, reached, checked, resolver)
        except (InputError, OSError):
            continue  # unreadable now (rotated away, permissions): ingest would say so
        if lag is not None:
            lagging.append(lag)
    return lagging


def _check_file(
    store: Store,
    version: int,
    path: str,
    period: Period,
    reached: set[str],
    checked: set[str],
    resolver: SourceResolver,
) -> LaggingSource | None:
    with LineReader(InputFile(path)) as reader:
        head, candidates = reader.identity_head()
        if not candidates:
            return None  # not one complete line yet
        identity = resolver.resolve(head, candidates, reader.file_key())
        source_id = identity.source_id
        known = source_id if identity.known else None
        if source_id in checked:
            return None  # a copy of a file already looked at
        checked.add(source_id)
        if source_id in reached:
            return None
        offset = store.progress(source_id).offset if known else 0
        if offset and reader.compression == "gzip" and _gzip_length(path) == offset % 2**32:
            return None  # read to its end already
        if not reader.skip_to(offset):
            return None  # shorter than what is stored: not this source's continuation
        unread = next(iter(_first_chunk(reader)), b"")
        if not unread:
            return None  # nothing unread, or only an unterminated last line
        first_unread = _earliest_time(unread)
        if first_unread is not None and first_unread >= period.end:
            return None
        stored_until = _last_stored(store, version, source_id) if known else None
        return LaggingSource(
            path=path,
            period=period,
            offset=offset,
            known=known is not None,
            first_unread=first_unread,
            stored_until=stored_until,
        )


def _gzip_length(path: str) -> int | None:
    """The uncompressed length a gzip file records in its trailer (modulo 2**32; of its last
    member only, so a file of several members is decompressed instead)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < 18:
            return None
        handle.seek(-4, os.SEEK_END)
        return int.from_bytes(handle.read(4), "little")


def _first_chunk(reader: LineReader) -> Iterable[bytes | bytearray]:
    for _, data in reader.chunks(_PEEK_BYTES):
        yield data
        return
