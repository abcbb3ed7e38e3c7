"""``meterlog peak``: the high watermark of a month."""

from __future__ import annotations

import click

from meterlog.commands.metered import (
    EngineOptions,
    SettingsOptions,
    meter_frame,
    meter_from_options,
    meter_report_options,
)
from meterlog.commands.options import LibraryChoice


@click.command("peak")
@meter_report_options
@click.option(
    "--window",
    type=LibraryChoice("meterlog.meters.peak:WINDOWS", "1m|5m|1h|1d"),
    default="1h",
    show_default=True,
    help="Window length, aligned to the billing time zone's clock.",
)
@click.option(
    "--metric",
    type=LibraryChoice("meterlog.meters.peak:METRICS", "requests|users|bytes_sent"),
    default="requests",
    show_default=True,
    help="What is measured per window.",
)
@click.option(
    "--statistic",
    default="max",
    show_default=True,
    metavar="max|pNN",
    help="max, or the nearest-rank percentile of all windows (p95: the value at rank "
    "ceil(0.95 * windows) in ascending order; empty windows are 0).",
)
@click.option(
    "--windows",
    "list_windows",
    is_flag=True,
    help="List every window (window_start, window_end, value, rank, is_peak).",
)
def command(
    month: str,
    window: str,
    metric: str,
    statistic: str,
    by: str | None,
    list_windows: bool,
    counting: dict[str, tuple[str, ...]],
    settings: SettingsOptions,
    engine: EngineOptions,
    fmt: str | None,
    output: str | None,
    time_format: str,
) -> None:
    """High watermark: the busiest window of the month (or a percentile of all windows).

    Columns: account, month, window, metric, peak, peak_start (the earliest window holding
    the value, in the billing time zone).

    \b
    Example:
        meterlog peak --month 2026-10 --window 1h --metric requests --statistic p95 \\
            --by account --account-field http_x_api_key --tz Europe/Berlin
    """
    from meterlog.output import write_report

    resolved = settings.resolve()
    params = {
        "metric": metric,
        "window": window,
        "statistic": statistic.lower(),
        **counting,
    }
    meter = meter_from_options("peak", params)
    frame = meter_frame(
        resolved,
        meter,
        month,
        evidence=list_windows,
        by_account=bool(by),
        engine=engine.choose(settings.config_path),
    )
    write_report(
        frame,
        fmt,
        output,
        title=f"Peak {month}",
        time_format=time_format,
        keep=("account", "peak", "peak_start", "window_start", "value"),
        drop_constant=True,
    )
