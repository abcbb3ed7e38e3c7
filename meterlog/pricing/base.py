"""The interface every pricing model implements, and the charge terms around it.

A pricing model turns a billable quantity (whole units) into an exact, unrounded
:class:`~decimal.Decimal` amount with a short text saying how (``1000 @ 0 + 500 @ 0.01``).
:func:`price_charge` adds what every charge has: ``included`` free units, a ``minimum``
amount, a ``maximum`` amount (a cap), and rounding half-even to the currency's minor unit.

Adding a pricing model is adding a module with a :class:`PricingModel` subclass, its
:class:`PricingSpec` and an entry in :data:`meterlog.pricing.PRICING_MODELS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Self

from meterlog.pricing.currency import Currency, exact
from meterlog.validation import Spec, read


@dataclass(frozen=True)
class Priced:
    """An unrounded amount and how it was reached (for the invoice's ``unit_price``)."""

    amount: Decimal
    detail: str


class PricingSpec(Spec, tag_field="pricing", kw_only=True):
    """The keys of a pricing model in a charge table; ``pricing`` (the tag) names the model."""


class PricingModel(ABC):
    """A way to price a number of units (see the module doc)."""

    #: The name used in plan files (``pricing = "graduated"``) and the registry.
    kind: ClassVar[str]
    #: The model's keys in a plan's charge table (its tag is :attr:`kind`).
    spec: ClassVar[type[PricingSpec]]

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        """Build the model from a plan charge table (only this model's keys are passed);
        :class:`~meterlog.validation.ParameterError` naming the key if a value is wrong."""
        return cls.from_spec(read({**params, "pricing": cls.kind}, cls.spec))

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: Any) -> Self:
        """Build the model from its checked keys."""

    @abstractmethod
    def price(self, units: int) -> Priced:
        """The exact amount for ``units`` (>= 0) billable units."""


@dataclass(frozen=True)
class ChargeAmount:
    """A priced invoice line: units billed, rounded amount, and how it was computed."""

    billable_quantity: int
    amount: Decimal
    detail: str


def price_charge(
    model: PricingModel,
    quantity: int,
    currency: Currency,
    included: int = 0,
    minimum: Decimal = Decimal(0),
    maximum: Decimal | None = None,
) -> ChargeAmount:
    """Price one charge: ``included`` units are free, the model prices the rest, the amount is
    at least ``minimum`` and at most ``maximum`` (when given), and the result is rounded
    half-even to the currency's minor unit."""
    billable = max(0, quantity - included)
    with exact():
        priced = model.price(billable)
        amount, detail = priced.amount, priced.detail
        # a prorated minimum or maximum (9.00 x 17/31) is shown as the money it bills
        if amount < minimum:
            amount, detail = minimum, f"{detail}; minimum {currency.text(minimum)} applies"
        if maximum is not None and amount > maximum:
            amount, detail = maximum, f"{detail}; maximum {currency.text(maximum)} applies"
    return ChargeAmount(billable, currency.round(amount), detail)
