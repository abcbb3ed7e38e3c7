"""Helpers for the meter, billing and CLI tests: small event frames and stores."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from meterlog.query.identity import with_identity
from meterlog.schema import conform_events
from meterlog.store import Progress, Store

ACCOUNT_FIELD = "http_x_api_key"


def utc(text: str) -> datetime:
    """``2026-10-01T00:30`` (UTC) -> aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event_frame(rows: Iterable[Mapping[str, object]]) -> pl.DataFrame:
    """A canonical events frame from rows with ``ts`` (ISO text, UTC) and any other columns.

    Missing columns get defaults: ``method`` GET, ``path`` /api, ``status`` 200,
    ``bytes_sent`` 100, ``remote_user`` null, ``http_x_api_key`` "key-acme".
    """
    defaults = {
        "method": "GET",
        "path": "/api",
        "status": 200,
        "bytes_sent": 100,
        "remote_user": None,
        ACCOUNT_FIELD: "key-acme",
    }
    records = [{**defaults, **row, "ts": utc(str(row["ts"]))} for row in rows]
    frame = pl.DataFrame(
        records,
        schema_overrides={"remote_user": pl.String, ACCOUNT_FIELD: pl.String},
    )
    return conform_events(frame)


def identified(rows: Iterable[Mapping[str, object]], account_field: str | None = ACCOUNT_FIELD):
    """Events as a lazy frame with ``user`` and ``account`` (the key's text after ``key-``)."""
    frame = event_frame(rows)
    keys = frame.get_column(ACCOUNT_FIELD).drop_nulls().unique().to_list()
    accounts = {key: key.removeprefix("key-") for key in keys}
    return with_identity(frame.lazy(), "remote_user", account_field, accounts)


def append_events(
    store: Store, rows: Iterable[Mapping[str, object]], source_id: str = "test-source"
) -> None:
    """Commit ``rows`` as one new table version, as an ingest run would."""
    frame = event_frame(rows)
    before = store.progress(source_id)
    frame = frame.with_columns(
        source_id=pl.lit(source_id),
        source_offset=pl.int_range(pl.len(), dtype=pl.Int64) * 100 + before.offset,
        source_line=pl.int_range(pl.len(), dtype=pl.Int64) + before.lines + 1,
    )
    end = Progress(offset=before.offset + frame.height * 100, lines=before.lines + frame.height)
    store.commit_events(frame, source_id, end)


def build_store(path: Path, *batches: Iterable[Mapping[str, object]]) -> Store:
    """A store with one commit (table version 0, 1, ...) per batch of rows."""
    store = Store(path)
    for rows in batches:
        append_events(store, rows)
    return store
