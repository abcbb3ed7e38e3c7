"""Durations as people write them in options and config files: ``90s``, ``5m``, ``36h``,
``30d``, ``2w``. One parser for every command, so every option accepts the same forms."""

from __future__ import annotations

import re
from datetime import timedelta

from meterlog.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
FORMS = "a whole number with s, m, h, d or w, e.g. 90s, 5m, 36h, 30d or 2w"


def parse_duration(text: str, what: str, *, default_unit: str | None = None) -> timedelta:
    """``text`` as a duration; ``what`` names the option in the error (exit 2).

    A bare number takes ``default_unit`` when one is given and is refused otherwise.
    """
    match = _DURATION.match(text)
    unit = match.group(2) or default_unit if match else None
    if match is None or unit is None:
        raise UsageError(f"{what} {text!r}: give {FORMS}")
    return timedelta(seconds=int(match.group(1)) * _SECONDS[unit])


def format_duration(delta: timedelta) -> str:
    """The shortest exact form: ``timedelta(days=14)`` is ``2w``, 90 seconds ``90s``."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
