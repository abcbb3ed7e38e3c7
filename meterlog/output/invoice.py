"""The invoice as a table shows it: one line per account and charge, compacted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    pass


#: Columns of ``bill``'s compact table on a terminal, when the invoice has them.
INVOICE_TABLE_COLUMNS = ("account", "charge", "quantity", "unit_price", "amount")


@dataclass(frozen=True)
class InvoiceView:
    """The invoice as people read it: the few columns of :data:`INVOICE_TABLE_COLUMNS` (plus
    ``currency`` when the invoice has several), with the period and currency for the title."""

    frame: pl.DataFrame
    periods: tuple[str, ...]
    currencies: tuple[str, ...]

    def describe(self) -> str:
        """``2026-10-01 to 2026-10-31, EUR`` (periods and currencies as found in the lines)."""
        parts = [", ".join(self.periods)] if self.periods else []
        if self.currencies:
            parts.append(", ".join(self.currencies))
        return ", ".join(parts)


def compact_invoice(lines: pl.DataFrame) -> InvoiceView:
    """The compact view of ``bill``'s lines; columns are picked by name, so lines with more or
    fewer columns work too. Each account's ``TOTAL`` line stays as its total."""
    currencies: tuple[str, ...] = ()
    if "currency" in lines.columns:
        currencies = tuple(sorted(v for v in lines.get_column("currency").unique() if v))
    periods: tuple[str, ...] = ()
    if {"period_start", "period_end"} <= set(lines.columns) and lines.height:
        spans = lines.select(
            pl.col("period_start").cast(pl.String).str.slice(0, 10).alias("first"),
            (
                pl.col("period_end").cast(pl.String).str.slice(0, 19).str.to_datetime()
                - pl.duration(days=1)
            )
            .dt.strftime("%Y-%m-%d")
            .alias("last"),
        ).unique(maintain_order=True)
        periods = tuple(f"{first} to {last}" for first, last in spans.iter_rows())
    columns = [name for name in INVOICE_TABLE_COLUMNS if name in lines.columns]
    if len(currencies) > 1:
        columns.append("currency")
    return InvoiceView(lines.select(columns), periods, currencies)
