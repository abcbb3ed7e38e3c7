"""``meterlog.toml``: settings shared by commands (store, identity, time zone, endpoints).

Found via ``--config``, env ``METERLOG_CONFIG``, or ``./meterlog.toml``. Command-line options
override it. Relative paths in it are relative to the file's folder.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from meterlog.errors import ConfigError, located, read_toml_file
from meterlog.validation import NonBlank, ParameterError, Spec, key, key_rows, read

CONFIG_ENV = "METERLOG_CONFIG"
CONFIG_FILENAME = "meterlog.toml"

#: Where meter states are computed (see :mod:`meterlog.engines`).
Engine = Literal["polars", "duckdb", "spark"]
ENGINE_NAMES: tuple[str, ...] = typing.get_args(Engine)

#: A string with something in it, used as written (a log format keeps its blanks).
_Strings = "a list of strings"


class EndpointsSpec(Spec, kw_only=True):
    """``[endpoints]``: how paths are grouped into endpoints."""

    what = "[endpoints]"
    routes: Annotated[
        list[NonBlank],
        key(
            "endpoint templates (`/v1/users/{user_id}`); the most specific match wins",
            expected=_Strings,
        ),
    ] = msgspec.field(default_factory=list)
    openapi: Annotated[
        NonBlank | None,
        key("an OpenAPI 3 document whose paths are endpoint templates, like `--openapi`"),
    ] = None


class BotsSpec(Spec, kw_only=True):
    """``[bots]``: which user agents are bots."""

    what = "[bots]"
    patterns: Annotated[
        list[NonBlank] | None,
        key("texts a bot's user agent contains (ignoring case), replacing the built-in list "
            "of `--exclude-bots`", expected=_Strings),
    ] = None  # fmt: skip


class JsonSpec(Spec, kw_only=True):
    """``[json]``: reading JSON lines logs."""

    what = "[json]"
    fields: Annotated[
        dict[str, NonBlank],
        key(
            'COLUMN = "KEY": where a column is in each record, like `--json-field`',
            expected='a table of COLUMN = "KEY" strings',
        ),
    ] = msgspec.field(default_factory=dict)
    preset: Annotated[
        NonBlank | None,
        key("the keys of a known JSON access log (caddy, traefik, nginx), like `--json-preset`"),
    ] = None
    tz: Annotated[
        NonBlank | None, key("time zone of JSON times written without an offset, like `--json-tz`")
    ] = None


class ConfigSpec(Spec, kw_only=True):
    """The keys of ``meterlog.toml``."""

    what = "a config file"
    store: Annotated[
        NonBlank | None,
        key("the store: a folder (relative to this file) or a URI such as `s3://...`"),
    ] = None
    tz: Annotated[
        NonBlank | None, key("time zone of reports and billing (IANA name), like `--tz`")
    ] = None
    user_field: Annotated[
        NonBlank | None, key("the log field naming the user, like `--user-field`")
    ] = None
    account_field: Annotated[
        NonBlank | None, key("the log field naming the account, like `--account-field`")
    ] = None
    accounts: Annotated[
        NonBlank | None,
        key("CSV `key,account` file mapping account-field values to names, like `--accounts`"),
    ] = None
    endpoints: Annotated[EndpointsSpec, key("see `[endpoints]`")] = msgspec.field(
        default_factory=EndpointsSpec
    )
    bots: Annotated[BotsSpec, key("see `[bots]`")] = msgspec.field(default_factory=BotsSpec)
    anomalies: Annotated[
        dict[str, Any],
        key(
            "`[anomalies.KIND]`: detector parameters and rules (read by `anomalies`, `watch`)",
            reason="must be a table of [anomalies.KIND]",
        ),
    ] = msgspec.field(default_factory=dict)
    log_format: Annotated[
        NonBlank | None, key("the nginx `log_format` of the logs, verbatim, like `--log-format`")
    ] = None
    nginx_conf: Annotated[
        NonBlank | None, key("an nginx config holding the `log_format`, like `--nginx-conf`")
    ] = None
    log_format_name: Annotated[
        NonBlank | None, key("the name of the `log_format` in `nginx_conf`")
    ] = None
    json: Annotated[JsonSpec, key("see `[json]`")] = msgspec.field(default_factory=JsonSpec)
    engine: Annotated[
        Engine | None, key("where `bill`, `mau` and `peak` compute meter states, like `--engine`")
    ] = None
    spark_master: Annotated[NonBlank | None, key('the Spark master URL for `engine = "spark"`')] = (
        None
    )


class Section(dict[str, Any]):
    """A table of the config file kept as data for the package that uses it (``[anomalies]``:
    :mod:`meterlog.anomalies` checks it when detectors are built); ``path`` is the file, for
    its errors."""

    def __init__(self, data: Mapping[str, Any] | None = None, path: Path | None = None) -> None:
        super().__init__(data or {})
        self.path = path


def config_message(error: ParameterError) -> str:
    """The config file's wording of an error: ``unknown key 'json.x'; known keys: ...``,
    ``key 'engine' must be one of ...`` or ``key 'filter.path[0]': '(' is not a ...``."""
    if error.known is not None:
        return f"unknown key '{error.key}'; known keys: {', '.join(error.known)}"
    words = error.reason.startswith(("must ", "is "))
    return f"key '{error.key}'{' ' if words else ': '}{error.reason}"


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
    #: ``[anomalies.<kind>]`` tables as written (a :class:`Section`), checked by
    #: :mod:`meterlog.anomalies` when detectors are built: detector kind -> parameter -> value
    anomalies: Mapping[str, Mapping[str, object]] = field(default_factory=Section)
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


def load_config(explicit: str | Path | None = None) -> Config:
    """Load the config file (see module doc); an absent optional file gives an empty Config."""
    path = find_config_path(explicit)
    if path is None:
        return Config()
    data = read_toml_file(path, "config file")
    try:
        spec = read(data, ConfigSpec)
    except ParameterError as error:
        raise ConfigError(located(path, None, config_message(error))) from None
    if spec.log_format is not None and spec.nginx_conf is not None:
        raise ConfigError(located(path, None, "give either 'log_format' or 'nginx_conf', not both"))
    if (spec.nginx_conf is None) != (spec.log_format_name is None):
        raise ConfigError(located(path, None, "'nginx_conf' and 'log_format_name' go together"))
    base = path.parent

    def in_folder(name: str | None) -> Path | None:
        return base / name if name is not None else None

    store = spec.store
    if store is not None and "://" not in store:
        store = str(base / store)
    return Config(
        path=path,
        store=store,
        tz=spec.tz,
        user_field=spec.user_field,
        account_field=spec.account_field,
        accounts=in_folder(spec.accounts),
        routes=tuple(spec.endpoints.routes),
        openapi=in_folder(spec.endpoints.openapi),
        bot_patterns=None if spec.bots.patterns is None else tuple(spec.bots.patterns),
        anomalies=Section(spec.anomalies, path),
        log_format=spec.log_format,
        nginx_conf=in_folder(spec.nginx_conf),
        log_format_name=spec.log_format_name,
        json_fields=dict(spec.json.fields),
        json_preset=spec.json.preset,
        json_tz=spec.json.tz,
        engine=spec.engine,
        spark_master=spec.spark_master,
        raw=data,
    )


def keys_doc() -> str:
    """``docs/config-keys.md``: every key of ``meterlog.toml``, from the specs."""
    lines = [
        "# Config file keys",
        "",
        "<!-- generated by `make docs`: do not edit -->",
        "",
        f"`{CONFIG_FILENAME}` is found via `--config`, `${CONFIG_ENV}` or the current folder;",
        "options given on the command line win. Relative paths are relative to the file's",
        "folder. A key not listed is refused.",
        "",
        "## The top of the file",
        "",
        *key_rows(ConfigSpec),
    ]
    for name, spec in (("endpoints", EndpointsSpec), ("bots", BotsSpec), ("json", JsonSpec)):
        lines += ["", f"## `[{name}]`", "", *key_rows(spec)]
    lines += [
        "",
        "## `[anomalies.KIND]`",
        "",
        "The parameters of a detector (`[anomalies.spike]`) or a rule, or a new rule; they",
        "are checked when the detectors are built (by `meterlog anomalies`, and by `meterlog",
        "watch` when it starts). The detectors and their parameters are listed in detectors.md.",
    ]
    return "\n".join(lines) + "\n"
