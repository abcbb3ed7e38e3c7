"""``meterlog rejects``: the rejected lines kept in the store, with where they came from.

Every line ingest could not parse is kept in the store's ``rejects`` table with its file, line
number and reason (see docs/ingest.md, "Bad lines"). This lists them, filtered, in a stable order
(file, then line number), as ``file, line_number, reason, text, ingested_at``.

``--since``/``--until`` select by when the line was ingested: a rejected line often has no
time of its own that could be read (``bad_timestamp``, ``no_match``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.errors import MeterlogError
from meterlog.patterns import glob_to_regex
from meterlog.query.filters import TimeRange, parse_time_range
from meterlog.schema import REJECT_REASONS
from meterlog.store import Store


@dataclass(frozen=True)
class RejectsQuery:
    """Which rejected lines to list; values as given on the command line."""

    reasons: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # globs on the file path or its tail, e.g. access.log*
    since: str | None = None
    until: str | None = None
    limit: int | None = None

    def check(self) -> None:
        for reason in self.reasons:
            if reason not in REJECT_REASONS:
                raise MeterlogError(
                    f"unknown reason {reason!r}: use one of {', '.join(REJECT_REASONS)}"
                )
        if self.limit is not None and self.limit < 1:
            raise MeterlogError(f"--limit {self.limit}: give a number of lines of 1 or more")


@dataclass
class RejectsList:
    frame: pl.DataFrame
    matched: int  # lines matching the filters, before --limit
    notes: list[str] = field(default_factory=list)


def file_predicate(globs: tuple[str, ...]) -> pl.Expr:
    """Paths matching any glob whole (``/var/log/*.log``) or from a ``/`` on (``access.log*``:
    the file name; ``api1/*``: a folder and what is in it)."""
    patterns = []
    for glob in globs:
        body = glob_to_regex(glob).removeprefix("^")
        patterns.append(f"(^|/){body}" if not glob.startswith("/") else f"^{body}")
    return pl.any_horizontal(pl.col("source_path").str.contains(p) for p in patterns)


def list_rejects(store: Store, query: RejectsQuery, tz: ZoneInfo) -> RejectsList:
    """The rejected lines ``query`` selects, in file and line order, ``ingested_at`` in ``tz``."""
    query.check()
    time_range: TimeRange = parse_time_range(query.since, query.until, tz)
    predicates: list[pl.Expr] = []
    if query.reasons:
        predicates.append(pl.col("reason").is_in(list(query.reasons)))
    if query.files:
        predicates.append(file_predicate(query.files))
    if time_range.start is not None:
        predicates.append(pl.col("ingested_at") >= pl.lit(time_range.start))
    if time_range.end is not None:
        predicates.append(pl.col("ingested_at") < pl.lit(time_range.end))
    selected = store.scan_rejects()
    if predicates:
        selected = selected.filter(*predicates)
    ordered = selected.sort("source_path", "source_line", "source_id", nulls_last=True).select(
        pl.col("source_path").alias("file"),
        pl.col("source_line").alias("line_number"),
        "reason",
        pl.col("line").alias("text"),
        pl.col("ingested_at").dt.convert_time_zone(tz.key),
    )
    frame, count = pl.collect_all([ordered, selected.select(pl.len())])
    matched = int(count.item())
    if query.limit is not None:
        frame = frame.head(query.limit)
    result = RejectsList(frame, matched)
    if matched == 0:
        result.notes.append("no rejected lines match" if predicates else "no rejected lines")
    elif frame.height < matched:
        result.notes.append(
            f"showing the first {frame.height:,} of {matched:,} rejected lines (--limit)"
        )
    return result
