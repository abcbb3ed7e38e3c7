"""``per_unit``: every billable unit at ``unit_price`` (quoted per ``per`` units, default 1).

With ``unit_price = "0.50"`` and ``per = 1000``, 1500 units cost 1500 x 0.50 / 1000 = 0.75.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Self

from meterlog.pricing.base import Priced, PricingModel
from meterlog.pricing.currency import exact
from meterlog.pricing.tiers import per_units, price_text
from meterlog.validation import check_keys, money


@dataclass(frozen=True)
class PerUnit(PricingModel):
    unit_price: Decimal
    per: int = 1

    kind = "per_unit"
    keys: ClassVar[tuple[str, ...]] = ("unit_price", "per")

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        check_keys(params, cls.keys, "per_unit pricing")
        return cls(unit_price=money(params, "unit_price"), per=per_units(params))

    def price(self, units: int) -> Priced:
        with exact():
            return Priced(
                units * self.unit_price / self.per,
                f"{units} @ {price_text(self.unit_price, self.per)}",
            )
