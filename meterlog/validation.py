"""Typed reading of TOML tables with msgspec structs, shared by plan files and the config file.

Each kind of table is a :class:`Spec`: a ``msgspec.Struct`` whose fields are the table's keys,
with their types and defaults; unknown keys are refused (``forbid_unknown_fields``), and a
table naming a kind (``meter = "peak"``, ``pricing = "graduated"``) is read into a tagged union
of specs, the key being the tag. :func:`read` turns msgspec's error (``Expected `int`, got
`float` - at `$.charges[0].included```) into a :class:`ParameterError` naming the key
(``charges[0].included``) and the reason in words ("must be a whole number, not float 1.5");
:mod:`meterlog.billing.plans` adds the file and the table's own path, the config file its own
wording (:func:`config_message`), the CLI the option name.

The value types :class:`Text`, :class:`Money` and :class:`Day` read a value the way plan files
write it (stripped non-empty text, an amount as a decimal string, a date); :func:`key_rows`
lists a spec's keys for the generated documentation.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Self, TypeVar

import msgspec

#: A money amount or price as written in a plan: digits with an optional fraction.
_DECIMAL_TEXT = re.compile(r"^\d+(\.\d+)?$")
#: msgspec's error: the message, then where (``$.plans[0].name``) when not the root.
_ERROR = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
T = TypeVar("T")


class ParameterError(ValueError):
    """A value that cannot be used: ``key`` (e.g. ``tiers[2].up_to``) and why.

    ``known`` lists the keys of the table when ``key`` is not one of them."""

    def __init__(self, key: str, reason: str, known: tuple[str, ...] | None = None) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason
        self.known = known

    def within(self, prefix: str) -> ParameterError:
        """The same error with its key placed under ``prefix`` (e.g. ``charges[0]``)."""
        return ParameterError(joined(prefix, self.key), self.reason, self.known)

    def named(self, name: str) -> str:
        """The reason, for a value whose key is ``name`` (the last part of the key)."""
        return self.reason


class _FloatAmount(ParameterError):
    """An amount written as a TOML float: the reason shows how to write it for its key."""

    def __init__(self, value: float) -> None:
        super().__init__("", "amounts are written as strings")
        self.value = value

    def named(self, name: str) -> str:
        return (
            f'write amounts as strings, e.g. {name} = "{self.value}": '
            "a TOML float is binary and cannot hold every decimal exactly"
        )


def joined(prefix: str, key: str) -> str:
    """``prefix`` and ``key`` as one key: ``charges[0]`` + ``name`` -> ``charges[0].name``."""
    if not prefix:
        return key
    if not key:
        return prefix
    return prefix + key if key.startswith("[") else f"{prefix}.{key}"


def unknown_key(key: str, what: str, known: Iterator[str] | tuple[str, ...]) -> ParameterError:
    """The error for ``key``, not a key of ``what`` (e.g. "a plan")."""
    names = tuple(sorted(known))
    return ParameterError(key, f"unknown key for {what}; known keys: {', '.join(names)}", names)


def shown(value: object) -> str:
    """``value`` with its TOML type, for messages: ``integer 60``, ``string 'x'``, ``table``."""
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list"}.get(
        type(value), "table" if isinstance(value, dict) else type(value).__name__
    )
    return f"{kind} {value!r}" if not isinstance(value, dict | list) else kind


class Spec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The keys of one kind of table (see the module doc); ``what`` names it in errors."""

    what: ClassVar[str] = "a table"


def key(description: str, **constraints: Any) -> msgspec.Meta:
    """A key's one-line description (for the generated docs) and msgspec ``constraints``.

    ``expected`` (in ``constraints``) words what a wrong value should be, for this key and its
    items ("a list of non-empty strings"); ``reason`` replaces the whole reason for this key
    ("must be a non-empty list of tables")."""
    extra: dict[str, Any] = {
        name: constraints.pop(name) for name in ("expected", "reason") if name in constraints
    }
    return msgspec.Meta(description=description, extra=extra, **constraints)


#: A string holding more than blanks (kept as written; :class:`Text` also strips it).
NonBlank = Annotated[str, msgspec.Meta(pattern=r"\S")]


# -- value types read with a hook -------------------------------------------------------------


class Text(str):
    """A non-empty string, read with surrounding blanks removed."""

    shown_type: ClassVar[str] = "string"

    @classmethod
    def decode(cls, value: object) -> Self:
        if not isinstance(value, str) or not value.strip():
            raise ParameterError("", f"must be a non-empty string, not {shown(value)}")
        return cls(value.strip())


class Money(Decimal):
    """A non-negative amount written as a decimal string (``"0.50"``); floats are refused,
    as a TOML float cannot hold every decimal exactly."""

    shown_type: ClassVar[str] = 'decimal string ("0.50")'

    @classmethod
    def decode(cls, value: object) -> Self:
        if isinstance(value, float):
            raise _FloatAmount(value)
        if isinstance(value, bool) or not isinstance(value, str):
            raise ParameterError("", f'must be a decimal string such as "0.50", not {shown(value)}')
        stripped = value.strip()
        if stripped.startswith("-"):
            raise ParameterError("", f"must not be negative, got {value!r}")
        if not _DECIMAL_TEXT.match(stripped):
            raise ParameterError("", f'must be a decimal such as "0.50", got {value!r}')
        try:
            return cls(stripped)
        except InvalidOperation:  # pragma: no cover - the pattern above only admits valid text
            raise ParameterError("", f"cannot read {value!r} as a decimal") from None


class Day(date):
    """A date written as a TOML date (``2026-10-15``) or a string (``"2026-10-15"``)."""

    shown_type: ClassVar[str] = "date"

    @classmethod
    def decode(cls, value: object) -> Self:
        if isinstance(value, date) and not isinstance(value, datetime):
            return cls(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                pass
            else:
                return cls(day.year, day.month, day.day)
        raise ParameterError("", f"must be a date such as 2026-10-15, not {value!r}")


def _decode(kind: type, value: object) -> object:
    decode = getattr(kind, "decode", None)
    if decode is None:
        raise NotImplementedError(kind)
    return decode(value)


# -- reading ----------------------------------------------------------------------------------

_EXPECTED = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "a non-empty string",
    "array": "a list",
    "object": "a table",
}


def read(data: object, spec: type[T]) -> T:
    """``data`` (parsed TOML) read into ``spec`` (a :class:`Spec` or a union of them);
    :class:`ParameterError` naming the key (relative to ``data``) and the reason if not."""
    try:
        return msgspec.convert(data, spec, dec_hook=_decode)
    except msgspec.ValidationError as error:
        raise _translated(error, data, spec) from None


def _translated(error: msgspec.ValidationError, data: object, spec: Any) -> ParameterError:
    match = _ERROR.match(str(error))
    assert match is not None
    message = match.group("message")
    segments = [name or index for name, index in _SEGMENT.findall(match.group("path") or "")]
    steps = list(_walk(spec, data, segments))
    here = _key(segments)
    cause = error.__cause__
    if isinstance(cause, ParameterError):
        names = [s for s in segments + cause.key.split(".") if s and not s[0].isdigit()]
        return ParameterError(joined(here, cause.key), cause.named(names[-1] if names else ""))
    kind, value = steps[-1]
    if found := re.match(r"Object contains unknown field `(.+)`$", message):
        struct = _struct(kind, value)
        known = tuple(f.encode_name for f in msgspec.structs.fields(struct)) if struct else ()
        what = struct.what if struct and issubclass(struct, Spec) else "a table"
        tag = struct.__struct_config__.tag_field if struct else None
        return unknown_key(joined(here, found.group(1)), what, (k for k in known if k != tag))
    if found := re.match(r"Object missing required field `(.+)`$", message):
        return ParameterError(joined(here, found.group(1)), "is required")
    # a key's own wording of what it expects, for it and for the items of its list
    for depth in range(len(segments), 0, -1):
        meta = _meta(steps[depth][0])
        extra = meta.extra if meta is not None and meta.extra else {}
        if "reason" in extra and depth == len(segments):
            return ParameterError(here, extra["reason"])
        if "expected" in extra:
            field_value = steps[depth][1]
            return ParameterError(
                _key(segments[:depth]),
                f"must be {extra['expected']}, not {shown(field_value)}",
            )
    if found := re.match(r"Expected `([^`]+)`, got `[^`]+`$", message):
        names = [n for n in found.group(1).split(" | ") if n != "null"]
        expected = " or ".join(_EXPECTED.get(name, name) for name in names)
        return ParameterError(here, f"must be {expected}, not {shown(value)}")
    if found := re.match(r"Expected `\w+` (>=|<=) (-?[\d.]+)$", message):
        bound = found.group(2).removesuffix(".0")
        least = "at least" if found.group(1) == ">=" else "at most"
        return ParameterError(here, f"must be {least} {bound}, not {value!r}")
    if re.match(r"Expected `str` matching regex", message):
        return ParameterError(here, f"must be a non-empty string, not {shown(value)}")
    if message.startswith("Invalid enum value"):
        plain = _plain(kind)
        members = typing.get_args(plain) if typing.get_origin(plain) is not typing.Literal else ()
        literal = next((m for m in members if typing.get_origin(m) is typing.Literal), plain)
        choices = typing.get_args(literal)
        return ParameterError(
            here, f"must be one of {', '.join(map(str, choices))}, not {shown(value)}"
        )
    if message.startswith("Invalid value") and segments:
        # the tag of a tagged union: ``meter = "peek"``
        union = steps[-2][0]
        tags = [s.__struct_config__.tag for s in _structs(union)]
        tag_field = segments[-1]
        return ParameterError(
            here, f"unknown {tag_field} {value!r}; use one of {', '.join(map(str, tags))}"
        )
    return ParameterError(here, message)


def _key(segments: list[str]) -> str:
    text = ""
    for segment in segments:
        text = joined(text, f"[{segment}]" if segment[0].isdigit() or segment == "..." else segment)
    return text


def _plain(kind: Any) -> Any:
    """``kind`` without ``Annotated``."""
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _meta(kind: Any) -> msgspec.Meta | None:
    if typing.get_origin(kind) is typing.Annotated:
        for item in typing.get_args(kind)[1:]:
            if isinstance(item, msgspec.Meta) and item.extra:
                return item
    return None


def _structs(kind: Any) -> list[type[msgspec.Struct]]:
    kind = _plain(kind)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return [kind]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return [s for member in typing.get_args(kind) for s in _structs(member)]
    return []


def _struct(kind: Any, value: object) -> type[msgspec.Struct] | None:
    """The struct ``value`` is read into where ``kind`` is expected (by its tag in a union)."""
    structs = _structs(kind)
    for struct in structs:
        config = struct.__struct_config__
        if (
            isinstance(value, dict)
            and config.tag_field
            and value.get(config.tag_field) == config.tag
        ):
            return struct
    return structs[0] if structs else None


def _walk(spec: Any, data: object, segments: list[str]) -> Iterator[tuple[Any, object]]:
    """The type expected and the value found at each step of the path (from the root)."""
    kind, value = spec, data
    yield kind, value
    for segment in segments:
        plain = _plain(kind)
        if segment.isdigit() or segment == "...":
            args = [a for a in typing.get_args(plain) if a is not type(None)] or [Any]
            kind = args[-1]
            if segment.isdigit() and isinstance(value, list) and int(segment) < len(value):
                value = value[int(segment)]
            else:
                value = None
        else:
            struct = _struct(plain, value)
            fields = (
                {f.encode_name: f.type for f in msgspec.structs.fields(struct)} if struct else {}
            )
            kind = fields.get(segment, Any)
            value = value.get(segment) if isinstance(value, dict) else None
        yield kind, value


# -- documentation ----------------------------------------------------------------------------


def type_name(kind: Any) -> str:
    """A key's type in words, for the documentation."""
    meta = (
        [m for m in typing.get_args(kind)[1:] if isinstance(m, msgspec.Meta)]
        if (typing.get_origin(kind) is typing.Annotated)
        else []
    )
    kind = _plain(kind)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(kind) if a is not type(None)]
        return " or ".join(type_name(m) for m in members)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{c}`" for c in typing.get_args(kind))
    if origin in (list, tuple):
        item_type = typing.get_args(kind)[0]
        items = getattr(_plain(item_type), "shown_items", None)
        return f"list of {items or type_name(item_type) + 's'}"
    if origin is dict:
        return "table"
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return "table"
    names = {int: "integer", float: "number", bool: "boolean", str: "string"}
    text: str = names.get(kind) or getattr(kind, "shown_type", None) or str(kind)
    for m in meta:
        if m.ge is not None and m.le is not None:
            text += f" {m.ge} to {m.le}"
        elif m.ge is not None:
            text += f" ≥ {m.ge}"
        elif m.le is not None:
            text += f" ≤ {m.le}"
    return text


def _default(field: msgspec.structs.FieldInfo) -> str:
    if field.default is not msgspec.NODEFAULT:
        value = field.default
    elif field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        return "required"
    if value is None or value in ([], {}) or isinstance(value, msgspec.Struct):
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'`"{value}"`' if isinstance(value, str) else f"`{value}`"


def key_rows(spec: type[msgspec.Struct], skip: tuple[str, ...] = ()) -> list[str]:
    """A Markdown table of ``spec``'s keys: key, type, default and description."""
    tag = spec.__struct_config__.tag_field
    rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for field in msgspec.structs.fields(spec):
        if field.encode_name == tag or field.encode_name in skip:
            continue
        meta = _meta(field.type) or next(
            (m for m in typing.get_args(field.type)[1:] if isinstance(m, msgspec.Meta)), None
        )
        description = (meta.description if meta is not None else None) or ""
        cells = [f"`{field.encode_name}`", type_name(field.type), _default(field), description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def default(spec: type[msgspec.Struct], name: str) -> Any:
    """The default of ``spec``'s field ``name`` (so code building an object without a plan
    uses the same default as a plan file leaving the key out)."""
    (field,) = (f for f in msgspec.structs.fields(spec) if f.name == name)
    assert field.default is not msgspec.NODEFAULT
    return field.default
