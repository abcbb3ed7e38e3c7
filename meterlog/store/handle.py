"""What the store's helper modules (maintenance, recovery, pseudonyms) use of a store.

:class:`~meterlog.store.tables.Store` implements it; the helpers name this protocol instead
of the class, so they do not import the module that imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import polars as pl
from deltalake import DeltaTable

from meterlog.store.layout import Progress


class StoreHandle(Protocol):
    """A store's location and the table operations its helpers call."""

    uri: str
    storage_options: dict[str, str] | None

    @property
    def is_local(self) -> bool: ...

    @property
    def root(self) -> Path: ...

    def table_uri(self, name: str) -> str: ...

    def table(self, name: str) -> DeltaTable | None: ...

    def forget(self, name: str) -> None: ...

    def known_source_ids(self) -> set[str]: ...

    def scan_events(self, version: int | None = None) -> pl.LazyFrame: ...

    def progress(self, source_id: str) -> Progress: ...

    def replace_meter_states(self, rows: pl.DataFrame) -> None: ...
