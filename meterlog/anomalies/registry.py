"""The detectors by kind, and their parameters from ``[anomalies.<kind>]`` in ``meterlog.toml``.

Two sorts: *models* (``spike``, ``drop``, ``key_sharing``, ``error_surge``: code with
parameters) and *rules* (:mod:`meterlog.anomalies.rules`: declared as data, built in or added in
the config file)."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

import msgspec

from meterlog.anomalies.base import Detector, DetectorBase, Params
from meterlog.anomalies.drop import Drop
from meterlog.anomalies.error_surge import ErrorSurge
from meterlog.anomalies.key_sharing import KeySharing
from meterlog.anomalies.rules import builtin_rules, check_rule_table, rule_detectors
from meterlog.anomalies.spike import Spike
from meterlog.anomalies.windows import parse_window
from meterlog.config import config_message
from meterlog.errors import ConfigError, MeterlogError, UsageError, located
from meterlog.validation import NonBlank, ParameterError, Spec, read

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


class Window(str):
    """A detector's window: a duration such as ``10m`` or ``1h``."""

    @classmethod
    def decode(cls, value: object) -> Self:
        try:
            if isinstance(value, str) and value.strip():
                parse_window(value, "window")
                return cls(value)
        except MeterlogError:
            pass
        raise ParameterError("", "must be a duration such as 10m or 1h")


def _key_type(name: str, kind: Any) -> Any:
    """The type a parameter is read as: numbers zero or more, strings not empty, windows
    durations, tuples written as lists (``None`` allowed where the parameter allows it)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return typing.Union[tuple(_key_type(name, k) for k in typing.get_args(kind))]  # noqa: UP007
    if kind is bool or kind is type(None):
        return kind
    if kind in (int, float):
        return Annotated[kind, msgspec.Meta(ge=0)]
    if kind is str:
        return Window if name == "window" else NonBlank
    if typing.get_origin(kind) is tuple:
        return list[NonBlank]
    return kind


def params_spec(params_type: type[Params]) -> type[Spec]:
    """The keys of ``[anomalies.<kind>]`` for a model: its parameters (``params_type``, a
    dataclass), their types and defaults, as a spec refusing unknown keys."""
    hints = typing.get_type_hints(params_type)
    keys: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for f in fields(params_type):
        if f.default is not MISSING:
            keys.append((f.name, _key_type(f.name, hints[f.name]), f.default))
        else:
            keys.append((f.name, _key_type(f.name, hints[f.name])))
    spec: type[Spec] = msgspec.defstruct(  # type: ignore[assignment]
        params_type.__name__.removesuffix("Params") + "Spec",
        keys,
        bases=(Spec,),
        kw_only=True,
        forbid_unknown_fields=True,
        namespace={"__annotations__": {"what": ClassVar[str]}, "what": "a detector"},
    )
    return spec


#: The keys of each model's table.
_SPECS = {kind: params_spec(cls.params_type) for kind, cls in DETECTOR_TYPES.items()}


class CheckedTables(dict[str, dict[str, object]]):
    """``[anomalies]`` checked: detector kind -> parameter -> value (as the detectors take
    them: tuples for lists, floats for numbers)."""


def parse_anomaly_tables(path: Path | None, tables: object) -> CheckedTables:
    """Check ``[anomalies]`` of a config file: known kinds and keys, right types (ConfigError
    naming the file and key if not); returns the checked values per kind."""
    if isinstance(tables, CheckedTables):
        return tables
    if not isinstance(tables, dict):
        raise ConfigError(located(path, None, "'anomalies' must be a table of [anomalies.KIND]"))
    checked = CheckedTables()
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
        try:
            spec = read(table, _SPECS[kind])
        except ParameterError as error:
            message = config_message(error.within(f"anomalies.{kind}"))
            raise ConfigError(located(path, None, message)) from None
        values: dict[str, object] = {}
        for key in table:
            value = getattr(spec, key)
            values[key] = tuple(value) if isinstance(value, list) else value
        checked[kind] = values
    return checked


def checked_overrides(
    overrides: Mapping[str, Mapping[str, object]] | None,
) -> CheckedTables:
    """``overrides`` (``[anomalies]`` of a config file, :class:`meterlog.config.Section`)
    checked (see :func:`parse_anomaly_tables`); errors name the file it came from."""
    if not overrides:
        return CheckedTables()
    tables = overrides if isinstance(overrides, dict) else dict(overrides)
    return parse_anomaly_tables(getattr(overrides, "path", None), tables)


def build_detectors(
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    kinds: tuple[str, ...] = (),
) -> list[Detector]:
    """The enabled detectors (only ``kinds`` when given), with ``overrides`` applied (the
    ``[anomalies]`` tables of a config file, checked here when not checked yet)."""
    overrides = checked_overrides(overrides)
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
