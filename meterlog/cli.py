"""Command-line interface: parses options and calls the library. No logic of its own."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from meterlog import __version__
from meterlog.errors import MeterlogError

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
