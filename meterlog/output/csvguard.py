"""The CSV formula guard and its inverse, in one place.

A text cell that starts with ``= + - @``, a tab or a carriage return is run as a formula by
spreadsheets (CSV injection). :func:`neutralise_text` writes such a value with a leading ``'``
(OWASP's advice); :func:`restore_text` undoes it when meterlog reads its own CSV back (an
invoice passed to ``bill --compare``).
"""

from __future__ import annotations

import polars as pl

#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Columns of invoices and adjustments that hold amounts as decimal text (so each amount keeps
#: its currency's decimals). A plain decimal number there (``-1.50``, a negative difference) is
#: written as it is: a spreadsheet reads it as that number, never as a formula.
AMOUNT_COLUMNS = frozenset({"amount", "previous_amount", "new_amount", "difference"})
_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


def neutralise_text(column: pl.Expr, amounts: bool = False) -> pl.Expr:
    """Prefix a single quote to text starting with ``= + - @``, tab or CR.

    The quote makes spreadsheets show the value as text instead of running it as a formula
    (OWASP's recommendation for CSV injection). Other values are unchanged, and so are plain
    decimal numbers such as ``-1.50`` when ``amounts`` (a column of :data:`AMOUNT_COLUMNS`).
    """
    starts_with_formula = column.str.slice(0, 1).is_in(list(FORMULA_PREFIXES))
    if amounts:
        starts_with_formula = starts_with_formula & ~column.str.contains(_PLAIN_NUMBER)
    return pl.when(starts_with_formula).then(pl.lit("'") + column).otherwise(column)


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Apply :func:`neutralise_text` to every text column of ``frame``."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        neutralise_text(pl.col(name), name in AMOUNT_COLUMNS).alias(name) for name in text_columns
    )


def restore_text(value: str | None) -> str | None:
    """The value :func:`neutralise_text` was given: the guard's ``'`` removed."""
    if value and value.startswith("'") and value[1:2] in FORMULA_PREFIXES:
        return value[1:]
    return value
