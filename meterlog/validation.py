"""Typed reading of plan-file values, shared by meters, pricing models and plans.

Every check raises :class:`ParameterError` naming the key (relative to the table being read)
and the reason; :mod:`meterlog.billing.plans` adds the file and the table's own path, the CLI the
option name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

#: A money amount or price as written in a plan: digits with an optional fraction.
_DECIMAL_TEXT = re.compile(r"^\d+(\.\d+)?$")


class ParameterError(ValueError):
    """A value that cannot be used: ``key`` (e.g. ``tiers[2].up_to``) and why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason

    def within(self, prefix: str) -> ParameterError:
        """The same error with its key placed under ``prefix`` (e.g. ``charges[0]``)."""
        if not self.key:
            key = prefix
        elif self.key.startswith("["):
            key = prefix + self.key
        else:
            key = f"{prefix}.{self.key}"
        return ParameterError(key, self.reason)


def check_keys(table: Mapping[str, object], allowed: Iterable[str], what: str) -> None:
    """Reject keys of ``table`` not in ``allowed`` (first unknown key, alphabetically)."""
    allowed = set(allowed)
    unknown = sorted(key for key in table if key not in allowed)
    if unknown:
        raise ParameterError(
            unknown[0], f"unknown key for {what}; known keys: {', '.join(sorted(allowed))}"
        )


def text(table: Mapping[str, object], key: str, default: str | None = None) -> str:
    """A non-empty string value (``default`` when the key is absent; required without one)."""
    if key not in table:
        if default is None:
            raise ParameterError(key, "is required")
        return default
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(key, f"must be a non-empty string, not {_shown(value)}")
    return value.strip()


def whole_number(
    table: Mapping[str, object], key: str, default: int | None = None, *, minimum: int = 0
) -> int:
    """An integer value >= ``minimum`` (``default`` when absent; required without one)."""
    if key not in table:
        if default is None:
            raise ParameterError(key, "is required")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(key, f"must be a whole number, not {_shown(value)}")
    if value < minimum:
        raise ParameterError(key, f"must be at least {minimum}, not {value}")
    return value


def money(table: Mapping[str, object], key: str, default: str | None = None) -> Decimal:
    """A non-negative decimal written as a string (``"0.50"``); floats are refused."""
    if key not in table:
        if default is None:
            raise ParameterError(key, "is required")
        return Decimal(default)
    return parse_money(table[key], key)


def parse_money(value: object, key: str) -> Decimal:
    if isinstance(value, float):
        raise ParameterError(
            key,
            f'write amounts as strings, e.g. {key.rsplit(".", 1)[-1]} = "{value}": '
            "a TOML float is binary and cannot hold every decimal exactly",
        )
    if isinstance(value, bool) or not isinstance(value, str):
        raise ParameterError(key, f'must be a decimal string such as "0.50", not {_shown(value)}')
    stripped = value.strip()
    if stripped.startswith("-"):
        raise ParameterError(key, f"must not be negative, got {value!r}")
    if not _DECIMAL_TEXT.match(stripped):
        raise ParameterError(key, f'must be a decimal such as "0.50", got {value!r}')
    try:
        return Decimal(stripped)
    except InvalidOperation:  # pragma: no cover - the pattern above only admits valid text
        raise ParameterError(key, f"cannot read {value!r} as a decimal") from None


def text_list(table: Mapping[str, object], key: str) -> tuple[str, ...]:
    """A list of non-empty strings (empty when absent)."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ParameterError(key, f"must be a list of non-empty strings, not {_shown(value)}")
    return tuple(v.strip() for v in value)


def table_list(table: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    """A list of tables (``[[key]]`` or ``key = [{...}, ...]``); required."""
    if key not in table:
        raise ParameterError(key, "is required")
    value = table[key]
    if not isinstance(value, list) or not value:
        raise ParameterError(key, "must be a non-empty list of tables")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ParameterError(f"{key}[{index}]", f"must be a table, not {_shown(item)}")
    return value


def _shown(value: object) -> str:
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list"}.get(
        type(value), "table" if isinstance(value, dict) else type(value).__name__
    )
    return f"{kind} {value!r}" if not isinstance(value, dict | list) else kind
