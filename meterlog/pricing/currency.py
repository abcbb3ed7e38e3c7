"""ISO 4217 currencies and their minor units (digits after the decimal point)."""

from __future__ import annotations

import contextlib
import decimal
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

#: Digits of precision for money arithmetic: far more than any quantity times price needs,
#: so products and sums are exact and only the final rounding rounds.
PRECISION = 100


@contextlib.contextmanager
def exact() -> Iterator[None]:
    """A decimal context in which quantity-times-price arithmetic is exact."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        context.traps[decimal.Inexact] = False
        yield


#: Minor units of common ISO 4217 currencies. Others can be used by giving ``minor_unit``.
MINOR_UNITS: dict[str, int] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3,
    "LYD": 3, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RON": 2,
    "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UAH": 2, "UGX": 0,
    "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip


@dataclass(frozen=True)
class Currency:
    """A currency code and its minor unit, e.g. ``Currency("EUR", 2)``."""

    code: str
    minor_unit: int

    @property
    def quantum(self) -> Decimal:
        """The smallest amount, e.g. ``0.01``."""
        return Decimal(1).scaleb(-self.minor_unit)

    def round(self, amount: Decimal) -> Decimal:
        """``amount`` rounded half-even to the minor unit (``2.345`` EUR -> ``2.34``)."""
        with exact():
            return amount.quantize(self.quantum, rounding=ROUND_HALF_EVEN)

    def text(self, amount: Decimal) -> str:
        """``amount`` rounded to the minor unit, as plain decimal text with exactly the
        currency's decimals: ``14.96`` EUR, ``1000`` JPY, ``1.235`` KWD."""
        return format(self.round(amount), "f")

    def fits(self, amount: Decimal) -> bool:
        """Whether ``amount`` has no digits below the minor unit."""
        return self.round(amount) == amount
