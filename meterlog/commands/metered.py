"""What ``mau``, ``peak`` and ``bill`` share: their options and how they read the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from meterlog.commands.options import (
    F,
    config_option,
    filter_options,
    identity_options,
    output_options,
    store_option,
    time_format_option,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    import polars as pl

    from meterlog.identity import Identity
    from meterlog.meters import Meter
    from meterlog.store import Store


@dataclass(frozen=True)
class MeterSettings:
    store: Store
    tz: ZoneInfo
    identity: Identity


def meter_settings(
    config_path: str | None,
    store: str | None,
    tz: str | None,
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    *,
    by_account: bool = True,
) -> MeterSettings:
    """Options, else meterlog.toml, else defaults (see meterlog.reports.resolve_settings)."""
    from meterlog.config import load_config
    from meterlog.identity import Identity
    from meterlog.reports import resolve_settings
    from meterlog.store import Store

    settings = resolve_settings(
        load_config(config_path),
        store=store,
        tz=tz,
        user_field=user_field,
        account_field=account_field,
        accounts=accounts_file,
    )
    return MeterSettings(
        store=Store(settings.store),
        tz=settings.tz,
        identity=Identity(
            user_field=settings.user_field,
            account_field=settings.account_field if by_account else None,
            accounts=dict(settings.accounts or {}) if by_account else {},
        ),
    )


def meter_report_options(command: F) -> F:
    """The options ``mau`` and ``peak`` share: ``--month``, ``--by``, what counts, identity,
    store, config and output."""
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
            time_format_option,
        ]
    ):
        command = decorator(command)
    return command


_OPTION_NAMES = {"exclude_status": "--exclude-status", "exclude_paths": "--exclude-path"}


def meter_from_options(kind: str, params: Mapping[str, object]) -> Meter:
    """Build a meter from command options; a bad value is a usage error (exit 2)."""
    from meterlog.meters import meter_from_params
    from meterlog.validation import ParameterError

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


def meter_frame(
    settings: MeterSettings, meter: Meter, month: str, *, evidence: bool
) -> pl.DataFrame:
    """A meter's figures (or, with ``evidence``, what they were computed from) per month; a
    note on stderr says why when there are none (as ``usage`` does)."""
    from meterlog.commands.options import note
    from meterlog.events import identified_events, resolve_version
    from meterlog.metering import empty_note, meter_evidence, meter_report
    from meterlog.periods import parse_months

    months = parse_months(month)
    events = identified_events(
        settings.store, settings.identity, resolve_version(settings.store, None)
    )
    report = meter_evidence if evidence else meter_report
    frame = report(events, meter, months, settings.tz)
    if frame.is_empty():
        note(empty_note(events, meter, months, settings.tz))
    return frame
