"""JSON lines: one JSON object per line (nginx ``escape=json`` formats, application logs).

Keys map to canonical columns by the usual nginx variable names (overridable); unknown keys are
kept as string columns under their own names (characters Delta does not allow in a column name
become ``_``). Nested values are kept as JSON text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

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
    split_target,
    timestamp_in_range,
    with_request_split,
)
from meterlog.formats.nginx import TIME_LOCAL_FORMAT, msec_to_datetime
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
#: Threads checking and decoding slices of a large chunk (see JsonLinesFormat._decode).
_DECODE_THREADS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
#: Lines in the smallest slice worth a thread.
_MIN_DECODE_SLICE = 20_000


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
        bad, objects, decoded = self._decode(lines)
        if objects.height == 0:
            return ParseResult(events=empty_events_frame(), rejects=bad)
        keys = decoded.columns
        values = objects.select("line", "source_offset", "source_line").with_columns(
            [decoded.get_column(key).alias(f"k__{i}") for i, key in enumerate(keys)]
        )
        del objects, decoded  # the normalised JSON text and decoded values are not needed now
        key_column = {key: f"k__{i}" for i, key in enumerate(keys)}

        def first_present(column: str) -> pl.Expr | None:
            present = [pl.col(key_column[k]) for k in self.fields[column] if k in key_column]
            if not present:
                return None
            return pl.coalesce(present) if len(present) > 1 else present[0]

        used: set[str] = set()
        for column in self.fields:
            used.update(k for k in self.fields[column] if k in key_column)

        # Each text value is computed once into a __t_ column (several columns may read it).
        texts = {
            f"__t_{column}": dash_to_null(expr)
            for column in self.fields
            if column not in ("ts", "status", "bytes_sent", "request_time")
            and (expr := first_present(column)) is not None
        }
        values = values.with_columns(**texts)
        if "__t_request" in values.columns:
            values = with_request_split(values, "__t_request", "__rq_")

        def text_of(column: str) -> pl.Expr:
            # values are kept as logged ("" stays ""); identities treat "" and "-" as anonymous
            if f"__t_{column}" in values.columns:
                return pl.col(f"__t_{column}")
            return pl.lit(None, pl.String)

        columns: dict[str, pl.Expr] = {"ts": pl.col("__ts")}
        for column in ("remote_addr", "remote_user", "referer", "user_agent"):
            columns[column] = text_of(column)
        if first_present("request") is not None:
            parts = ("method", "path", "query", "protocol")
            columns.update({part: pl.col(f"__rq_{part}") for part in parts})
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
            self._times(values, first_present("ts")).alias("__ts"),
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
            timestamp_ok=timestamp_in_range(pl.col("__ts")),
            numbers_ok=numbers_ok,
            event_columns=columns,
        )
        result.rejects = pl.concat([bad, result.rejects]).sort("source_offset")
        return result

    def _decode(self, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Lines that are not JSON objects (as rejects), the objects, and their values as text
        columns (:func:`decode_objects`).

        Large chunks are checked and decoded in slices on parallel threads (Polars releases the
        GIL); when every slice infers the same schema, that is the chunk's schema and the values
        are the same as decoding the chunk at once, which is done otherwise.
        """
        size = lines.height
        slices = max(1, min(_DECODE_THREADS, size // _MIN_DECODE_SLICE))
        bounds = [(size * i // slices, size * (i + 1) // slices) for i in range(slices)]
        pieces = [lines[begin:end] for begin, end in bounds]
        if slices == 1:
            checked = [self._check(pieces[0])]
        else:
            with ThreadPoolExecutor(slices, thread_name_prefix="meterlog-json") as pool:
                checked = list(pool.map(self._check, pieces))
        bad = pl.concat([piece_bad for piece_bad, _, _ in checked])
        objects = pl.concat([piece_objects for _, piece_objects, _ in checked])
        if objects.height == 0:
            return bad, objects, pl.DataFrame()
        decoded = [piece for _, piece_objects, piece in checked if piece_objects.height]
        complete = [piece for piece in decoded if piece is not None]
        uniform = all(piece.dtype == complete[0].dtype for piece in complete)
        if decoded and len(complete) == len(decoded) and uniform:
            values = pl.concat(complete).rechunk() if len(complete) > 1 else complete[0]
            return bad, objects, _struct_as_text(values)
        return bad, objects, decode_objects(objects.get_column("__json"))

    @staticmethod
    def _check(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series | None]:
        """Rejects, objects and decoded values (None when decoding failed) of some lines."""
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
        decoded = None
        if objects.height:
            try:
                decoded = objects.get_column("__json").str.json_decode(infer_schema_length=None)
            except pl.exceptions.PolarsError:
                decoded = None  # the whole chunk is decoded at once instead (and may fail there)
        return bad, objects, decoded

    @staticmethod
    def _times(values: pl.DataFrame, text: pl.Expr | None) -> pl.Series:
        """:meth:`_time` of ``text`` over ``values``, each fallback parser run only on the
        values the parsers before it left null (the same result, less work)."""
        if text is None:
            return pl.Series("__ts", [None] * values.height, dtype=pl.Datetime("us", "UTC"))
        stripped = values.select(text.str.strip_chars().alias("t"))
        ts = stripped.select(
            pl.col("t").str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
        ).to_series()
        rest = (ts.is_null() & stripped.get_column("t").is_not_null()).arg_true()
        if rest.len():
            later = stripped[rest].select(
                pl.coalesce(
                    pl.col("t").str.strptime(
                        pl.Datetime("us", "UTC"), TIME_LOCAL_FORMAT, strict=False
                    ),
                    msec_to_datetime(pl.col("t")),
                )
            )
            ts = ts.scatter(rest, later.to_series())
        return ts

    @staticmethod
    def _time(text: pl.Expr | None) -> pl.Expr:
        if text is None:
            return pl.lit(None, pl.Datetime("us", "UTC"))
        text = text.str.strip_chars()
        return pl.coalesce(
            text.str.to_datetime(time_zone="UTC", time_unit="us", strict=False),
            text.str.strptime(pl.Datetime("us", "UTC"), TIME_LOCAL_FORMAT, strict=False),
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
    return _struct_as_text(texts.str.json_decode(infer_schema_length=None))


def _struct_as_text(decoded: pl.Series) -> pl.DataFrame:
    """Decoded objects (a struct column) as one text column per top-level key."""
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
