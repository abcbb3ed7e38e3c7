"""``meterlog sql``: the query an engine runs for a meter."""

from __future__ import annotations

import click

from meterlog.commands.metered import SettingsOptions, settings_options
from meterlog.commands.options import month_option


@click.command("sql")
@click.option(
    "--meter",
    "reference",
    required=True,
    metavar="CHARGE|PLAN.CHARGE",
    help="The charge whose meter to write the query for (its name in the plan file).",
)
@click.option(
    "--plan",
    "plan_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Plan file (TOML) the charge is in.",
)
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "spark", "trino"]),
    default="duckdb",
    show_default=True,
    help="SQL dialect of the query.",
)
@month_option(
    required=False,
    ranges=False,
    help="Calendar month in the billing time zone (default: current; previous).",
)
@settings_options
def command(
    reference: str,
    plan_path: str,
    dialect: str,
    month: str | None,
    settings: SettingsOptions,
) -> None:
    """Print the SQL query that computes a charge's meter state for a month.

    The query is generated from the meter's definition in the plan, as `--engine duckdb` and
    `--engine spark` run it: identity (users, account mapping), the billing month's instants,
    the meter's counting rule. It reads a table or view named meterlog_events: define it as the
    store's events (the Parquet files of a store version, or the Delta table with your
    engine's Delta connector). A comment says how meterlog finalises the state into the
    quantity; the store, when given, supplies the columns' types.

    \b
    Example:
        meterlog sql --meter starter.active_users --plan plans.toml --month 2026-10 \\
            --account-field http_x_api_key --accounts accounts.csv --dialect spark
    """
    from meterlog.billing.plans import load_plan_file
    from meterlog.billing.sql import charge_query
    from meterlog.engines.sql import CANONICAL_KINDS, column_kinds
    from meterlog.periods import parse_period
    from meterlog.store import Store

    resolved = settings.resolve()
    plans = load_plan_file(plan_path)
    store = Store(resolved.store)
    columns = dict(CANONICAL_KINDS)
    if store.is_store() and store.version() is not None:
        columns = column_kinds(dict(store.scan_events().collect_schema()))
    month_value = parse_period(month or "current", resolved.tz)
    query = charge_query(
        plans, reference, month_value, resolved.tz, resolved.identity(), columns, dialect
    )
    click.echo(query, nl=False)
