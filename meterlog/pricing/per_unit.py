"""``per_unit``: every billable unit at ``unit_price``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Self

from meterlog.pricing.base import Priced, PricingModel, exact
from meterlog.validation import check_keys, money


@dataclass(frozen=True)
class PerUnit(PricingModel):
    unit_price: Decimal

    kind = "per_unit"
    keys: ClassVar[tuple[str, ...]] = ("unit_price",)

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        check_keys(params, cls.keys, "per_unit pricing")
        return cls(unit_price=money(params, "unit_price"))

    def price(self, units: int) -> Priced:
        with exact():
            return Priced(units * self.unit_price, f"{units} @ {self.unit_price}")
