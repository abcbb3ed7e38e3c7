"""Options shared by several commands, defined once.

Nothing here imports Polars or the store: choices that the library defines are checked when
the command runs (:class:`LibraryChoice`), so ``--help`` stays instant.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

STORE_ENV = "METERLOG_STORE"
CONFIG_ENV = "METERLOG_CONFIG"
#: The report formats of :mod:`meterlog.output` (a test keeps the two lists equal).
OUTPUT_FORMATS = ("table", "csv", "json", "ndjson", "parquet")


class LibraryChoice(click.ParamType):
    """A choice among names a library module defines, loaded only when a value is checked.

    ``source`` is ``"module:ATTRIBUTE"``; the attribute is any iterable of names.
    """

    name = "choice"

    def __init__(self, source: str, metavar: str) -> None:
        self.source = source
        self.metavar = metavar

    def choices(self) -> list[str]:
        module, _, attribute = self.source.partition(":")
        names: Iterable[str] = getattr(importlib.import_module(module), attribute)
        return list(names)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        choices = self.choices()
        if value not in choices:
            self.fail(f"{value!r} is not one of {', '.join(choices)}", param, ctx)
        return value


class AliasedOption(click.Option):
    """An option whose older spellings (``old_names``) are still accepted but left out of
    ``--help`` and the reference: one name per idea in every command, nothing breaks."""

    def __init__(self, *args: Any, old_names: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.old_names = tuple(old_names)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        saved = self.opts
        self.opts = [name for name in saved if name not in self.old_names]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = saved


#: What ``--month`` takes in every command that reports or bills calendar months.
MONTH_METAVAR = "YYYY-MM|previous|current"


def month_option(
    *, required: bool, ranges: bool, help: str, parameter: str = "month"
) -> Callable[[F], F]:
    """``--month`` (parameter ``month``): a calendar month ``YYYY-MM``, ``previous`` or
    ``current`` (in the billing time zone); with ``ranges``, also ``FIRST..LAST``. ``bill``'s
    older ``--period`` is accepted everywhere as a hidden alias."""
    metavar = MONTH_METAVAR + ("[..MONTH]" if ranges else "")
    return click.option(
        "--month",
        "--period",
        parameter,
        cls=AliasedOption,
        old_names=("--period",),
        required=required,
        default=None,
        metavar=metavar,
        help=help,
    )


def engine_options(command: F) -> F:
    """``--engine`` and ``--spark-master`` (parameters ``engine``, ``spark_master``)."""
    command = click.option(
        "--spark-master",
        metavar="URL",
        default=None,
        help="With --engine spark: the Spark master (spark://HOST:7077, local[N], or sc://HOST "
        "for Spark Connect); default: 'spark_master' in meterlog.toml, else local[*].",
    )(command)
    return click.option(
        "--engine",
        type=click.Choice(["polars", "duckdb", "spark"]),
        default=None,
        help="Where the meters are computed from the store version read: polars (meterlog's "
        "own), duckdb or spark (SQL generated from the meters). The invoice is the same "
        "bytes; default: 'engine' in meterlog.toml, else polars.",
    )(command)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def writes_to_terminal(output: str | None) -> bool:
    """Whether a report for ``-o output`` goes to a terminal (tables by default)."""
    return (output is None or output == "-") and stdout_is_terminal()


def store_option(command: F) -> F:
    return click.option(
        "--store",
        envvar=STORE_ENV,
        default=None,
        metavar="PATH|URL",
        help=f"The store (a folder or object-store URL). Env {STORE_ENV}; "
        "default: 'store' in meterlog.toml, else ~/.local/share/meterlog/store.",
    )(command)


def config_option(command: F) -> F:
    return click.option(
        "--config",
        "config_path",
        envvar=CONFIG_ENV,
        default=None,
        type=click.Path(dir_okay=False),
        help=f"Config file (default: ./meterlog.toml when present). Env {CONFIG_ENV}.",
    )(command)


def quiet_option(command: F) -> F:
    return click.option("-q", "--quiet", is_flag=True, help="Print errors only (for cron).")(
        command
    )


def output_options(command: F) -> F:
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


#: ``--time-format`` values (:data:`meterlog.output.TIME_FORMATS`; a test keeps them equal).
TIME_FORMATS = ("iso", "local", "epoch")


def time_format_option(command: F) -> F:
    """``--time-format iso|local|epoch`` (parameter ``time_format``) for CSV and JSON output."""
    return click.option(
        "--time-format",
        type=click.Choice(TIME_FORMATS),
        default="iso",
        show_default=True,
        help="Timestamps in CSV/JSON: iso (2026-10-01T00:00:00+02:00), local (2026-10-01 "
        "00:00:00 in --tz, which spreadsheets read as a date) or epoch (Unix seconds).",
    )(command)


def identity_options(command: F) -> F:
    """``--tz``, ``--user-field``, ``--account-field`` and ``--accounts``; ``None`` when not
    given, so meterlog.toml and the defaults apply (see
    meterlog.query.settings.resolve_settings)."""
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


def filter_options(command: F) -> F:
    """``--exclude-status``, ``--exclude-path``, ``--method``, ``--endpoint`` (which requests
    count)."""
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
            click.option(
                "--endpoint",
                "endpoints",
                multiple=True,
                metavar="TEMPLATE",
                help="Count only requests whose path matches this template ('{id}' is one "
                "path segment), e.g. /v1/items/{id}. Repeatable.",
            ),
        ]
    ):
        command = option(command)
    return command


def warn(message: str) -> None:
    """One ``meterlog: warning: ...`` line on stderr, safe for a terminal."""
    from meterlog.text import printable

    click.echo(f"meterlog: warning: {printable(message)}", err=True)


def note(message: str) -> None:
    """One ``meterlog: note: ...`` line on stderr, safe for a terminal."""
    from meterlog.text import printable

    click.echo(f"meterlog: note: {printable(message)}", err=True)
