"""The detectors by kind, and their parameters from ``[anomalies.<kind>]`` in ``meterlog.toml``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from meterlog.anomalies.auth_failures import AuthFailures
from meterlog.anomalies.base import Detector, DetectorBase, Params
from meterlog.anomalies.drop import Drop
from meterlog.anomalies.error_surge import ErrorSurge
from meterlog.anomalies.key_sharing import KeySharing
from meterlog.anomalies.probing import Probing
from meterlog.anomalies.scraping import Scraping
from meterlog.anomalies.spike import Spike
from meterlog.anomalies.windows import parse_window
from meterlog.errors import ConfigError, MeterlogError, UsageError, located

#: Every detector, in the order findings of one time are listed.
DETECTOR_TYPES: dict[str, type[DetectorBase]] = {
    cls.kind: cls for cls in (Spike, Drop, AuthFailures, KeySharing, Probing, ErrorSurge, Scraping)
}
KINDS = tuple(DETECTOR_TYPES)


def default_params() -> dict[str, Params]:
    return {kind: cls.params_type() for kind, cls in DETECTOR_TYPES.items()}


def _checked(path: Path | None, key: str, kind_of: str, value: object) -> object:
    def fail(expected: str) -> ConfigError:
        return ConfigError(located(path, None, f"key '{key}' must be {expected}"))

    if kind_of == "bool":
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if kind_of in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("a number")
        if kind_of == "int" and not isinstance(value, int):
            raise fail("a whole number")
        if value < 0:
            raise fail("zero or more")
        return float(value) if kind_of == "float" else value
    if kind_of == "str":
        if not isinstance(value, str) or not value.strip():
            raise fail("a non-empty string")
        if key.endswith(".window"):
            try:
                parse_window(value, key)
            except MeterlogError:
                raise fail("a duration such as 10m or 1h") from None
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail("a list of strings")
    return tuple(value)


def parse_anomaly_tables(path: Path | None, tables: object) -> dict[str, dict[str, object]]:
    """Check ``[anomalies]`` of a config file: known kinds and keys, right types (ConfigError
    naming the file and key if not); returns the checked values per kind."""
    if not isinstance(tables, dict):
        raise ConfigError(located(path, None, "'anomalies' must be a table of [anomalies.KIND]"))
    checked: dict[str, dict[str, object]] = {}
    for kind, table in tables.items():
        if kind not in DETECTOR_TYPES:
            raise ConfigError(
                located(
                    path, None, f"unknown key 'anomalies.{kind}'; known kinds: {', '.join(KINDS)}"
                )
            )
        if not isinstance(table, dict):
            raise ConfigError(located(path, None, f"'anomalies.{kind}' must be a table"))
        types = {f.name: str(f.type) for f in fields(DETECTOR_TYPES[kind].params_type)}
        values: dict[str, object] = {}
        for key, value in table.items():
            where = f"anomalies.{kind}.{key}"
            if key not in types:
                raise ConfigError(
                    located(
                        path,
                        None,
                        f"unknown key '{where}'; known keys: {', '.join(sorted(types))}",
                    )
                )
            kind_of = types[key].split("[")[0]
            values[key] = _checked(path, where, "list" if kind_of == "tuple" else kind_of, value)
        checked[kind] = values
    return checked


def build_detectors(
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    kinds: tuple[str, ...] = (),
) -> list[Detector]:
    """The enabled detectors (only ``kinds`` when given), with ``overrides`` applied."""
    for kind in kinds:
        if kind not in DETECTOR_TYPES:
            raise UsageError(f"unknown anomaly kind {kind!r}: use one of {', '.join(KINDS)}")
    detectors: list[Detector] = []
    for kind, cls in DETECTOR_TYPES.items():
        if kinds and kind not in kinds:
            continue
        values: dict[str, Any] = dict((overrides or {}).get(kind, {}))
        params = replace(cls.params_type(), **values)
        if params.enabled:
            detectors.append(cls(params=params))
    return detectors
