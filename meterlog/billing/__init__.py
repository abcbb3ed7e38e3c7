"""Billing: invoices from plans and metered usage, and what stands behind them.

* :mod:`~meterlog.billing.invoice`: the invoice of a period (:func:`compute_invoice`);
* :mod:`~meterlog.billing.completeness`: whether the store holds the whole period yet;
* :mod:`~meterlog.billing.evidence`: the inputs behind an account's lines (``--explain``);
* :mod:`~meterlog.billing.previous`: reading an invoice CSV written earlier;
* :mod:`~meterlog.billing.adjustments`: what changed between two invoices (``--compare``).

Events are read through :mod:`meterlog.events`, identities through :mod:`meterlog.identity`.
"""

from __future__ import annotations

from meterlog.billing.adjustments import ADJUSTMENT_COLUMNS, adjustment_frame, adjustments
from meterlog.billing.completeness import completeness_problems
from meterlog.billing.evidence import explain_account
from meterlog.billing.invoice import (
    INVOICE_COLUMNS,
    Invoice,
    amount_dtype,
    compute_invoice,
    identity_warnings,
    invoice_frame,
)
from meterlog.billing.previous import load_previous_invoice
from meterlog.events import identified_events, resolve_version
from meterlog.identity import Identity

__all__ = [
    "ADJUSTMENT_COLUMNS",
    "INVOICE_COLUMNS",
    "Identity",
    "Invoice",
    "adjustment_frame",
    "adjustments",
    "amount_dtype",
    "completeness_problems",
    "compute_invoice",
    "explain_account",
    "identified_events",
    "identity_warnings",
    "invoice_frame",
    "load_previous_invoice",
    "resolve_version",
]
