"""The run's summary and error hints as plain text lines."""

from __future__ import annotations

from meterlog.formats import LogFormat
from meterlog.formats.base import DROPPED_KEY, EMPTY_FIELD, NAIVE_TIME
from meterlog.formats.jsonlines import MAX_EXTRA_KEYS
from meterlog.ingest.results import (
    DUPLICATE,
    FAILED,
    GROWN,
    NEW,
    UNCHANGED,
    WAITING,
    IngestSummary,
    SourceReport,
)
from meterlog.sources import path_text
from meterlog.text import printable

#: How a file skipped by name (``--include``/``--exclude``, hidden) in a directory is listed.
SKIPPED = "skipped"
#: How many skipped files the summary names before "and N more".
MAX_SKIPPED_LISTED = 5


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


def _count_line(summary: IngestSummary) -> str:
    parts = [f"{summary.count(status)} {status}" for status in (NEW, GROWN, UNCHANGED, DUPLICATE)]
    for status in (WAITING, FAILED):
        if summary.count(status):
            parts.append(f"{summary.count(status)} {status}")
    line = f"files: {len(summary.sources)} ({', '.join(parts)})"
    if summary.skipped:
        line += f"; {len(summary.skipped)} skipped by name"
    return line


def note_lines(source: SourceReport) -> list[str]:
    """Warnings about a source's stored lines from what its format noted (``notes``)."""
    lines = [f"warning: {source.path}: {warning}" for warning in source.warnings]
    naive = {k: v for k, v in source.notes.items() if k.startswith(f"{NAIVE_TIME}:")}
    for key, count in sorted(naive.items()):
        zone = key.partition(":")[2]
        have = "1 line has" if count == 1 else f"{count:,} lines have"
        if zone == "UTC":
            lines.append(
                f"warning: {source.path}: {have} a time without a UTC offset, read as UTC; "
                "give --json-tz ZONE (or tz in [json] of meterlog.toml) if the log was "
                "written in local time"
            )
        else:
            lines.append(
                f"note: {source.path}: {have} a time without a UTC offset, read as {zone} time"
            )
    for key, count in sorted(source.notes.items()):
        if key.startswith(EMPTY_FIELD) and source.parsed and count * 2 > source.parsed:
            column, _, json_key = printable(key.removeprefix(EMPTY_FIELD)).partition("=")
            lines.append(
                f"warning: {source.path}: column {column} (JSON key {json_key}) is empty in "
                f"{count:,} of {source.parsed:,} stored lines; check the key against the log "
                "(--json-field COLUMN=KEY, nested keys as a.b)"
            )
    dropped = sorted(k.removeprefix(DROPPED_KEY) for k in source.notes if k.startswith(DROPPED_KEY))
    if dropped:
        shown = ", ".join(printable(key[:80]) for key in dropped[:5])
        shown += ", ..." if len(dropped) > 5 else ""
        lines.append(
            f"warning: {source.path}: {len(dropped):,} JSON keys were not stored ({shown}): a "
            f"chunk keeps {MAX_EXTRA_KEYS} keys besides the mapped ones; store one with "
            "--json-field COLUMN=KEY"
        )
    return lines


def summary_lines(summary: IngestSummary) -> list[str]:
    """The run's summary as plain text lines (fit for a terminal or cron mail)."""
    rejected = summary.rejected
    blank = summary.blank_lines
    lines = [
        _count_line(summary),
        f"lines: {summary.parsed + sum(rejected.values()) + blank:,} read, "
        f"{summary.parsed:,} stored, {sum(rejected.values()):,} rejected"
        + (f", {blank:,} blank (skipped)" if blank else ""),
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
    for source in summary.sources:
        lines += note_lines(source)
    seconds = max(summary.seconds, 1e-9)
    read = summary.parsed + sum(rejected.values()) + blank
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
    lines += skipped_lines(summary.skipped)
    return lines


def skipped_lines(skipped: list[tuple[str, str]]) -> list[str]:
    """One line per reason naming the files skipped by name (a few, then how many more)."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in skipped:
        by_reason.setdefault(reason, []).append(path_text(path))
    lines = []
    for reason, paths in by_reason.items():
        shown = ", ".join(paths[:MAX_SKIPPED_LISTED])
        if len(paths) > MAX_SKIPPED_LISTED:
            shown += f" and {len(paths) - MAX_SKIPPED_LISTED:,} more"
        lines.append(f"  {SKIPPED:<9} {len(paths):,} {reason}: {shown}")
    return lines
