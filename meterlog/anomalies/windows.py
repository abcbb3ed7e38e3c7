"""Durations in detector parameters and options (``90s``, ``10m``, ``1h``, ``28d``, ``2w``)."""

from __future__ import annotations

from datetime import timedelta

from meterlog.durations import parse_duration
from meterlog.errors import UsageError


def parse_window(text: str, where: str) -> timedelta:
    """A positive duration such as ``10m``; UsageError naming ``where`` if not."""
    delta = parse_duration(str(text), where)
    if delta <= timedelta(0):
        raise UsageError(f"{where} {text!r}: give a duration longer than zero, e.g. 10m")
    return delta
