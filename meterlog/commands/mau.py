"""``meterlog mau``: monthly active users."""

from __future__ import annotations

import click

from meterlog.commands.metered import (
    EngineOptions,
    SettingsOptions,
    meter_frame,
    meter_from_options,
    meter_report_options,
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
    counting: dict[str, tuple[str, ...]],
    settings: SettingsOptions,
    engine: EngineOptions,
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

    resolved = settings.resolve()
    meter = meter_from_options("mau", counting)
    frame = meter_frame(
        resolved,
        meter,
        month,
        evidence=list_users,
        by_account=bool(by),
        engine=engine.choose(settings.config_path),
    )
    write_report(frame, fmt, output, title=f"MAU {month}", time_format=time_format)
