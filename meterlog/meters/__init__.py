"""Billing meters: one module per meter behind :class:`~meterlog.meters.base.Meter`.

To add a meter, write a module with a ``Meter`` subclass and its keys (a
:class:`~meterlog.meters.base.MeterSpec` tagged with the name plan files use,
``meter = "..."``), and register it in :data:`METERS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from meterlog.meters.base import (
    Meter,
    MeterSpec,
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
from meterlog.validation import read

#: Meter name -> implementation.
METERS: dict[str, type[Meter]] = {
    meter.kind: meter for meter in (MauMeter, PeakMeter, CountMeter, SumMeter, UniqueMeter)
}
#: The keys of every meter, a union tagged by ``meter`` (the meter's name).
METER_SPECS: Any = Union[tuple(meter.spec for meter in METERS.values())]  # noqa: UP007

__all__ = [
    "METERS",
    "METER_SPECS",
    "CountMeter",
    "MauMeter",
    "Meter",
    "MeterSpec",
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
    """The meter named ``kind`` built from ``params`` (its own keys only);
    :class:`~meterlog.validation.ParameterError` naming the key if one is wrong."""
    spec: MeterSpec = read({**params, "meter": kind}, METER_SPECS)
    return METERS[kind].from_spec(spec)
