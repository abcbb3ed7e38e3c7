"""``meterlog report``: one self-contained HTML file with charts, for people to look at."""

from __future__ import annotations

import click

from meterlog.commands.metered import (
    EngineOptions,
    SettingsOptions,
    engine_choice_options,
    settings_options,
)
from meterlog.commands.options import month_option, note, warn


@click.command("report")
@month_option(
    required=False,
    ranges=False,
    help="The calendar month reported (in --tz; previous, current). Or give --since/--until.",
)
@click.option("--since", metavar="DATE|TIME", help="First instant, e.g. 2026-10-01 (in --tz).")
@click.option(
    "--until",
    metavar="DATE|TIME",
    help="End: a date includes that whole day; a timestamp is exclusive.",
)
@click.option(
    "--plan",
    "plan_path",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Plan file (TOML): adds the invoice summary, and marks the peak windows it bills.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1, max=20),
    default=5,
    show_default=True,
    metavar="N",
    help="Accounts charted on their own; the others are summed as 'other'.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE",
    help="The HTML file to write, e.g. report.html.",
)
@settings_options
@engine_choice_options
def command(
    month: str | None,
    since: str | None,
    until: str | None,
    plan_path: str | None,
    top: int,
    output: str,
    settings: SettingsOptions,
    engine: EngineOptions,
) -> None:
    """Write an HTML report with charts and sortable tables: one light file that opens offline.

    It shows requests and distinct users over time per account (the top accounts, the rest as
    'other') with errors, monthly active users per account, each account's billed peak
    window, the invoice summary (with --plan), client addresses and networks, user agents by
    group, referrers, status codes with the top paths of each error code, endpoints with
    error share and latency, a weekday by hour heat map, data quality and anomaly findings.
    The charts are drawn in the file itself: it makes no network request.

    \b
    Examples:
        meterlog report --month 2026-10 -o report.html
        meterlog report --since 2026-10-01 --until 2026-10-07 --plan plans.toml \\
            --account-field http_x_api_key --accounts accounts.csv -o week.html
    """
    from meterlog.errors import UsageError
    from meterlog.report.html import HtmlReportQuery, write_html_report

    if month and (since or until):
        raise UsageError("give either --month or --since/--until, not both")
    resolved = settings.resolve()
    if month is not None:
        from meterlog.periods import resolve_month_words

        month = resolve_month_words(month, resolved.tz)
    engine_name, spark_master = engine.choose(settings.config_path)
    query = HtmlReportQuery(
        month=month,
        since=since,
        until=until,
        plan=plan_path,
        top_accounts=top,
        engine=engine_name,
        spark_master=spark_master,
    )
    report = write_html_report(resolved, query, output)
    for message in report.warnings:
        warn(message)
    note(f"wrote {output} ({len(report.charts)} charts); open it in a browser")
