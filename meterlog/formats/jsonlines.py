"""JSON lines: one JSON object per line (nginx ``escape=json`` formats, application logs,
Caddy, Traefik).

Keys map to canonical columns by the usual names (:data:`DEFAULT_JSON_FIELDS`), by a preset
(:data:`JSON_PRESETS`) and by ``COLUMN=KEY`` overrides; a key may be a dotted path into nested
objects (``request.uri``). Each line is mapped on its own keys. Other keys are kept as string
columns under their own names (characters Delta does not allow in a column name become ``_``),
at most :data:`MAX_EXTRA_KEYS` of them per chunk; nested values are kept as JSON text.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from meterlog.errors import FormatError
from meterlog.formats.base import (
    DROPPED_KEY,
    EMPTY_FIELD,
    NAIVE_TIME,
    LogFormat,
    ParseResult,
    classify,
    dash_to_null,
    with_request_split,
)
from meterlog.formats.times import (
    TIME_LOCAL_FORMAT,
    iso_to_datetime,
    msec_to_datetime,
    timestamp_in_range,
)
from meterlog.schema import CANONICAL_COLUMNS, PROVENANCE_COLUMNS, empty_events_frame

#: Column -> JSON keys tried in order (per line, the first present in that line wins).
#: ``request`` is a request line (``GET /a?b=1 HTTP/1.1``), ``request_uri`` a target with its
#: query string; both are split into method/path/query/protocol where those have no key.
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


@dataclass(frozen=True)
class JsonPreset:
    """The keys of a known JSON access log."""

    name: str
    description: str
    fields: Mapping[str, tuple[str, ...]]
    #: A column every request line of this log has; lines without it are not requests
    #: (``no_match``), e.g. the server's own messages in the same stream.
    required: str | None = None
    #: Units of the ``request_time`` value per second (1e9: nanoseconds).
    request_time_per_second: int = 1


#: ``--json-preset`` names and what they map.
JSON_PRESETS: dict[str, JsonPreset] = {
    "nginx": JsonPreset(
        "nginx",
        "an nginx log_format with escape=json whose keys are the variable names",
        {
            "ts": ("time_iso8601", "time_local", "msec"),
            "remote_addr": ("remote_addr",),
            "remote_user": ("remote_user",),
            "request": ("request",),
            "method": ("request_method",),
            "request_uri": ("request_uri",),
            "path": ("uri", "document_uri"),
            "query": ("args", "query_string"),
            "protocol": ("server_protocol",),
            "status": ("status",),
            "bytes_sent": ("body_bytes_sent", "bytes_sent"),
            "referer": ("http_referer",),
            "user_agent": ("http_user_agent",),
            "request_time": ("request_time",),
        },
    ),
    "caddy": JsonPreset(
        "caddy",
        "Caddy's access log (logger http.log.access)",
        {
            "ts": ("ts",),
            "remote_addr": ("request.client_ip", "request.remote_ip"),
            "remote_user": ("user_id",),
            "method": ("request.method",),
            "request_uri": ("request.uri",),
            "protocol": ("request.proto",),
            "status": ("status",),
            "bytes_sent": ("size",),
            "referer": ("request.headers.Referer",),
            "user_agent": ("request.headers.User-Agent",),
            "request_time": ("duration",),
            "host": ("request.host",),
        },
        required="method",
    ),
    "traefik": JsonPreset(
        "traefik",
        "Traefik's access log in JSON (time of the request's start, Duration in nanoseconds)",
        {
            "ts": ("StartUTC", "StartLocal"),
            "remote_addr": ("ClientHost",),
            "remote_user": ("ClientUsername",),
            "method": ("RequestMethod",),
            "request_uri": ("RequestPath",),
            "protocol": ("RequestProtocol",),
            "status": ("DownstreamStatus",),
            "bytes_sent": ("DownstreamContentSize",),
            "referer": ("request_Referer",),
            "user_agent": ("request_User-Agent",),
            "request_time": ("Duration",),
            "host": ("RequestHost",),
        },
        required="method",
        request_time_per_second=1_000_000_000,
    ),
}
#: Columns a preset's log has in every request line (an empty one means the wrong preset).
_ALWAYS_LOGGED = ("remote_addr", "method", "status")
#: Keys kept as columns of their own per chunk besides the mapped ones; the others are
#: counted and dropped (a line with thousands of distinct keys must not add thousands of
#: permanent columns to the store).
MAX_EXTRA_KEYS = 64
#: Lines with more opening brackets than this are rejected before decoding (deep nesting).
MAX_BRACKETS = 256
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]")
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Columns a mapping may not write: where a row came from, and the partition column.
_RESERVED_TARGETS = frozenset({*PROVENANCE_COLUMNS, "day"})
#: Columns whose text is parsed into a typed canonical column.
_TYPED = ("ts", "status", "bytes_sent", "request_time")
#: Threads checking and decoding slices of a large chunk (see JsonLinesFormat._decode).
_DECODE_THREADS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
#: Lines in the smallest slice worth a thread.
_MIN_DECODE_SLICE = 20_000
#: Numbers Arrow's JSON reader decodes otherwise than the precise path (a line holding one is
#: decoded the precise way): ``-0`` (an integer 0 to Arrow, a float -0.0 there) and integers
#: beyond 64 bits (a float to Arrow, a 128-bit integer there). Matched after ``:``, ``,`` or
#: ``[`` only; the same text inside a string is merely read the slower way. ``-0`` is looked for
#: by its end first (a fast literal search), a long integer only where Arrow read a float of at
#: least 2**63.
#: Keys learned as text (:attr:`JsonLinesFormat._text_keys`) at most; others that look like a
#: time are read from the line's text, or the chunk the precise way.
_MAX_TEXT_KEYS = 256
_NEGATIVE_ZERO_END = r"-0\s*[,\]}]"
_NEGATIVE_ZERO = r"[:,\[]\s*-0\s*[,\]}]"
_LONG_INTEGER = r"[:,\[]\s*-?\d{19,}\s*[,\]}]"


def column_name_for_key(key: str) -> str:
    """A JSON key as a column name the store accepts."""
    name = _UNSAFE_NAME.sub("_", key)
    return name or "_"


class JsonLinesFormat(LogFormat):
    """JSON objects, one per line."""

    name = "json"

    def __init__(
        self,
        field_overrides: Mapping[str, str] | None = None,
        preset: str | None = None,
        naive_zone: str = "UTC",
        max_extra_keys: int = MAX_EXTRA_KEYS,
        fast: bool = True,
    ) -> None:
        if preset is not None and preset not in JSON_PRESETS:
            raise FormatError(
                f"unknown JSON preset {preset!r}: use one of {', '.join(JSON_PRESETS)}"
            )
        self.preset = JSON_PRESETS[preset] if preset is not None else None
        base = self.preset.fields if self.preset is not None else DEFAULT_JSON_FIELDS
        self.fields: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in base.items()}
        #: Columns mapped explicitly (a preset or an override): warned about when mostly empty.
        # (of a preset, the columns every request has; a missing referer is no mistake)
        self.explicit: dict[str, str] = {
            column: "/".join(keys)
            for column, keys in base.items()
            if self.preset is not None and column in _ALWAYS_LOGGED
        }
        for column, key in (field_overrides or {}).items():
            if not _COLUMN_NAME.match(column) or column in _RESERVED_TARGETS:
                raise FormatError(
                    f"--json-field {column}={key}: {column!r} cannot be a column name; use "
                    "letters, digits and _ (not source_id, source_offset, source_line or day)"
                )
            self.fields[column] = (key,)
            self.explicit[column] = key
        self.naive_zone = naive_zone
        self.max_extra_keys = max_extra_keys
        #: Decode with Arrow's JSON reader where it gives what the precise path gives
        #: (:meth:`_decode_fast`); False: always the precise path (``json_path_match`` to
        #: validate each line, then ``json_decode``).
        self.fast = fast
        #: Top-level keys read as text by Arrow's reader (which would otherwise turn text
        #: that looks like a time into a timestamp): learned from the slices decoded so far.
        self._text_keys: dict[str, None] = {}
        self._text_keys_lock = threading.Lock()
        #: Top-level keys read as numbers, and of those as integers (:func:`_numbers_as_written`).
        self._number_keys = frozenset(
            key
            for column in ("status", "bytes_sent", "request_time")
            for key in self.fields.get(column, ())
        )
        self._integer_keys = frozenset(
            key for column in ("status", "bytes_sent") for key in self.fields.get(column, ())
        )
        if self.preset is not None:
            self.name = f"json/{self.preset.name}"

    def describe(self) -> str:
        return self.name

    def parse(self, lines: pl.DataFrame) -> ParseResult:
        bad, objects, decoded = self._decode(lines)
        if objects.height == 0:
            return ParseResult(events=empty_events_frame(), rejects=bad)
        keys = decoded.columns
        used = self._used_keys(keys)
        notes: Counter[str] = Counter()
        extra = [key for key in keys if key not in used]
        if len(extra) > self.max_extra_keys:
            # the first keys seen: by the first line holding a value, then by name
            first = decoded.select(
                pl.col(key).is_not_null().arg_max().alias(key) for key in extra
            ).row(0)
            ranked = sorted(zip(first, extra, strict=True))
            kept = {key for _, key in ranked[: self.max_extra_keys]}
            extra = [key for key in extra if key in kept]
            notes.update(f"{DROPPED_KEY}{key}" for _, key in ranked[self.max_extra_keys :])
        needed = [key for key in keys if key in used or key in extra]
        schema = decoded.schema
        position = {key: i for i, key in enumerate(needed)}

        def nested_in(key: str) -> tuple[str, list[str]] | None:
            """The top-level key a dotted ``key`` reads (the longest present) and the path on."""
            if key in position:
                return None
            parts = key.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                top = ".".join(parts[:cut])
                if top in position:
                    return top, parts[cut:]
            return None

        # A nested value is read from the decoded objects where the path runs through objects
        # (:func:`_struct_path`); otherwise from its top-level key's JSON text.
        direct: dict[str, tuple[str, list[str], str]] = {}
        texts_wanted = set(extra)
        for wanted in self.fields.values():
            for key in wanted:
                found = nested_in(key)
                if found is None:
                    texts_wanted.add(key)
                    continue
                kind = _struct_path(schema[found[0]], found[1])
                if kind is None:
                    texts_wanted.add(found[0])
                else:
                    direct[key] = (found[0], found[1], kind)
        # only the values used become text columns (a line may hold thousands of keys)
        text_keys = [key for key in needed if key in texts_wanted]
        key_texts = decoded.select(
            _text_expr(key, schema[key]).alias(f"k__{position[key]}") for key in text_keys
        )
        number_columns = {
            f"k__{position[key]}": key for key in text_keys if key in self._number_keys
        }
        key_texts, rewritten = _numbers_as_written(
            key_texts,
            objects.get_column("__json"),
            number_columns,
            {
                name
                for name, key in number_columns.items()
                if key in self._integer_keys and schema[key] != pl.Int64
            },
        )
        # numbers as decoded, where no line's value was read again from its text
        numeric = {
            key: f"n__{name}"
            for name, key in number_columns.items()
            if name not in rewritten and schema[key] in (pl.Int64, pl.Float64)
        }
        objects_read = {top: f"s__{position[top]}" for top, _, _ in direct.values()}
        values = objects.select("line", "source_offset", "source_line").hstack(
            [
                *key_texts.get_columns(),
                *(decoded[key].alias(name) for key, name in numeric.items()),
                *(decoded[key].alias(name) for key, name in objects_read.items()),
            ]
        )
        del objects, decoded  # the normalised JSON text and decoded values are not needed now
        key_column = {key: f"k__{position[key]}" for key in text_keys}

        def lookup(key: str) -> pl.Expr | None:
            """The text of ``key`` per line: a top-level key, else a dotted path into a nested
            object (an array found there gives its first element, as headers are lists)."""
            if key in key_column:
                return pl.col(key_column[key])
            if key in direct:
                top, rest, kind = direct[key]
                return _struct_value(pl.col(objects_read[top]), rest, kind)
            nested = nested_in(key)
            if nested is None:
                return None
            top, rest = nested
            path = "$" + "".join(f"['{part}']" for part in rest)
            return _first_if_array(pl.col(key_column[top]).str.json_path_match(path))

        def first_present(column: str) -> pl.Expr | None:
            present = [e for k in self.fields.get(column, ()) if (e := lookup(k)) is not None]
            if not present:
                return None
            return pl.coalesce(present) if len(present) > 1 else present[0]

        raw = {column: first_present(column) for column in self.fields}

        def number_of(column: str) -> tuple[pl.Expr, bool] | None:
            """The values of ``column`` as decoded, and whether they are integers: when every
            key it reads in this chunk was decoded as numbers of one type (then reading their
            text gives these values); None otherwise (the text is read)."""
            keys = [key for key in self.fields.get(column, ()) if lookup(key) is not None]
            if not keys or any(key not in numeric for key in keys):
                return None
            if len({schema[key] for key in keys}) != 1:
                return None
            found = [pl.col(numeric[key]) for key in keys]
            return pl.coalesce(found) if len(found) > 1 else found[0], schema[keys[0]] == pl.Int64

        def decoded_as_integers(column: str) -> bool:
            """Whether every key ``column`` reads was decoded as integers in this chunk (its
            text then needs no float reading)."""
            keys = [key for key in self.fields.get(column, ()) if lookup(key) is not None]
            return all(key in schema and schema[key] == pl.Int64 for key in keys)

        # Each text value is computed once into a __t_ column (several columns may read it).
        texts = {
            f"__t_{column}": dash_to_null(expr)
            for column, expr in raw.items()
            if column not in _TYPED and expr is not None
        }
        values = values.with_columns(**texts)
        if "__t_request" in values.columns:
            values = _with_request_split(values, "__t_request", "__rq_")
        for source in ("request_uri", "path"):  # a target may carry its query string
            if f"__t_{source}" in values.columns:
                pieces = pl.col(f"__t_{source}").str.splitn("?", 2)
                values = values.with_columns(
                    pieces.struct.field("field_0").alias(f"__{source}_path"),
                    pieces.struct.field("field_1").alias(f"__{source}_query"),
                )

        def text_of(*names: str) -> pl.Expr:
            """The first of the computed text columns ``names`` present in this line."""
            found = [pl.col(name) for name in names if name in values.columns]
            if not found:
                return pl.lit(None, pl.String)
            return pl.coalesce(found) if len(found) > 1 else found[0]

        columns: dict[str, pl.Expr] = {"ts": pl.col("__ts")}
        for column in ("remote_addr", "remote_user"):
            columns[column] = text_of(f"__t_{column}")
        # Per line: the part's own key, else the target's (request_uri), else the request line's.
        columns["method"] = text_of("__t_method", "__rq_method")
        columns["path"] = text_of("__path_path", "__request_uri_path", "__rq_path")
        columns["query"] = text_of("__t_query", "__path_query", "__request_uri_query", "__rq_query")
        columns["protocol"] = text_of("__t_protocol", "__rq_protocol")
        for column in ("referer", "user_agent"):
            columns[column] = text_of(f"__t_{column}")
        columns["status"] = pl.col("__status")
        columns["bytes_sent"] = pl.col("__bytes")
        columns["request_time"] = pl.col("__request_time")
        for column in self.fields:  # mapped to a column of its own, e.g. http_x_api_key=api_key
            if column not in CANONICAL_COLUMNS and column not in ("request", "request_uri"):
                columns[column] = text_of(f"__t_{column}")
        reserved = set(CANONICAL_COLUMNS) | set(PROVENANCE_COLUMNS) | {"day"}
        for key in extra:
            name = column_name_for_key(key)
            if name in reserved or name in columns:
                name = f"json_{name}"
            columns[name] = pl.col(key_column[key])

        status_text = raw.get("status")
        bytes_text = raw.get("bytes_sent")
        time_text = raw.get("request_time")
        per_second = self.preset.request_time_per_second if self.preset is not None else 1
        seconds = _json_seconds(time_text) if time_text is not None else None
        status_number, bytes_number = number_of("status"), number_of("bytes_sent")
        seconds_number = number_of("request_time") if per_second == 1 else None
        if seconds_number is not None:
            seconds = _number_seconds(seconds_number[0])
        if time_text is not None and per_second != 1:
            # in decimal, then to float once: 4500000 ns is 0.0045 s, not 0.0045000000000000005
            units = dash_to_null(time_text.str.strip_chars()).cast(pl.Decimal(38, 9), strict=False)
            seconds = (units / pl.lit(per_second, pl.Decimal(38, 0))).cast(pl.Float64)
            if seconds is not None:  # a value beyond Decimal(38, 9) is a bad number of its own
                seconds = pl.when(seconds.is_finite()).then(seconds).otherwise(None)
        ts, naive = self._times(values, raw.get("ts"))
        typed = values.with_columns(
            ts.alias("__ts"),
            naive.alias("__naive"),
            (
                _number_status(*status_number)
                if status_number is not None
                else _json_status(status_text, decoded_as_integers("status"))
                if status_text is not None
                else pl.lit(None, pl.Int16)
            ).alias("__status"),
            (
                _number_integer(*bytes_number)
                if bytes_number is not None
                else _json_bytes(bytes_text, decoded_as_integers("bytes_sent"))
                if bytes_text is not None
                else pl.lit(None, pl.Int64)
            ).alias("__bytes"),
            (seconds if seconds is not None else pl.lit(None, pl.Float64)).alias("__request_time"),
        )
        numbers_ok = pl.lit(True)
        for text, number, parsed in (
            (status_text, status_number, "__status"),
            (bytes_text, bytes_number, "__bytes"),
            (time_text, seconds_number, "__request_time"),
        ):
            if number is not None:
                numbers_ok = numbers_ok & (pl.col(parsed).is_not_null() | number[0].is_null())
            elif text is not None:
                numbers_ok = numbers_ok & (
                    pl.col(parsed).is_not_null() | dash_to_null(text).is_null()
                )
        matched: pl.Expr = pl.lit(True)
        if self.preset is not None and self.preset.required is not None:
            matched = columns[self.preset.required].is_not_null()
        timestamp_ok = timestamp_in_range(pl.col("__ts"))
        stored = matched & timestamp_ok & numbers_ok
        counts = typed.select(
            (stored & pl.col("__naive")).sum().alias(f"{NAIVE_TIME}:{self.naive_zone}"),
            *[
                (stored & columns[c].is_null()).sum().alias(f"{EMPTY_FIELD}{c}={key}")
                for c, key in self.explicit.items()
                if c in columns
            ],
        ).row(0, named=True)
        notes.update({name: count for name, count in counts.items() if count})
        result = classify(
            typed,
            matched=matched,
            timestamp_ok=timestamp_ok,
            numbers_ok=numbers_ok,
            event_columns=columns,
        )
        result.rejects = pl.concat([bad, result.rejects]).sort("source_offset")
        result.notes = notes
        return result

    def _used_keys(self, keys: list[str]) -> set[str]:
        """The top-level ``keys`` the mapping reads (a nested key reads its top-level key)."""
        present = set(keys)
        used: set[str] = set()
        for wanted in self.fields.values():
            for key in wanted:
                if key in present:
                    used.add(key)
                    continue
                parts = key.split(".")
                for cut in range(len(parts) - 1, 0, -1):
                    if ".".join(parts[:cut]) in present:
                        used.add(".".join(parts[:cut]))
                        break
        return used

    def _decode(self, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Lines that are not JSON objects (as rejects), the objects (with ``__json``, each
        line's JSON text) and their values: one column per top-level key, as decoded.

        Arrow's JSON reader when it decodes every object of the chunk as the precise path
        would (:meth:`_decode_fast`), else the precise path (:meth:`_decode_precise`).
        """
        decoded = self._decode_fast(lines) if self.fast else None
        if decoded is None:
            decoded = self._decode_precise(lines)
        bad, objects, values = decoded
        return bad, objects, _nested_in_first_seen_order(values, objects.get_column("__json"))

    def _decode_precise(
        self, lines: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Lines that are not JSON objects (as rejects), the objects (with ``__json``, each
        line's JSON text, compact), and their values: one
        column per top-level key, as decoded (turned into text by :func:`_text_expr` when used;
        :func:`decode_objects` gives text already).

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
            return bad, objects, values.struct.unnest()
        return bad, objects, decode_objects(objects.get_column("__json"))

    def _decode_fast(
        self, lines: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None:
        """:meth:`_decode_precise`'s result through Arrow's JSON reader, or None where the
        two might differ (the chunk is then decoded the precise way).

        The chunk's slices are read on parallel threads: lines that are not ``{...}`` (or hold
        more than :data:`MAX_BRACKETS` brackets) are rejected as the precise path rejects
        them, and the others are handed to ``pyarrow.json.read_json`` at once. Arrow refuses
        every line the precise path rejects (invalid JSON, a lone surrogate; ``NaN`` it reads,
        and is caught) and also some it reads (a duplicate key, a key holding text in one line
        and a number in another): then the lines the precise check rejects are rejected on
        their own and the rest is read again; when there is none, the chunk goes the precise
        way, as it does for the numbers Arrow reads otherwise (``-0``, integers beyond 64 bits).
        Arrow infers the types Polars' ``json_decode`` infers over the same objects (an integer
        among floats is a float, a key only ever null is null), keeps the top-level keys in the
        order first seen (nested ones are then put in one order on either path,
        :func:`_nested_in_first_seen_order`), and text that looks like a time stays text
        (:attr:`_text_keys`). Slices typed apart are read again as one.
        """
        size = lines.height
        slices = max(1, min(_DECODE_THREADS, size // _MIN_DECODE_SLICE))
        bounds = [(size * i // slices, size * (i + 1) // slices) for i in range(slices)]
        pieces = [lines[begin:end] for begin, end in bounds]
        if slices == 1:
            read = [self._read_slice(pieces[0])]
        else:
            with ThreadPoolExecutor(slices, thread_name_prefix="meterlog-json") as pool:
                read = list(pool.map(self._read_slice, pieces))
        parts = [part for part in read if part is not None]
        if len(parts) < len(read):
            return None
        bad = pl.concat([piece_bad for piece_bad, _, _ in parts])
        objects = pl.concat([piece_objects for _, piece_objects, _ in parts])
        frames = [values for _, piece_objects, values in parts if piece_objects.height]
        if not frames:
            return bad, objects, pl.DataFrame()
        schema = list(frames[0].schema.items())
        if all(list(frame.schema.items()) == schema for frame in frames):
            return bad, objects, pl.concat(frames) if len(frames) > 1 else frames[0]
        values = self._read_objects(objects.get_column("__json"))
        return None if values is None else (bad, objects, values)

    def _read_slice(
        self, lines: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None:
        """Rejects, objects and values of some lines through Arrow's reader (None: read them
        the precise way)."""
        text = pl.col("__json")
        shaped = (
            text.str.starts_with("{")
            & text.str.ends_with("}")
            & (text.str.count_matches(r"[\[{]", literal=False) <= MAX_BRACKETS)
        )
        # lines as written first (no copy); stripped only when some line needs it
        framed = lines.with_columns(pl.col("line").alias("__json"))
        framed = framed.with_columns(shaped.alias("__shaped"))
        unshaped = framed.filter(~pl.col("__shaped"))
        if (
            unshaped.select(pl.col("line").str.strip_chars().alias("__json"))
            .select(shaped.any())
            .item()
        ):
            framed = lines.with_columns(pl.col("line").str.strip_chars().alias("__json"))
            framed = framed.with_columns(shaped.alias("__shaped"))
        objects = framed.filter(pl.col("__shaped")).drop("__shaped")
        bad = _bad_json(framed.filter(~pl.col("__shaped")))
        apart = objects.get_column("__json").str.contains(_NEGATIVE_ZERO_END)
        if apart.any():
            apart = apart.scatter(
                apart.arg_true(),
                objects.filter(apart).get_column("__json").str.contains(_NEGATIVE_ZERO),
            )
        if apart.any():
            # read the precise way unless each such line is no JSON (then rejected here)
            if objects.filter(apart).select(_is_json_object(text)).to_series().any():
                return None
            bad = pl.concat([bad, _bad_json(objects.filter(apart))])
            objects = objects.filter(~apart)
        if objects.height == 0:
            return bad, objects, pl.DataFrame()
        values = self._read_objects(objects.get_column("__json"))
        if values is None:
            # Arrow names no line: the lines the precise check rejects are found and rejected
            valid = objects.select(_is_json_object(text)).to_series()
            if valid.all():
                return None  # every line is JSON: Arrow refused how they are typed
            bad = pl.concat([bad, _bad_json(objects.filter(~valid))])
            objects = objects.filter(valid)
            if objects.height == 0:
                return bad, objects, pl.DataFrame()
            values = self._read_objects(objects.get_column("__json"))
            if values is None:
                return None
        return bad, objects, values

    def _read_objects(self, texts: pl.Series) -> pl.DataFrame | None:
        """JSON objects (one per element, each one line) as one column per top-level key,
        decoded by Arrow as Polars' ``json_decode`` decodes them; None when Arrow refuses them
        or might decode them otherwise."""
        data = texts.str.join("\n").cast(pl.Binary).item()
        try:
            first = json.loads(texts[0])
        except ValueError:
            first = {}  # not JSON: Arrow refuses it too
        first_keys = list(first) if isinstance(first, dict) else []
        read = self._arrow_table(data, first_keys)
        if read is None:
            return None
        table, text_keys = read
        if table.num_rows != texts.len():  # e.g. two objects on one line
            return None
        try:  # Arrow's reader can build a list whose offsets overrun its values (a list of
            # nulls first, numbers later); such a chunk is read by the precise path
            table.validate()
        except pa.ArrowInvalid:
            return None
        stamped = [field.name for field in table.schema if pa.types.is_timestamp(field.type)]
        for key in stamped:  # first seen after the first line: read as text from the line
            as_text = _string_values(texts, key, table.column(key))
            if as_text is None:
                return None
            table = table.set_column(table.schema.get_field_index(key), key, as_text)
        if not all(_plain_type(field.type) for field in table.schema):
            return None
        if not all(_finite(column) for column in table.columns):
            return None  # NaN or Infinity: not JSON
        if (
            any(_beyond_64_bits(column) for column in table.columns)
            and texts.str.contains(_LONG_INTEGER).any()
        ):
            return None  # an integer beyond 64 bits, a float to Arrow
        if text_keys:
            # keys given a type come first in Arrow's table; they are all in the first line,
            # so every key of the first line goes first, in its order, as first seen
            seen = set(first_keys)
            table = table.select(
                first_keys + [name for name in table.column_names if name not in seen]
            )
        values = pl.from_arrow(table)
        assert isinstance(values, pl.DataFrame)  # a Table gives a DataFrame
        values.columns = table.column_names  # as read: Polars would name an empty key
        return values

    def _arrow_table(self, data: bytes, first_keys: list[str]) -> tuple[pa.Table, list[str]] | None:
        """``data`` (JSON objects, one per line) read by Arrow, and the keys of its first line
        read as text (:attr:`_text_keys`); None when Arrow refuses it."""
        with self._text_keys_lock:
            text_keys = [key for key in first_keys if key in self._text_keys]
        read_options = pa_json.ReadOptions(
            use_threads=False, block_size=max(len(data) + 1, 1 << 20)
        )
        for _ in range(3):
            parse_options = pa_json.ParseOptions(
                explicit_schema=pa.schema([(key, pa.string()) for key in text_keys])
                if text_keys
                else None,
                unexpected_field_behavior="infer",
            )
            try:
                table = pa_json.read_json(
                    io.BytesIO(data), read_options=read_options, parse_options=parse_options
                )
            except pa.ArrowException:
                if not text_keys:
                    return None
                text_keys = []  # a key holding text elsewhere may hold other values here
                continue
            stamped = [field.name for field in table.schema if pa.types.is_timestamp(field.type)]
            if stamped:
                # text that looks like a time: read as text (and so from now on, up to a bound:
                # a long-running watch must not learn keys without end)
                with self._text_keys_lock:
                    for key in stamped[: max(0, _MAX_TEXT_KEYS - len(self._text_keys))]:
                        self._text_keys[key] = None
            again = [key for key in first_keys if key in stamped and key not in text_keys]
            if not again:
                return table, text_keys
            text_keys = [key for key in first_keys if key in text_keys or key in again]
        return None

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

    def _times(self, values: pl.DataFrame, text: pl.Expr | None) -> tuple[pl.Series, pl.Series]:
        """Event times (UTC) of ``text`` over ``values``, and whether each had no offset.

        ``2026-10-01T02:00:00+02:00`` first; only for the values left null, other ISO 8601
        forms (without an offset: in :attr:`naive_zone`), ``$time_local`` and epoch numbers
        (``$msec``, milliseconds, ...).
        """
        if text is None:
            return (
                pl.Series("__ts", [None] * values.height, dtype=pl.Datetime("us", "UTC")),
                pl.Series("__naive", [False] * values.height, dtype=pl.Boolean),
            )
        utc = pl.Datetime("us", "UTC")
        stripped = values.select(text.str.strip_chars().alias("t"))
        # nginx's $time_iso8601 in UTC first, fastest: the 19 characters before "+00:00" as a
        # time without offset (no value read there differs from the general form's reading)
        at_utc = pl.col("t").str.ends_with("+00:00") & (pl.col("t").str.len_bytes() == 25)
        ts = stripped.select(
            pl.when(at_utc)
            .then(pl.col("t").str.head(19))
            .str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
            .dt.replace_time_zone("UTC")
        ).to_series()
        # then the usual shape (nginx's $time_iso8601, with or without a fraction), fast
        unread = ts.is_null().arg_true()
        if unread.len():
            parsed = stripped[unread].select(
                pl.col("t").str.strptime(utc, "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False)
            )
            ts = ts.scatter(unread, parsed.to_series())
        naive = pl.Series("naive", [False] * values.height, dtype=pl.Boolean)
        rest = (ts.is_null() & stripped.get_column("t").is_not_null()).arg_true()
        if rest.len():
            # epoch numbers (Caddy's ts) next: no other form below reads digits and a dot alone
            epoch = stripped[rest].select(msec_to_datetime(pl.col("t"))).to_series()
            ts = ts.scatter(rest, epoch)
            rest = rest.filter(epoch.is_null())
        if rest.len():
            iso, without_offset = iso_to_datetime(pl.col("t"), self.naive_zone)
            later = stripped[rest].select(
                pl.coalesce(
                    iso,
                    pl.col("t").str.strptime(utc, TIME_LOCAL_FORMAT, strict=False),
                    msec_to_datetime(pl.col("t")),
                ).alias("ts"),
                without_offset.fill_null(False).alias("naive"),
            )
            ts = ts.scatter(rest, later.get_column("ts"))
            naive = naive.scatter(rest, later.get_column("naive"))
        return ts, naive


#: A usual request line, ``METHOD TARGET NAME/VERSION`` with a target of no spaces: split by
#: this one regex with the same result as :func:`with_request_split`, which reads the others.
_USUAL_REQUEST = r"^(?P<m>[A-Za-z]+) (?P<t>[^ \n]+) (?P<p>[A-Za-z]+/[0-9.]+)$"


def _with_request_split(frame: pl.DataFrame, request: str, prefix: str) -> pl.DataFrame:
    """:func:`with_request_split` of ``frame``'s column ``request``: the usual request lines by
    one regex (:data:`_USUAL_REQUEST`), the others by the general grammar."""
    # matched without captures (a DFA, fast), then cut at its two spaces (it has no other)
    text = pl.col(request)
    usual = pl.when(text.str.contains(_USUAL_REQUEST)).then(text)
    parts = frame.select(usual.str.split_exact(" ", 2).alias("r")).unnest("r")
    target = parts.select(pl.col("field_1").str.splitn("?", 2).alias("s")).unnest("s")
    split = pl.DataFrame(
        [
            parts.get_column("field_0").alias(f"{prefix}method"),
            parts.get_column("field_2").alias(f"{prefix}protocol"),
            target.get_column("field_0").alias(f"{prefix}path"),
            target.get_column("field_1").alias(f"{prefix}query"),
        ]
    )
    rest = (
        parts.get_column("field_0").is_null() & frame.get_column(request).is_not_null()
    ).arg_true()
    if rest.len():
        general = with_request_split(frame[rest].select(request), request, prefix)
        split = split.with_columns(
            split.get_column(name).scatter(rest, general.get_column(name)) for name in split.columns
        )
    return frame.hstack(split)


def _first_if_array(found: pl.Expr) -> pl.Expr:
    """A value found by a JSON path, as text: an array (as headers are lists) gives its first
    element; so does text that starts with ``[`` and reads as an array, and other such text is
    null."""
    return (
        pl.when(found.str.starts_with("[")).then(found.str.json_path_match("$[0]")).otherwise(found)
    )


def _struct_path(dtype: object, path: list[str]) -> str | None:
    """How the value at ``path`` inside decoded objects of ``dtype`` is read as the text the
    JSON path over their JSON text gives: ``"text"``, ``"scalar"`` (an integer or a boolean,
    whose text is as written), ``"texts"`` (a list of texts: its first), ``"null"`` (no such
    key); None when it is read from the JSON text (a float, whose text may be written otherwise;
    objects; a path through other values; a key the JSON path cannot name)."""
    if any(char in part for part in path for char in "'\\\"[]"):
        return None
    for part in path:
        if not isinstance(dtype, pl.Struct):
            return None
        fields = {field.name: field.dtype for field in dtype.fields}
        if part not in fields:
            return "null"
        dtype = fields[part]
    if dtype == pl.String:
        return "text"
    if dtype in (pl.Int64, pl.Boolean):
        return "scalar"
    if dtype == pl.Null:
        return "null"
    if isinstance(dtype, pl.List) and dtype.inner in (pl.String, pl.Null):
        return "texts"
    return None


def _struct_value(objects: pl.Expr, path: list[str], kind: str) -> pl.Expr:
    """The text at ``path`` in decoded objects, read as :func:`_struct_path` says."""
    if kind == "null":
        return pl.lit(None, pl.String)
    value = objects
    for part in path:
        value = value.struct.field(part)
    if kind == "text":
        return _first_if_array(value)
    if kind == "texts":
        return value.list.first().cast(pl.String)
    return value.cast(pl.String)


def _is_json_object(text: pl.Expr) -> pl.Expr:
    """Whether each ``text`` is a JSON object, by the precise path's own check."""
    return text.str.json_path_match("$").str.starts_with("{").fill_null(False)


def _bad_json(lines: pl.DataFrame) -> pl.DataFrame:
    """``lines`` as rejects (``bad_json``)."""
    return lines.select("source_offset", "source_line", pl.lit("bad_json").alias("reason"), "line")


def _string_values(texts: pl.Series, key: str, stamps: pa.ChunkedArray) -> pa.Array | None:
    """The text values of the top-level ``key`` that Arrow read as timestamps (``stamps``),
    taken from each line's JSON text; None when that cannot be done exactly (the key written
    more than once in a line, as nested keys may be, or a value with escapes)."""
    quoted = pl.escape_regex(json.dumps(key, ensure_ascii=False))
    found = texts.to_frame("t").select(
        pl.col("t").str.count_matches(quoted + r"\s*:").alias("n"),
        pl.col("t").str.extract(quoted + r'\s*:\s*"([^"\\]*)"', 1).alias("v"),
    )
    read = pl.Series(stamps).is_not_null()
    values = found.get_column("v")
    if (found.get_column("n") > 1).any() or (read & values.is_null()).any():
        return None
    return values.set(~read, None).to_arrow()


#: Arrow types whose values Polars' ``json_decode`` gives alike (a timestamp is not one).
_PLAIN_TYPES = (pa.string(), pa.large_string(), pa.int64(), pa.float64(), pa.bool_(), pa.null())


def _plain_type(dtype: pa.DataType) -> bool:
    """Whether an Arrow type inferred from JSON holds only text, integers, floats, booleans and
    nulls, in objects and lists."""
    if pa.types.is_struct(dtype):
        return all(_plain_type(dtype.field(i).type) for i in range(dtype.num_fields))
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _plain_type(dtype.value_type)
    return any(dtype == plain for plain in _PLAIN_TYPES)


def _beyond_64_bits(values: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a float in ``values`` (in objects and lists too) is at least 2**63 in size."""
    dtype = values.type
    if pa.types.is_floating(dtype):
        return bool(pc.any(pc.greater_equal(pc.abs(values), 2.0**63)).as_py())
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    if pa.types.is_struct(dtype):
        return any(_beyond_64_bits(child) for chunk in chunks for child in chunk.flatten())
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return any(_beyond_64_bits(chunk.flatten()) for chunk in chunks)
    return False


def _finite(values: pa.ChunkedArray | pa.Array) -> bool:
    """Whether every float in ``values`` (in objects and lists too) is finite."""
    dtype = values.type
    if pa.types.is_floating(dtype):
        return pc.all(pc.is_finite(values)).as_py() is not False
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    if pa.types.is_struct(dtype):
        return all(_finite(child) for chunk in chunks for child in chunk.flatten())
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return all(_finite(chunk.flatten()) for chunk in chunks)
    return True


#: Integers a float holds exactly (2**53): an integral JSON number written with a fraction or an
#: exponent (``200.0``, ``2e2``) is taken as that integer up to this size.
_EXACT_FLOAT_INTEGER = 2**53


def _json_integer(text: pl.Expr, integers: bool = False) -> pl.Expr:
    """A JSON number's text as Int64, judged per line whatever the other lines hold.

    An integer as written (``-0`` is 0); else an integral number written as a float
    (``200.0``, ``2e2``, ``-0.0``: a neighbouring line's fraction makes every value of the
    chunk's column a float) when a float holds it exactly; null (a bad number) otherwise:
    a fraction, a value beyond 64 bits or 2**53 as a float, ``true``, ``inf``, ``NaN``.
    ``integers``: the values were decoded as integers (nothing else to read).
    """
    text = text.str.strip_chars()
    whole = text.cast(pl.Int64, strict=False)
    if integers:
        return whole
    number = text.cast(pl.Float64, strict=False)
    integral = (
        number.is_finite() & (number == number.floor()) & (number.abs() < _EXACT_FLOAT_INTEGER)
    )
    return pl.coalesce(whole, pl.when(integral).then(number).otherwise(None).cast(pl.Int64))


def _json_status(text: pl.Expr, integers: bool = False) -> pl.Expr:
    """HTTP status as Int16 (:func:`_json_integer`); null when not from 0 to 999."""
    value = _json_integer(text, integers)
    return pl.when(value.is_between(0, 999)).then(value).otherwise(None).cast(pl.Int16)


def _json_bytes(text: pl.Expr, integers: bool = False) -> pl.Expr:
    """A byte count (:func:`_json_integer`); ``-`` (an empty nginx variable) is 0."""
    if integers:
        return _json_integer(text, integers)
    return (
        pl.when(text.str.strip_chars() == "-")
        .then(pl.lit(0, pl.Int64))
        .otherwise(_json_integer(text))
    )


def _json_seconds(text: pl.Expr) -> pl.Expr:
    """Seconds as Float64; ``-`` is null; null (a bad number) when not a finite number."""
    value = dash_to_null(text.str.strip_chars()).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value).otherwise(None)


def _number_integer(value: pl.Expr, integers: bool) -> pl.Expr:
    """:func:`_json_integer` of decoded numbers (Int64, or Float64 when not ``integers``):
    what reading their text gives (a float's text never reads as an integer)."""
    if integers:
        return value
    integral = value.is_finite() & (value == value.floor()) & (value.abs() < _EXACT_FLOAT_INTEGER)
    return pl.when(integral).then(value).otherwise(None).cast(pl.Int64)


def _number_status(value: pl.Expr, integers: bool) -> pl.Expr:
    """:func:`_json_status` of decoded numbers."""
    status = _number_integer(value, integers)
    return pl.when(status.is_between(0, 999)).then(status).otherwise(None).cast(pl.Int16)


def _number_seconds(value: pl.Expr) -> pl.Expr:
    """:func:`_json_seconds` of decoded numbers (a float's text reads back as that float)."""
    seconds = value.cast(pl.Float64)
    return pl.when(seconds.is_finite()).then(seconds).otherwise(None)


def _numbers_as_written(
    texts: pl.DataFrame, json_texts: pl.Series, columns: dict[str, str], integers: set[str]
) -> tuple[pl.DataFrame, set[str]]:
    """``texts`` with the numbers a neighbouring line changed read again as written.

    Polars decodes a key into one column per chunk: when one line writes
    ``"bytes_sent": 1.5`` the key is a float in every line, and an integer beyond 2**53 in
    another (``9007199254740993``) comes back rounded; when one line writes ``true`` among
    numbers it comes back as ``1``. Only those lines (an integer column's text that is not an
    integer and at least 2**53; a line with ``"KEY":true`` or ``false``) are read again from
    their own JSON text, so each keeps its own value. ``columns``: text column -> top-level
    key; ``integers``: the text columns read as integers. Also returns the text columns of
    which some line was read again.
    """
    rewritten: set[str] = set()
    quoted = {key: json.dumps(key, ensure_ascii=False) for key in columns.values()}
    written = [f"{quoted[key]}:{value}" for key in columns.values() for value in ("true", "false")]
    # one regex pass (twice as fast as two literal searches): most lines hold no boolean at all
    with_booleans = json_texts.str.contains(":(?:true|false)").arg_true()
    if with_booleans.len() and written:
        near = json_texts.gather(with_booleans).str.contains_any(written)
        with_booleans = with_booleans.filter(near)
    for name, key in columns.items():
        if "'" in key or "\\" in key:
            rewritten.add(name)  # its text is read, whatever it was decoded as
            continue  # not expressible in the JSON path (and no key of a number in practice)
        rows = pl.Series(dtype=pl.UInt32)
        if name in integers:
            text = pl.col(name).str.strip_chars()
            rows = texts.select(
                (
                    text.cast(pl.Int64, strict=False).is_null()
                    & (text.cast(pl.Float64, strict=False).abs() >= _EXACT_FLOAT_INTEGER)
                ).arg_true()
            ).to_series()
        if with_booleans.len():
            pattern = f"[{{,]{pl.escape_regex(quoted[key])}:(?:true|false)[,}}]"
            boolean = json_texts.gather(with_booleans).str.contains(pattern)
            rows = pl.concat([rows, with_booleans.filter(boolean)]).unique(maintain_order=True)
        if rows.len():
            found = json_texts.gather(rows).str.json_path_match(f"$['{key}']")
            texts = texts.with_columns(texts.get_column(name).scatter(rows, found))
            rewritten.add(name)
    return texts, rewritten


def _text_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    """A decoded value column as text: scalars as written, nested values as JSON."""
    column = pl.col(name)
    if isinstance(dtype, (pl.Struct, pl.List, pl.Array)):
        encoded = pl.struct(column.alias("v")).struct.json_encode().str.slice(5).str.head(-1)
        return pl.when(column.is_null()).then(None).otherwise(encoded).alias(name)
    return column.cast(pl.String)


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
    return _struct_as_text(_nested_in_first_seen_order(decoded.struct.unnest(), texts))


def _struct_as_text(fields: pl.DataFrame) -> pl.DataFrame:
    """Decoded values (one column per top-level key) as text columns (one select over the
    fields: fast with thousands of keys)."""
    return fields.select([_text_expr(name, dtype) for name, dtype in fields.schema.items()])


def _holds_struct(dtype: object) -> bool:
    if isinstance(dtype, pl.Struct):
        return True
    if isinstance(dtype, (pl.List, pl.Array)):
        return _holds_struct(dtype.inner)
    return False


#: How a nested value's objects are reordered: None (as they are), ``("list", inner)``, or
#: ``("struct", [(field, plan), ...])`` in the order to keep.
_Plan = tuple[str, object] | None


def _nested_in_first_seen_order(values: pl.DataFrame, texts: pl.Series) -> pl.DataFrame:
    """``values`` with the keys of every nested object in one order that depends on the input
    only: by the first line in which each key holds a value (not null), within that line as
    written there; keys never holding one last, by name.

    Polars' ``json_decode`` orders the keys of objects whose keys vary between lines (Caddy's
    ``resp_headers``) by a hash that differs from run to run, and Arrow's reader by the first
    line holding the key even as null: both are put in this order, so the JSON text kept of a
    nested value is the same every run and on either path. ``texts``: each row's JSON text.
    Only a few lines are read with Python's json module (one per line where some key is first
    seen); flat values are returned as they are.
    """
    nested = [name for name, dtype in values.schema.items() if _holds_struct(dtype)]
    if not nested:
        return values
    loaded: dict[int, object] = {}

    def keys_in_line(row: int, path: list[str | None]) -> dict[str, int]:
        """The keys of the objects at ``path`` (None: each element of a list) in one line."""
        if row not in loaded:
            loaded[row] = json.loads(texts[row])
        found: dict[str, int] = {}
        pending: list[tuple[object, int]] = [(loaded[row], 0)]
        while pending:
            value, depth = pending.pop(0)
            if depth == len(path):
                if isinstance(value, dict):
                    for key in value:
                        found.setdefault(key, len(found))
                continue
            step = path[depth]
            if step is None and isinstance(value, list):
                pending[0:0] = [(element, depth + 1) for element in value]
            elif step is not None and isinstance(value, dict) and step in value:
                pending.insert(0, (value[step], depth + 1))
        return found

    def plan(series: pl.Series, rows: pl.Series, path: list[str | None]) -> _Plan:
        dtype = series.dtype
        if isinstance(dtype, pl.List) and _holds_struct(dtype.inner):
            flat = pl.DataFrame([series.alias("v"), rows.alias("r")]).explode("v")
            inner = plan(flat.get_column("v"), flat.get_column("r"), [*path, None])
            return None if inner is None else ("list", inner)
        if not isinstance(dtype, pl.Struct) or not dtype.fields:
            return None
        fields = series.struct.unnest()
        first: dict[str, int | None] = {}
        inner_plans: dict[str, _Plan] = {}
        for name in fields.columns:
            column = fields.get_column(name)
            present = column.is_not_null()
            first[name] = int(rows[int(present.arg_max())]) if present.any() else None  # type: ignore[arg-type]
            inner_plans[name] = plan(column, rows, [*path, name])
        positions = {row: keys_in_line(row, path) for row in set(first.values()) if row is not None}

        def rank(name: str) -> tuple[bool, int, int, str]:
            row = first[name]
            if row is None:
                return (True, 0, 0, name)
            return (False, row, positions[row].get(name, len(positions[row])), name)

        order = sorted(fields.columns, key=rank)
        if order == fields.columns and all(inner_plans[name] is None for name in order):
            return None
        return ("struct", [(name, inner_plans[name]) for name in order])

    def build(expr: pl.Expr, how: _Plan) -> pl.Expr:
        if how is None:
            return expr
        kind, inner = how
        if kind == "list":
            return expr.list.eval(build(pl.element(), inner))  # type: ignore[arg-type]
        fields = [
            build(expr.struct.field(name), field_plan).alias(name)
            for name, field_plan in inner  # type: ignore[attr-defined]
        ]
        return pl.when(expr.is_null()).then(None).otherwise(pl.struct(fields))

    rows = pl.Series("r", range(values.height), dtype=pl.UInt32)
    plans = {name: plan(values.get_column(name), rows, [name]) for name in nested}
    reordered = [build(pl.col(name), how).alias(name) for name, how in plans.items() if how]
    return values.with_columns(reordered) if reordered else values


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
