"""Who is the end user, who is the paying customer: resolved at report time from stored columns."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from meterlog.errors import ConfigError, located, read_text_file
from meterlog.schema import identity_expr

if TYPE_CHECKING:
    pass

#: The account every request belongs to when no account field is given.
DEFAULT_ACCOUNT = "default"
#: How every table, dashboard, log line and metric label names the requests without an account
#: value (no API key): they are never billed to anyone. CSV, JSON and Parquet keep them empty.
NO_KEY = "(no key)"


@dataclass(frozen=True)
class Identity:
    """How users and accounts are read from events: the column naming the end user, the
    column naming the paying customer (``None``: one account, :data:`DEFAULT_ACCOUNT`) and the
    mapping of raw account values to account names."""

    user_field: str = "remote_user"
    account_field: str | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)

    def apply(self, events: pl.LazyFrame) -> pl.LazyFrame:
        """``events`` with ``user`` and ``account`` columns (see :func:`with_identity`)."""
        return with_identity(events, self.user_field, self.account_field, self.accounts)


def with_identity(
    events: pl.LazyFrame,
    user_field: str = "remote_user",
    account_field: str | None = None,
    accounts: Mapping[str, str] | None = None,
) -> pl.LazyFrame:
    """Add ``user`` (null when anonymous) and ``account`` columns to ``events``.

    ``accounts`` maps raw account-field values (e.g. API keys) to account names; values not in it
    are kept as they are. Without ``account_field`` every row belongs to :data:`DEFAULT_ACCOUNT`.
    A field the store does not have is treated as all-null (every user anonymous).
    """
    names = events.collect_schema().names()
    user = identity_expr(user_field) if user_field in names else pl.lit(None, pl.String)
    if account_field is None:
        account = pl.lit(DEFAULT_ACCOUNT, pl.String)
    elif account_field not in names:
        account = pl.lit(None, pl.String)
    else:
        account = identity_expr(account_field)
        if accounts:
            account = account.replace(dict(accounts))
    return events.with_columns(user=user, account=account)


def anonymous_note(
    user_field: str, columns: Sequence[str], account_field: str | None = None
) -> str:
    """What to say when every request counted is anonymous (``user_field`` holds no user, as
    in a log without ``$remote_user``): users and MAU are 0, and which ``--user-field`` would
    count clients or keys instead."""
    key = account_field or next(
        (c for c in columns if c.startswith("http_x_") and ("key" in c or "token" in c)), None
    )
    choices = []
    if user_field != "remote_addr":
        choices.append("--user-field remote_addr (one user per client address)")
    if key is not None and key != user_field:
        choices.append(f"--user-field {key} (one user per key)")
    return (
        f"every request is anonymous: {user_field!r} holds no user in them (a log without "
        "$remote_user, as on most public sites), so users and MAU are 0"
        + (f"; to count something else as users give {' or '.join(choices)}" if choices else "")
    )


def has_only_anonymous(events: pl.LazyFrame) -> bool:
    """Whether ``events`` (with a ``user`` column, see :func:`with_identity`) hold requests
    and not one of them has a user."""
    requests, users = events.select(pl.len(), pl.col("user").count()).collect().row(0)
    return bool(requests) and users == 0


def unmapped_account_keys(
    events: pl.LazyFrame, account_field: str, accounts: Mapping[str, str]
) -> list[str]:
    """Raw account values seen in ``events`` that ``accounts`` does not map, sorted."""
    if account_field not in events.collect_schema().names():
        return []
    keys = (
        events.select(identity_expr(account_field).alias("key"))
        .drop_nulls()
        .unique()
        .filter(~pl.col("key").is_in(list(accounts)))
        .collect()
        .get_column("key")
    )
    return sorted(keys.to_list())


def load_accounts_file(path: str | Path) -> dict[str, str]:
    """Read a ``key,account`` CSV (header row required) mapping raw key values to account names."""
    path = Path(path)
    text = read_text_file(path, "accounts file")
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["key", "account"]:
        raise ConfigError(
            located(path, 1, "accounts file must start with the header row 'key,account'")
        )
    mapping: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ConfigError(located(path, number, "expected two non-empty fields 'key,account'"))
        key, account = row[0].strip(), row[1].strip()
        if key in mapping and mapping[key] != account:
            raise ConfigError(
                located(
                    path, number, f"key {key!r} is mapped twice ({mapping[key]!r}, {account!r})"
                )
            )
        mapping[key] = account
    return mapping
