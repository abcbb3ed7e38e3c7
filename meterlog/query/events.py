"""Reading events for reports and billing: one store version, with ``user`` and ``account``.

Meter reports (``mau``, ``peak``), invoices and evidence all read the events table through
here, at one table version (a :class:`~meterlog.store.Snapshot` from :func:`pin`, passed down
to every part of a report), so a report is reproducible with that version.
"""

from __future__ import annotations

import polars as pl

from meterlog.errors import MeterlogError, StoreError
from meterlog.query.identity import Identity
from meterlog.store import Snapshot, Store


def resolve_version(store: Store, as_of: int | None) -> int:
    """``as_of`` checked against the store, or the store's current version."""
    current = store.require().version()
    if current is None:
        raise StoreError(
            f"{store.uri}: no events stored yet: run 'meterlog ingest --store {store.uri} LOGS'"
        )
    if as_of is None:
        return current
    if not 0 <= as_of <= current:
        raise MeterlogError(
            f"store version {as_of} does not exist: {store.uri} has versions 0 to {current}"
        )
    return as_of


def pin(store: Store, as_of: int | None = None) -> Snapshot:
    """``store`` pinned at ``as_of`` (checked), or at its current version: what one report,
    invoice or evidence reads from start to end. A snapshot given with no ``as_of`` is kept."""
    if isinstance(store, Snapshot) and as_of is None:
        return store
    return Snapshot(store, resolve_version(store, as_of))


def identified_events(store: Store, identity: Identity, version: int) -> pl.LazyFrame:
    """The store's events at ``version`` with ``user`` and ``account`` columns."""
    return identity.apply(store.scan_events(version=version))
