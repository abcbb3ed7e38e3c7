"""The store's pseudonymisation mark: whether its user identifiers are keyed digests, and of
which key and columns.

A pseudonymised commit carries two Delta application transactions besides its progress,
``meterlog-pseudonymized`` (a number derived from the key id, never the key) and
``meterlog-pseudonymized-fields`` (a number derived from the hashed columns), in the same
atomic commit as its rows. A store whose events were written raw never has them. A run that
does not match the store (raw data into a pseudonymised store, digests into a raw one,
another key or other columns) is refused before anything is written: mixed identifiers would
count one person as two.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from deltalake import DeltaTable, Transaction

from meterlog.errors import StoreError
from meterlog.store.handle import StoreHandle
from meterlog.store.layout import EVENTS_TABLE

KEY_APP_ID = "meterlog-pseudonymized"
FIELDS_APP_ID = "meterlog-pseudonymized-fields"
#: Hex digits of the key id kept in the mark (a positive 64-bit number).
_KEY_DIGITS = 15


@dataclass(frozen=True)
class Pseudonymization:
    """How a run writes user identifiers: the key id (``Pseudonymizer.key_id``) and the
    columns hashed."""

    key_id: str
    fields: tuple[str, ...]

    @property
    def key_number(self) -> int:
        return int(self.key_id[:_KEY_DIGITS], 16) + 1

    @property
    def fields_number(self) -> int:
        text = ",".join(sorted(self.fields)).encode("utf-8")
        return int(hashlib.sha256(text).hexdigest()[:_KEY_DIGITS], 16) + 1

    def transactions(self) -> list[Transaction]:
        """The mark, to commit with every chunk of rows."""
        return [
            Transaction(KEY_APP_ID, self.key_number),
            Transaction(FIELDS_APP_ID, self.fields_number),
        ]


def mark_in(table: DeltaTable | None) -> tuple[int, int] | None:
    """The mark in the snapshot ``table`` holds: (key number, fields number), or None."""
    if table is None:
        return None
    key = table.transaction_version(KEY_APP_ID)
    if not key:
        return None
    return key, table.transaction_version(FIELDS_APP_ID) or 0


def _key_hint(number: int) -> str:
    return f"{number - 1:0{_KEY_DIGITS}x}"


def check_pseudonymization(store: StoreHandle, run: Pseudonymization | None) -> None:
    """Refuse (StoreError) a run whose way of writing user identifiers does not match the
    store's: the store is pseudonymised and the run is not, or with another key or other
    columns; or the store holds raw identifiers and the run pseudonymises. A new store takes
    the run's way."""
    table = store.table(EVENTS_TABLE)
    mark = mark_in(table)
    refused = _mismatch(store.uri, mark, run, has_rows=_has_rows(table))
    if refused is not None:
        raise StoreError(refused)


def mismatch_in(table: DeltaTable | None, where: str, run: Pseudonymization | None) -> str | None:
    """Why ``run`` must not commit on the snapshot ``table`` holds (None when it may)."""
    return _mismatch(where, mark_in(table), run, has_rows=_has_rows(table))


def _has_rows(table: DeltaTable | None) -> bool:
    return table is not None and bool(table.file_uris())


def _mismatch(
    where: str, mark: tuple[int, int] | None, run: Pseudonymization | None, *, has_rows: bool
) -> str | None:
    if mark is None:
        if run is not None and has_rows:
            return (
                f"{where}: the store holds raw user identifiers, so it cannot take "
                "pseudonymised ones (one person would count twice): ingest without "
                "--pseudonymize, or into a new store"
            )
        return None
    key, fields = mark
    if run is None:
        return (
            f"{where}: the store is pseudonymised (key id {_key_hint(key)}): run with "
            "--pseudonymize and the same METERLOG_HMAC_KEY (raw identifiers would count "
            "people twice)"
        )
    if run.key_number != key:
        return (
            f"{where}: the store is pseudonymised with another key (key id {_key_hint(key)}, "
            f"METERLOG_HMAC_KEY has key id {_key_hint(run.key_number)}): set the key the store "
            "was written with"
        )
    if run.fields_number != fields:
        return (
            f"{where}: the store is pseudonymised with other columns than "
            f"{', '.join(run.fields)}: give the same --pseudonymize-field options as before"
        )
    return None
