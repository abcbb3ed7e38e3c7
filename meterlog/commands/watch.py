"""``meterlog watch``: follow logs, commit micro-batches exactly once, dashboard and metrics."""

from __future__ import annotations

import copy
import signal
import threading
from types import FrameType
from typing import Any

import click

from meterlog.commands.ingest import INPUT_OPTION_NAMES
from meterlog.commands.ingest import command as ingest_command
from meterlog.commands.options import identity_options, quiet_option, stdout_is_terminal


@click.command("watch")
@click.argument("paths", nargs=-1, required=True)
@identity_options
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=2.0,
    show_default=True,
    help="Commit what was written at least this often (seconds).",
)
@click.option(
    "--batch-lines",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Commit earlier once about this many lines are waiting.",
)
@click.option(
    "--metrics",
    "metrics_address",
    metavar="[ADDRESS]:PORT",
    help="Serve Prometheus metrics at /metrics: ':9108' listens on 127.0.0.1 only, "
    "'0.0.0.0:9108' on all interfaces.",
)
@click.option(
    "--max-accounts",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help='Accounts named in metric labels; the others are reported as account="other".',
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Plan file: show each account against its plan and export its included units.",
)
@click.option(
    "--openapi",
    type=click.Path(dir_okay=False),
    metavar="SPEC",
    help="OpenAPI 3 document whose paths are the endpoint templates shown.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Rewrite this HTML report (as meterlog report, for the month of the newest request) "
    "every minute, atomically.",
)
@click.option(
    "--dashboard/--no-dashboard",
    default=None,
    help="Draw the live dashboard (default: when standard output is a terminal).",
)
@quiet_option
def command(
    paths: tuple[str, ...],
    tz: str | None,
    user_field: str | None,
    account_field: str | None,
    accounts_file: str | None,
    interval: float,
    batch_lines: int,
    metrics_address: str | None,
    max_accounts: int,
    plan_path: str | None,
    openapi: str | None,
    report_path: str | None,
    dashboard: bool | None,
    quiet: bool,
    **ingest_args: Any,
) -> None:
    """Follow access logs, commit new lines every few seconds exactly once, and show them live.

    PATHS are files, directories or glob patterns, followed like tail -F: new lines, new files,
    rotation by rename and gzip, copytruncate, files deleted and re-created. The format
    options are those of ingest; cron ingest, bill and maintain can run alongside. SIGINT or
    SIGTERM commit what was read and exit 0.

    On a terminal a dashboard shows rates, errors, latency, the busiest accounts and endpoints
    and month-to-date requests, MAU and peaks per account (with --plan, against the plan);
    otherwise one line per commit goes to standard error (errors only with --quiet). With
    --report, the HTML report of the month so far is rewritten every minute.

    \b
    Examples:
        meterlog watch --store /var/lib/meterlog /var/log/nginx/
        meterlog watch --metrics :9108 --no-dashboard \\
            --account-field http_x_api_key --accounts accounts.csv /var/log/nginx/
    """
    if "-" in paths:
        raise click.UsageError(
            "watch follows files; standard input cannot be followed: use 'meterlog ingest -'"
        )
    address = None
    if metrics_address is not None:
        from meterlog.live.metrics import parse_listen_address

        try:
            address = parse_listen_address(metrics_address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--metrics'") from None

    from meterlog.billing.plans import load_plan_file
    from meterlog.commands.ingest import ingest_options
    from meterlog.config import load_config
    from meterlog.live import Watcher, WatchOptions
    from meterlog.live.service import serve
    from meterlog.query.settings import resolve_settings
    from meterlog.store import Store

    store, config_path = ingest_args.pop("store"), ingest_args.pop("config_path")
    config = load_config(config_path)
    options = ingest_options(config, **ingest_args)
    settings = resolve_settings(
        config,
        store=store,
        tz=tz,
        user_field=user_field,
        account_field=account_field,
        accounts=accounts_file,
        openapi=openapi,
    )
    watcher = Watcher(
        Store(settings.store),
        list(paths),
        options,
        WatchOptions(
            interval=interval,
            batch_lines=batch_lines,
            identity=settings.identity(),
            tz=settings.tz,
            plan=load_plan_file(plan_path) if plan_path else None,
            max_accounts=max_accounts,
            templates=settings.endpoint_templates(),
        ),
    )
    from meterlog.anomalies.live import LiveAnomalies

    def log_line(line: str) -> None:
        if watcher.log is not None:
            watcher.log(line)

    watcher.anomalies = LiveAnomalies(settings, config.anomalies, log=log_line)
    watcher.on_batch.append(watcher.anomalies)
    _return_freed_memory()
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now; the next run reads the rest
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    refresher = None
    if report_path is not None:
        from pathlib import Path

        from meterlog.report.live import ReportRefresher

        refresher = ReportRefresher(settings, Path(report_path), plan=plan_path, log=log_line)
    refreshing = refresher.start(stop) if refresher is not None else None
    try:
        serve(
            watcher,
            stop,
            metrics=address,
            dashboard=stdout_is_terminal() if dashboard is None else dashboard,
            quiet=quiet,
        )
    finally:
        stop.set()
        if refreshing is not None:
            refreshing.join()  # a report being written is finished, never left half done
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _return_freed_memory() -> None:
    """When meterlog is the program, it keeps freed memory for reuse (good for a batch ingest,
    see :func:`meterlog.cli.run`); watch runs for weeks, so glibc's defaults are restored and
    freed memory goes back to the system (RSS stays flat). Nothing changes for a library user.
    """
    import ctypes

    from meterlog.commands.base import PROGRAM

    if not PROGRAM["running"]:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, _GLIBC_DEFAULT_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _GLIBC_DEFAULT_THRESHOLD)


#: glibc's mallopt parameters (malloc.h) and their default value.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_GLIBC_DEFAULT_THRESHOLD = 128 * 1024


# The input options of ``ingest`` (store, config, formats, include/exclude, reject ratio,
# accept window, pseudonymisation, ...), defined once there.
command.params[1:1] = [
    copy.copy(param) for param in ingest_command.params if param.name in INPUT_OPTION_NAMES
]
