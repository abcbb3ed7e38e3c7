"""Command-line interface: parses options and calls the library. No logic of its own."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import click

from meterlog import __version__
from meterlog.billing import (
    Identity,
    adjustments,
    compute_invoice,
    explain_account,
    identified_events,
    load_previous_invoice,
    resolve_version,
)
from meterlog.config import load_config
from meterlog.errors import MeterlogError
from meterlog.identity import load_accounts_file
from meterlog.metering import meter_evidence, meter_report
from meterlog.meters import Meter, meter_from_params
from meterlog.meters.peak import METRICS, WINDOWS
from meterlog.output import OUTPUT_FORMATS, write_report
from meterlog.periods import parse_months, parse_tz
from meterlog.plans import load_plan_file
from meterlog.store import DEFAULT_STORE, Store
from meterlog.validation import ParameterError

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


# -- shared options for reports and billing ------------------------------------------------


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format/-f`` and ``-o/--output``."""
    command = click.option(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="Write to FILE instead of stdout (format from its extension unless --format).",
    )(command)
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(OUTPUT_FORMATS),
        default=None,
        help="Output format (default: table on a terminal, CSV otherwise).",
    )(command)


def identity_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--user-field``, ``--account-field``, ``--accounts``, ``--tz``."""
    for option in reversed(
        [
            click.option(
                "--user-field",
                default=None,
                metavar="FIELD",
                help="Column naming the end user (default: user_field in meterlog.toml, "
                "else remote_user). Empty and '-' are anonymous.",
            ),
            click.option(
                "--account-field",
                default=None,
                metavar="FIELD",
                help="Column naming the paying account, e.g. http_x_api_key (default: "
                "account_field in meterlog.toml; without one every request is account "
                "'default').",
            ),
            click.option(
                "--accounts",
                "accounts_path",
                default=None,
                type=click.Path(dir_okay=False),
                metavar="FILE",
                help="CSV 'key,account' mapping account-field values to account names.",
            ),
            click.option(
                "--tz",
                default=None,
                metavar="ZONE",
                help="Billing time zone, an IANA name (default: tz in meterlog.toml, else UTC).",
            ),
        ]
    ):
        command = option(command)
    return command


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
    accounts_path: str | None,
    *,
    by_account: bool = True,
) -> _Settings:
    """Options, else meterlog.toml, else defaults."""
    config = load_config(config_path)
    account_field = account_field or config.account_field
    accounts = accounts_path or config.accounts
    if accounts and not account_field:
        raise MeterlogError(
            "--accounts maps values of the account field, but none is set: "
            "add --account-field FIELD (or account_field in meterlog.toml)"
        )
    return _Settings(
        store=Store(store or config.store or DEFAULT_STORE),
        tz=parse_tz(tz or config.tz or "UTC"),
        identity=Identity(
            user_field=user_field or config.user_field or "remote_user",
            account_field=account_field if by_account else None,
            accounts=load_accounts_file(accounts) if accounts and by_account else {},
        ),
    )


_OPTION_NAMES = {"exclude_status": "--exclude-status", "exclude_paths": "--exclude-path"}


def _meter(kind: str, params: dict[str, object]) -> Meter:
    """Build a meter from command options; a bad value is a usage error (exit 2)."""
    try:
        return meter_from_params(kind, {key: value for key, value in params.items() if value})
    except ParameterError as error:
        name = error.key.split("[")[0]
        hint = _OPTION_NAMES.get(name, "--" + name.replace("_", "-").removesuffix("s"))
        raise click.BadParameter(error.reason, param_hint=f"'{hint}'") from None


def _warn(message: str) -> None:
    click.echo(f"meterlog: warning: {message}", err=True)


# -- mau, peak, bill -------------------------------------------------------------------------


@main.command()
@click.option(
    "--month",
    required=True,
    metavar="YYYY-MM[..YYYY-MM]",
    help="Calendar month in the billing time zone, or an inclusive range.",
)
@click.option(
    "--by",
    type=click.Choice(["account"]),
    default=None,
    help="One row per account (without it, all traffic is the 'default' account).",
)
@click.option(
    "--list-users",
    is_flag=True,
    help="List the users counted (account, month, user, first_seen, last_seen, requests).",
)
@filter_options
@identity_options
@store_option
@config_option
@output_options
@report_errors
def mau(
    month: str,
    by: str | None,
    list_users: bool,
    exclude_status: tuple[str, ...],
    exclude_path: tuple[str, ...],
    methods: tuple[str, ...],
    user_field: str | None,
    account_field: str | None,
    accounts_path: str | None,
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
        config_path, store, tz, user_field, account_field, accounts_path, by_account=bool(by)
    )
    meter = _meter(
        "mau",
        {
            "exclude_status": list(exclude_status),
            "exclude_paths": list(exclude_path),
            "methods": list(methods),
        },
    )
    months = parse_months(month)
    events = identified_events(
        settings.store, settings.identity, resolve_version(settings.store, None)
    )
    report = meter_evidence if list_users else meter_report
    write_report(report(events, meter, months, settings.tz), fmt, output, title=f"MAU {month}")


@main.command()
@click.option(
    "--month",
    required=True,
    metavar="YYYY-MM[..YYYY-MM]",
    help="Calendar month in the billing time zone, or an inclusive range.",
)
@click.option(
    "--window",
    type=click.Choice(list(WINDOWS)),
    default="1h",
    show_default=True,
    help="Window length, aligned to the billing time zone's clock.",
)
@click.option(
    "--metric",
    type=click.Choice(METRICS),
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
    "--by",
    type=click.Choice(["account"]),
    default=None,
    help="One row per account (without it, all traffic is the 'default' account).",
)
@click.option(
    "--windows",
    "list_windows",
    is_flag=True,
    help="List every window (window_start, window_end, value, rank, is_peak).",
)
@filter_options
@identity_options
@store_option
@config_option
@output_options
@report_errors
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
    accounts_path: str | None,
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
        config_path, store, tz, user_field, account_field, accounts_path, by_account=bool(by)
    )
    meter = _meter(
        "peak",
        {
            "metric": metric,
            "window": window,
            "statistic": statistic.lower(),
            "exclude_status": list(exclude_status),
            "exclude_paths": list(exclude_path),
            "methods": list(methods),
        },
    )
    months = parse_months(month)
    events = identified_events(
        settings.store, settings.identity, resolve_version(settings.store, None)
    )
    report = meter_evidence if list_windows else meter_report
    write_report(report(events, meter, months, settings.tz), fmt, output, title=f"Peak {month}")


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
    accounts_path: str | None,
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
    settings = _settings(config_path, store, tz, user_field, account_field, accounts_path)
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
