"""``meterlog rejects``: the rejected lines kept in the store, with file, line and reason."""

from __future__ import annotations

import click

from meterlog.commands.options import (
    LibraryChoice,
    config_option,
    note,
    output_options,
    store_option,
    time_format_option,
)


@click.command("rejects")
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    type=LibraryChoice("meterlog.schema:REJECT_REASONS", "REASON"),
    help="Only this reason: no_match, bad_timestamp, bad_number, invalid_utf8, bad_json, "
    "line_too_long (repeatable).",
)
@click.option(
    "--file",
    "files",
    multiple=True,
    metavar="GLOB",
    help="Only files whose path, or its end after a '/', matches GLOB, e.g. 'access.log*' "
    "or 'api1/*' (repeatable).",
)
@click.option("--since", metavar="DATE|TIME", help="Only lines ingested at or after this.")
@click.option(
    "--until",
    metavar="DATE|TIME",
    help="Only lines ingested before this (a date includes that whole day).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Show the first N lines (in file and line order).",
)
@click.option(
    "--tz",
    default=None,
    metavar="ZONE",
    help="Time zone of --since/--until and of ingested_at. Default: UTC.",
)
@output_options
@time_format_option
@store_option
@config_option
def command(
    reasons: tuple[str, ...],
    files: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int | None,
    tz: str | None,
    fmt: str | None,
    output: str | None,
    time_format: str,
    store: str | None,
    config_path: str | None,
) -> None:
    """List rejected lines: file, line number, reason and the text of the line.

    Every line ingest could not parse is kept in the store; this shows them in file and line
    order, filtered. On a terminal control characters and escape sequences in the text are
    shown as U+FFFD and long lines are cut; CSV and JSON have the text as stored.

    \b
    Examples:
        meterlog rejects --reason bad_timestamp --limit 20
        meterlog rejects --file 'access.log*' --since 2026-10-01 -o rejects.csv
    """
    from meterlog.config import load_config
    from meterlog.output import write_report
    from meterlog.query.rejects import RejectsQuery, list_rejects
    from meterlog.query.settings import resolve_settings
    from meterlog.store import Store

    settings = resolve_settings(load_config(config_path), store=store, tz=tz)
    query = RejectsQuery(reasons=reasons, files=files, since=since, until=until, limit=limit)
    found = list_rejects(Store(settings.store), query, settings.tz)
    write_report(
        found.frame,
        fmt,
        output,
        title=f"Rejected lines ({found.matched:,})",
        keep=("file", "line_number", "reason", "text"),
        plain=("line_number",),
        middle=("file",),
        fill="text",
        time_format=time_format,
    )
    for message in found.notes:
        note(message)
