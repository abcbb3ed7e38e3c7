"""Whether the store holds the whole billing period yet."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from meterlog.meters import Period
from meterlog.schema import PARTITION_COLUMN
from meterlog.store import Store

_UNCOMPRESSED = (None, "", "none", "plain", "identity")


def completeness_problems(
    store: Store, version: int, periods: Sequence[Period], check_sources: bool = True
) -> list[str]:
    """Why the store may not hold all of ``periods`` yet (empty when nothing is known to lack).

    The data is complete for a period when the store holds a request at or after its end.
    With ``check_sources``, local uncompressed sources that have grown since they were last
    ingested are reported too.
    """
    events = store.scan_events(version=version)
    first_end = min(period.end for period in periods)
    recent = events
    if PARTITION_COLUMN in events.collect_schema().names():
        first_end_day = (first_end - timedelta(microseconds=1)).date()
        recent = events.filter(pl.col(PARTITION_COLUMN) >= first_end_day)
    latest = recent.select(pl.col("ts").max()).collect().item()
    if latest is None:
        latest = events.select(pl.col("ts").max()).collect().item()
    problems = []
    for period in sorted(set(periods), key=lambda period: (period.end, period.tz.key)):
        if latest is None or latest < period.end:
            ends = "holds no events" if latest is None else f"ends at {period.iso(latest)}"
            problems.append(
                f"the store's data {ends}, before the end of period {period.label} "
                f"({period.iso(period.end)}, {period.tz.key}): the invoice may be incomplete; "
                "ingest the rest of the logs or bill later"
            )
    if check_sources and store.is_local:
        problems += _lagging_sources(store)
    return problems


def _lagging_sources(store: Store) -> list[str]:
    """Local uncompressed source files longer than what the store holds of them."""
    sources = store.sources()
    if sources.is_empty():
        return []
    latest_per_path = sources.sort("seen_at").group_by("path").agg(pl.all().last()).sort("path")
    problems = []
    for row in latest_per_path.iter_rows(named=True):
        if row["compression"] not in _UNCOMPRESSED or not row["path"]:
            continue
        try:
            size = os.stat(row["path"]).st_size
        except OSError:
            continue
        if size > row["offset"]:
            problems.append(
                f"source {row['path']} has {size - row['offset']} bytes not ingested yet: "
                "the invoice may be incomplete; run 'meterlog ingest' first"
            )
    return problems
