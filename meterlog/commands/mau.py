"""``meterlog mau``: monthly active users."""

from __future__ import annotations

import click

from meterlog.commands.metered import (
    meter_frame,
    meter_from_options,
    meter_report_options,
    meter_settings,
)


@click.command("mau")
@meter_report_options
@click.option(
    "--list-users",
    is_flag=True,
    help="List the users counted (account, month, user, first_seen, last_seen, requests).",
)
def command(
    month: str,
    by: str | None,
    list_users: bool,
    exclude_status: tuple[str, ...],
    exclude_path: tuple[str, ...],
    methods: tuple[str, ...],
    endpoints: tuple[str, ...],
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    tz: str | None,
    store: str | None,
    config_path: str | None,
    fmt: str | None,
    output: str | None,
    time_format: str,
) -> None:
    """Monthly active users: distinct users with at least one counted request in the month.

    Anonymous requests never count. Columns: account, month, mau.

    \b
    Example:
        meterlog mau --month 2026-08..2026-10 --by account \\
            --account-field http_x_api_key --accounts accounts.csv --tz Europe/Berlin
    """
    from meterlog.output import write_report

    settings = meter_settings(
        config_path, store, tz, user_field, account_field, accounts_file, by_account=bool(by)
    )
    filters = {
        "exclude_status": exclude_status,
        "exclude_paths": exclude_path,
        "methods": methods,
        "endpoints": endpoints,
    }
    frame = meter_frame(settings, meter_from_options("mau", filters), month, evidence=list_users)
    write_report(frame, fmt, output, title=f"MAU {month}", time_format=time_format)
