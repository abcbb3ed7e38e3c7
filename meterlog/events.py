"""Reading events for reports and billing: one store version, with ``user`` and ``account``.

Meter reports (``mau``, ``peak``), invoices and evidence all read the events table through
here, at one table version, so a report is reproducible with that version.
"""

from __future__ import annotations

import polars as pl

from meterlog.errors import MeterlogError, StoreError
from meterlog.identity import Identity
from meterlog.store import Store


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


def identified_events(store: Store, identity: Identity, version: int) -> pl.LazyFrame:
    """The store's events at ``version`` with ``user`` and ``account`` columns."""
    return identity.apply(store.scan_events(version=version))
