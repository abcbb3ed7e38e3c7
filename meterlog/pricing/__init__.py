"""Pricing models: one module per model behind :class:`~meterlog.pricing.base.PricingModel`.

To add a model, write a module with a ``PricingModel`` subclass and its keys (a
:class:`~meterlog.pricing.base.PricingSpec` tagged with the name plan files use,
``pricing = "..."``), and register it in :data:`PRICING_MODELS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from meterlog.pricing.base import ChargeAmount, Priced, PricingModel, PricingSpec, price_charge
from meterlog.pricing.currency import MINOR_UNITS, Currency
from meterlog.pricing.graduated import Graduated
from meterlog.pricing.package import Package
from meterlog.pricing.per_unit import PerUnit
from meterlog.pricing.volume import Volume
from meterlog.validation import read

#: Pricing model name -> implementation.
PRICING_MODELS: dict[str, type[PricingModel]] = {
    model.kind: model for model in (PerUnit, Graduated, Volume, Package)
}
#: The keys of every model, a union tagged by ``pricing`` (the model's name).
PRICING_SPECS: Any = Union[tuple(model.spec for model in PRICING_MODELS.values())]  # noqa: UP007

__all__ = [
    "MINOR_UNITS",
    "PRICING_MODELS",
    "PRICING_SPECS",
    "ChargeAmount",
    "Currency",
    "Graduated",
    "Package",
    "PerUnit",
    "Priced",
    "PricingModel",
    "PricingSpec",
    "Volume",
    "price_charge",
    "pricing_from_params",
]


def pricing_from_params(kind: str, params: Mapping[str, object]) -> PricingModel:
    """The pricing model named ``kind`` built from ``params`` (its own keys only);
    :class:`~meterlog.validation.ParameterError` naming the key if one is wrong."""
    spec: PricingSpec = read({**params, "pricing": kind}, PRICING_SPECS)
    return PRICING_MODELS[kind].from_spec(spec)
