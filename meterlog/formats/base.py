"""The interface every log format implements, and the field conversions they share.

A format turns a frame of lines (columns ``line``, ``source_offset``, ``source_line``) into a
:class:`ParseResult`: canonical events (:mod:`meterlog.schema`) and rejected lines with a reason.
All work is done with Polars expressions over whole chunks.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from meterlog.schema import conform_events

#: Columns of the rejects produced by a format (the ingest adds source id, path and time).
PARSE_REJECT_COLUMNS = {
    "source_offset": pl.Int64(),
    "source_line": pl.Int64(),
    "reason": pl.String(),
    "line": pl.String(),
}


@dataclass
class ParseResult:
    events: pl.DataFrame
    rejects: pl.DataFrame
    #: Counts a format reports about stored lines besides rejects, for the ingest summary:
    #: ``naive_time:ZONE``, ``empty:COLUMN=KEY``, ``dropped_key:KEY`` (see ``jsonlines``).
    notes: Counter[str] = field(default_factory=Counter)

    @classmethod
    def concat(cls, results: list[ParseResult]) -> ParseResult:
        notes: Counter[str] = Counter()
        for result in results:
            notes.update(result.notes)
        return cls(
            events=pl.concat([r.events for r in results], how="diagonal_relaxed"),
            rejects=pl.concat([r.rejects for r in results]),
            notes=notes,
        )


#: Note prefix: events whose time had no UTC offset, read in ZONE (``naive_time:ZONE``).
NAIVE_TIME = "naive_time"
#: Note prefix: events in which an explicitly mapped column is empty (``empty:COLUMN=KEY``).
EMPTY_FIELD = "empty:"
#: Note prefix: a JSON key dropped because the chunk had more extra keys than allowed.
DROPPED_KEY = "dropped_key:"


class LogFormat(ABC):
    """A log format: a name for reports and a vectorised parser."""

    name: str
    #: True when a line's result does not depend on the other lines parsed with it, so a chunk
    #: may be parsed in slices (in parallel) with the same result.
    lines_independent: bool = False

    @abstractmethod
    def parse(self, lines: pl.DataFrame) -> ParseResult:
        """Parse ``lines`` (``line``, ``source_offset``, ``source_line``): events and rejects."""

    def describe(self) -> str:
        return self.name


# -- conversions shared by formats -----------------------------------------------------------

_NGINX_HEX = re.compile(rb"\\x([0-9A-Fa-f]{2})")
_SIMPLE_ESCAPES = {b'\\"': b'"', b"\\\\": b"\\", b"\\n": b"\n", b"\\t": b"\t", b"\\r": b"\r"}
_BACKSLASH_SEQUENCE = re.compile(rb'\\x[0-9A-Fa-f]{2}|\\["\\ntr]')


def _unescape_one(value: str) -> str:
    """Undo nginx (``\\xHH``) and Apache (``\\"``, ``\\\\``) escaping of one field value.

    If the unescaped bytes are not valid UTF-8 the escaped text is kept as it is.
    """
    raw = value.encode("utf-8")

    def replace(match: re.Match[bytes]) -> bytes:
        token = match.group(0)
        if token.startswith(b"\\x"):
            return bytes([int(token[2:], 16)])
        return _SIMPLE_ESCAPES[token]

    try:
        return _BACKSLASH_SEQUENCE.sub(replace, raw).decode("utf-8")
    except UnicodeDecodeError:
        return value


def _unescape_json_one(value: str) -> str:
    try:
        decoded = json.loads(f'"{value}"')
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def unescape(column: pl.Expr, style: str = "default") -> pl.Expr:
    """Unescape quoted field values.

    Only values that contain a backslash are touched: each *distinct* such value is decoded
    once (``map_batches`` over the unique escaped values), everything else stays a pure column
    expression. ``style`` is nginx's ``escape=`` parameter: ``default`` (``\\xHH``, also
    Apache's ``\\"``), ``json`` or ``none``.
    """
    if style == "none":
        return column
    decode = _unescape_json_one if style == "json" else _unescape_one

    def decode_series(series: pl.Series) -> pl.Series:
        where = series.str.contains("\\", literal=True).arg_true()
        if where.len() == 0:
            return series
        escaped = series.gather(where)
        mapping = {value: decode(value) for value in escaped.unique().to_list()}
        return series.clone().scatter(where, [mapping[value] for value in escaped.to_list()])

    return column.map_batches(decode_series, return_dtype=pl.String)


def dash_to_null(column: pl.Expr) -> pl.Expr:
    """nginx writes ``-`` for an empty variable."""
    return pl.when(column == "-").then(None).otherwise(column)


def split_request(request: pl.Expr) -> dict[str, pl.Expr]:
    """``$request`` (``GET /a?b=1 HTTP/1.1``) into method, path, query and protocol.

    A request line that is not ``METHOD TARGET [PROTOCOL]`` (an empty request, a TLS handshake
    sent to a plain-HTTP port) keeps the event with method, path and protocol null. When the
    last word is not a protocol (``SEARCH / -``, which nginx answers with 400), the target is
    the first word after the method (path ``/``) and ``protocol`` keeps what was sent (``-``):
    not of the form ``NAME/VERSION``, it marks the request line as invalid.
    """
    parts = request.str.extract_groups(
        r"^(?P<method>[A-Za-z]+) (?P<target>.+?)(?: (?P<protocol>[A-Za-z]+/[0-9.]+))?$"
    )
    # a last word that is not a protocol (``SEARCH / -``): the target ends at the first space
    words = request.str.extract_groups(_BAD_PROTOCOL_REQUEST)
    invalid = parts.struct.field("protocol").is_null() & words.struct.field("target").is_not_null()
    target = (
        pl.when(invalid).then(words.struct.field("target")).otherwise(parts.struct.field("target"))
    )
    protocol = (
        pl.when(invalid)
        .then(words.struct.field("protocol"))
        .otherwise(parts.struct.field("protocol"))
    )
    return {"method": parts.struct.field("method"), **split_target(target), "protocol": protocol}


#: A request line whose last word is not a protocol: the target is the text up to the first
#: space after the method (a target has no spaces), the rest is what was sent as the protocol.
_BAD_PROTOCOL_REQUEST = r"^[A-Za-z]+ (?P<target>[^ ]+) (?P<protocol>.+)$"
#: The same for the text after the method.
_BAD_PROTOCOL_REST = r"^(?P<target>[^ ]+) (?P<protocol>.+)$"


#: ``METHOD REST``: the method, then everything after the first space (at least a character).
_REQUEST_LINE = r"^(?P<method>[A-Za-z]+) (?P<rest>.+)$"
#: A protocol at the end of the rest; it has no spaces, so it can only follow the last space.
_PROTOCOL_SUFFIX = r" ([A-Za-z]+/[0-9.]+)$"


def with_request_split(frame: pl.DataFrame, request: str, prefix: str) -> pl.DataFrame:
    """``frame`` with :func:`split_request`'s columns for its column ``request``, fast.

    Adds ``{prefix}method``, ``{prefix}path``, ``{prefix}query`` and ``{prefix}protocol`` with
    the same values as :func:`split_request`, without its lazy quantifier (a slow regex) and
    computing each step once: the protocol is the text after the last space when it has the
    protocol's shape and leaves a non-empty target; otherwise, when the rest has a space, the
    target ends at its first space and the text after it is the (invalid) protocol.
    """
    parts, rest, suffix, target = (f"{prefix}{name}" for name in ("parts", "rest", "sfx", "tgt"))
    frame = frame.with_columns(pl.col(request).str.extract_groups(_REQUEST_LINE).alias(parts))
    frame = frame.with_columns(
        pl.col(parts).struct.field("method").alias(f"{prefix}method"),
        pl.col(parts).struct.field("rest").alias(rest),
    ).drop(parts)
    frame = frame.with_columns(pl.col(rest).str.extract(_PROTOCOL_SUFFIX, 1).alias(suffix))
    suffix_chars = pl.col(suffix).str.len_chars().cast(pl.Int64) + 1
    has_protocol = pl.col(suffix).is_not_null() & (pl.col(rest).str.len_chars() > suffix_chars)
    # (read only where there is no protocol: a regex over every request line costs)
    words = (
        pl.when(has_protocol)
        .then(None)
        .otherwise(pl.col(rest))
        .str.extract_groups(_BAD_PROTOCOL_REST)
    )
    frame = frame.with_columns(
        pl.when(has_protocol)
        .then(pl.col(rest).str.head(-suffix_chars))
        .otherwise(words.struct.field("target").fill_null(pl.col(rest)))
        .alias(target),
        pl.when(has_protocol)
        .then(pl.col(suffix))
        .otherwise(words.struct.field("protocol"))
        .alias(f"{prefix}protocol"),
    ).drop(rest, suffix)
    pieces = pl.col(target).str.splitn("?", 2)
    return frame.with_columns(
        pieces.struct.field("field_0").alias(f"{prefix}path"),
        pieces.struct.field("field_1").alias(f"{prefix}query"),
    ).drop(target)


def split_target(target: pl.Expr) -> dict[str, pl.Expr]:
    """A request target into ``path`` and ``query`` (null when there is no ``?``)."""
    pieces = target.str.splitn("?", 2)
    return {"path": pieces.struct.field("field_0"), "query": pieces.struct.field("field_1")}


def status_from_text(text: pl.Expr) -> pl.Expr:
    """HTTP status as Int16; null (a bad number) when not an integer from 0 to 999."""
    value = text.str.strip_chars().cast(pl.Int32, strict=False)
    return pl.when(value.is_between(0, 999)).then(value).otherwise(None).cast(pl.Int16)


def parse_bytes(text: pl.Expr) -> pl.Expr:
    """A byte count; ``-`` (Apache's zero) is 0; null (a bad number) when not a number."""
    text = text.str.strip_chars()
    value = text.cast(pl.Int64, strict=False)
    return pl.when(text == "-").then(pl.lit(0, pl.Int64)).otherwise(value)


def parse_seconds(text: pl.Expr) -> pl.Expr:
    """Seconds as Float64 (``$request_time``); ``-`` is null."""
    return dash_to_null(text.str.strip_chars()).cast(pl.Float64, strict=False)


def classify(
    frame: pl.DataFrame,
    matched: pl.Expr,
    timestamp_ok: pl.Expr,
    numbers_ok: pl.Expr,
    event_columns: dict[str, pl.Expr],
) -> ParseResult:
    """Split parsed rows into events and rejects by the first failed check.

    ``frame`` must hold ``line``, ``source_offset``, ``source_line`` and whatever the
    expressions read. Reasons: ``no_match``, then ``bad_timestamp``, then ``bad_number``.
    """
    reason = (
        pl.when(~matched)
        .then(pl.lit("no_match"))
        .when(~timestamp_ok)
        .then(pl.lit("bad_timestamp"))
        .when(~numbers_ok)
        .then(pl.lit("bad_number"))
        .otherwise(None)
    )
    marked = frame.with_columns(reason.alias("__reason"))
    rejects = marked.filter(pl.col("__reason").is_not_null()).select(
        "source_offset", "source_line", pl.col("__reason").alias("reason"), "line"
    )
    good = marked.filter(pl.col("__reason").is_null())
    events = good.select(
        *[expr.alias(name) for name, expr in event_columns.items()],
        "source_offset",
        "source_line",
    )
    return ParseResult(events=conform_events(events), rejects=rejects)
