"""``meterlog maintain``: compact, checkpoint and vacuum the store."""

from __future__ import annotations

import click

from meterlog.commands.options import config_option, quiet_option, store_option


@click.command("maintain")
@store_option
@config_option
@click.option(
    "--retention",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="Keep older table versions readable this long (36h, 30d, 2w; a bare number is days); "
    "--as-of works this far back. Files only older versions use are deleted.",
)
@click.option("--dry-run", is_flag=True, help="Only count the files that would be deleted.")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for a running ingest's lock on the store before giving up.",
)
@quiet_option
def command(
    store: str | None,
    config_path: str | None,
    retention: str,
    dry_run: bool,
    lock_timeout: float,
    quiet: bool,
) -> None:
    """Compact small files, checkpoint and vacuum the store's tables.

    Rewrites many small data files into few large ones (reads get faster), writes a log
    checkpoint, and deletes data files and log entries only versions older than --retention
    use. Rows and per-source progress are unchanged; run it daily or weekly, e.g. from cron.

    \b
    Example:
        meterlog maintain --store /var/lib/meterlog --retention 30d
    """
    import dataclasses

    import polars as pl

    from meterlog.config import load_config
    from meterlog.durations import parse_duration
    from meterlog.output import render_table
    from meterlog.store import resolve_store
    from meterlog.text import printable

    keep = parse_duration(retention, "--retention", default_unit="d")
    config = load_config(config_path)
    target = resolve_store(store, config.store).require()
    with target.lock(lock_timeout), target.writing():
        results = target.maintain(keep, dry_run=dry_run)
    if quiet:
        return
    if not results:
        click.echo(f"store: {printable(target.uri)}: empty, nothing to do")
        return
    frame = pl.DataFrame([dataclasses.asdict(result) for result in results]).rename(
        lambda name: name.removeprefix("files_")
    )
    if dry_run:
        frame = frame.select("table", "before", pl.col("deleted").alias("would delete"))
    render_table(frame, title=f"{target.uri}: retention {retention}")
