"""Durations in detector parameters and options: ``90s``, ``10m``, ``1h``, ``28d``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

from meterlog.errors import MeterlogError

_DURATION = re.compile(r"^\s*([0-9]+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str, where: str) -> timedelta:
    """A positive duration such as ``10m``; MeterlogError naming ``where`` if not."""
    match = _DURATION.match(str(text))
    if match is None or int(match.group(1)) == 0:
        raise MeterlogError(
            f"{where}: {text!r} is not a duration; use a number with s, m, h, d or w, e.g. 10m"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
