"""``volume``: the tier the quantity falls in prices all units.

With tiers 0-1000 at 0.01 and above at 0.008, 1000 units cost 1000 x 0.01 = 10.00 and 1500
units 1500 x 0.008 = 12.00. The tier's ``flat_amount`` is added. Zero units are in the
first tier and cost nothing (no flat amount either). Unit prices are per ``per`` units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Self

from meterlog.pricing.base import Priced, PricingModel, PricingSpec
from meterlog.pricing.currency import exact
from meterlog.pricing.tiers import Per, Tier, Tiers, checked_tiers, price_text


class VolumeSpec(PricingSpec, tag="volume", kw_only=True):
    what = "volume pricing"
    tiers: Tiers
    per: Per = 1


@dataclass(frozen=True)
class Volume(PricingModel):
    tiers: tuple[Tier, ...]
    per: int = 1

    kind = "volume"
    spec = VolumeSpec

    @classmethod
    def from_spec(cls, spec: VolumeSpec) -> Self:
        return cls(tiers=checked_tiers(spec.tiers), per=spec.per)

    def price(self, units: int) -> Priced:
        number = next((index for index, tier in enumerate(self.tiers) if tier.contains(units)), 0)
        tier = self.tiers[number]
        flat = tier.flat_amount if units else Decimal(0)
        with exact():
            amount = units * tier.unit_price / self.per + flat
        detail = f"{units} @ {price_text(tier.unit_price, self.per)}"
        if flat:
            detail += f" + flat {flat}"
        return Priced(amount, f"{detail} (tier {number + 1} of {len(self.tiers)})")
