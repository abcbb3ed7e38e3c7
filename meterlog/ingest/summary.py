"""The run's summary and error hints as plain text lines."""

from __future__ import annotations

from meterlog.formats import LogFormat
from meterlog.ingest.results import DUPLICATE, FAILED, GROWN, NEW, UNCHANGED, WAITING, IngestSummary


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
