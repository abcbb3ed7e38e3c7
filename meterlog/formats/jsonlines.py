"""JSON lines: one JSON object per line (nginx ``escape=json`` formats, application logs).

Keys map to canonical columns by the usual nginx variable names (overridable); unknown keys are
kept as string columns under their own names (characters Delta does not allow in a column name
become ``_``). Nested values are kept as JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import polars as pl

from meterlog.errors import FormatError
from meterlog.formats.base import (
    LogFormat,
    ParseResult,
    classify,
    dash_to_null,
    parse_bytes,
    parse_seconds,
    parse_status,
    split_request,
    split_target,
)
from meterlog.formats.nginx import msec_to_datetime
from meterlog.schema import CANONICAL_COLUMNS, PROVENANCE_COLUMNS, empty_events_frame

#: Canonical column -> JSON keys tried in order (the first present in a line wins).
DEFAULT_JSON_FIELDS: dict[str, tuple[str, ...]] = {
    "ts": ("time", "time_iso8601", "time_local", "msec", "timestamp", "@timestamp", "ts"),
    "remote_addr": ("remote_addr", "client_ip", "ip"),
    "remote_user": ("remote_user", "user"),
    "request": ("request",),
    "method": ("request_method", "method"),
    "request_uri": ("request_uri",),
    "path": ("uri", "path"),
    "query": ("args", "query_string", "query"),
    "protocol": ("server_protocol", "protocol"),
    "status": ("status",),
    "bytes_sent": ("body_bytes_sent", "bytes_sent"),
    "referer": ("http_referer", "referer"),
    "user_agent": ("http_user_agent", "user_agent"),
    "request_time": ("request_time",),
}
#: Lines with more opening brackets than this are rejected before decoding (deep nesting).
MAX_BRACKETS = 256
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


def column_name_for_key(key: str) -> str:
    """A JSON key as a column name the store accepts."""
    name = _UNSAFE_NAME.sub("_", key)
    return name or "_"


class JsonLinesFormat(LogFormat):
    """JSON objects, one per line."""

    name = "json"

    def __init__(self, field_overrides: Mapping[str, str] | None = None) -> None:
        self.fields = {k: tuple(v) for k, v in DEFAULT_JSON_FIELDS.items()}
        for column, key in (field_overrides or {}).items():
            if column not in self.fields:
                raise FormatError(
                    f"--json-field {column}={key}: {column!r} is not a column that can be mapped; "
                    f"use one of {', '.join(self.fields)}"
                )
            self.fields[column] = (key,)

    def parse(self, lines: pl.DataFrame) -> ParseResult:
        text = pl.col("line").str.strip_chars()
        shaped = (
            text.str.starts_with("{")
            & text.str.ends_with("}")
            & (text.str.count_matches(r"[\[{]", literal=False) <= MAX_BRACKETS)
        )
        candidates = lines.filter(shaped).with_columns(
            text.str.json_path_match("$").alias("__json")
        )
        objects = candidates.filter(
            pl.col("__json").is_not_null() & pl.col("__json").str.starts_with("{")
        )
        bad = pl.concat(
            [
                lines.filter(~shaped),
                candidates.filter(
                    pl.col("__json").is_null() | ~pl.col("__json").str.starts_with("{")
                ).drop("__json"),
            ]
        ).select("source_offset", "source_line", pl.lit("bad_json").alias("reason"), "line")
        if objects.height == 0:
            return ParseResult(events=empty_events_frame(), rejects=bad)
        decoded = decode_objects(objects.get_column("__json"))
        keys = decoded.columns
        values = objects.select("line", "source_offset", "source_line").with_columns(
            [decoded.get_column(key).alias(f"k__{i}") for i, key in enumerate(keys)]
        )
        key_column = {key: f"k__{i}" for i, key in enumerate(keys)}

        def first_present(column: str) -> pl.Expr | None:
            present = [pl.col(key_column[k]) for k in self.fields[column] if k in key_column]
            if not present:
                return None
            return pl.coalesce(present) if len(present) > 1 else present[0]

        used: set[str] = set()
        for column in self.fields:
            used.update(k for k in self.fields[column] if k in key_column)

        def text_of(column: str) -> pl.Expr:
            # values are kept as logged ("" stays ""); identities treat "" and "-" as anonymous
            expr = first_present(column)
            return dash_to_null(expr) if expr is not None else pl.lit(None, pl.String)

        columns: dict[str, pl.Expr] = {"ts": pl.col("__ts")}
        for column in ("remote_addr", "remote_user", "referer", "user_agent"):
            columns[column] = text_of(column)
        if first_present("request") is not None:
            columns.update(split_request(text_of("request")))
        if first_present("request_uri") is not None:
            columns.update(split_target(text_of("request_uri")))
        for column in ("method", "path", "query", "protocol"):
            if first_present(column) is not None:
                columns[column] = text_of(column)
        columns["status"] = pl.col("__status")
        columns["bytes_sent"] = pl.col("__bytes")
        columns["request_time"] = pl.col("__request_time")
        reserved = set(CANONICAL_COLUMNS) | set(PROVENANCE_COLUMNS) | {"day"}
        for key in keys:
            if key in used:
                continue
            name = column_name_for_key(key)
            if name in reserved or name in columns:
                name = f"json_{name}"
            columns[name] = pl.col(key_column[key])

        status_text = first_present("status")
        bytes_text = first_present("bytes_sent")
        time_text = first_present("request_time")
        typed = values.with_columns(
            self._time(first_present("ts")).alias("__ts"),
            (
                parse_status(status_text) if status_text is not None else pl.lit(None, pl.Int16)
            ).alias("__status"),
            (parse_bytes(bytes_text) if bytes_text is not None else pl.lit(None, pl.Int64)).alias(
                "__bytes"
            ),
            (parse_seconds(time_text) if time_text is not None else pl.lit(None, pl.Float64)).alias(
                "__request_time"
            ),
        )
        numbers_ok = pl.lit(True)
        for raw, parsed in (
            (status_text, "__status"),
            (bytes_text, "__bytes"),
            (time_text, "__request_time"),
        ):
            if raw is not None:
                numbers_ok = numbers_ok & (
                    pl.col(parsed).is_not_null() | dash_to_null(raw).is_null()
                )
        result = classify(
            typed,
            matched=pl.lit(True),
            timestamp_ok=pl.col("__ts").is_not_null(),
            numbers_ok=numbers_ok,
            event_columns=columns,
        )
        result.rejects = pl.concat([bad, result.rejects]).sort("source_offset")
        return result

    @staticmethod
    def _time(text: pl.Expr | None) -> pl.Expr:
        if text is None:
            return pl.lit(None, pl.Datetime("us", "UTC"))
        text = text.str.strip_chars()
        return pl.coalesce(
            text.str.to_datetime(time_zone="UTC", time_unit="us", strict=False),
            text.str.strptime(pl.Datetime("us", "UTC"), "%d/%b/%Y:%H:%M:%S %z", strict=False),
            msec_to_datetime(text),
        )


def _as_text(field: pl.Series) -> pl.Series:
    """A decoded value column as text: scalars as written, nested values as JSON."""
    if isinstance(field.dtype, (pl.Struct, pl.List, pl.Array)):
        return (
            field.to_frame("v")
            .select(
                pl.when(pl.col("v").is_null())
                .then(None)
                .otherwise(pl.struct(pl.col("v")).struct.json_encode().str.slice(5).str.head(-1))
            )
            .to_series()
        )
    return field.cast(pl.String)


def _python_value_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _decode_group(texts: pl.Series) -> pl.DataFrame:
    """Decode JSON objects into one text column per top-level key, vectorised.

    Raises Polars' ComputeError when a key holds values of different kinds (text in one line,
    an object in another) or an array mixes kinds.
    """
    decoded = texts.str.json_decode(infer_schema_length=None)
    fields = decoded.dtype.fields  # type: ignore[attr-defined]
    return pl.DataFrame([_as_text(decoded.struct.field(f.name)).alias(f.name) for f in fields])


def _decode_mixed(texts: pl.Series) -> list[pl.DataFrame]:
    """Decode lines whose values differ in kind between lines: halves are decoded on their own
    until each part decodes; a single line Polars cannot decode (an array mixing objects and
    scalars) is read with Python's json module. Each part keeps a ``__row`` index column."""
    rows = texts.to_frame("text").with_row_index("__row")
    parts: list[pl.DataFrame] = []
    pending = [rows]
    while pending:
        part = pending.pop()
        try:
            decoded = _decode_group(part.get_column("text"))
            parts.append(pl.DataFrame([part["__row"], *decoded.get_columns()]))
            continue
        except pl.exceptions.ComputeError:
            if part.height > 1:
                middle = part.height // 2
                pending += [part.slice(middle), part.slice(0, middle)]
                continue
        value = json.loads(part.item(0, "text"))
        parts.append(
            pl.DataFrame(
                {"__row": part["__row"]}
                | {
                    key: pl.Series([_python_value_text(v)], dtype=pl.String)
                    for key, v in value.items()
                }
            )
        )
    return parts


def decode_objects(texts: pl.Series) -> pl.DataFrame:
    """JSON objects (one per element) as text columns, one per top-level key.

    Scalars are kept as written, nested values as compact JSON. When one key holds values of
    different kinds in different lines (``"error": "timeout"`` here, ``"error": {...}`` there),
    the lines are grouped by the shape of their values and each group is decoded on its own.
    """
    try:
        return _decode_group(texts)
    except pl.exceptions.ComputeError:
        pass
    shape = texts.str.replace_all(r'"(?:[^"\\]|\\.)*"', '"').str.replace_all(r'[^"{}\[\],:]', "")
    parts: list[pl.DataFrame] = []
    for group in (
        texts.to_frame("text")
        .with_row_index("__index")
        .with_columns(shape.alias("__shape"))
        .partition_by("__shape", maintain_order=True)
    ):
        for part in _decode_mixed(group.get_column("text")):
            rows = group.get_column("__index").gather(part.get_column("__row"))
            parts.append(part.with_columns(rows.alias("__row")))
    return pl.concat(parts, how="diagonal").sort("__row").drop("__row")
