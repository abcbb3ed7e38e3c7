"""The detectors by kind, and their parameters from ``[anomalies.<kind>]`` in ``meterlog.toml``.

Two sorts: *models* (``spike``, ``drop``, ``key_sharing``, ``error_surge``: code with
parameters) and *rules* (:mod:`meterlog.anomalies.rules`: declared as data, built in or added in
the config file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from meterlog.anomalies.base import Detector, DetectorBase, Params
from meterlog.anomalies.drop import Drop
from meterlog.anomalies.error_surge import ErrorSurge
from meterlog.anomalies.key_sharing import KeySharing
from meterlog.anomalies.rules import builtin_rules, check_rule_table, rule_detectors
from meterlog.anomalies.spike import Spike
from meterlog.anomalies.windows import parse_window
from meterlog.errors import ConfigError, MeterlogError, UsageError, located

#: The models (detectors in code), by kind.
DETECTOR_TYPES: dict[str, type[DetectorBase]] = {
    cls.kind: cls for cls in (Spike, Drop, KeySharing, ErrorSurge)
}
#: The built-in rules' kinds.
RULE_KINDS = tuple(builtin_rules())
#: Every built-in kind, in the order findings of one time are listed.
KINDS = ("spike", "drop", *RULE_KINDS, "key_sharing", "error_surge")


def default_params() -> dict[str, Params]:
    return {
        **{kind: cls.params_type() for kind, cls in DETECTOR_TYPES.items()},
        **builtin_rules(),
    }


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
            if not kind.replace("_", "").isalnum():
                raise ConfigError(
                    located(
                        path, None, f"'anomalies.{kind}': name a rule with letters, digits and _"
                    )
                )
            checked[kind] = check_rule_table(path, kind, table, new=kind not in RULE_KINDS)
            continue
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
    overrides = overrides or {}
    rules = rule_detectors({k: v for k, v in overrides.items() if k not in DETECTOR_TYPES})
    known = list(KINDS) + [name for name in rules if name not in KINDS]
    for kind in kinds:
        if kind not in known:
            raise UsageError(f"unknown anomaly kind {kind!r}: use one of {', '.join(known)}")
    detectors: list[Detector] = []
    for kind in known:
        if kinds and kind not in kinds:
            continue
        if kind in DETECTOR_TYPES:
            cls = DETECTOR_TYPES[kind]
            values: dict[str, Any] = dict(overrides.get(kind, {}))
            params = replace(cls.params_type(), **values)
            if params.enabled:
                detectors.append(cls(params=params))
        elif rules[kind].params.enabled:
            detectors.append(rules[kind])
    return detectors
