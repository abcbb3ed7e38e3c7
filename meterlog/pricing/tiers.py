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

from meterlog.validation import ParameterError, check_keys, money, table_list, whole_number

TIER_KEYS = ("from", "up_to", "unit_price", "flat_amount")


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
    tables = table_list(params, "tiers")
    tiers: list[Tier] = []
    previous_end = 0
    last = len(tables) - 1
    for index, table in enumerate(tables):
        where = f"tiers[{index}]"
        try:
            check_keys(table, TIER_KEYS, "a tier")
            unit_price = money(table, "unit_price", "0" if "flat_amount" in table else None)
            flat_amount = money(table, "flat_amount", "0")
            start = whole_number(table, "from", previous_end)
            up_to = whole_number(table, "up_to", minimum=1) if "up_to" in table else None
        except ParameterError as error:
            raise error.within(where) from None
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
                if "from" in table
                else f"tiers out of order: up_to {up_to} is not above the previous tier's "
                f"up_to {start}"
            )
            raise ParameterError(where, reason)
        tiers.append(Tier(start, up_to, unit_price, flat_amount))
        previous_end = up_to if up_to is not None else previous_end
    return tuple(tiers)


def per_units(params: Mapping[str, object]) -> int:
    """The ``per`` key: how many units a unit price is quoted for (default 1)."""
    return whole_number(params, "per", 1, minimum=1)


def price_text(unit_price: Decimal, per: int) -> str:
    """``0.50`` or ``0.50/1000`` (a price per 1000 units)."""
    return f"{unit_price}/{per}" if per != 1 else str(unit_price)
