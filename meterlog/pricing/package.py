"""``package``: ``package_price`` per started block of ``package_size`` units.

Partial blocks are rounded up: with blocks of 1000, 1 to 1000 units cost one block, 1001 units
two. Zero units cost nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Self

from meterlog.pricing.base import Priced, PricingModel
from meterlog.pricing.currency import exact
from meterlog.validation import check_keys, money, whole_number


@dataclass(frozen=True)
class Package(PricingModel):
    package_size: int
    package_price: Decimal

    kind = "package"
    keys: ClassVar[tuple[str, ...]] = ("package_size", "package_price")

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> Self:
        check_keys(params, cls.keys, "package pricing")
        return cls(
            package_size=whole_number(params, "package_size", minimum=1),
            package_price=money(params, "package_price"),
        )

    def price(self, units: int) -> Priced:
        packages = -(-units // self.package_size)
        with exact():
            return Priced(
                packages * self.package_price,
                f"{packages} x {self.package_size} units @ {self.package_price}",
            )
