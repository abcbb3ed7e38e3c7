"""The accept window: a sanity check on event times relative to the time of the run.

Lines whose time lies further in the past or the future than the window allows are still
stored (a log being backfilled is legitimate, and a dropped line would be lost revenue), but
they are counted per source, named in the run's summary and recorded in the commit's metadata
(``meterlog.outside_window``), so a wrong clock, a wrong time zone or a day/month mix-up is
noticed rather than billed silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from meterlog.durations import format_duration, parse_duration
from meterlog.errors import UsageError

DEFAULT_ACCEPT_WINDOW = "3650d:1d"


@dataclass(frozen=True)
class AcceptWindow:
    """Times from ``now - past`` to ``now + future`` are expected; others are flagged."""

    past: timedelta
    future: timedelta

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        return now - self.past, now + self.future

    def describe(self) -> str:
        return f"{format_duration(self.past)} back, {format_duration(self.future)} ahead"


def parse_accept_window(spec: str) -> AcceptWindow | None:
    """``PAST:FUTURE`` (e.g. ``3650d:1d``, ``90d:10m``) or ``off``."""
    if spec.strip().lower() == "off":
        return None
    past, sep, future = spec.partition(":")
    if not sep:
        raise UsageError(f"--accept-window {spec!r}: give PAST:FUTURE, e.g. 3650d:1d, or off")
    what = f"--accept-window {spec!r}:"
    return AcceptWindow(parse_duration(past, what), parse_duration(future, what))


@dataclass
class OutsideWindow:
    """Events of a run outside the accept window: counts and the extreme times."""

    before: int = 0
    after: int = 0
    earliest: datetime | None = None
    latest: datetime | None = None

    @property
    def total(self) -> int:
        return self.before + self.after

    def add(self, other: OutsideWindow) -> None:
        self.before += other.before
        self.after += other.after
        if other.earliest is not None:
            self.earliest = min(filter(None, (self.earliest, other.earliest)))
        if other.latest is not None:
            self.latest = max(filter(None, (self.latest, other.latest)))


def outside_window(
    events: pl.DataFrame, window: AcceptWindow | None, now: datetime
) -> OutsideWindow:
    """Count ``events`` (column ``ts``) outside ``window`` around ``now`` (one pass)."""
    if window is None or events.height == 0:
        return OutsideWindow()
    low, high = window.bounds(now)
    before = pl.col("ts") < pl.lit(low)
    after = pl.col("ts") > pl.lit(high)
    row = events.select(
        before.sum().alias("before"),
        after.sum().alias("after"),
        pl.col("ts").filter(before).min().alias("earliest"),
        pl.col("ts").filter(after).max().alias("latest"),
    ).row(0, named=True)
    return OutsideWindow(int(row["before"]), int(row["after"]), row["earliest"], row["latest"])
