"""Output writers shared by every report command: table, CSV, JSON, NDJSON and Parquet.

* ``table``: a rich table for people (numbers right-aligned with thousands separators, optional
  totals row).
* ``csv``: RFC 4180, one header row, UTF-8, ISO 8601 timestamps with offset, plain numbers, and
  text cells that a spreadsheet would run as a formula neutralised (see
  :mod:`meterlog.output.csvguard`).
* ``json`` (an array of objects) and ``ndjson`` (one object per line): native types; exact
  decimals (money) are written as strings so no reader turns them into floats.
* ``parquet``: native types.

The default is ``table`` when writing to a terminal and ``csv`` otherwise, so
``meterlog usage --by day | ...`` gives CSV.

* :mod:`~meterlog.output.files`: choosing the format and writing the report;
* :mod:`~meterlog.output.tables`: tables fitted to a terminal;
* :mod:`~meterlog.output.invoice`: the invoice as a table shows it;
* :mod:`~meterlog.output.csvguard`: the CSV formula guard and its inverse.
"""

from meterlog.output.files import (
    OUTPUT_FORMATS,
    TIME_FORMATS,
    format_times,
    frame_to_csv,
    resolve_output_format,
    write_report,
)
from meterlog.output.invoice import InvoiceView, compact_invoice
from meterlog.output.tables import (
    bar_expr,
    cut_middle,
    printable_frame,
    readable_datetimes,
    render_table,
    with_blank_labels,
)

__all__ = [
    "OUTPUT_FORMATS",
    "TIME_FORMATS",
    "InvoiceView",
    "bar_expr",
    "compact_invoice",
    "cut_middle",
    "format_times",
    "frame_to_csv",
    "printable_frame",
    "readable_datetimes",
    "render_table",
    "resolve_output_format",
    "with_blank_labels",
    "write_report",
]
