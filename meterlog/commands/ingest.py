"""``meterlog ingest``: read access logs into the store, each line exactly once."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from meterlog.commands.options import (
    AliasedOption,
    LibraryChoice,
    config_option,
    note,
    quiet_option,
    store_option,
)
from meterlog.errors import ExitStatus

if TYPE_CHECKING:
    from meterlog.config import Config
    from meterlog.ingest import IngestOptions


def _parse_json_fields(values: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for value in values:
        column, sep, key = value.partition("=")
        if not sep or not column or not key:
            raise click.BadParameter(
                f"{value!r}: use COLUMN=KEY, e.g. ts=@timestamp, http_x_api_key=api_key or "
                "path=request.uri",
                param_hint="'--json-field'",
            )
        fields[column] = key
    return fields


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@store_option
@config_option
@click.option(
    "--input-format",
    "--format",
    "input_format",
    cls=AliasedOption,
    old_names=("--format",),  # --format is the output format in every other command
    type=click.Choice(["auto", "combined", "common", "main", "json"]),
    default="auto",
    show_default=True,
    help="Log format of the inputs; auto detects it per file from its first lines.",
)
@click.option(
    "--log-format",
    metavar="LOG_FORMAT",
    help="A custom nginx log_format string, given verbatim (tried first by --input-format auto).",
)
@click.option(
    "--nginx-conf",
    type=click.Path(dir_okay=False),
    help="Read the log format from this nginx config (with --log-format-name).",
)
@click.option("--log-format-name", metavar="NAME", help="The log_format to use from --nginx-conf.")
@click.option(
    "--json-field",
    "json_fields",
    multiple=True,
    metavar="COLUMN=KEY",
    help="Store the JSON key KEY as column COLUMN (a canonical column or any name), e.g. "
    "ts=@timestamp, http_x_api_key=api_key; KEY may be nested: path=request.uri "
    "(repeatable; --input-format json and auto).",
)
@click.option(
    "--json-preset",
    type=LibraryChoice("meterlog.formats.jsonlines:JSON_PRESETS", "caddy|traefik|nginx"),
    default=None,
    help="Map the keys of a known JSON access log: caddy, traefik, or nginx (an escape=json "
    "log_format keyed by variable names).",
)
@click.option(
    "--json-tz",
    metavar="ZONE",
    default=None,
    help="Time zone of JSON times written without an offset (default UTC), e.g. Europe/Berlin.",
)
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="File names to read inside directories (repeatable; default: *log *logs *log.* "
    "*logs.* *log-* *logs-* *.jsonl* *.ndjson*).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="File names to skip inside directories (repeatable; default: *error*).",
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Also read symbolic links found in folders that lead to files outside the folders "
    "and files named (by default they are listed and not read).",
)
@click.option(
    "--max-reject-ratio",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="A file whose share of rejected lines exceeds this is not ingested (exit 1).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for another run's lock on the store before giving up.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1024),
    default=None,
    help="Bytes parsed and committed per chunk (default 32 MiB; 16 MiB for JSON lines).",
)
@click.option(
    "--max-line-bytes",
    type=click.IntRange(1024),
    default=64 * 1024,
    show_default=True,
    help="Longer lines are rejected as line_too_long (kept cut to 4 KiB) and read past.",
)
@click.option(
    "--compact/--no-compact",
    default=True,
    show_default=True,
    help="After the run, compact day partitions it wrote to that hold many small files.",
)
@click.option(
    "--threads",
    type=click.IntRange(0),
    default=0,
    help="Threads parsing at once (default 0: one per CPU).",
)
@click.option(
    "--accept-window",
    metavar="PAST:FUTURE",
    default="3650d:1d",
    show_default=True,
    help="Lines timed more than PAST before or FUTURE after now (s, m, h, d) are stored but "
    "counted as suspicious and named in the summary; 'off' turns the check off.",
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    help="Store user identifiers as keyed HMAC-SHA256 digests (key from $METERLOG_HMAC_KEY); "
    "distinct-user counts stay exact.",
)
@click.option(
    "--pseudonymize-field",
    "pseudonymize_fields",
    multiple=True,
    metavar="COLUMN",
    help="A column to pseudonymize (repeatable; default remote_user; implies --pseudonymize).",
)
@quiet_option
def command(
    paths: tuple[str, ...],
    store: str | None,
    config_path: str | None,
    quiet: bool,
    **inputs: Any,
) -> None:
    """Ingest access logs into the store, each line exactly once.

    PATHS are files, directories (read recursively), glob patterns or - for standard input;
    gzip, bzip2 and zstd files are read directly. Re-running over the same, rotated, renamed
    or compressed files adds nothing; a grown file adds its new lines only.

    \b
    Examples:
        meterlog ingest --store /var/lib/meterlog /var/log/nginx/
        meterlog ingest --nginx-conf /etc/nginx/nginx.conf --log-format-name api logs/
        meterlog ingest --json-preset caddy /var/log/caddy/access.log
        zcat old.log.gz | meterlog ingest -
    """
    from meterlog.commands.base import error_line, tune_for_batch_work
    from meterlog.config import load_config
    from meterlog.ingest import ingest as run_ingest
    from meterlog.ingest import summary_lines
    from meterlog.store import resolve_store
    from meterlog.text import printable

    config = load_config(config_path)
    options = ingest_options(config, **inputs)
    target = resolve_store(store, config.store)
    tune_for_batch_work()
    if not quiet and sys.stderr.isatty():
        from rich.console import Console

        from meterlog.commands.progress_bar import IngestProgressBar

        with IngestProgressBar(Console(stderr=True)) as bar:
            summary = run_ingest(target, list(paths), options, monitor=bar)
    else:
        summary = run_ingest(target, list(paths), options)
    if not quiet:
        click.echo("\n".join(printable(line) for line in summary_lines(summary)))
    for failed in summary.failed:
        click.echo(error_line(str(failed.error)), err=True)
    for message in summary.unread:
        click.echo(error_line(message), err=True)
    for message in summary.notes:
        note(message)
    if not summary.ok:
        click.get_current_context().exit(ExitStatus.FAILURE)


#: The options of ``ingest`` that say what to read and how; ``watch`` takes the same ones.
INPUT_OPTION_NAMES = (
    "store",
    "config_path",
    "input_format",
    "log_format",
    "nginx_conf",
    "log_format_name",
    "json_fields",
    "json_preset",
    "json_tz",
    "include",
    "exclude",
    "follow_symlinks",
    "max_reject_ratio",
    "lock_timeout",
    "chunk_size",
    "max_line_bytes",
    "compact",
    "threads",
    "accept_window",
    "pseudonymize",
    "pseudonymize_fields",
)


def ingest_options(
    config: Config,
    *,
    input_format: str,
    log_format: str | None,
    nginx_conf: str | None,
    log_format_name: str | None,
    json_fields: tuple[str, ...],
    json_preset: str | None,
    json_tz: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    follow_symlinks: bool,
    max_reject_ratio: float,
    lock_timeout: float,
    chunk_size: int | None,
    max_line_bytes: int,
    compact: bool,
    threads: int,
    accept_window: str,
    pseudonymize: bool,
    pseudonymize_fields: tuple[str, ...],
) -> IngestOptions:
    """The library's ingest options from the command's input options and the config file
    (shared with ``watch``)."""
    if log_format and nginx_conf:
        raise click.UsageError("give either --log-format or --nginx-conf, not both")
    if bool(nginx_conf) != bool(log_format_name):
        raise click.UsageError("--nginx-conf and --log-format-name go together")
    json_mapping = _parse_json_fields(json_fields)

    from meterlog.ingest import IngestOptions
    from meterlog.ingest.options import resolve_formats
    from meterlog.ingest.pseudonymize import DEFAULT_FIELDS, Pseudonymizer
    from meterlog.ingest.timewindow import parse_accept_window
    from meterlog.sources import DEFAULT_EXCLUDE, DEFAULT_INCLUDE

    window = parse_accept_window(accept_window)
    pseudonymizer = None
    if pseudonymize or pseudonymize_fields:
        pseudonymizer = Pseudonymizer.from_environment(pseudonymize_fields or DEFAULT_FIELDS)
    forced, custom, json_format = resolve_formats(
        config,
        input_format=input_format,
        log_format=log_format,
        nginx_conf=nginx_conf,
        log_format_name=log_format_name,
        json_fields=json_mapping,
        json_preset=json_preset,
        json_tz=json_tz,
    )
    return IngestOptions(
        log_format=forced,
        custom_format=custom,
        json_format=json_format,
        include=include or DEFAULT_INCLUDE,
        exclude=exclude or DEFAULT_EXCLUDE,
        follow_symlinks=follow_symlinks,
        max_reject_ratio=max_reject_ratio,
        lock_timeout=lock_timeout,
        chunk_bytes=chunk_size,
        max_line_bytes=max_line_bytes,
        threads=threads,
        compact=compact,
        accept_window=window,
        pseudonymizer=pseudonymizer,
    )
