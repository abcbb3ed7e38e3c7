"""Time zones, instants and calendar periods, shared by reports and billing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meterlog.errors import UsageError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_tz(name: str) -> ZoneInfo:
    """An IANA time zone by name (``UTC``, ``Europe/Berlin``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    nearest = nearest_tz_name(name)
    hint = f"did you mean {nearest}? " if nearest else ""
    raise UsageError(
        f"unknown time zone {name!r}: {hint}use an IANA name such as UTC or Europe/Berlin"
    )


def nearest_tz_name(name: str) -> str | None:
    """The IANA zone name closest to a mistyped one (case, spelling), if any is close."""
    import difflib
    from zoneinfo import available_timezones

    names = sorted(available_timezones())
    folded = {zone.casefold(): zone for zone in names}
    if name.strip().casefold() in folded:
        return folded[name.strip().casefold()]
    close = difflib.get_close_matches(name.strip().casefold(), list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """A date (``2026-10-01``) or timestamp (``2026-10-01T12:00``, with or without offset).

    Values without an offset are read in ``tz``. Returns an aware UTC datetime.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"cannot read {text!r} as a date or time: use a date (2026-10-01) or a time "
            "(2026-10-01T12:00, 2026-10-01T12:00:00+02:00)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Month:
    """A calendar month, e.g. ``Month(2026, 10)``."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + (self.month == 12), self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def start(self, tz: ZoneInfo) -> datetime:
        """The first instant of the month in ``tz``, as an aware UTC datetime."""
        return datetime(self.year, self.month, 1, tzinfo=tz).astimezone(UTC)

    def end(self, tz: ZoneInfo) -> datetime:
        """The first instant after the month in ``tz`` (the period is ``[start, end)``)."""
        return self.next().start(tz)

    @classmethod
    def containing(cls, moment: datetime, tz: ZoneInfo) -> Month:
        local = moment.astimezone(tz)
        return cls(local.year, local.month)


def parse_month(text: str) -> Month:
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(
            f"cannot read {text!r} as a month: use YYYY-MM (e.g. 2026-10), previous or current"
        )
    return Month(int(match.group(1)), int(match.group(2)))


def parse_months(text: str) -> list[Month]:
    """``2026-10`` or an inclusive range ``2026-08..2026-10``."""
    first, sep, last = text.partition("..")
    start = parse_month(first)
    end = parse_month(last) if sep else start
    if (end.year, end.month) < (start.year, start.month):
        raise UsageError(f"month range {text!r} ends before it starts: use FIRST..LAST")
    months = [start]
    while months[-1] != end:
        months.append(months[-1].next())
    return months


def parse_period(text: str, tz: ZoneInfo, now: datetime | None = None) -> Month:
    """A billing period: ``YYYY-MM``, ``previous`` or ``current`` (calendar months in ``tz``)."""
    now = now or datetime.now(UTC)
    if text == "current":
        return Month.containing(now, tz)
    if text == "previous":
        return Month.containing(now, tz).previous()
    try:
        return parse_month(text)
    except UsageError:
        raise UsageError(
            f"cannot read month {text!r}: use YYYY-MM (e.g. 2026-10), previous or current"
        ) from None


def resolve_month_words(text: str, tz: ZoneInfo, now: datetime | None = None) -> str:
    """``text`` (a month ``YYYY-MM`` or a range ``FIRST..LAST``) with ``previous`` and
    ``current`` replaced by the month they name in ``tz``, as ``bill`` reads them."""
    words = {"previous", "current"}
    parts = text.split("..")
    if not words.intersection(parts):
        return text
    return "..".join(str(parse_period(part, tz, now)) if part in words else part for part in parts)


def utc_days(start: datetime, end: datetime) -> list[date]:
    """UTC calendar days touched by ``[start, end)``: the store partitions to read."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
