"""Reading an invoice CSV written earlier by ``meterlog bill`` (for ``--compare``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from meterlog.errors import MeterlogError, located
from meterlog.output.csvguard import restore_text

#: Columns a previous invoice CSV must have to be compared.
_PREVIOUS_REQUIRED = ("account", "charge", "quantity", "amount", "currency", "period_start")


def load_previous_invoice(path: str | Path) -> list[dict[str, object]]:
    """The lines of a previous ``meterlog bill`` CSV: ``account, charge, currency,
    period_start, quantity, amount`` (exact Decimal) and ``store_version``."""
    path = Path(path)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise MeterlogError(
            located(path, None, f"cannot read the previous invoice: {exc}")
        ) from None
    missing = [name for name in _PREVIOUS_REQUIRED if name not in frame.columns]
    if missing:
        raise MeterlogError(
            located(
                path,
                None,
                f"not a meterlog bill CSV: missing column(s) {', '.join(missing)}; "
                "pass a file written by 'meterlog bill --format csv'",
            )
        )
    lines = []
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        try:
            amount = Decimal(row["amount"])
            quantity = int(row["quantity"]) if row["quantity"] else None
            version = row.get("store_version")
            version = int(version) if version else None
        except (InvalidOperation, TypeError, ValueError):
            raise MeterlogError(
                located(path, number, "amount, quantity or store_version is not a number")
            ) from None
        lines.append(
            {
                "account": restore_text(row["account"]),
                "charge": restore_text(row["charge"]),
                "currency": row["currency"],
                "period_start": row["period_start"],
                "quantity": quantity,
                "amount": amount,
                "store_version": version,
            }
        )
    return lines
