"""Command-line interface: parses options and calls the library. No logic of its own."""

from __future__ import annotations

import dataclasses
import functools
import gc
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click
import polars as pl
from rich.progress import Progress

from meterlog import __version__
from meterlog.config import load_config
from meterlog.errors import MeterlogError
from meterlog.formats import (
    JsonLinesFormat,
    NginxLogFormat,
    builtin_format,
    read_log_format_from_config,
)
from meterlog.ingest import IngestOptions, summary_lines
from meterlog.ingest import ingest as run_ingest
from meterlog.output import render_table
from meterlog.sources import DEFAULT_CHUNK_BYTES, DEFAULT_EXCLUDE, DEFAULT_INCLUDE
from meterlog.store import DEFAULT_RETENTION, resolve_store, store_status

STORE_ENV = "METERLOG_STORE"


def report_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a MeterlogError into one line on stderr and exit 1 (never a traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MeterlogError as exc:
            click.echo(f"meterlog: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            sys.exit(0)

    return wrapper


def store_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--store",
        envvar=STORE_ENV,
        default=None,
        metavar="PATH|URL",
        help=f"The store (a folder or object-store URL). Env {STORE_ENV}; "
        "default: 'store' in meterlog.toml, else ~/.local/share/meterlog/store.",
    )(command)


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_path",
        envvar="METERLOG_CONFIG",
        default=None,
        type=click.Path(dir_okay=False),
        help="Config file (default: ./meterlog.toml when present). Env METERLOG_CONFIG.",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="meterlog")
def main() -> None:
    """Turn API access logs into billing-grade usage numbers.

    \b
    Example:
        meterlog ingest --store /var/lib/meterlog /var/log/nginx/
        meterlog status --store /var/lib/meterlog
    """


def _parse_json_fields(values: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for value in values:
        column, sep, key = value.partition("=")
        if not sep or not column or not key:
            raise click.BadParameter(f"{value!r}: use COLUMN=KEY, e.g. ts=@timestamp")
        fields[column] = key
    return fields


@main.command()
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
    "*logs.* *.jsonl* *.ndjson*).",
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
    help="Bytes parsed and committed per chunk (default 32 MiB).",
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
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@report_errors
def ingest(
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
    config = load_config(config_path)
    custom = None
    if log_format:
        custom = NginxLogFormat(log_format, name="custom")
    elif nginx_conf and log_format_name:
        custom = read_log_format_from_config(nginx_conf, log_format_name)
    forced = None
    if input_format == "json":
        forced = JsonLinesFormat(_parse_json_fields(json_fields))
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
        chunk_bytes=chunk_size or DEFAULT_CHUNK_BYTES,
        threads=threads,
        compact=compact,
    )
    target = resolve_store(store, config.store)
    # Everything imported so far lives as long as the process: keep the garbage collector
    # from scanning it again and again while chunks are parsed.
    gc.freeze()
    show_progress = not quiet and sys.stderr.isatty()
    if show_progress:
        with Progress(transient=True) as progress:
            task = progress.add_task("ingesting", total=None)

            def advance(path: str, done: int) -> None:
                progress.update(task, advance=done, description=path[-40:])

            summary = run_ingest(target, list(paths), options, on_progress=advance)
    else:
        summary = run_ingest(target, list(paths), options)
    if not quiet:
        click.echo("\n".join(summary_lines(summary)))
    for failed in summary.failed:
        click.echo(f"meterlog: error: {failed.error}", err=True)
    if summary.failed:
        sys.exit(1)


@main.command()
@store_option
@config_option
@report_errors
def status(store: str | None, config_path: str | None) -> None:
    """Show what the store holds: rows, time range, version, sources and rejects.

    \b
    Example:
        meterlog status --store /var/lib/meterlog
    """
    config = load_config(config_path)
    info = store_status(resolve_store(store, config.store))
    click.echo(f"store: {info.uri}")
    if info.version is None:
        click.echo("empty: nothing ingested yet")
        return
    click.echo(f"table version: {info.version}")
    click.echo(f"rows: {info.rows:,}")
    if info.ts_min is not None and info.ts_max is not None:
        click.echo(f"time range: {info.ts_min.isoformat()} .. {info.ts_max.isoformat()}")
    click.echo(f"rejected lines: {int(info.rejects['lines'].sum()):,}")
    render_table(info.sources.drop("seen_at"), title="sources")
    if info.rejects.height:
        render_table(info.rejects, title="rejected lines by reason", totals=["lines"])


_DURATION = re.compile(r"^\s*(\d+)\s*([hdw]?)\s*$")


def _parse_retention(value: str) -> timedelta:
    match = _DURATION.match(value)
    if match is None:
        raise click.BadParameter(f"{value!r}: give hours, days or weeks, e.g. 36h, 30d or 2w")
    amount, unit = int(match.group(1)), match.group(2) or "d"
    hours = {"h": 1, "d": 24, "w": 24 * 7}[unit]
    return timedelta(hours=amount * hours)


@main.command()
@store_option
@config_option
@click.option(
    "--retention",
    default=f"{DEFAULT_RETENTION.days}d",
    show_default=True,
    metavar="DURATION",
    help="Keep older table versions readable this long (36h, 30d, 2w); --as-of works this far "
    "back. Files only older versions use are deleted.",
)
@click.option("--dry-run", is_flag=True, help="Only count the files that would be deleted.")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for a running ingest's lock on the store before giving up.",
)
@report_errors
def maintain(
    store: str | None, config_path: str | None, retention: str, dry_run: bool, lock_timeout: float
) -> None:
    """Compact small files, checkpoint and vacuum the store's tables.

    Rewrites many small data files into few large ones (reads get faster), writes a log
    checkpoint, and deletes data files and log entries only versions older than --retention
    use. Rows and per-source progress are unchanged; run it daily or weekly, e.g. from cron.

    \b
    Example:
        meterlog maintain --store /var/lib/meterlog --retention 30d
    """
    config = load_config(config_path)
    target = resolve_store(store, config.store)
    with target.lock(lock_timeout):
        results = target.maintain(_parse_retention(retention), dry_run=dry_run)
    if not results:
        click.echo(f"store: {target.uri}: empty, nothing to do")
        return
    frame = pl.DataFrame([dataclasses.asdict(result) for result in results]).rename(
        lambda name: name.removeprefix("files_")
    )
    if dry_run:
        frame = frame.select("table", "before", pl.col("deleted").alias("would delete"))
    render_table(frame, title=f"{target.uri}: retention {retention}")
