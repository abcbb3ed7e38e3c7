"""Settings every report command shares, resolved from the config file and the command line.

Precedence: command-line option (or its environment variable), then ``meterlog.toml``, then the
built-in default. The library works from a :class:`ReportSettings`, so it can be used without
the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.config import Config
from meterlog.errors import ConfigError, MeterlogError, located
from meterlog.periods import parse_tz
from meterlog.query.endpoints import EndpointTemplates, load_templates
from meterlog.query.filters import DEFAULT_BOT_PATTERNS
from meterlog.query.identity import Identity, load_accounts_file
from meterlog.store import DEFAULT_STORE, Store, resolve_store

DEFAULT_USER_FIELD = "remote_user"
DEFAULT_TZ = "UTC"


@dataclass(frozen=True)
class ReportSettings:
    """Where the data is and how to read identities, time and endpoints from it."""

    store: str = DEFAULT_STORE
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TZ))
    user_field: str = DEFAULT_USER_FIELD
    account_field: str | None = None
    accounts: Mapping[str, str] | None = None  # raw account key -> account name
    accounts_path: Path | None = None
    routes: tuple[str, ...] = ()  # explicit endpoint templates
    config_path: Path | None = None  # where ``routes`` came from, for messages
    openapi: Path | None = None
    bot_patterns: tuple[str, ...] = DEFAULT_BOT_PATTERNS

    @property
    def tz_name(self) -> str:
        return self.tz.key

    def identity(self, *, by_account: bool = True) -> Identity:
        """How users and accounts are read; without ``by_account`` all traffic is one account
        (``mau`` and ``peak`` without ``--by account``)."""
        if not by_account:
            return Identity(user_field=self.user_field)
        return Identity(self.user_field, self.account_field, dict(self.accounts or {}))

    def endpoint_templates(self) -> EndpointTemplates:
        """The explicit endpoint templates (config routes and OpenAPI paths), loaded now."""
        return load_templates(self.routes, self.config_path, self.openapi)


def resolve_settings(
    config: Config,
    *,
    store: str | None = None,
    tz: str | None = None,
    user_field: str | None = None,
    account_field: str | None = None,
    accounts: str | Path | None = None,
    openapi: str | Path | None = None,
) -> ReportSettings:
    """Combine command-line values (``None`` = not given) with ``config`` and the defaults."""
    if tz is not None:
        zone = parse_tz(tz)
    elif config.tz is not None:
        try:
            zone = parse_tz(config.tz)
        except MeterlogError as exc:
            raise ConfigError(located(config.path, None, f"key 'tz': {exc}")) from None
    else:
        zone = ZoneInfo(DEFAULT_TZ)
    accounts_path = Path(accounts) if accounts is not None else config.accounts
    account_field = account_field or config.account_field
    if accounts_path is not None and account_field is None:
        raise MeterlogError(
            f"{accounts_path}: an accounts file maps account keys, but no account field says "
            "which column holds them: add --account-field (e.g. http_x_api_key) or "
            "account_field in meterlog.toml"
        )
    return ReportSettings(
        store=resolve_store(store, config.store).uri,
        tz=zone,
        user_field=user_field or config.user_field or DEFAULT_USER_FIELD,
        account_field=account_field,
        accounts=load_accounts_file(accounts_path) if accounts_path is not None else None,
        accounts_path=accounts_path,
        routes=config.routes,
        config_path=config.path,
        openapi=Path(openapi) if openapi is not None else config.openapi,
        bot_patterns=(
            config.bot_patterns if config.bot_patterns is not None else DEFAULT_BOT_PATTERNS
        ),
    )


@dataclass
class StoreStatus:
    """What a store holds: rows, time range, version, sources with progress, rejects."""

    uri: str
    version: int | None
    rows: int
    ts_min: datetime | None
    ts_max: datetime | None
    sources: pl.DataFrame
    rejects: pl.DataFrame


def store_status(store: Store) -> StoreStatus:
    """Rows, time range, version, sources with progress and reject counts of a store."""
    if not store.require().exists():
        return StoreStatus(store.uri, None, 0, None, None, store.sources(), _reject_counts(store))
    totals = (
        store.scan_events()
        .select(
            pl.len().alias("rows"), pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")
        )
        .collect()
        .row(0)
    )
    return StoreStatus(
        store.uri,
        store.version(),
        totals[0],
        totals[1],
        totals[2],
        store.sources(),
        _reject_counts(store),
    )


def _reject_counts(store: Store) -> pl.DataFrame:
    return (
        store.scan_rejects()
        .group_by("source_path", "reason")
        .agg(pl.len().alias("lines"))
        .sort("source_path", "reason")
        .collect()
    )
