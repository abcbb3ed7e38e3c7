"""``meterlog usage``: requests, errors, bytes, users and latency, grouped as asked."""

from __future__ import annotations

import click

from meterlog.commands.options import (
    LibraryChoice,
    config_option,
    identity_options,
    note,
    output_options,
    store_option,
    time_format_option,
    warn,
    writes_to_terminal,
)


def _split_dimensions(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    from meterlog.query.aggregations import DIMENSIONS

    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    for name in names:
        if name not in DIMENSIONS:
            raise click.BadParameter(f"{name!r} is not one of {', '.join(DIMENSIONS)}")
    return names


def _check_statuses(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    from meterlog.errors import MeterlogError
    from meterlog.query.filters import status_predicate

    for value in values:
        try:
            status_predicate(value)
        except MeterlogError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


@click.command("usage")
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
    help="Leave out crawlers and monitors by user agent (list in docs/reports.md; replace it with "
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
    type=LibraryChoice("meterlog.query.aggregations:METRICS", "METRIC"),
    default=None,
    help="Rank rows by METRIC, largest first, ties by group keys: requests, errors_4xx, "
    "errors_5xx, bytes_sent, users, latency_p50, latency_p95, latency_p99. "
    "Default with --top: requests.",
)
@identity_options
@output_options
@time_format_option
@store_option
@config_option
def command(
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
    time_format: str,
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
        meterlog usage --by day --time-format local -o days.csv   # dates a spreadsheet reads

    Time series are zero-filled: an hour or day without requests is a row of zeros. On a
    terminal the table fits the width: the bar, then other columns are left out (named
    below the table; --format csv has every column).
    """
    from meterlog.config import load_config
    from meterlog.output import resolve_output_format, write_report
    from meterlog.query.settings import resolve_settings
    from meterlog.query.usage import BLANK_LABELS, UsageQuery, run_usage

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
    fmt = resolve_output_format(fmt, None if to_stdout else output, writes_to_terminal(output))
    report = run_usage(settings, query, with_totals=fmt == "table")
    for warning in report.warnings:
        warn(warning)
    write_report(
        report.frame,
        fmt,
        output,
        title=report.title(settings.tz_name),
        totals=report.summed_columns,
        total_values=report.totals,
        bar=report.bar_column,
        keep=report.essential_columns,
        blank_labels=BLANK_LABELS,
        time_format=time_format,
    )
    for message in report.notes:
        note(message)
