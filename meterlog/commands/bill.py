"""``meterlog bill``: invoice lines per account and charge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from meterlog.commands.metered import (
    EngineOptions,
    SettingsOptions,
    engine_choice_options,
    settings_options,
)
from meterlog.commands.options import (
    month_option,
    output_options,
    quiet_option,
    time_format_option,
    warn,
)

if TYPE_CHECKING:
    from meterlog.billing import Invoice
    from meterlog.store import Snapshot

#: Written in ``-o`` and ``--quality`` file names, replaced by the billed month (``2026-10``).
PERIOD_FIELD = "{period}"


@click.command("bill")
@month_option(
    required=True,
    ranges=False,
    help="Calendar month to bill, in each account's billing time zone.",
    parameter="period",
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
    help="Write the inputs behind ACCOUNT's lines (users counted, window series, daily "
    "counts and sums, values counted) instead.",
)
@click.option(
    "--quality",
    "quality_path",
    default=None,
    metavar="FILE",
    help="Also write the invoice's data-quality block (one row) to FILE (CSV unless the "
    "extension says otherwise); {period} is replaced as in -o.",
)
@settings_options
@engine_choice_options
@output_options
@time_format_option
@quiet_option
def command(
    period: str,
    plan_path: str,
    as_of: int | None,
    compare: str | None,
    since_version: int | None,
    require_complete: bool,
    explain: str | None,
    settings: SettingsOptions,
    engine: EngineOptions,
    fmt: str | None,
    output: str | None,
    quality_path: str | None,
    time_format: str,
    quiet: bool,
) -> None:
    """Invoice lines per account and charge, and a TOTAL line per account.

    Columns: account, plan, charge, meter, period_start, period_end, quantity, included,
    billable_quantity, unit_price, amount, currency, peak_start, store_version. Amounts are
    decimal text with the currency's own decimals. A data-quality block follows the table
    (the "quality" object in JSON, --quality FILE for CSV). The same command gives the same
    bytes as long as the store version is the same (see --as-of). {period} in -o and
    --quality is replaced by the billed month. On a terminal the invoice is a compact table
    (account, charge, quantity, unit price, amount; period and currency in the title); CSV
    and JSON have every column.

    \b
    Example:
        meterlog bill --month previous --plan plans.toml --require-complete -q \\
            --account-field http_x_api_key --accounts accounts.csv -o 'invoice-{period}.csv'
        meterlog bill --month 2026-10 --plan plans.toml --compare invoice-2026-10.csv
        meterlog bill --month 2026-10 --plan new-plans.toml --compare invoice-2026-10.csv
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
    from meterlog.billing.plans import load_plan_file
    from meterlog.errors import MeterlogError
    from meterlog.output import write_report
    from meterlog.periods import parse_period
    from meterlog.query.events import pin
    from meterlog.store import Store

    resolved = settings.resolve()
    tz, identity = resolved.tz, resolved.identity()
    # a mistyped period is a usage error, before any reading
    month = str(parse_period(period, tz))
    output = _filled(output, month)
    quality_path = _filled(quality_path, month)
    plans = load_plan_file(plan_path)
    # one store version for everything this run reads (the invoice, --since-version's base)
    store = pin(Store(resolved.store), as_of)
    if explain is not None:
        evidence = explain_account(store, plans, explain, period, tz, identity)
        write_report(
            evidence,
            fmt,
            output,
            title=f"Evidence for {explain}, {month}",
            time_format=time_format,
        )
        return
    previous = load_previous_invoice(compare) if compare else None
    from meterlog.engines import open_engine

    sql = open_engine(*_engine_at(engine, settings, store))
    try:
        invoice = compute_invoice(
            store, plans, period, tz, identity, check_sources=as_of is None, engine=sql
        )
    finally:
        if sql is not None:
            sql.close()
    if not quiet:
        for message in (*invoice.warnings, *invoice.incomplete):
            warn(message)
    if require_complete and invoice.incomplete:
        reasons = "see the warnings above" if not quiet else "; ".join(invoice.incomplete)
        raise MeterlogError(
            f"the store may not hold the whole billing period ({reasons}); "
            "nothing written because of --require-complete"
        )
    if previous is not None:
        report = adjustments(previous, invoice.lines, str(compare))
    elif since_version is not None:
        earlier = compute_invoice(store, plans, period, tz, identity, since_version)
        report = adjustments(
            earlier.lines.iter_rows(named=True), invoice.lines, f"store version {since_version}"
        )
    else:
        _write_invoice(invoice, fmt, output, f"Invoice {month}", time_format)
        if quality_path is not None and invoice.quality is not None:
            write_report(invoice.quality.frame(), None, quality_path)
        return
    write_report(report, fmt, output, title=f"Adjustments {month}", time_format=time_format)


def _engine_at(
    engine: EngineOptions, settings: SettingsOptions, store: Snapshot
) -> tuple[str, Snapshot, int, str]:
    name, master = engine.choose(settings.config_path)
    return name, store, store.pinned, master


def _filled(path: str | None, month: str) -> str | None:
    """``path`` with ``{period}`` replaced by the billed month."""
    return None if path is None else path.replace(PERIOD_FIELD, month)


def _write_invoice(
    invoice: Invoice, fmt: str | None, output: str | None, title: str, time_format: str
) -> None:
    """The invoice lines in ``fmt``; JSON is an object with the lines and the quality block,
    a table is the compact invoice followed by the quality block's lines."""
    from pathlib import Path

    from meterlog.billing import invoice_json
    from meterlog.commands.options import writes_to_terminal
    from meterlog.errors import MeterlogError
    from meterlog.output import compact_invoice, resolve_output_format, write_report

    to_stdout = output is None or output == "-"
    chosen = resolve_output_format(fmt, None if to_stdout else output, writes_to_terminal(output))
    if chosen == "json":
        text = invoice_json(invoice)
        if to_stdout:
            click.echo(text, nl=False)
        else:
            target = Path(str(output))
            if not target.parent.exists():
                raise MeterlogError(
                    f"{target}: folder {target.parent} does not exist; create it first"
                )
            target.write_text(text, encoding="utf-8", newline="")
        return
    if chosen != "table":
        write_report(invoice.lines, chosen, output, title=title, time_format=time_format)
        return
    # people read a compact invoice; CSV and JSON keep every column
    view = compact_invoice(invoice.lines)
    write_report(
        view.frame,
        chosen,
        output,
        title=f"{title} ({view.describe()})",
        keep=("account", "charge", "quantity", "amount"),  # unit_price goes first
        time_format=time_format,
    )
    if invoice.quality is not None:
        footer = "\n".join(invoice.quality.lines()) + "\n"
        if to_stdout:
            click.echo(footer, nl=False)
        else:
            with Path(str(output)).open("a", encoding="utf-8") as handle:
                handle.write(footer)
