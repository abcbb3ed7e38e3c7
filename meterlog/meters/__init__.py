"""Billing meters: one module per meter behind :class:`~meterlog.meters.base.Meter`.

To add a meter, write a module with a ``Meter`` subclass and register it in :data:`METERS`
under the name plan files use (``meter = "..."``).
"""

from __future__ import annotations

from collections.abc import Mapping

from meterlog.meters.base import (
    Meter,
    Period,
    RequestFilter,
    events_between,
    events_in_period,
)
from meterlog.meters.count import CountMeter
from meterlog.meters.mau import MauMeter
from meterlog.meters.peak import PeakMeter
from meterlog.meters.sum import SumMeter
from meterlog.meters.unique import UniqueMeter
from meterlog.validation import ParameterError

#: Meter name -> implementation.
METERS: dict[str, type[Meter]] = {
    meter.kind: meter for meter in (MauMeter, PeakMeter, CountMeter, SumMeter, UniqueMeter)
}

__all__ = [
    "METERS",
    "CountMeter",
    "MauMeter",
    "Meter",
    "PeakMeter",
    "Period",
    "RequestFilter",
    "SumMeter",
    "UniqueMeter",
    "events_between",
    "events_in_period",
    "meter_from_params",
]


def meter_from_params(kind: str, params: Mapping[str, object]) -> Meter:
    """The meter named ``kind`` built from ``params`` (its own keys only)."""
    if kind not in METERS:
        raise ParameterError("meter", f"unknown meter {kind!r}; use one of {', '.join(METERS)}")
    return METERS[kind].from_params(params)
