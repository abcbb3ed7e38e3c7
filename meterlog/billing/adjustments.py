"""Adjustments: what changed between two invoices of the same period (late data, re-rating)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import polars as pl

from meterlog.billing.plans import TOTAL_CHARGE
from meterlog.errors import MeterlogError

#: Columns of an adjustments report (``--compare``, ``--since-version``). Amounts are decimal
#: text with the decimals of the invoices compared (the currency's minor unit).
ADJUSTMENT_COLUMNS: dict[str, pl.DataType] = {
    "account": pl.String(),
    "charge": pl.String(),
    "currency": pl.String(),
    "previous_quantity": pl.Int64(),
    "new_quantity": pl.Int64(),
    "previous_amount": pl.String(),
    "new_amount": pl.String(),
    "difference": pl.String(),
    "previous_store_version": pl.Int64(),
    "store_version": pl.Int64(),
}


def adjustments(
    previous: Iterable[Mapping[str, object]], current: pl.DataFrame, source: str
) -> pl.DataFrame:
    """Per account and charge, what changed between two invoices of the same period.

    Lines whose quantity or amount differ, or that are in only one of the invoices (counted
    from 0), are listed, followed for each such account by its ``TOTAL`` line. ``source``
    names the previous invoice in error messages.
    """
    before = {(row["account"], row["charge"]): row for row in previous}
    after = {(row["account"], row["charge"]): row for row in current.iter_rows(named=True)}
    periods_before = {row["account"]: row["period_start"] for row in before.values()}
    for row in after.values():
        old = periods_before.get(row["account"])
        if old is not None and old != row["period_start"]:
            raise MeterlogError(
                f"{source} bills {row['account']} for the period starting {old}, this run for "
                f"{row['period_start']}: compare invoices of the same period"
            )
    # Charge order as in the new invoice, then charges only the previous one had.
    position = {key: index for index, key in enumerate([*after, *before])}
    keys = sorted(set(before) | set(after), key=lambda key: (str(key[0]), position[key]))
    per_account: dict[object, list[dict[str, object]]] = {}
    for key in keys:
        old_row, new_row = before.get(key, {}), after.get(key, {})
        if old_row and new_row and old_row["currency"] != new_row["currency"]:
            raise MeterlogError(
                f"{source}: {key[0]} {key[1]} was billed in {old_row['currency']}, now in "
                f"{new_row['currency']}: amounts in different currencies cannot be compared"
            )
        old_amount = _decimal(old_row.get("amount"))
        new_amount = _decimal(new_row.get("amount"))
        places = max(_places(old_row.get("amount")), _places(new_row.get("amount")))
        line = {
            "account": key[0],
            "charge": key[1],
            "currency": (new_row or old_row)["currency"],
            "previous_quantity": old_row.get("quantity"),
            "new_quantity": new_row.get("quantity"),
            "previous_amount": _text(old_amount, places),
            "new_amount": _text(new_amount, places),
            "difference": _text(new_amount - old_amount, places),
            "previous_store_version": old_row.get("store_version"),
            "store_version": new_row.get("store_version"),
        }
        differs = (
            not old_row
            or not new_row
            or new_amount != old_amount
            or line["previous_quantity"] != line["new_quantity"]
        )
        if differs or key[1] == TOTAL_CHARGE:
            per_account.setdefault(key[0], []).append({**line, "differs": differs})
    rows = []
    for lines in per_account.values():
        if any(line["differs"] for line in lines):
            rows += [{k: v for k, v in line.items() if k != "differs"} for line in lines]
    return adjustment_frame(rows)


def _decimal(value: object) -> Decimal:
    """An amount from an invoice line (decimal text or Decimal; absent is 0)."""
    if value is None or value == "":
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _places(value: object) -> int:
    """Decimals an amount is written with (``14.96``: 2, ``1000``: 0)."""
    if value is None or value == "":
        return 0
    exponent = _decimal(value).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _text(amount: Decimal, places: int) -> str:
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f")


def adjustment_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Adjustment lines as a frame (amounts as decimal text)."""
    return pl.DataFrame(rows, schema=ADJUSTMENT_COLUMNS)
