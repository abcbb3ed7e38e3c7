"""Log formats: nginx ``log_format`` strings (combined, common, custom) and JSON lines.

Every format parses a chunk of lines into the canonical schema (:mod:`meterlog.schema`) with
Polars expressions; :func:`detect_format` picks one per file from its first lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from meterlog.errors import FormatError
from meterlog.formats.base import LogFormat, ParseResult
from meterlog.formats.jsonlines import JsonLinesFormat
from meterlog.formats.nginx import PREDEFINED, NginxLogFormat, read_log_format_from_config

__all__ = [
    "BUILTIN_FORMAT_NAMES",
    "Detection",
    "JsonLinesFormat",
    "LogFormat",
    "NginxLogFormat",
    "ParseResult",
    "builtin_format",
    "detect_format",
    "read_log_format_from_config",
]

#: Names accepted by ``--format`` besides ``auto``.
BUILTIN_FORMAT_NAMES = ("combined", "common", "main", "json")


def builtin_format(name: str) -> LogFormat:
    if name == "json":
        return JsonLinesFormat()
    if name in PREDEFINED:
        return NginxLogFormat(PREDEFINED[name], name=name)
    raise FormatError(f"unknown log format {name!r}: use auto, {', '.join(BUILTIN_FORMAT_NAMES)}")


def auto_candidates(
    custom: LogFormat | None = None, json_format: LogFormat | None = None
) -> list[LogFormat]:
    """Formats ``--format auto`` tries, most specific first (a custom format comes first);
    ``json_format`` is the JSON lines format to try (with its key mapping), by default
    :class:`JsonLinesFormat` with the default mapping."""
    candidates: list[LogFormat] = [custom] if custom is not None else []
    candidates.append(json_format if json_format is not None else JsonLinesFormat())
    candidates += [builtin_format(name) for name in ("main", "combined", "common")]
    return candidates


@dataclass(frozen=True)
class Detection:
    format: LogFormat
    matched: int
    sampled: int


def detect_format(sample: pl.DataFrame, candidates: Sequence[LogFormat]) -> Detection:
    """The candidate parsing most of ``sample``'s lines (the earliest wins a tie)."""
    best: Detection | None = None
    for candidate in candidates:
        matched = candidate.parse(sample).events.height if sample.height else 0
        if best is None or matched > best.matched:
            best = Detection(candidate, matched, sample.height)
    assert best is not None
    return best
