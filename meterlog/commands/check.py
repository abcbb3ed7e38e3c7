"""``meterlog check``: find damaged or missing files in the store, and repair what can be."""

from __future__ import annotations

import click

from meterlog.commands.options import config_option, store_option


@click.command("check")
@store_option
@config_option
@click.option(
    "--repair",
    is_flag=True,
    help="Repair what can be: drop a torn last commit, rewrite a damaged checkpoint, and for a "
    "lost data file rewind the sources that wrote it so the next ingest reads those lines again.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for a running ingest's lock on the store before giving up (--repair).",
)
def command(store: str | None, config_path: str | None, repair: bool, lock_timeout: float) -> None:
    """Check the store's files; with --repair, repair what can be repaired.

    Reports each damaged or missing file (commit files, checkpoints, data files) with what it
    means. Exit 0 when nothing is wrong (or everything found was repaired), 1 otherwise.

    \b
    Examples:
        meterlog check --store /var/lib/meterlog
        meterlog check --store /var/lib/meterlog --repair
    """
    import contextlib

    from meterlog.config import load_config
    from meterlog.errors import StoreError
    from meterlog.store import NoStoreError, check_store, resolve_store
    from meterlog.text import printable

    config = load_config(config_path)
    target = resolve_store(store, config.store)
    try:
        target.require()
    except NoStoreError:
        raise
    except StoreError:  # damaged: that is what is checked below
        pass
    holding = target.lock(lock_timeout) if repair else contextlib.nullcontext()
    with holding:
        found = check_store(target, repair=repair)
    if not found:
        click.echo(f"store: {printable(target.uri)}: no damage found")
        return
    for damage in found:
        if damage.repaired:
            state = "repaired"
        elif damage.repair is None:
            state = "cannot be repaired here: restore it from a backup"
        else:
            state = f"repair with --repair: {damage.repair}"
        click.echo(f"{printable(damage.path)}: {damage.problem}; {state}")
        for source_id, (offset, lines) in sorted(damage.rewound.items()):
            verb = "rewound to" if damage.repaired else "would be rewound to"
            click.echo(f"  source {source_id[:16]}: {verb} {offset:,} bytes, {lines:,} lines")
    left = [damage for damage in found if not damage.repaired]
    if left:
        raise StoreError(
            f"{printable(target.uri)}: {len(left)} damaged file(s) "
            + ("could not be repaired" if repair else "found; run again with --repair")
        )
