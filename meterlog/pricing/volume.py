"""``volume``: the tier the quantity falls in prices all units.

With tiers 0-1000 at 0.01 and above at 0.008, 1000 units cost 1000 x 0.01 = 10.00 and 1500
units 1500 x 0.008 = 12.00. Zero units are in the first tier (and cost nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

from meterlog.pricing.base import Priced, PricingModel, exact
from meterlog.pricing.tiers import Tier, parse_tiers
from meterlog.validation import check_keys


@dataclass(frozen=True)
class Volume(PricingModel):
    tiers: tuple[Tier, ...]

    kind = "volume"
    keys: ClassVar[tuple[str, ...]] = ("tiers",)

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        check_keys(params, cls.keys, "volume pricing")
        return cls(tiers=parse_tiers(params))

    def price(self, units: int) -> Priced:
        number = next((index for index, tier in enumerate(self.tiers) if tier.contains(units)), 0)
        tier = self.tiers[number]
        with exact():
            amount = units * tier.unit_price
        return Priced(
            amount, f"{units} @ {tier.unit_price} (tier {number + 1} of {len(self.tiers)})"
        )
