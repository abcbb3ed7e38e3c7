"""Monthly meter reports (``meterlog mau``, ``meterlog peak``) and their evidence.

Each month is a calendar month in the billing time zone; a range of months gives one row per
account and month. Times are written in the billing time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.meters import Meter, Period, events_between
from meterlog.periods import Month


def _monthly(frames: list[pl.LazyFrame], months: Sequence[Month], tz: ZoneInfo) -> pl.DataFrame:
    collected = pl.collect_all(frames)
    labelled = [
        frame.with_columns(month=pl.lit(str(month)))
        for frame, month in zip(collected, months, strict=True)
    ]
    combined = pl.concat(labelled, how="vertical_relaxed")
    local_times = [
        pl.col(name).dt.convert_time_zone(tz.key)
        for name, dtype in combined.schema.items()
        if isinstance(dtype, pl.Datetime)
    ]
    return combined.with_columns(local_times)


def meter_report(
    events: pl.LazyFrame, meter: Meter, months: Sequence[Month], tz: ZoneInfo
) -> pl.DataFrame:
    """One row per account and month.

    The meter names its columns (:meth:`~meterlog.meters.Meter.report_columns`): MAU gives
    ``account, month, mau``; peak ``account, month, window, metric, peak, peak_start``.
    """
    frames = [meter.quantities(events, Period(month, tz)) for month in months]
    report = _monthly(frames, months, tz).sort("account", "month", nulls_last=True)
    return report.select("account", "month", *meter.report_columns())


def meter_evidence(
    events: pl.LazyFrame, meter: Meter, months: Sequence[Month], tz: ZoneInfo
) -> pl.DataFrame:
    """The inputs behind :func:`meter_report`, per account and month.

    MAU: ``account, month, user, first_seen, last_seen, requests`` (``mau --list-users``).
    Peak: ``account, month, window_start, window_end, value, rank, is_peak``
    (``peak --windows``).
    """
    frames = [meter.evidence(events, Period(month, tz)) for month in months]
    evidence = _monthly(frames, months, tz)
    order = [
        "account",
        "month",
        *(name for name in evidence.columns if name not in ("account", "month")),
    ]
    return evidence.select(order).sort("account", "month", meter.evidence_order, nulls_last=True)


def empty_note(events: pl.LazyFrame, meter: Meter, months: Sequence[Month], tz: ZoneInfo) -> str:
    """Why a meter report (or its evidence) has no rows, in one sentence: the months hold no
    request (and where the store's data begins and ends), or none of them counts."""
    label = str(months[0]) if len(months) == 1 else f"{months[0]}..{months[-1]}"
    start, end = Period(months[0], tz).start, Period(months[-1], tz).end
    stored = events_between(events, start, end).select(pl.len()).collect().item()
    if not stored:
        first, last = (
            events.select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
            .collect()
            .row(0)
        )
        if first is None:
            return "the store holds no requests"
        return (
            f"no requests stored in {label} ({tz.key}): the store's data begins at "
            f"{first.astimezone(tz).isoformat()} and ends at {last.astimezone(tz).isoformat()}; "
            "check --month and --tz"
        )
    return f"none of the {stored:,} requests in {label} ({tz.key}) counts for {meter.description}"
