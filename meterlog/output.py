"""Output writers shared by every report command: table, CSV, JSON, NDJSON and Parquet.

* ``table``: a rich table for people (numbers right-aligned with thousands separators, optional
  totals row).
* ``csv``: RFC 4180, one header row, UTF-8, ISO 8601 timestamps with offset, plain numbers, and
  text cells that a spreadsheet would run as a formula neutralised (see :mod:`meterlog.csvguard`).
* ``json`` (an array of objects) and ``ndjson`` (one object per line): native types; exact
  decimals (money) are written as strings so no reader turns them into floats.
* ``parquet``: native types.

The default is ``table`` when writing to a terminal and ``csv`` otherwise, so
``meterlog usage --by day | ...`` gives CSV.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import polars as pl

from meterlog.csvguard import neutralise_frame
from meterlog.errors import MeterlogError

if TYPE_CHECKING:
    from rich.console import Console

OUTPUT_FORMATS = ("table", "csv", "json", "ndjson", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".txt": "table",
}
_ISO_DATETIME = "%Y-%m-%dT%H:%M:%S%.f%:z"


def resolve_output_format(fmt: str | None, output: str | Path | None, to_terminal: bool) -> str:
    """The output format: explicit, else from ``output``'s extension, else table/CSV by terminal."""
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise MeterlogError(f"unknown output format {fmt!r}: use {', '.join(OUTPUT_FORMATS)}")
        return fmt
    if output is not None and str(output) != "-":
        suffix = Path(output).suffix.lower()
        if suffix not in _EXTENSIONS:
            raise MeterlogError(
                f"cannot tell the output format from {str(output)!r}: "
                f"use --format ({', '.join(OUTPUT_FORMATS)}) or an extension such as .csv"
            )
        return _EXTENSIONS[suffix]
    return "table" if to_terminal else "csv"


def frame_to_csv(frame: pl.DataFrame) -> str:
    """CSV text as described in the module doc (header row even when there are no rows)."""
    return neutralise_frame(frame).write_csv(
        datetime_format=_ISO_DATETIME, date_format="%Y-%m-%d", line_terminator="\r\n"
    )


def _format_cell(value: object, dtype: pl.DataType) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if dtype.is_integer():
        return f"{value:,}"
    if dtype.is_float():
        return f"{value:,.3f}"
    if isinstance(dtype, pl.Decimal):
        return f"{value:,}"
    if isinstance(dtype, pl.Datetime):
        return value.isoformat(sep=" ")  # type: ignore[attr-defined]
    return str(value)


#: Control characters (C0, DEL, C1): shown as U+FFFD in tables, so a logged value such as a user
#: agent cannot send escape sequences to the terminal.
_CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"


def printable_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with control characters in text columns replaced by U+FFFD."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.col(name).str.replace_all(_CONTROL_CHARACTERS, "\ufffd") for name in text_columns
    )


#: Width of the bar column in character cells; each cell has eight steps.
BAR_WIDTH = 20
_BAR_STEPS = " ▏▎▍▌▋▊▉"


def bar_expr(column: str, width: int = BAR_WIDTH) -> pl.Expr:
    """A horizontal bar per row, as long as ``column`` relative to its largest value.

    Built from block characters in eighths of a cell, so close values still look different;
    a positive value always shows at least a sliver.
    """
    value = pl.col(column).cast(pl.Float64).fill_null(0.0).clip(lower_bound=0.0)
    largest = value.max()
    eighths = (
        pl.when(largest > 0)
        .then((value / largest * (width * 8)).round(0).cast(pl.Int64))
        .otherwise(0)
    )
    eighths = pl.when((value > 0) & (eighths == 0)).then(1).otherwise(eighths)
    full = pl.lit("█" * width).str.slice(0, eighths // 8)
    partial = pl.lit(_BAR_STEPS).str.slice(eighths % 8, 1).str.strip_chars(" ")
    return (full + partial).alias(column)


def readable_datetimes(frame: pl.DataFrame) -> pl.DataFrame:
    """Datetime columns as short text for tables, each column in one shape.

    A column whose values are all local midnights (day, week and month buckets) shows dates
    (``2026-10-25``); one whose values are whole minutes shows ``2026-10-25 02:00+01:00`` (the
    offset tells the two 02:00 hours of an autumn DST change apart); others show ISO 8601.
    """
    columns = []
    for name, dtype in frame.schema.items():
        if not isinstance(dtype, pl.Datetime):
            continue
        column = pl.col(name)
        midnight = (column.dt.hour() == 0) & (column.dt.minute() == 0)
        whole_minute = (column.dt.second() == 0) & (column.dt.microsecond() == 0)
        offset = "%:z" if dtype.time_zone else ""
        checks = frame.select(
            midnight=(midnight & whole_minute).all(), whole_minute=whole_minute.all()
        ).row(0, named=True)
        if checks["midnight"]:
            columns.append(column.dt.to_string("%Y-%m-%d"))
        elif checks["whole_minute"]:
            columns.append(column.dt.to_string(f"%Y-%m-%d %H:%M{offset}"))
        else:
            columns.append(column.dt.to_string(f"%Y-%m-%d %H:%M:%S%.f{offset}"))
    return frame.with_columns(columns) if columns else frame


def render_table(
    frame: pl.DataFrame,
    title: str | None = None,
    totals: Sequence[str] = (),
    console: Console | None = None,
    *,
    total_values: Mapping[str, object] | None = None,
    bar: str | None = None,
) -> None:
    """Print ``frame`` as a rich table.

    ``totals`` names the columns summed in a totals row; ``total_values`` gives values for
    that row computed elsewhere (e.g. distinct users over all rows, which is not the sum of the
    rows) and wins over the sums; a text value for the first column replaces the label
    ``total``. ``bar`` names a numeric column drawn as a bar in an extra last column (for time
    series).
    """
    # rich is loaded for tables only: CSV, JSON and Parquet output start faster without it
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    bars: list[str] = []
    if bar is not None and frame.height:
        bars = frame.select(bar_expr(bar)).get_column(bar).to_list()
    frame = readable_datetimes(printable_frame(frame))
    total_values = dict(total_values or {})
    show_totals = (bool(totals) or bool(total_values)) and frame.height > 0
    table = Table(title=Text(title) if title else None, show_footer=show_totals)
    sums = frame.select(pl.col(list(totals)).sum()).row(0, named=True) if totals else {}
    sums.update(total_values)
    for index, (name, dtype) in enumerate(frame.schema.items()):
        numeric = dtype.is_numeric()
        if name in sums:
            footer = _format_cell(sums[name], dtype)
        else:
            footer = "total" if index == 0 else ""
        table.add_column(
            name,
            justify="right" if numeric else "left",
            footer=footer,
            overflow="fold",  # wrap long paths and user agents rather than cut them off
        )
    dtypes = list(frame.schema.values())
    if bars:
        table.add_column(f"{bar} (bar)", justify="left", no_wrap=True)
    for index, row in enumerate(frame.iter_rows()):
        cells = [Text(_format_cell(v, t)) for v, t in zip(row, dtypes, strict=True)]
        table.add_row(*cells, *(bars[index : index + 1]))
    console.print(table)


def write_report(
    frame: pl.DataFrame,
    fmt: str | None = None,
    output: str | Path | None = None,
    *,
    title: str | None = None,
    totals: Sequence[str] = (),
    stdout: IO[str] | None = None,
    total_values: Mapping[str, object] | None = None,
    bar: str | None = None,
) -> str:
    """Write ``frame`` to ``output`` (a path; stdout for None or ``-``); return the format used.

    ``title``, ``totals``, ``total_values`` and ``bar`` only shape tables (see
    :func:`render_table`); the other formats hold the rows alone.
    """
    stdout = stdout or sys.stdout
    to_stdout = output is None or str(output) == "-"
    fmt = resolve_output_format(fmt, None if to_stdout else output, to_stdout and stdout.isatty())
    if fmt == "parquet":
        if to_stdout:
            if stdout.isatty():
                raise MeterlogError("Parquet is binary: write it to a file with -o FILE.parquet")
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            stdout.flush()
            sys.stdout.buffer.write(buffer.getvalue())
        else:
            frame.write_parquet(_checked_path(output))
        return fmt
    if fmt == "table":
        from rich.console import Console

        if to_stdout and stdout.isatty():
            render_table(
                frame, title, totals, Console(file=stdout), total_values=total_values, bar=bar
            )
            return fmt
        text = io.StringIO()
        console = Console(file=text, width=160, force_terminal=False)
        render_table(frame, title, totals, console, total_values=total_values, bar=bar)
        content = text.getvalue()
    elif fmt == "csv":
        content = frame_to_csv(frame)
    elif fmt == "json":
        content = frame.write_json() + "\n"
    else:
        content = frame.write_ndjson()
    if to_stdout:
        stdout.write(content)
        stdout.flush()
    else:
        _checked_path(output).write_text(content, encoding="utf-8", newline="")
    return fmt


def _checked_path(output: str | Path | None) -> Path:
    path = Path(str(output))
    if not path.parent.exists():
        raise MeterlogError(f"{path}: folder {path.parent} does not exist; create it first")
    return path
