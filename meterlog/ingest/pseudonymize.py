"""Pseudonymised user identifiers: keyed HMAC-SHA256 digests instead of raw values.

With ``meterlog ingest --pseudonymize`` the chosen columns (``remote_user`` unless
``--pseudonymize-field`` says otherwise) are replaced, before anything is committed, by
``HMAC-SHA256(key, value)`` as 64 hex digits, the key coming from the environment variable
``METERLOG_HMAC_KEY``. The same user always gets the same digest under the same key, so
distinct-user counts (MAU) are exactly what they would be on raw values, while the store holds
no raw identifier. Values are hashed after removing surrounding whitespace; empty values and
``-`` stay null (anonymous), as :func:`meterlog.schema.identity_expr` treats them.

Rejected lines cannot be searched for identifiers, so their text is not stored when
pseudonymising (their source, line number and reason are).

Polars has no HMAC, so each *distinct* value of a chunk is hashed once with Python's ``hmac``
module and mapped back onto the column in one vectorised lookup: the cost grows with the
number of distinct users per chunk, not with the number of lines.

A customer checks a disputed count by hashing their own list of users with the same key::

    import hashlib, hmac
    key = b"..."  # the value of METERLOG_HMAC_KEY
    def digest(user: str) -> str:
        return hmac.new(key, user.strip().encode("utf-8"), hashlib.sha256).hexdigest()
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from meterlog.errors import MeterlogError
from meterlog.schema import CANONICAL_COLUMNS, PROVENANCE_COLUMNS, identity_expr

KEY_ENV = "METERLOG_HMAC_KEY"
MIN_KEY_BYTES = 16
DEFAULT_FIELDS = ("remote_user",)


def digest(key: bytes, value: str) -> str:
    """The pseudonym of ``value``: HMAC-SHA256 of its UTF-8 bytes (whitespace stripped)."""
    return hmac.new(key, value.strip().encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Pseudonymizer:
    key: bytes
    fields: tuple[str, ...] = DEFAULT_FIELDS

    def __post_init__(self) -> None:
        for name in self.fields:
            if name in PROVENANCE_COLUMNS or name in ("ts", "day"):
                raise MeterlogError(f"--pseudonymize-field {name}: this column cannot be hashed")
            dtype = CANONICAL_COLUMNS.get(name)
            if dtype is not None and dtype != pl.String:
                raise MeterlogError(
                    f"--pseudonymize-field {name}: only text columns can be hashed, "
                    f"{name} is a number or time"
                )

    @classmethod
    def from_environment(
        cls, fields: Sequence[str] = DEFAULT_FIELDS, environ: Mapping[str, str] | None = None
    ) -> Pseudonymizer:
        environ = os.environ if environ is None else environ
        key = environ.get(KEY_ENV, "").encode("utf-8")
        if not key:
            raise MeterlogError(
                f"--pseudonymize needs a secret key in the environment variable {KEY_ENV} "
                f"(at least {MIN_KEY_BYTES} bytes); use the same key for every run, "
                "or counts across runs will not match"
            )
        if len(key) < MIN_KEY_BYTES:
            raise MeterlogError(
                f"{KEY_ENV} is {len(key)} bytes long: use a key of at least {MIN_KEY_BYTES} "
                "bytes (for example the output of 'openssl rand -hex 32')"
            )
        return cls(key, tuple(dict.fromkeys(fields or DEFAULT_FIELDS)))

    @property
    def key_id(self) -> str:
        """A short fingerprint of the key (recorded with each commit; reveals nothing)."""
        return digest(self.key, "meterlog key id")[:16]

    def apply(self, events: pl.DataFrame) -> pl.DataFrame:
        """``events`` with each configured column present replaced by its digests."""
        columns = []
        for name in self.fields:
            if name not in events.columns:
                continue
            values = events.select(identity_expr(name).alias(name)).to_series()
            distinct = values.drop_nulls().unique().to_list()
            pseudonyms = [digest(self.key, value) for value in distinct]  # per distinct value
            columns.append(
                values.replace_strict(distinct, pseudonyms, default=None, return_dtype=pl.String)
            )
        return events.with_columns(columns) if columns else events
