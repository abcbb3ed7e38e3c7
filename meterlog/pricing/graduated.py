"""``graduated``: each tier prices the units that fall in it at its own rate.

With tiers 0-1000 at 0 and above at 0.01, 1500 units cost 1000 x 0 + 500 x 0.01 = 5.00.
A tier's ``flat_amount`` is added once when the quantity reaches the tier (at least one unit
in it); zero units reach no tier and cost nothing. Unit prices are per ``per`` units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Self

from meterlog.pricing.base import Priced, PricingModel, PricingSpec
from meterlog.pricing.currency import exact
from meterlog.pricing.tiers import Per, Tier, Tiers, checked_tiers, price_text


class GraduatedSpec(PricingSpec, tag="graduated", kw_only=True):
    what = "graduated pricing"
    tiers: Tiers
    per: Per = 1


@dataclass(frozen=True)
class Graduated(PricingModel):
    tiers: tuple[Tier, ...]
    per: int = 1

    kind = "graduated"
    spec = GraduatedSpec

    @classmethod
    def from_spec(cls, spec: GraduatedSpec) -> Self:
        return cls(tiers=checked_tiers(spec.tiers), per=spec.per)

    def price(self, units: int) -> Priced:
        amount = Decimal(0)
        parts = []
        with exact():
            for tier in self.tiers:
                upper = units if tier.up_to is None else min(units, tier.up_to)
                in_tier = upper - tier.start
                if in_tier <= 0:
                    break
                amount += in_tier * tier.unit_price / self.per + tier.flat_amount
                part = f"{in_tier} @ {price_text(tier.unit_price, self.per)}"
                parts.append(part + (f" + flat {tier.flat_amount}" if tier.flat_amount else ""))
        first = price_text(self.tiers[0].unit_price, self.per)
        return Priced(amount, " + ".join(parts) or f"0 @ {first}")
