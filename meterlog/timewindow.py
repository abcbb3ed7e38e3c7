"""The accept window: a sanity check on event times relative to the time of the run.

Lines whose time lies further in the past or the future than the window allows are still
stored (a log being backfilled is legitimate, and a dropped line would be lost revenue), but
they are counted per source, named in the run's summary and recorded in the commit's metadata
(``meterlog.outside_window``), so a wrong clock, a wrong time zone or a day/month mix-up is
noticed rather than billed silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from meterlog.errors import MeterlogError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
DEFAULT_ACCEPT_WINDOW = "3650d:1d"


@dataclass(frozen=True)
class AcceptWindow:
    """Times from ``now - past`` to ``now + future`` are expected; others are flagged."""

    past: timedelta
    future: timedelta

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        return now - self.past, now + self.future

    def describe(self) -> str:
        return f"{_format(self.past)} back, {_format(self.future)} ahead"


def _format(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _duration(text: str, spec: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise MeterlogError(
            f"--accept-window {spec!r}: {text!r} is not a duration; "
            "use a number with s, m, h or d, e.g. 3650d:1d"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_accept_window(spec: str) -> AcceptWindow | None:
    """``PAST:FUTURE`` (e.g. ``3650d:1d``, ``90d:10m``) or ``off``."""
    if spec.strip().lower() == "off":
        return None
    past, sep, future = spec.partition(":")
    if not sep:
        raise MeterlogError(f"--accept-window {spec!r}: give PAST:FUTURE, e.g. 3650d:1d, or off")
    return AcceptWindow(_duration(past, spec), _duration(future, spec))


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
