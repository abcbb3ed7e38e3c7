"""Writing a report: the format chosen (explicit, by the file's extension, or table on a
terminal and CSV otherwise), times written as asked, and the file or standard output."""

from __future__ import annotations

import functools
import io
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import polars as pl

from meterlog.errors import MeterlogError
from meterlog.output.csvguard import neutralise_frame
from meterlog.text import printable_lines

if TYPE_CHECKING:
    pass
from meterlog.output.tables import render_table

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


#: Ways to write timestamps in CSV, JSON and NDJSON (``--time-format``).
TIME_FORMATS = ("iso", "local", "epoch")


def format_times(frame: pl.DataFrame, time_format: str = "iso") -> pl.DataFrame:
    """Datetime columns of ``frame`` written the ``time_format`` way.

    * ``iso`` (default): left as they are, written as ISO 8601 with the offset
      (``2026-10-01T00:00:00+02:00``);
    * ``local``: text ``2026-10-01 00:00:00`` in the column's own time zone (the report's
      ``--tz``), without offset, which spreadsheets read as a date and time;
    * ``epoch``: seconds since 1970-01-01 UTC, an integer when every value is a whole second.
    """
    if time_format not in TIME_FORMATS:
        raise MeterlogError(f"unknown time format {time_format!r}: use {', '.join(TIME_FORMATS)}")
    if time_format == "iso":
        return frame
    columns = []
    for name, dtype in frame.schema.items():
        if not isinstance(dtype, pl.Datetime):
            continue
        column = pl.col(name)
        if time_format == "local":
            columns.append(column.dt.to_string("%Y-%m-%d %H:%M:%S%.f"))
            continue
        whole = frame.select((column.dt.microsecond() == 0).all()).item()
        if whole or frame.height == 0:
            columns.append(column.dt.epoch("s"))
        else:
            columns.append((column.dt.epoch("us") / 1_000_000).round(6))
    return frame.with_columns(columns) if columns else frame


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
    keep: Sequence[str] = (),
    blank_labels: Mapping[str, str] | None = None,
    plain: Sequence[str] = (),
    time_format: str = "iso",
    middle: Sequence[str] = (),
    fill: str | None = None,
    drop_constant: bool = False,
) -> str:
    """Write ``frame`` to ``output`` (a path; stdout for None or ``-``); return the format used.

    ``title``, ``totals``, ``total_values``, ``bar``, ``keep``, ``blank_labels``, ``plain``,
    ``middle``, ``fill`` and ``drop_constant`` shape tables (see :func:`render_table`); the
    other formats hold the rows alone. ``time_format``
    (see :func:`format_times`) applies to CSV, JSON and NDJSON.
    """
    stdout = stdout or sys.stdout
    to_stdout = output is None or str(output) == "-"
    fmt = resolve_output_format(fmt, None if to_stdout else output, to_stdout and stdout.isatty())
    if fmt in ("csv", "json", "ndjson"):
        frame = format_times(frame, time_format)
    table_writer = functools.partial(
        render_table,
        title=title,
        totals=totals,
        total_values=total_values,
        bar=bar,
        keep=keep,
        blank_labels=blank_labels,
        plain=plain,
        middle=middle,
        fill=fill,
        drop_constant=drop_constant,
    )
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
            table_writer(frame, console=Console(file=stdout))
            return fmt
        text = io.StringIO()
        console = Console(file=text, width=_file_table_width(), force_terminal=False)
        table_writer(frame, console=console)
        content = text.getvalue()
    elif fmt == "csv":
        content = frame_to_csv(frame)
    elif fmt == "json":
        content = frame.write_json() + "\n"
    else:
        content = frame.write_ndjson()
    if to_stdout:
        if stdout.isatty():  # values from logs must not drive the terminal
            content = printable_lines(content)
        stdout.write(content)
        stdout.flush()
    else:
        _checked_path(output).write_text(content, encoding="utf-8", newline="")
    return fmt


def _file_table_width() -> int:
    """Width of a table written to a file or pipe: ``$COLUMNS`` when set, else 160."""
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) >= 40 else 160


def _checked_path(output: str | Path | None) -> Path:
    path = Path(str(output))
    if not path.parent.exists():
        raise MeterlogError(f"{path}: folder {path.parent} does not exist; create it first")
    return path
