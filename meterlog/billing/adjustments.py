"""Adjustments: what changed between two invoices of the same period (late data, re-rating)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import polars as pl

from meterlog.errors import MeterlogError
from meterlog.plans import TOTAL_CHARGE

#: Columns of an adjustments report (``--compare``, ``--since-version``).
ADJUSTMENT_COLUMNS: dict[str, pl.DataType] = {
    "account": pl.String(),
    "charge": pl.String(),
    "currency": pl.String(),
    "previous_quantity": pl.Int64(),
    "new_quantity": pl.Int64(),
    "previous_amount": pl.Decimal(38, 2),
    "new_amount": pl.Decimal(38, 2),
    "difference": pl.Decimal(38, 2),
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
        old_amount = old_row.get("amount") or Decimal(0)
        new_amount = new_row.get("amount") or Decimal(0)
        line = {
            "account": key[0],
            "charge": key[1],
            "currency": (new_row or old_row)["currency"],
            "previous_quantity": old_row.get("quantity"),
            "new_quantity": new_row.get("quantity"),
            "previous_amount": old_amount,
            "new_amount": new_amount,
            "difference": new_amount - old_amount,  # type: ignore[operator]
            "previous_store_version": old_row.get("store_version"),
            "store_version": new_row.get("store_version"),
        }
        differs = (
            not old_row
            or not new_row
            or line["difference"] != 0
            or line["previous_quantity"] != line["new_quantity"]
        )
        if differs or key[1] == TOTAL_CHARGE:
            per_account.setdefault(key[0], []).append({**line, "differs": differs})
    rows = []
    for lines in per_account.values():
        if any(line["differs"] for line in lines):
            rows += [{k: v for k, v in line.items() if k != "differs"} for line in lines]
    return adjustment_frame(rows)


def adjustment_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Adjustment lines as a frame; amounts keep the most decimals any of them has."""
    exponents = [
        -int(value.as_tuple().exponent)
        for row in rows
        for value in (row["previous_amount"], row["new_amount"])
        if isinstance(value, Decimal) and isinstance(value.as_tuple().exponent, int)
    ]
    scale = max([2, *exponents])
    schema = {
        name: pl.Decimal(38, scale) if isinstance(dtype, pl.Decimal) else dtype
        for name, dtype in ADJUSTMENT_COLUMNS.items()
    }
    return pl.DataFrame(rows, schema=schema)
