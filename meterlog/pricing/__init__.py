"""Pricing models: one module per model behind :class:`~meterlog.pricing.base.PricingModel`.

To add a model, write a module with a ``PricingModel`` subclass and register it in
:data:`PRICING_MODELS` under the name plan files use (``pricing = "..."``).
"""

from __future__ import annotations

from collections.abc import Mapping

from meterlog.pricing.base import ChargeAmount, Priced, PricingModel, price_charge
from meterlog.pricing.currency import MINOR_UNITS, Currency
from meterlog.pricing.graduated import Graduated
from meterlog.pricing.package import Package
from meterlog.pricing.per_unit import PerUnit
from meterlog.pricing.volume import Volume
from meterlog.validation import ParameterError

#: Pricing model name -> implementation.
PRICING_MODELS: dict[str, type[PricingModel]] = {
    model.kind: model for model in (PerUnit, Graduated, Volume, Package)
}

__all__ = [
    "MINOR_UNITS",
    "PRICING_MODELS",
    "ChargeAmount",
    "Currency",
    "Graduated",
    "Package",
    "PerUnit",
    "Priced",
    "PricingModel",
    "Volume",
    "price_charge",
    "pricing_from_params",
]


def pricing_from_params(kind: str, params: Mapping[str, object]) -> PricingModel:
    """The pricing model named ``kind`` built from ``params`` (its own keys only)."""
    if kind not in PRICING_MODELS:
        raise ParameterError(
            "pricing", f"unknown pricing {kind!r}; use one of {', '.join(PRICING_MODELS)}"
        )
    return PRICING_MODELS[kind].from_params(params)
