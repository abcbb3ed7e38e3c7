"""The canonical event schema every log format is parsed into.

The column names are a contract: later commands and users' own scripts read them.
"""

from __future__ import annotations

import polars as pl

#: Canonical request columns, in order, with their Polars types.
CANONICAL_COLUMNS: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "remote_addr": pl.String(),
    "remote_user": pl.String(),
    "method": pl.String(),
    "path": pl.String(),
    "query": pl.String(),
    "protocol": pl.String(),
    "status": pl.Int16(),
    "bytes_sent": pl.Int64(),
    "referer": pl.String(),
    "user_agent": pl.String(),
    "request_time": pl.Float64(),
}

#: Provenance columns: which source a row came from and where in it.
#: ``source_id`` is the source's content fingerprint, ``source_offset`` the byte offset of the
#: line's first byte in the decompressed stream, ``source_line`` its 1-based line number.
PROVENANCE_COLUMNS: dict[str, pl.DataType] = {
    "source_id": pl.String(),
    "source_offset": pl.Int64(),
    "source_line": pl.Int64(),
}

#: The store's partition column: the UTC calendar day of ``ts``.
PARTITION_COLUMN = "day"

#: Columns of the rejects table.
REJECT_COLUMNS: dict[str, pl.DataType] = {
    "source_id": pl.String(),
    "source_path": pl.String(),
    "source_offset": pl.Int64(),
    "source_line": pl.Int64(),
    "reason": pl.String(),
    "line": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
}

#: Reasons a line is rejected. Each is counted separately in summaries.
REJECT_REASONS = (
    "no_match",  # the line does not have the shape of the log format
    "bad_timestamp",  # the time field does not parse
    "bad_number",  # status, bytes or request time is not a number in range
    "invalid_utf8",  # the line is not valid UTF-8
    "bad_json",  # a JSON-lines line that is not a JSON object
    "line_too_long",  # longer than the configured maximum line length
)


def empty_events_frame(extra_columns: list[str] | tuple[str, ...] = ()) -> pl.DataFrame:
    """An empty frame with the canonical, extra (String) and provenance columns."""
    schema: dict[str, pl.DataType] = dict(CANONICAL_COLUMNS)
    schema.update({name: pl.String() for name in extra_columns})
    schema.update(PROVENANCE_COLUMNS)
    return pl.DataFrame(schema=schema)


def conform_events(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every canonical and provenance column present (null when missing), typed,
    in canonical order; any other column is kept as a String column after the canonical ones."""
    fixed = {**CANONICAL_COLUMNS, **PROVENANCE_COLUMNS}
    extras = [name for name in frame.columns if name not in fixed and name != PARTITION_COLUMN]
    columns = [
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in CANONICAL_COLUMNS.items()
    ]
    columns += [pl.col(name).cast(pl.String) for name in extras]
    columns += [
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in PROVENANCE_COLUMNS.items()
    ]
    return frame.select(columns)


#: Values of an identity column (a user, an API key) that mean "nobody": such requests count,
#: their user never does. Values are compared with surrounding whitespace stripped.
ANONYMOUS_VALUES = ("", "-")


def identity_expr(column: str) -> pl.Expr:
    """``column`` as a string with null, empty and ``-`` mapped to null (anonymous)."""
    value = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(value.is_in(ANONYMOUS_VALUES)).then(None).otherwise(value)
