"""How to ingest: :class:`IngestOptions`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from meterlog.config import Config
from meterlog.errors import FormatError, UsageError
from meterlog.formats import (
    JsonLinesFormat,
    LogFormat,
    NginxLogFormat,
    builtin_format,
    read_log_format_from_config,
)
from meterlog.ingest.pseudonymize import Pseudonymizer
from meterlog.ingest.timewindow import DEFAULT_ACCEPT_WINDOW, AcceptWindow, parse_accept_window
from meterlog.periods import parse_tz
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


def resolve_formats(
    config: Config,
    *,
    input_format: str = "auto",
    log_format: str | None = None,
    nginx_conf: str | None = None,
    log_format_name: str | None = None,
    json_fields: Mapping[str, str] | None = None,
    json_preset: str | None = None,
    json_tz: str | None = None,
) -> tuple[LogFormat | None, LogFormat | None, LogFormat | None]:
    """The formats of a run, ``(forced, custom, json)`` as :class:`IngestOptions` takes them,
    from the options given (``--input-format``, ``--log-format``, ``--nginx-conf`` with
    ``--log-format-name``, ``--json-field``, ``--json-preset``, ``--json-tz``) and
    ``meterlog.toml``: an option wins over the file, and a JSON key mapping adds to the file's
    ``[json]`` fields."""
    custom: LogFormat | None = None
    if log_format:
        custom = NginxLogFormat(log_format, name="custom")
    elif nginx_conf and log_format_name:
        custom = read_log_format_from_config(nginx_conf, log_format_name)
    elif config.log_format:  # meterlog.toml names the format for every run
        custom = NginxLogFormat(config.log_format, name="custom")
    elif config.nginx_conf and config.log_format_name:
        custom = read_log_format_from_config(config.nginx_conf, config.log_format_name)
    fields = {**config.json_fields, **(json_fields or {})}
    preset = json_preset or config.json_preset
    zone = json_tz or config.json_tz
    json_format: LogFormat | None = None  # None: auto also recognises Caddy and Traefik logs
    if fields or preset or zone or input_format == "json":
        try:
            json_format = JsonLinesFormat(
                fields, preset=preset, naive_zone=parse_tz(zone).key if zone else "UTC"
            )
        except FormatError as exc:
            raise UsageError(f"Invalid value for '--json-field': {exc}") from None
    forced: LogFormat | None = None
    if input_format == "json":
        forced = json_format
    elif input_format != "auto":
        if custom is not None:
            raise UsageError(f"--input-format {input_format} conflicts with a custom log format")
        forced = builtin_format(input_format)
    return forced, custom, json_format
