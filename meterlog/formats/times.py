"""Time parsing shared by the formats: nginx's ``$time_local``, ``$time_iso8601`` and ``$msec``,
and the ISO 8601 and epoch times of JSON logs, all vectorised, all to UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl


def msec_to_datetime(text: pl.Expr) -> pl.Expr:
    """Seconds since the epoch (``$msec``: ``1727740800.123``) to a UTC datetime.

    A whole number of 13, 16 or 19 digits is read as milliseconds, microseconds or nanoseconds
    since the epoch, as application logs often write them; anything else is null.
    """
    # checked without captures (a DFA, fast), then cut at the dot: digits, up to 6 of the
    # fraction; ASCII digits only (another script's digits are no number: a bad timestamp)
    text = text.str.strip_chars()
    shape = r"^[0-9]{1,19}(?:\.[0-9]+)?$"
    pieces = pl.when(text.str.contains(shape)).then(text).str.split_exact(".", 1)
    digits = pieces.struct.field("field_0")
    whole = pieces.struct.field("field_1").is_null()
    value = digits.cast(pl.Int64, strict=False)
    width = digits.str.len_bytes()
    fraction = pieces.struct.field("field_1").str.head(6).fill_null("").str.pad_end(6, "0")
    fraction = fraction.cast(pl.Int64)
    micros = (
        pl.when(width <= 12)
        .then(value * 1_000_000 + fraction)
        .when(whole & (width == 13))
        .then(value * 1_000)
        .when(whole & (width == 16))
        .then(value)
        .when(whole & (width == 19))
        .then(value // 1_000)
        .otherwise(None)
    )
    return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


#: ``$time_local``: ``01/Oct/2026:00:00:00 +0200``.
TIME_LOCAL_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
_TIME_LOCAL_OFFSET = r"^ [+-](?:[01][0-9]|2[0-3])[0-5][0-9]$"


def time_local_to_datetime(text: pl.Series) -> pl.Series:
    """``$time_local`` values to UTC datetimes (null where they do not parse).

    The same result as ``strptime`` with :data:`TIME_LOCAL_FORMAT`, in half the time: values
    of the usual shape (an offset of ``+HHMM`` after 20 characters of date and time) are parsed
    without their offset, which is then subtracted; only other values go through ``%z``.
    """
    utc = pl.Datetime("us", "UTC")
    frame = text.to_frame("t").with_columns(
        pl.col("t")
        .str.slice(0, 20)
        .str.strptime(pl.Datetime("us"), TIME_LOCAL_FORMAT[:-3], strict=False)
        .alias("naive"),
        pl.col("t").str.slice(20).alias("tail"),
    )
    frame = frame.with_columns(
        (pl.col("tail").str.contains(_TIME_LOCAL_OFFSET) & pl.col("naive").is_not_null()).alias(
            "usual"
        ),
        pl.col("tail").str.slice(1).cast(pl.Int32, strict=False).abs().alias("hhmm"),
        pl.col("tail").str.starts_with(" -").alias("west"),
    )
    offset_minutes = pl.col("hhmm") // 100 * 60 + pl.col("hhmm") % 100
    offset = pl.duration(
        minutes=pl.when(pl.col("west")).then(-offset_minutes).otherwise(offset_minutes)
    )
    other = pl.when(pl.col("usual")).then(None).otherwise(pl.col("t"))
    return frame.select(
        pl.when(pl.col("usual"))
        .then((pl.col("naive") - offset).dt.replace_time_zone("UTC"))
        .otherwise(other.str.strptime(utc, TIME_LOCAL_FORMAT, strict=False))
        .alias(text.name)
    ).to_series()


def iso8601_to_datetime(text: pl.Expr) -> pl.Expr:
    """``$time_iso8601`` (``2026-10-01T02:00:00+02:00``) to UTC; a ``Z`` suffix is UTC too."""
    utc = pl.Datetime("us", "UTC")
    return pl.coalesce(
        text.str.strptime(utc, "%Y-%m-%dT%H:%M:%S%:z", strict=False),
        text.str.strptime(utc, "%Y-%m-%dT%H:%M:%S%.fZ", strict=False),
    )


#: ISO 8601 date and time, with an optional offset: ``2026-10-01T02:00:00.5+02:00``,
#: ``2026-10-01 00:00:00Z``, ``2026-10-01T02:00+0200``, ``2026-10-01T00:00:00`` (no offset).
_ISO_PARTS = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<hm>\d{2}:\d{2})(?P<sec>:\d{2}(?:[.,]\d+)?)?"
    r" ?(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)


def iso_to_datetime(text: pl.Expr, naive_zone: str = "UTC") -> tuple[pl.Expr, pl.Expr]:
    """ISO 8601 times to UTC, and whether each had no offset.

    A time with an offset (or ``Z``) is exact. A time without one is read in ``naive_zone``
    (an IANA name; UTC by default): in a zone with summer time, a time the clock shows twice
    is taken as the earlier one and a time the clock skips is null (a bad timestamp).
    Returns ``(utc, naive)``: ``naive`` is true where the time parsed without an offset.
    """
    parts = text.str.extract_groups(_ISO_PARTS)
    seconds = parts.struct.field("sec").fill_null(":00").str.replace(",", ".", literal=True)
    clock = parts.struct.field("date") + " " + parts.struct.field("hm") + seconds
    local = clock.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False)
    zone = parts.struct.field("zone")
    digits = zone.str.replace_all(":", "", literal=True).str.slice(1)
    minutes = digits.str.slice(0, 2).cast(pl.Int64, strict=False) * 60 + digits.str.slice(
        2, 2
    ).cast(pl.Int64, strict=False).fill_null(0)
    signed = (
        pl.when(zone.str.to_uppercase() == "Z")
        .then(pl.lit(0, pl.Int64))
        .when(zone.str.starts_with("-"))
        .then(-minutes)
        .otherwise(minutes)
    )
    with_offset = (local - pl.duration(minutes=signed)).dt.replace_time_zone("UTC")
    if naive_zone == "UTC":
        without_offset = local.dt.replace_time_zone("UTC")
    else:
        without_offset = local.dt.replace_time_zone(
            naive_zone, ambiguous="earliest", non_existent="null"
        ).dt.convert_time_zone("UTC")
    utc = pl.when(zone.is_null()).then(without_offset).otherwise(with_offset)
    return utc, zone.is_null() & local.is_not_null()


#: Event times must fall in years 1 to 9999 (what every reader of the store can represent).
_FIRST_TS = datetime(1, 1, 1, tzinfo=UTC)
_LAST_TS = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def timestamp_in_range(ts: pl.Expr) -> pl.Expr:
    """True where ``ts`` parsed and lies in years 1 to 9999 (e.g. ``01/Aug/-026`` does not)."""
    return ts.is_between(_FIRST_TS, _LAST_TS).fill_null(False)
