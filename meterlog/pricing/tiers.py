"""Price tiers shared by ``graduated`` and ``volume`` pricing.

A tier covers the units after ``from`` up to and including ``up_to``: with tiers
``{up_to = 1000}`` and ``{from = 1000, up_to = 10000}``, units 1..1000 are in the first and
units 1001..10000 in the second. ``from`` may be left out: it is then the previous tier's
``up_to`` (0 for the first tier). The last tier leaves out ``up_to`` (no upper limit), so
every quantity has a price. Tiers must follow each other without gap or overlap.

A tier may also have a ``flat_amount``, charged once when the quantity reaches the tier (as
in Stripe's and OpenMeter's tiers). Unit prices may be quoted per ``per`` units (a key of the
charge, e.g. ``per = 1000`` for a price per thousand requests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import msgspec

from meterlog.validation import Money, ParameterError, Spec, key, read

#: The ``per`` key of a charge: how many units a unit price is quoted for.
Per = Annotated[int, key("units a unit price is quoted for (`1000`: a price per thousand)", ge=1)]


class TierSpec(Spec, kw_only=True):
    """One tier of ``tiers = [...]`` (see the module doc)."""

    what = "a tier"
    start: Annotated[
        Annotated[int, msgspec.Meta(ge=0)] | None,
        key("the tier covers the units after this one (default: the previous tier's `up_to`)"),
    ] = msgspec.field(default=None, name="from")
    up_to: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        key("last unit of the tier (left out in the last tier only)"),
    ] = None
    unit_price: Annotated[
        Money | None, key("price of one unit (of `per`); required unless `flat_amount` is given")
    ] = None
    flat_amount: Annotated[
        Money | None, key("amount charged once when the quantity reaches the tier")
    ] = None

    def __post_init__(self) -> None:
        if self.unit_price is None and self.flat_amount is None:
            raise ParameterError("unit_price", "is required")


Tiers = Annotated[
    list[TierSpec],
    key(
        "the price tiers, in order (see [Tiers](#tiers))",
        min_length=1,
        reason="must be a non-empty list of tables",
    ),
]


class _TiersSpec(Spec, kw_only=True):
    what = "tiered pricing"
    tiers: Tiers


@dataclass(frozen=True)
class Tier:
    """Units ``start + 1`` to ``up_to`` (no limit when ``None``) at ``unit_price`` each."""

    start: int
    up_to: int | None
    unit_price: Decimal
    flat_amount: Decimal = Decimal(0)

    def contains(self, units: int) -> bool:
        return units > self.start and (self.up_to is None or units <= self.up_to)


def parse_tiers(params: Mapping[str, object]) -> tuple[Tier, ...]:
    """The ``tiers`` list of a charge table, checked as described in the module doc."""
    given = {"tiers": params["tiers"]} if "tiers" in params else {}
    return checked_tiers(read(given, _TiersSpec).tiers)


def checked_tiers(specs: list[TierSpec]) -> tuple[Tier, ...]:
    """The ``tiers`` of a charge, checked as described in the module doc."""
    tiers: list[Tier] = []
    previous_end = 0
    last = len(specs) - 1
    for index, spec in enumerate(specs):
        where = f"tiers[{index}]"
        start = previous_end if spec.start is None else spec.start
        up_to = spec.up_to
        if start < previous_end:
            raise ParameterError(
                where, f"tiers overlap: starts at {start} but previous tier ends at {previous_end}"
            )
        if start > previous_end:
            reason = (
                f"the first tier must start at 0, not {start}"
                if index == 0
                else f"tiers leave a gap: starts at {start} but previous tier ends at "
                f"{previous_end}, so units {previous_end + 1} to {start} have no price"
            )
            raise ParameterError(where, reason)
        if up_to is None and index != last:
            raise ParameterError(
                where, "only the last tier may leave out up_to (it is the one without a limit)"
            )
        if up_to is not None and index == last:
            raise ParameterError(
                where,
                f"the last tier must leave out up_to (here {up_to}) so every quantity has a price",
            )
        if up_to is not None and up_to <= start:
            reason = (
                f"tier ends at {up_to}, not after its start {start}"
                if spec.start is not None
                else f"tiers out of order: up_to {up_to} is not above the previous tier's "
                f"up_to {start}"
            )
            raise ParameterError(where, reason)
        unit_price = Decimal(spec.unit_price if spec.unit_price is not None else 0)
        flat_amount = Decimal(spec.flat_amount if spec.flat_amount is not None else 0)
        tiers.append(Tier(start, up_to, unit_price, flat_amount))
        previous_end = up_to if up_to is not None else previous_end
    return tuple(tiers)


def price_text(unit_price: Decimal, per: int) -> str:
    """``0.50`` or ``0.50/1000`` (a price per 1000 units)."""
    return f"{unit_price}/{per}" if per != 1 else str(unit_price)
