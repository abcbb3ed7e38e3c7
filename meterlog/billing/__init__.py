"""Billing: invoices from plans and metered usage, and what stands behind them.

* :mod:`~meterlog.billing.invoice`: the invoice of a period (:func:`compute_invoice`);
* :mod:`~meterlog.billing.completeness`: whether the store holds the whole period yet;
* :mod:`~meterlog.billing.quality`: the data-quality block of an invoice;
* :mod:`~meterlog.billing.evidence`: the inputs behind an account's lines (``--explain``);
* :mod:`~meterlog.billing.previous`: reading an invoice CSV written earlier;
* :mod:`~meterlog.billing.adjustments`: what changed between two invoices (``--compare``).

Events are read through :mod:`meterlog.query.events`, identities through
:mod:`meterlog.query.identity`.
"""

from __future__ import annotations

from meterlog.billing.adjustments import ADJUSTMENT_COLUMNS, adjustment_frame, adjustments
from meterlog.billing.completeness import completeness_problems
from meterlog.billing.evidence import explain_account
from meterlog.billing.invoice import (
    INVOICE_COLUMNS,
    Invoice,
    compute_invoice,
    identity_warnings,
    invoice_frame,
    invoice_json,
)
from meterlog.billing.previous import load_previous_invoice
from meterlog.billing.quality import Quality, data_quality
from meterlog.query.events import identified_events, resolve_version
from meterlog.query.identity import Identity

__all__ = [
    "ADJUSTMENT_COLUMNS",
    "INVOICE_COLUMNS",
    "Identity",
    "Invoice",
    "Quality",
    "adjustment_frame",
    "adjustments",
    "completeness_problems",
    "compute_invoice",
    "data_quality",
    "explain_account",
    "identified_events",
    "identity_warnings",
    "invoice_frame",
    "invoice_json",
    "load_previous_invoice",
    "resolve_version",
]
