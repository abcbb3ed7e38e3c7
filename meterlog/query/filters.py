"""Request filters shared by report commands: time range, status, method, path, bots, identity.

Each filter is an :class:`OptionFilter`: the option as the user wrote it (for messages such as
"no requests match --status 5xx") and a Polars predicate that is never null, so a missing value
(no user agent, no path) never drops or keeps a row by accident. The predicates here are the
only ones: a meter's :class:`~meterlog.meters.RequestFilter` (which requests a plan counts) is
built from the same ones, so ``usage --exclude-path`` and a plan's ``exclude_paths`` agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.errors import UsageError
from meterlog.patterns import glob_to_regex, parse_status_spec
from meterlog.periods import parse_instant
from meterlog.schema import PARTITION_COLUMN

#: User-agent patterns of crawlers and uptime monitors dropped by ``--exclude-bots``:
#: case-insensitive substrings. Replace the list with ``[bots] patterns`` in meterlog.toml.
DEFAULT_BOT_PATTERNS: tuple[str, ...] = (
    "bot",  # Googlebot, bingbot, YandexBot, AhrefsBot, GPTBot, UptimeRobot, ...
    "crawler",
    "spider",  # Baiduspider, Bytespider, ...
    "slurp",  # Yahoo
    "facebookexternalhit",
    "pingdom",
    "statuscake",
    "site24x7",
    "uptime",  # Better Uptime, Uptime Kuma, ...
    "monitor",  # monitoring agents (e.g. "Site Monitor", "Datadog Synthetic Monitor")
    "synthetics",  # Datadog / New Relic synthetic checks
    "newrelicpinger",
    "elb-healthchecker",
    "googlehc",
    "kube-probe",
    "blackbox",  # Prometheus blackbox exporter
    "nagios",
    "zabbix",
)

_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


@dataclass(frozen=True)
class OptionFilter:
    """A command-line filter: ``label`` is the option as given, ``predicate`` is never null."""

    label: str
    predicate: pl.Expr


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` as aware UTC datetimes; ``None`` means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def predicates(self) -> list[pl.Expr]:
        """Filters on ``ts`` and on the ``day`` partition column (so only those days are read)."""
        predicates: list[pl.Expr] = []
        if self.start is not None:
            predicates.append(pl.col(PARTITION_COLUMN) >= pl.lit(self.start.date()))
            predicates.append(pl.col("ts") >= pl.lit(self.start))
        if self.end is not None:
            last_day = (self.end - timedelta(microseconds=1)).date()
            predicates.append(pl.col(PARTITION_COLUMN) <= pl.lit(last_day))
            predicates.append(pl.col("ts") < pl.lit(self.end))
        return predicates

    def describe(self, tz: ZoneInfo) -> str:
        """``between 2026-10-01T00:00:00+02:00 and ...`` for messages ('' when unbounded)."""

        def local(moment: datetime) -> str:
            return moment.astimezone(tz).isoformat()

        if self.start is not None and self.end is not None:
            return f"from {local(self.start)} to {local(self.end)}"
        if self.start is not None:
            return f"from {local(self.start)} on"
        if self.end is not None:
            return f"before {local(self.end)}"
        return ""


def parse_time_range(since: str | None, until: str | None, tz: ZoneInfo) -> TimeRange:
    """``--since`` / ``--until`` in ``tz``.

    ``--since`` is inclusive. ``--until`` is exclusive for a timestamp; a bare date means up to
    the end of that day, so ``--since 2026-10-01 --until 2026-10-31`` is all of October.
    """
    start = parse_instant(since, tz) if since else None
    end = None
    if until:
        if _DATE_ONLY.match(until):
            day = date.fromisoformat(until.strip()) + timedelta(days=1)
            end = parse_instant(datetime.combine(day, time()).isoformat(), tz)
        else:
            end = parse_instant(until, tz)
    if start is not None and end is not None and start >= end:
        raise UsageError(
            f"--since {since} is not before --until {until}: the time range is empty; "
            "swap them or widen the range"
        )
    return TimeRange(start, end)


def status_predicate(spec: str) -> pl.Expr:
    """``2xx`` (a class) or ``404`` (a code) as a predicate on ``status`` (false when null)."""
    parsed = parse_status_spec(spec)
    if parsed is None:
        raise UsageError(
            f"cannot read status {spec!r}: use a class such as 2xx or 5xx, or a code such as 404"
        )
    _, low, high = parsed
    return pl.col("status").is_between(low, high).fill_null(False)


def path_predicate(globs: Sequence[str]) -> pl.Expr:
    """Requests whose path matches any of ``globs`` (see :func:`meterlog.patterns.glob_to_regex`);
    false when the path is null."""
    return _any([pl.col("path").str.contains(glob_to_regex(glob)) for glob in globs])


def method_predicate(methods: Sequence[str]) -> pl.Expr:
    """Requests with one of ``methods`` (case-insensitive); false when the method is null."""
    wanted = sorted({method.strip().upper() for method in methods})
    return pl.col("method").str.to_uppercase().is_in(wanted).fill_null(False)


def _any(predicates: Sequence[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(predicates).fill_null(False)


def _label(option: str, values: Sequence[str]) -> str:
    return " ".join(f"{option} {value}" for value in values)


def status_filter(specs: Sequence[str]) -> OptionFilter:
    return OptionFilter(_label("--status", specs), _any([status_predicate(s) for s in specs]))


def method_filter(methods: Sequence[str]) -> OptionFilter:
    return OptionFilter(_label("--method", methods), method_predicate(methods))


def path_filter(globs: Sequence[str]) -> OptionFilter:
    """Requests whose path (without query string) matches any of ``globs``."""
    return OptionFilter(_label("--path", globs), path_predicate(globs))


def exclude_path_filter(globs: Sequence[str]) -> OptionFilter:
    """Requests whose path matches none of ``globs`` (a request without path is kept)."""
    return OptionFilter(_label("--exclude-path", globs), ~path_predicate(globs))


def exclude_bots_filter(patterns: Sequence[str]) -> OptionFilter:
    """Requests whose user agent contains none of ``patterns`` (case-insensitive)."""
    if not patterns:
        return OptionFilter("--exclude-bots", pl.lit(True))
    is_bot = pl.col("user_agent").str.contains_any(list(patterns), ascii_case_insensitive=True)
    return OptionFilter("--exclude-bots", ~is_bot.fill_null(False))


def value_filter(option: str, column: str, values: Sequence[str]) -> OptionFilter:
    """Requests whose ``column`` (e.g. the resolved ``account``) is one of ``values``."""
    predicate = pl.col(column).is_in(list(values)).fill_null(False)
    return OptionFilter(_label(option, values), predicate)
