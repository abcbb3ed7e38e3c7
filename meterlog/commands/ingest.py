"""``meterlog ingest``: read access logs into the store, each line exactly once."""

from __future__ import annotations

import sys

import click

from meterlog.commands.options import config_option, quiet_option, store_option


def _parse_json_fields(values: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for value in values:
        column, sep, key = value.partition("=")
        if not sep or not column or not key:
            raise click.BadParameter(
                f"{value!r}: use COLUMN=KEY, e.g. ts=@timestamp", param_hint="'--json-field'"
            )
        fields[column] = key
    return fields


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@store_option
@config_option
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "combined", "common", "main", "json"]),
    default="auto",
    show_default=True,
    help="Log format of the inputs; auto detects it per file from its first lines.",
)
@click.option(
    "--log-format",
    metavar="LOG_FORMAT",
    help="A custom nginx log_format string, given verbatim (tried first by --format auto).",
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
    help="Map a JSON key to a canonical column, e.g. ts=@timestamp (repeatable).",
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
    input_format: str,
    log_format: str | None,
    nginx_conf: str | None,
    log_format_name: str | None,
    json_fields: tuple[str, ...],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    max_reject_ratio: float,
    lock_timeout: float,
    chunk_size: int | None,
    compact: bool,
    threads: int,
    accept_window: str,
    pseudonymize: bool,
    pseudonymize_fields: tuple[str, ...],
    quiet: bool,
) -> None:
    """Ingest access logs into the store, each line exactly once.

    PATHS are files, directories (read recursively), glob patterns or - for standard input;
    gzip, bzip2 and zstd files are read directly. Re-running over the same, rotated, renamed
    or compressed files adds nothing; a grown file adds its new lines only.

    \b
    Examples:
        meterlog ingest --store /var/lib/meterlog /var/log/nginx/
        meterlog ingest --nginx-conf /etc/nginx/nginx.conf --log-format-name api logs/
        zcat old.log.gz | meterlog ingest -
    """
    if log_format and nginx_conf:
        raise click.UsageError("give either --log-format or --nginx-conf, not both")
    if bool(nginx_conf) != bool(log_format_name):
        raise click.UsageError("--nginx-conf and --log-format-name go together")
    json_mapping = _parse_json_fields(json_fields)

    from meterlog.commands.base import error_line, tune_for_batch_work
    from meterlog.config import load_config
    from meterlog.formats import (
        JsonLinesFormat,
        LogFormat,
        NginxLogFormat,
        builtin_format,
        read_log_format_from_config,
    )
    from meterlog.ingest import IngestOptions, summary_lines
    from meterlog.ingest import ingest as run_ingest
    from meterlog.pseudonymize import DEFAULT_FIELDS, Pseudonymizer
    from meterlog.sources import DEFAULT_EXCLUDE, DEFAULT_INCLUDE
    from meterlog.store import resolve_store
    from meterlog.text import printable
    from meterlog.timewindow import parse_accept_window

    window = parse_accept_window(accept_window)
    pseudonymizer = None
    if pseudonymize or pseudonymize_fields:
        pseudonymizer = Pseudonymizer.from_environment(pseudonymize_fields or DEFAULT_FIELDS)
    config = load_config(config_path)
    custom = None
    if log_format:
        custom = NginxLogFormat(log_format, name="custom")
    elif nginx_conf and log_format_name:
        custom = read_log_format_from_config(nginx_conf, log_format_name)
    forced: LogFormat | None = None
    if input_format == "json":
        forced = JsonLinesFormat(json_mapping)
    elif input_format != "auto":
        if custom is not None:
            raise click.UsageError(f"--format {input_format} conflicts with a custom log format")
        forced = builtin_format(input_format)
    options = IngestOptions(
        log_format=forced,
        custom_format=custom,
        include=include or DEFAULT_INCLUDE,
        exclude=exclude or DEFAULT_EXCLUDE,
        max_reject_ratio=max_reject_ratio,
        lock_timeout=lock_timeout,
        chunk_bytes=chunk_size,
        threads=threads,
        compact=compact,
        accept_window=window,
        pseudonymizer=pseudonymizer,
    )
    target = resolve_store(store, config.store)
    tune_for_batch_work()
    show_progress = not quiet and sys.stderr.isatty()
    if show_progress:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("ingesting", total=None)

            def advance(path: str, done: int) -> None:
                progress.update(task, advance=done, description=printable(path[-40:]))

            summary = run_ingest(target, list(paths), options, on_progress=advance)
    else:
        summary = run_ingest(target, list(paths), options)
    if not quiet:
        click.echo("\n".join(printable(line) for line in summary_lines(summary)))
    for failed in summary.failed:
        click.echo(error_line(str(failed.error)), err=True)
    if summary.failed:
        sys.exit(1)
