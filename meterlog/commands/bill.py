"""``meterlog bill``: invoice lines per account and charge."""

from __future__ import annotations

import click

from meterlog.commands.metered import meter_settings
from meterlog.commands.options import (
    config_option,
    identity_options,
    output_options,
    store_option,
    warn,
)


@click.command("bill")
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
def command(
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
    from meterlog.errors import MeterlogError
    from meterlog.output import write_report
    from meterlog.periods import parse_period
    from meterlog.plans import load_plan_file

    settings = meter_settings(config_path, store, tz, user_field, account_field, accounts_file)
    parse_period(period, settings.tz)  # a mistyped period is a usage error, before any reading
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
        warn(message)
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
