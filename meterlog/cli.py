"""Command-line interface: parses options and calls the library. No logic of its own."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from meterlog import __version__
from meterlog.aggregations import DIMENSIONS, METRICS
from meterlog.config import load_config
from meterlog.errors import MeterlogError
from meterlog.filters import status_predicate
from meterlog.output import OUTPUT_FORMATS, resolve_output_format, write_report
from meterlog.reports import resolve_settings
from meterlog.usage import UsageQuery, run_usage

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
