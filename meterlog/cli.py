"""Command-line interface: parses options and calls the library. No logic of its own."""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
import polars as pl

from meterlog import __version__
from meterlog.aggregations import DIMENSIONS, METRICS
from meterlog.config import load_config
from meterlog.errors import MeterlogError
from meterlog.filters import status_predicate
from meterlog.formats import (
    JsonLinesFormat,
    NginxLogFormat,
    builtin_format,
    read_log_format_from_config,
)
from meterlog.ingest import IngestOptions, summary_lines
from meterlog.ingest import ingest as run_ingest
from meterlog.meters.peak import METRICS as PEAK_METRICS
from meterlog.meters.peak import WINDOWS
from meterlog.output import OUTPUT_FORMATS, render_table, resolve_output_format, write_report
from meterlog.periods import parse_months
from meterlog.pseudonymize import DEFAULT_FIELDS, KEY_ENV, Pseudonymizer
from meterlog.reports import resolve_settings, store_status
from meterlog.sources import DEFAULT_EXCLUDE, DEFAULT_INCLUDE
from meterlog.store import DEFAULT_RETENTION, Store, resolve_store
from meterlog.timewindow import DEFAULT_ACCEPT_WINDOW, AcceptWindow, parse_accept_window
from meterlog.usage import UsageQuery, run_usage
from meterlog.validation import ParameterError

if TYPE_CHECKING:
    from meterlog.billing import Identity
    from meterlog.meters import Meter

# Modules that only some commands need (billing, metering, plans, rich's progress bar) are
# imported inside those commands, so that each command, ingest above all, starts faster.

STORE_ENV = "METERLOG_STORE"


# -- options shared by report commands (usage, mau, peak, bill) ---------------------------------
def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format/-f`` (parameter ``fmt``) and ``-o/--output`` (parameter ``output``)."""
    command = click.option(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="Write to FILE instead of stdout ('-' is stdout); the format follows the "
        "extension (.csv .json .ndjson .jsonl .parquet .txt) unless --format is given.",
    )(command)
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(OUTPUT_FORMATS),
        default=None,
        help="Output format. Default: a table on a terminal, CSV when piped or redirected.",
    )(command)


def identity_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--tz``, ``--user-field``, ``--account-field`` and ``--accounts``; ``None`` when not
    given, so meterlog.toml and the defaults apply (see meterlog.reports.resolve_settings)."""
    command = click.option(
        "--accounts",
        "accounts_file",
        default=None,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="CSV 'key,account' mapping raw account-field values (API keys) to account names; "
        "keys not in it are reported as they are, with a warning.",
    )(command)
    command = click.option(
        "--account-field",
        default=None,
        metavar="COLUMN",
        help="Column naming the paying customer, e.g. http_x_api_key. Default: one account.",
    )(command)
    command = click.option(
        "--user-field",
        default=None,
        metavar="COLUMN",
        help="Column naming the end user, e.g. remote_user (default), http_x_user_id or "
        "remote_addr. Null, empty and '-' are anonymous: counted as requests, never as users.",
    )(command)
    return click.option(
        "--tz",
        default=None,
        metavar="ZONE",
        help="IANA time zone for --since/--until and time buckets, e.g. Europe/Berlin. "
        "Default: UTC.",
    )(command)


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


def _accept_window(spec: str) -> AcceptWindow | None:
    try:
        return parse_accept_window(spec)
    except MeterlogError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"--accept-window {spec!r}: ")) from None


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
    default=DEFAULT_ACCEPT_WINDOW,
    show_default=True,
    help="Lines timed more than PAST before or FUTURE after now (s, m, h, d) are stored but "
    "counted as suspicious and named in the summary; 'off' turns the check off.",
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    help=f"Store user identifiers as keyed HMAC-SHA256 digests (key from ${KEY_ENV}); "
    "distinct-user counts stay exact.",
)
@click.option(
    "--pseudonymize-field",
    "pseudonymize_fields",
    multiple=True,
    metavar="COLUMN",
    help="A column to pseudonymize (repeatable; default remote_user; implies --pseudonymize).",
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
    pseudonymizer = None
    if pseudonymize or pseudonymize_fields:
        pseudonymizer = Pseudonymizer.from_environment(pseudonymize_fields or DEFAULT_FIELDS)
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
        chunk_bytes=chunk_size,
        threads=threads,
        compact=compact,
        accept_window=_accept_window(accept_window),
        pseudonymizer=pseudonymizer,
    )
    target = resolve_store(store, config.store)
    # Everything imported so far lives as long as the process: keep the garbage collector
    # from scanning it again and again while chunks are parsed.
    gc.freeze()
    show_progress = not quiet and sys.stderr.isatty()
    if show_progress:
        from rich.progress import Progress

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


# -- usage ------------------------------------------------------------------------------------
def _split_dimensions(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    for name in names:
        if name not in DIMENSIONS:
            raise click.BadParameter(f"{name!r} is not one of {', '.join(DIMENSIONS)}")
    return names


def _check_statuses(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        try:
            status_predicate(value)
        except MeterlogError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


@main.command()
@click.option(
    "--by",
    multiple=True,
    callback=_split_dimensions,
    metavar="DIM",
    help="Group by DIM; repeat or separate with commas for several: hour, day, week, month "
    "(in --tz), account, user, endpoint, method, status, status_class. None: one row.",
)
@click.option("--since", metavar="DATE|TIME", help="First instant, e.g. 2026-10-01 (in --tz).")
@click.option(
    "--until",
    metavar="DATE|TIME",
    help="End: a date includes that whole day; a timestamp (2026-10-01T12:00) is exclusive.",
)
@click.option("--account", "accounts", multiple=True, help="Only this account (repeatable).")
@click.option("--user", "users", multiple=True, help="Only this user (repeatable).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    callback=_check_statuses,
    metavar="CODE|CLASS",
    help="Only these statuses, e.g. 2xx or 404 (repeatable).",
)
@click.option("--method", "methods", multiple=True, help="Only this HTTP method (repeatable).")
@click.option(
    "--path",
    "paths",
    multiple=True,
    metavar="GLOB",
    help="Only paths matching GLOB: * is any text (/ too), ? one character (repeatable).",
)
@click.option(
    "--exclude-path",
    "exclude_paths",
    multiple=True,
    metavar="GLOB",
    help="Leave out paths matching GLOB, e.g. '/health*' (repeatable).",
)
@click.option(
    "--exclude-bots",
    is_flag=True,
    help="Leave out crawlers and monitors by user agent (list in the README; replace it with "
    "[bots] patterns in meterlog.toml).",
)
@click.option(
    "--openapi",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="SPEC",
    help="OpenAPI 3 document (JSON or YAML) whose paths are the endpoint templates.",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=None, metavar="N", help="Keep the first N rows."
)
@click.option(
    "--sort",
    type=click.Choice(list(METRICS)),
    default=None,
    metavar="METRIC",
    help=f"Rank rows by METRIC, largest first, ties by group keys: {', '.join(METRICS)}. "
    "Default with --top: requests.",
)
@identity_options
@output_options
@store_option
@config_option
@report_errors
def usage(
    by: tuple[str, ...],
    since: str | None,
    until: str | None,
    accounts: tuple[str, ...],
    users: tuple[str, ...],
    statuses: tuple[str, ...],
    methods: tuple[str, ...],
    paths: tuple[str, ...],
    exclude_paths: tuple[str, ...],
    exclude_bots: bool,
    openapi: str | None,
    top: int | None,
    sort: str | None,
    tz: str | None,
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    fmt: str | None,
    output: str | None,
    store: str | None,
    config_path: str | None,
) -> None:
    """Requests, errors, bytes, distinct users and latency, grouped as you ask.

    Metrics per group: requests, errors_4xx, errors_5xx, bytes_sent, users (distinct,
    anonymous never counted) and, when the logs carry request_time, latency_p50,
    latency_p95 and latency_p99 in seconds. Rows are sorted by the group keys.

    \b
    Examples:
        meterlog usage --by day --since 2026-10-01 --until 2026-10-31
        meterlog usage --by account --by endpoint --account-field http_x_api_key
        meterlog usage --by endpoint --by method --top 10 --sort errors_5xx
        meterlog usage --by hour --tz Europe/Berlin --exclude-bots --format csv -o hours.csv
    """
    settings = resolve_settings(
        load_config(config_path),
        store=store,
        tz=tz,
        user_field=user_field,
        account_field=account_field,
        accounts=accounts_file,
        openapi=openapi,
    )
    query = UsageQuery(
        by=by,
        since=since,
        until=until,
        accounts=accounts,
        users=users,
        statuses=statuses,
        methods=methods,
        paths=paths,
        exclude_paths=exclude_paths,
        exclude_bots=exclude_bots,
        top=top,
        sort=sort,
    )
    to_stdout = output is None or output == "-"
    fmt = resolve_output_format(fmt, None if to_stdout else output, to_stdout and _is_tty())
    report = run_usage(settings, query, with_totals=fmt == "table")
    for warning in report.warnings:
        click.echo(f"meterlog: warning: {warning}", err=True)
    write_report(
        report.frame,
        fmt,
        output,
        title=report.title(settings.tz_name),
        totals=report.summed_columns,
        total_values=report.totals,
        bar=report.bar_column,
    )
    for note in report.notes:
        click.echo(f"meterlog: note: {note}", err=True)


def _is_tty() -> bool:
    return sys.stdout.isatty()


@main.command()
@store_option
@config_option
@output_options
@report_errors
def status(store: str | None, config_path: str | None, fmt: str | None, output: str | None) -> None:
    """Show what the store holds: rows, time range, version, sources and rejects.

    As a table (the default on a terminal) it prints the whole overview; in another format
    (CSV when piped) it writes the list of sources with their progress.

    \b
    Examples:
        meterlog status --store /var/lib/meterlog
        meterlog status --format json -o sources.json
    """
    config = load_config(config_path)
    info = store_status(resolve_store(store, config.store))
    to_stdout = output is None or output == "-"
    fmt = resolve_output_format(fmt, None if to_stdout else output, to_stdout and _is_tty())
    if fmt != "table":
        write_report(info.sources, fmt, output)
        return
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


# -- billing: mau, peak, bill ---------------------------------------------------------------
def filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--exclude-status``, ``--exclude-path``, ``--method`` (which requests count)."""
    for option in reversed(
        [
            click.option(
                "--exclude-status",
                multiple=True,
                metavar="CODE|Nxx",
                help="Do not count requests with this status (404) or class (5xx). Repeatable.",
            ),
            click.option(
                "--exclude-path",
                multiple=True,
                metavar="GLOB",
                help="Do not count requests to paths matching GLOB ('*' any characters, "
                "'/' included). Repeatable.",
            ),
            click.option(
                "--method",
                "methods",
                multiple=True,
                metavar="METHOD",
                help="Count only requests with this method. Repeatable.",
            ),
        ]
    ):
        command = option(command)
    return command


@dataclass(frozen=True)
class _Settings:
    store: Store
    tz: ZoneInfo
    identity: Identity


def _settings(
    config_path: str | None,
    store: str | None,
    tz: str | None,
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    *,
    by_account: bool = True,
) -> _Settings:
    """Options, else meterlog.toml, else defaults (see meterlog.reports.resolve_settings)."""
    from meterlog.billing import Identity

    settings = resolve_settings(
        load_config(config_path),
        store=store,
        tz=tz,
        user_field=user_field,
        account_field=account_field,
        accounts=accounts_file,
    )
    return _Settings(
        store=Store(settings.store),
        tz=settings.tz,
        identity=Identity(
            user_field=settings.user_field,
            account_field=settings.account_field if by_account else None,
            accounts=dict(settings.accounts or {}) if by_account else {},
        ),
    )


_OPTION_NAMES = {"exclude_status": "--exclude-status", "exclude_paths": "--exclude-path"}


def meter_report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``mau`` and ``peak`` share: ``--month``, ``--by``, what counts, identity,
    store, config and output, with errors reported as one line."""
    for decorator in reversed(
        [
            click.option(
                "--month",
                required=True,
                metavar="YYYY-MM[..YYYY-MM]",
                help="Calendar month in the billing time zone, or an inclusive range.",
            ),
            click.option(
                "--by",
                type=click.Choice(["account"]),
                default=None,
                help="One row per account (without it, all traffic is the 'default' account).",
            ),
            filter_options,
            identity_options,
            store_option,
            config_option,
            output_options,
            report_errors,
        ]
    ):
        command = decorator(command)
    return command


def _meter(kind: str, params: Mapping[str, object]) -> Meter:
    """Build a meter from command options; a bad value is a usage error (exit 2)."""
    from meterlog.meters import meter_from_params

    given = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in params.items()
        if value
    }
    try:
        return meter_from_params(kind, given)
    except ParameterError as error:
        name = error.key.split("[")[0]
        hint = _OPTION_NAMES.get(name, "--" + name.replace("_", "-").removesuffix("s"))
        raise click.BadParameter(error.reason, param_hint=f"'{hint}'") from None


def _meter_frame(settings: _Settings, meter: Meter, month: str, *, evidence: bool) -> pl.DataFrame:
    """A meter's figures (or, with ``evidence``, what they were computed from) per month."""
    from meterlog.billing import identified_events, resolve_version
    from meterlog.metering import meter_evidence, meter_report

    events = identified_events(
        settings.store, settings.identity, resolve_version(settings.store, None)
    )
    report = meter_evidence if evidence else meter_report
    return report(events, meter, parse_months(month), settings.tz)


def _warn(message: str) -> None:
    click.echo(f"meterlog: warning: {message}", err=True)


# -- mau, peak, bill -------------------------------------------------------------------------


@main.command()
@meter_report_options
@click.option(
    "--list-users",
    is_flag=True,
    help="List the users counted (account, month, user, first_seen, last_seen, requests).",
)
def mau(
    month: str,
    by: str | None,
    list_users: bool,
    exclude_status: tuple[str, ...],
    exclude_path: tuple[str, ...],
    methods: tuple[str, ...],
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    tz: str | None,
    store: str | None,
    config_path: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """Monthly active users: distinct users with at least one counted request in the month.

    Anonymous requests never count. Columns: account, month, mau.

    \b
    Example:
        meterlog mau --month 2026-08..2026-10 --by account \\
            --account-field http_x_api_key --accounts accounts.csv --tz Europe/Berlin
    """
    settings = _settings(
        config_path, store, tz, user_field, account_field, accounts_file, by_account=bool(by)
    )
    filters = {"exclude_status": exclude_status, "exclude_paths": exclude_path, "methods": methods}
    frame = _meter_frame(settings, _meter("mau", filters), month, evidence=list_users)
    write_report(frame, fmt, output, title=f"MAU {month}")


@main.command()
@meter_report_options
@click.option(
    "--window",
    type=click.Choice(list(WINDOWS)),
    default="1h",
    show_default=True,
    help="Window length, aligned to the billing time zone's clock.",
)
@click.option(
    "--metric",
    type=click.Choice(PEAK_METRICS),
    default="requests",
    show_default=True,
    help="What is measured per window.",
)
@click.option(
    "--statistic",
    default="max",
    show_default=True,
    metavar="max|pNN",
    help="max, or the nearest-rank percentile of all windows (p95: the value at rank "
    "ceil(0.95 * windows) in ascending order; empty windows are 0).",
)
@click.option(
    "--windows",
    "list_windows",
    is_flag=True,
    help="List every window (window_start, window_end, value, rank, is_peak).",
)
def peak(
    month: str,
    window: str,
    metric: str,
    statistic: str,
    by: str | None,
    list_windows: bool,
    exclude_status: tuple[str, ...],
    exclude_path: tuple[str, ...],
    methods: tuple[str, ...],
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    tz: str | None,
    store: str | None,
    config_path: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """High watermark: the busiest window of the month (or a percentile of all windows).

    Columns: account, month, window, metric, peak, peak_start (the earliest window holding
    the value, in the billing time zone).

    \b
    Example:
        meterlog peak --month 2026-10 --window 1h --metric requests --statistic p95 \\
            --by account --account-field http_x_api_key --tz Europe/Berlin
    """
    settings = _settings(
        config_path, store, tz, user_field, account_field, accounts_file, by_account=bool(by)
    )
    params = {
        "metric": metric,
        "window": window,
        "statistic": statistic.lower(),
        "exclude_status": exclude_status,
        "exclude_paths": exclude_path,
        "methods": methods,
    }
    frame = _meter_frame(settings, _meter("peak", params), month, evidence=list_windows)
    write_report(frame, fmt, output, title=f"Peak {month}")


@main.command()
@click.option(
    "--period",
    required=True,
    metavar="YYYY-MM|previous|current",
    help="Calendar month to bill, in each account's billing time zone.",
)
@click.option(
    "--plan",
    "plan_path",
    required=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Plan file (TOML), checked before anything is computed.",
)
@click.option(
    "--as-of",
    type=click.IntRange(min=0),
    default=None,
    metavar="VERSION",
    help="Bill from this store version (recorded in store_version) to reproduce an invoice.",
)
@click.option(
    "--compare",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PREVIOUS.csv",
    help="Write adjustment lines against an earlier 'meterlog bill' CSV instead of the invoice.",
)
@click.option(
    "--since-version",
    type=click.IntRange(min=0),
    default=None,
    metavar="VERSION",
    help="Write adjustment lines against the invoice as of this store version.",
)
@click.option(
    "--require-complete",
    is_flag=True,
    help="Exit 1 without writing when the store may not hold the whole period.",
)
@click.option(
    "--explain",
    default=None,
    metavar="ACCOUNT",
    help="Write the inputs behind ACCOUNT's lines (users counted, window series) instead.",
)
@identity_options
@store_option
@config_option
@output_options
@report_errors
def bill(
    period: str,
    plan_path: str,
    as_of: int | None,
    compare: str | None,
    since_version: int | None,
    require_complete: bool,
    explain: str | None,
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    tz: str | None,
    store: str | None,
    config_path: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """Invoice lines per account and charge, and a TOTAL line per account.

    Columns: account, plan, charge, meter, period_start, period_end, quantity, included,
    billable_quantity, unit_price, amount, currency, peak_start, store_version. The same
    command gives the same bytes as long as the store version is the same (see --as-of).

    \b
    Example:
        meterlog bill --period previous --plan plans.toml \\
            --account-field http_x_api_key --accounts accounts.csv -o invoice.csv
        meterlog bill --period 2026-10 --plan plans.toml --compare invoice.csv
    """
    if compare and since_version is not None:
        raise click.UsageError("use either --compare or --since-version, not both")
    if explain is not None and (compare or since_version is not None):
        raise click.UsageError("--explain writes evidence, not adjustments: drop --compare")
    from meterlog.billing import (
        adjustments,
        compute_invoice,
        explain_account,
        load_previous_invoice,
    )
    from meterlog.plans import load_plan_file

    settings = _settings(config_path, store, tz, user_field, account_field, accounts_file)
    plans = load_plan_file(plan_path)
    if explain is not None:
        evidence = explain_account(
            settings.store, plans, explain, period, settings.tz, settings.identity, as_of
        )
        write_report(evidence, fmt, output, title=f"Evidence for {explain}, {period}")
        return
    previous = load_previous_invoice(compare) if compare else None
    invoice = compute_invoice(settings.store, plans, period, settings.tz, settings.identity, as_of)
    for message in (*invoice.warnings, *invoice.incomplete):
        _warn(message)
    if require_complete and invoice.incomplete:
        raise MeterlogError(
            "the store may not hold the whole billing period (see the warnings above); "
            "nothing written because of --require-complete"
        )
    if previous is not None:
        report = adjustments(previous, invoice.lines, str(compare))
    elif since_version is not None:
        earlier = compute_invoice(
            settings.store, plans, period, settings.tz, settings.identity, since_version
        )
        report = adjustments(
            earlier.lines.iter_rows(named=True), invoice.lines, f"store version {since_version}"
        )
    else:
        report = invoice.lines
    write_report(report, fmt, output, title=f"Invoice {period}")


# -- maintenance -------------------------------------------------------------------------------
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
    with target.lock(lock_timeout), target.writing():
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


#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _reuse_freed_memory() -> None:
    """Have glibc's malloc keep large freed blocks for reuse instead of handing them back.

    Chunks are read into, and parsed and written through, blocks of tens of MiB; by default each
    is mapped afresh and returned on free, so every chunk pays page faults for its memory again
    (about 80,000 a million lines, 10% of an ingest's CPU time). Blocks up to 256 MiB then come
    from the heap, which is trimmed only past 1 GiB free: peak memory stays about the same.
    Without glibc (macOS, musl) nothing changes.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 256 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)


def run() -> None:
    """The ``meterlog`` program: :func:`main`, then a quick exit with its exit code.

    When a command returns, its output is written and its files and store are closed; the
    process then ends without tearing the interpreter down (freeing every module, Polars' and
    the Delta writer's thread pools), which takes about 50 ms, a few percent of a short ingest.
    """
    _reuse_freed_memory()
    code: int
    try:
        main()
        code = 0
    except SystemExit as exit_request:
        if exit_request.code is None or isinstance(exit_request.code, int):
            code = exit_request.code or 0
        else:  # sys.exit("message"): the message goes to stderr, as Python does it
            print(exit_request.code, file=sys.stderr)
            code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        pass
    os._exit(code)
