"""``per_unit``: every billable unit at ``unit_price`` (quoted per ``per`` units, default 1).

With ``unit_price = "0.50"`` and ``per = 1000``, 1500 units cost 1500 x 0.50 / 1000 = 0.75.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Self

from meterlog.pricing.base import Priced, PricingModel, PricingSpec
from meterlog.pricing.currency import exact
from meterlog.pricing.tiers import Per, price_text
from meterlog.validation import Money, key


class PerUnitSpec(PricingSpec, tag="per_unit", kw_only=True):
    what = "per_unit pricing"
    unit_price: Annotated[Money, key("price of one unit (of `per` units)")]
    per: Per = 1


@dataclass(frozen=True)
class PerUnit(PricingModel):
    unit_price: Decimal
    per: int = 1

    kind = "per_unit"
    spec = PerUnitSpec

    @classmethod
    def from_spec(cls, spec: PerUnitSpec) -> Self:
        return cls(unit_price=Decimal(spec.unit_price), per=spec.per)

    def price(self, units: int) -> Priced:
        with exact():
            return Priced(
                units * self.unit_price / self.per,
                f"{units} @ {price_text(self.unit_price, self.per)}",
            )
