"""``meterlog.toml``: settings shared by commands (store, identity, time zone, endpoints).

Found via ``--config``, env ``METERLOG_CONFIG``, or ``./meterlog.toml``. Command-line options
override it. Relative paths in it are relative to the file's folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meterlog.errors import ConfigError, located, read_toml_file

CONFIG_ENV = "METERLOG_CONFIG"
CONFIG_FILENAME = "meterlog.toml"

_TOP_KEYS = {
    "store",
    "tz",
    "user_field",
    "account_field",
    "accounts",
    "endpoints",
    "bots",
    "anomalies",
    "log_format",
    "nginx_conf",
    "log_format_name",
    "json",
    "engine",
    "spark_master",
}
#: Where meter states are computed (see :mod:`meterlog.engines`).
ENGINE_NAMES = ("polars", "duckdb", "spark")
_JSON_KEYS = {"fields", "preset", "tz"}
_ENDPOINT_KEYS = {"routes", "openapi"}
_BOT_KEYS = {"patterns"}


@dataclass(frozen=True)
class Config:
    """Settings from a config file; ``None`` means "not set, use the command's default"."""

    path: Path | None = None
    store: str | None = None
    tz: str | None = None
    user_field: str | None = None
    account_field: str | None = None
    accounts: Path | None = None
    routes: tuple[str, ...] = ()
    openapi: Path | None = None
    bot_patterns: tuple[str, ...] | None = None
    #: ``[anomalies.<kind>]`` tables, checked: detector kind -> parameter -> value
    anomalies: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    #: The nginx ``log_format`` of the logs, verbatim (like ``--log-format``).
    log_format: str | None = None
    #: An nginx config and the name of the ``log_format`` in it (like ``--nginx-conf``).
    nginx_conf: Path | None = None
    log_format_name: str | None = None
    #: ``[json]``: ``fields`` (column = key, like ``--json-field``), ``preset``, ``tz``.
    json_fields: dict[str, str] = field(default_factory=dict)
    json_preset: str | None = None
    json_tz: str | None = None
    #: ``bill``, ``mau``, ``peak``: where meter states are computed (polars, duckdb, spark).
    engine: str | None = None
    spark_master: str | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


def find_config_path(explicit: str | Path | None) -> Path | None:
    """The config file to use: explicit, then ``$METERLOG_CONFIG``, then ``./meterlog.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path.cwd() / CONFIG_FILENAME
    return local if local.is_file() else None


def _string(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(located(path, None, f"key '{key}' must be a non-empty string"))
    return value


def _string_list(path: Path, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(located(path, None, f"key '{key}' must be a list of strings"))
    return tuple(value)


def _check_keys(path: Path, table: str, data: dict[str, object], allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            where = f"{table}.{key}" if table else key
            raise ConfigError(
                located(
                    path, None, f"unknown key '{where}'; known keys: {', '.join(sorted(allowed))}"
                )
            )


def load_config(explicit: str | Path | None = None) -> Config:
    """Load the config file (see module doc); an absent optional file gives an empty Config."""
    path = find_config_path(explicit)
    if path is None:
        return Config()
    data = read_toml_file(path, "config file")
    _check_keys(path, "", data, _TOP_KEYS)
    base = path.parent
    endpoints = data.get("endpoints", {})
    bots = data.get("bots", {})
    json_table = data.get("json", {})
    if not all(isinstance(table, dict) for table in (endpoints, bots, json_table)):
        raise ConfigError(located(path, None, "'endpoints', 'bots' and 'json' must be tables"))
    assert isinstance(endpoints, dict) and isinstance(bots, dict) and isinstance(json_table, dict)
    _check_keys(path, "endpoints", endpoints, _ENDPOINT_KEYS)
    _check_keys(path, "bots", bots, _BOT_KEYS)
    _check_keys(path, "json", json_table, _JSON_KEYS)
    json_fields = json_table.get("fields", {})
    if not isinstance(json_fields, dict) or not all(
        isinstance(value, str) and value for value in json_fields.values()
    ):
        raise ConfigError(
            located(path, None, "'json.fields' must be a table of COLUMN = \"KEY\" strings")
        )
    if "log_format" in data and "nginx_conf" in data:
        raise ConfigError(located(path, None, "give either 'log_format' or 'nginx_conf', not both"))
    if ("nginx_conf" in data) != ("log_format_name" in data):
        raise ConfigError(located(path, None, "'nginx_conf' and 'log_format_name' go together"))

    def json_str(key: str) -> str | None:
        return _string(path, f"json.{key}", json_table[key]) if key in json_table else None

    def opt_str(key: str) -> str | None:
        return _string(path, key, data[key]) if key in data else None

    def opt_path(value: object, key: str) -> Path | None:
        return base / _string(path, key, value) if value is not None else None

    anomalies: Mapping[str, Mapping[str, object]] = {}
    if "anomalies" in data:
        # the detectors' parameters are defined with the detectors (loaded only when needed)
        from meterlog.anomalies.registry import parse_anomaly_tables

        anomalies = parse_anomaly_tables(path, data["anomalies"])
    engine = opt_str("engine")
    if engine is not None and engine not in ENGINE_NAMES:
        raise ConfigError(
            located(path, None, f"key 'engine' must be one of {', '.join(ENGINE_NAMES)}")
        )
    store = opt_str("store")
    if store is not None and "://" not in store:
        store = str(base / store)
    return Config(
        path=path,
        store=store,
        tz=opt_str("tz"),
        user_field=opt_str("user_field"),
        account_field=opt_str("account_field"),
        accounts=opt_path(data.get("accounts"), "accounts"),
        routes=_string_list(path, "endpoints.routes", endpoints.get("routes", [])),
        openapi=opt_path(endpoints.get("openapi"), "endpoints.openapi"),
        bot_patterns=(
            _string_list(path, "bots.patterns", bots["patterns"]) if "patterns" in bots else None
        ),
        anomalies=anomalies,
        log_format=opt_str("log_format"),
        nginx_conf=opt_path(data.get("nginx_conf"), "nginx_conf"),
        log_format_name=opt_str("log_format_name"),
        json_fields=dict(json_fields),
        json_preset=json_str("preset"),
        json_tz=json_str("tz"),
        engine=engine,
        spark_master=opt_str("spark_master"),
        raw=data,
    )
