"""What ``mau``, ``peak``, ``bill`` and ``report`` share: options and reading the store."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import click

from meterlog.commands.options import (
    F,
    config_option,
    engine_options,
    filter_options,
    identity_options,
    month_option,
    output_options,
    store_option,
    time_format_option,
)

if TYPE_CHECKING:
    import polars as pl

    from meterlog.meters import Meter
    from meterlog.query.settings import ReportSettings

#: What :func:`settings_options` collects: identity, store and config options as given.
_SETTINGS_PARAMS = ("user_field", "account_field", "accounts_file", "tz", "store", "config_path")
#: What :func:`counting_options` collects: option parameter -> the plan key it sets.
_COUNTING_PARAMS = {
    "exclude_status": "exclude_status",
    "exclude_path": "exclude_paths",
    "methods": "methods",
    "endpoints": "endpoints",
}


@dataclass(frozen=True)
class SettingsOptions:
    """``--tz``, ``--user-field``, ``--account-field``, ``--accounts``, ``--store`` and
    ``--config`` as given (``None``: not given), resolved when the command needs them."""

    user_field: str | None = None
    account_field: str | None = None
    accounts_file: str | None = None
    tz: str | None = None
    store: str | None = None
    config_path: str | None = None

    def resolve(self) -> ReportSettings:
        """Options, else meterlog.toml, else defaults (see
        meterlog.query.settings.resolve_settings)."""
        from meterlog.config import load_config
        from meterlog.query.settings import resolve_settings

        return resolve_settings(
            load_config(self.config_path),
            store=self.store,
            tz=self.tz,
            user_field=self.user_field,
            account_field=self.account_field,
            accounts=self.accounts_file,
        )


def _collecting(names: Iterable[str], into: str, build: Callable[[dict[str, Any]], object]) -> Any:
    """A decorator passing the parameters ``names`` to the command as one argument ``into``."""

    def decorator(command: F) -> F:
        @functools.wraps(command)
        def collected(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return command(*args, **{into: build(values)}, **kwargs)

        return cast(F, collected)

    return decorator


def settings_options(command: F) -> F:
    """The identity options, ``--store`` and ``--config``, passed to the command as one
    ``settings: SettingsOptions``."""
    command = _collecting(_SETTINGS_PARAMS, "settings", lambda v: SettingsOptions(**v))(command)
    return identity_options(store_option(config_option(command)))


@dataclass(frozen=True)
class EngineOptions:
    """``--engine`` and ``--spark-master`` as given (``None``: not given)."""

    engine: str | None = None
    spark_master: str | None = None

    def choose(self, config_path: str | None) -> tuple[str, str]:
        """The engine and Spark master: options, else meterlog.toml, else polars, local[*]."""
        from meterlog.config import load_config
        from meterlog.engines import DEFAULT_SPARK_MASTER

        config = load_config(config_path)
        engine = self.engine or config.engine or "polars"
        return engine, self.spark_master or config.spark_master or DEFAULT_SPARK_MASTER


def engine_choice_options(command: F) -> F:
    """``--engine`` and ``--spark-master``, passed to the command as one
    ``engine: EngineOptions``."""
    command = _collecting(("engine", "spark_master"), "engine", lambda v: EngineOptions(**v))(
        command
    )
    return engine_options(command)


def counting_options(command: F) -> F:
    """``--exclude-status``, ``--exclude-path``, ``--method``, ``--endpoint``, passed to the
    command as one ``counting`` mapping of plan keys (``exclude_paths``, ...) to the values."""

    def build(values: dict[str, Any]) -> dict[str, Any]:
        return {_COUNTING_PARAMS[name]: value for name, value in values.items()}

    return filter_options(_collecting(_COUNTING_PARAMS, "counting", build)(command))


def meter_report_options(command: F) -> F:
    """The options ``mau`` and ``peak`` share: ``--month``, ``--by``, what counts, identity,
    store, config and output."""
    for decorator in reversed(
        [
            month_option(
                required=True,
                ranges=True,
                help="Calendar month in the billing time zone (previous, current), or an "
                "inclusive range FIRST..LAST.",
            ),
            click.option(
                "--by",
                type=click.Choice(["account"]),
                default=None,
                help="One row per account (without it, all traffic is the 'default' account).",
            ),
            counting_options,
            settings_options,
            engine_choice_options,
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
    settings: ReportSettings,
    meter: Meter,
    month: str,
    *,
    evidence: bool,
    by_account: bool,
    engine: tuple[str, str] = ("polars", ""),
) -> pl.DataFrame:
    """A meter's figures (or, with ``evidence``, what they were computed from) per month; a
    note on stderr says why when there are none (as ``usage`` does). ``engine`` is where the
    meter's states are computed, with the Spark master (see :mod:`meterlog.engines`)."""
    from meterlog.commands.options import note
    from meterlog.meters.cache import month_states
    from meterlog.meters.run import anonymous_meter_note, empty_note, meter_evidence, meter_report
    from meterlog.periods import parse_months, resolve_month_words
    from meterlog.query.events import identified_events, pin
    from meterlog.store import Store

    months = parse_months(resolve_month_words(month, settings.tz))
    snapshot = pin(Store(settings.store))
    identity = settings.identity(by_account=by_account)
    events = identified_events(snapshot, identity, snapshot.pinned)
    if evidence:
        frame = meter_evidence(events, meter, months, settings.tz)
    elif engine[0] != "polars":
        from meterlog.engines import open_engine
        from meterlog.meters import Period

        sql = open_engine(engine[0], snapshot, snapshot.pinned, engine[1])
        assert sql is not None
        try:
            states = [sql.state(meter, Period(m, settings.tz), identity) for m in months]
            frame = meter_report(events, meter, months, settings.tz, states)
        finally:
            sql.close()
    else:
        states = month_states(snapshot, identity, meter, months, settings.tz)
        frame = meter_report(events, meter, months, settings.tz, states)
    anonymous = anonymous_meter_note(
        events, meter, months, settings.tz, frame, settings.user_field, settings.account_field
    )
    if anonymous is not None:
        note(anonymous)  # says more than "none of the requests counts"
    elif frame.is_empty():
        note(empty_note(events, meter, months, settings.tz))
    return frame
