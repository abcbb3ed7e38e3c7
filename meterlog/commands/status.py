"""``meterlog status``: what the store holds."""

from __future__ import annotations

import click

from meterlog.commands.options import (
    config_option,
    output_options,
    store_option,
    writes_to_terminal,
)


@click.command("status")
@store_option
@config_option
@output_options
def command(
    store: str | None, config_path: str | None, fmt: str | None, output: str | None
) -> None:
    """Show what the store holds: rows, time range, version, sources and rejects.

    As a table (the default on a terminal) it prints the whole overview; in another format
    (CSV when piped) it writes the list of sources with their progress.

    \b
    Examples:
        meterlog status --store /var/lib/meterlog
        meterlog status --format json -o sources.json
    """
    from meterlog.config import load_config
    from meterlog.output import render_table, resolve_output_format, write_report
    from meterlog.query.settings import store_status
    from meterlog.store import resolve_store
    from meterlog.text import printable

    config = load_config(config_path)
    info = store_status(resolve_store(store, config.store))
    to_stdout = output is None or output == "-"
    fmt = resolve_output_format(fmt, None if to_stdout else output, writes_to_terminal(output))
    if fmt != "table":
        write_report(info.sources, fmt, output)
        return
    click.echo(f"store: {printable(info.uri)}")
    if info.version is None:
        click.echo("empty: nothing ingested yet")
        return
    click.echo(f"table version: {info.version}")
    click.echo(f"rows: {info.rows:,}")
    if info.ts_min is not None and info.ts_max is not None:
        click.echo(f"time range: {info.ts_min.isoformat()} .. {info.ts_max.isoformat()}")
    click.echo(f"rejected lines: {int(info.rejects['lines'].sum()):,}")
    render_table(
        info.sources.drop("seen_at"),
        title="sources",
        keep=("path", "format", "offset", "lines"),
        middle=("path",),
    )
    if info.rejects.height:
        render_table(
            info.rejects,
            title="rejected lines by reason",
            totals=["lines"],
            keep=("source_path", "reason", "lines"),
            middle=("source_path",),
        )
