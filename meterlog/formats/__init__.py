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
from meterlog.formats.nginx import COMBINED, PREDEFINED, NginxLogFormat
from meterlog.formats.nginx_conf import read_log_format_from_config

__all__ = [
    "BUILTIN_FORMAT_NAMES",
    "Detection",
    "JsonLinesFormat",
    "LogFormat",
    "NginxLogFormat",
    "ParseResult",
    "builtin_format",
    "detect_format",
    "detection_guess",
    "read_log_format_from_config",
]

#: JSON presets ``--input-format auto`` recognises (their lines without a request do not parse).
AUTO_JSON_PRESETS = ("caddy", "traefik")
#: Names accepted by ``--input-format`` besides ``auto``.
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
    """Formats ``--input-format auto`` tries, most specific first (a custom format comes first);
    ``json_format`` is the JSON lines format to try (with its key mapping). Without one, the
    presets whose logs have a recognisable request key (Caddy, Traefik) come before the
    default mapping: on a tie (every sampled line parses) the preset wins."""
    candidates: list[LogFormat] = [custom] if custom is not None else []
    if json_format is not None:
        candidates.append(json_format)
    else:
        candidates += [JsonLinesFormat(preset=name) for name in AUTO_JSON_PRESETS]
        candidates.append(JsonLinesFormat())
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


#: A client address or a list of them (``$http_x_forwarded_for``): IPv4, IPv6, ``unknown``.
_ADDRESSES = r"^\s*(?:[0-9A-Fa-f.:\[\]]+|unknown)(?:\s*,\s*(?:[0-9A-Fa-f.:\[\]]+|unknown))*\s*$"


def detection_guess(log_format: LogFormat, sample: pl.DataFrame) -> str | None:
    """A warning when ``--input-format auto`` chose a format whose extra field is named by a guess
    and the values do not fit the name: ``main`` takes the quoted field after combined's as
    ``$http_x_forwarded_for``; an API key logged there is not a client address list."""
    if log_format.name != "main" or sample.height == 0:
        return None
    events = log_format.parse(sample).events
    if "http_x_forwarded_for" not in events.columns:
        return None
    values = events.get_column("http_x_forwarded_for").drop_nulls()
    if values.len() == 0 or values.str.contains(_ADDRESSES).all():
        return None
    return (
        'the format was detected as main (combined plus "$http_x_forwarded_for"), but the '
        "last quoted field does not hold client addresses: it was stored as "
        "http_x_forwarded_for, a guess. Give the format with the variable your nginx "
        f"log_format uses, e.g. --log-format '{COMBINED} \"$http_x_api_key\"' "
        "(or log_format in meterlog.toml)"
    )
