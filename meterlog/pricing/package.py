"""``package``: ``package_price`` per started block of ``package_size`` units.

Partial blocks are rounded up: with blocks of 1000, 1 to 1000 units cost one block, 1001 units
two. Zero units cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Self

from meterlog.pricing.base import Priced, PricingModel, PricingSpec
from meterlog.pricing.currency import exact
from meterlog.validation import Money, key


class PackageSpec(PricingSpec, tag="package", kw_only=True):
    what = "package pricing"
    package_size: Annotated[int, key("units in one package (a started package is billed)", ge=1)]
    package_price: Annotated[Money, key("price of one package")]


@dataclass(frozen=True)
class Package(PricingModel):
    package_size: int
    package_price: Decimal

    kind = "package"
    spec = PackageSpec

    @classmethod
    def from_spec(cls, spec: PackageSpec) -> Self:
        return cls(package_size=spec.package_size, package_price=Decimal(spec.package_price))

    def price(self, units: int) -> Priced:
        packages = -(-units // self.package_size)
        with exact():
            return Priced(
                packages * self.package_price,
                f"{packages} x {self.package_size} units @ {self.package_price}",
            )
