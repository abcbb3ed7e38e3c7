"""Tables for people: numbers right-aligned with thousands separators, bars, readable times,
columns fitted to the terminal's width, and no control character from the data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from meterlog.output.csvguard import AMOUNT_COLUMNS
from meterlog.query.identity import NO_KEY
from meterlog.text import UNSAFE_CHARACTERS

if TYPE_CHECKING:
    from rich.console import Console


def _format_cell(value: object, dtype: pl.DataType, plain: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if dtype.is_integer() and plain:
        return str(value)
    if dtype.is_integer():
        return f"{value:,}"
    if dtype.is_float():
        return f"{value:,.3f}"
    if isinstance(dtype, pl.Decimal):
        return f"{value:,}"
    if isinstance(dtype, pl.Datetime):
        return value.isoformat(sep=" ")  # type: ignore[attr-defined]
    return str(value)


#: Shown as U+FFFD in tables, so a logged value such as a user agent cannot send escape
#: sequences to the terminal: the characters :func:`meterlog.text.printable` replaces, and tab.
_CONTROL_CHARACTERS = f"[\t{UNSAFE_CHARACTERS}]"


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


def readable_datetimes(frame: pl.DataFrame, *, short: bool = False) -> pl.DataFrame:
    """Datetime columns as short text for tables, each column in one shape.

    A column whose values are all local midnights (day, week and month buckets) shows dates
    (``2026-10-25``); one whose values are whole minutes shows ``2026-10-25 02:00+01:00`` (the
    offset tells the two 02:00 hours of an autumn DST change apart); others show ISO 8601.
    With ``short``, a whole-minute column whose values all fall in one year and one UTC offset
    shows ``10-25 14:00`` (the year then goes in the column's name, see :func:`render_table`);
    when the offsets differ (a DST change) the offset stays: ``10-25 02:00+01:00``.
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
            midnight=(midnight & whole_minute).all(),
            whole_minute=whole_minute.all(),
            years=column.dt.year().n_unique(),
            offsets=column.dt.to_string("%:z").n_unique() if dtype.time_zone else pl.lit(1),
        ).row(0, named=True)
        if checks["midnight"]:
            columns.append(column.dt.to_string("%Y-%m-%d"))
        elif checks["whole_minute"] and short and checks["years"] <= 1:
            shown_offset = offset if checks["offsets"] > 1 else ""
            columns.append(column.dt.to_string(f"%m-%d %H:%M{shown_offset}"))
        elif checks["whole_minute"]:
            columns.append(column.dt.to_string(f"%Y-%m-%d %H:%M{offset}"))
        else:
            columns.append(column.dt.to_string(f"%Y-%m-%d %H:%M:%S%.f{offset}"))
    return frame.with_columns(columns) if columns else frame


def _short_time_headers(frame: pl.DataFrame) -> dict[str, str]:
    """Headers naming the year of time columns that :func:`readable_datetimes` shortens."""
    headers = {}
    for name, dtype in frame.schema.items():
        if not isinstance(dtype, pl.Datetime) or frame.height == 0:
            continue
        column = pl.col(name)
        row = frame.select(
            years=column.dt.year().n_unique(),
            year=column.dt.year().min(),
            whole_minute=((column.dt.second() == 0) & (column.dt.microsecond() == 0)).all(),
            midnight=((column.dt.hour() == 0) & (column.dt.minute() == 0)).all(),
        ).row(0, named=True)
        if row["years"] == 1 and row["whole_minute"] and not row["midnight"]:
            headers[name] = f"{name} ({row['year']})"
    return headers


#: How every table shows an empty account (requests without a key), unless told otherwise.
DEFAULT_BLANK_LABELS = {"account": NO_KEY}


def with_blank_labels(frame: pl.DataFrame, labels: Mapping[str, str]) -> pl.DataFrame:
    """Text columns named in ``labels`` with null and empty values shown as the label, e.g.
    ``(no key)`` for requests without an account."""
    columns = [
        pl.when(pl.col(name).is_null() | (pl.col(name).str.strip_chars() == ""))
        .then(pl.lit(label))
        .otherwise(pl.col(name))
        .alias(name)
        for name, label in labels.items()
        if frame.schema.get(name) == pl.String
    ]
    return frame.with_columns(columns) if columns else frame


#: Text columns are never cut narrower than this (with an ellipsis) to make a table fit.
MIN_TEXT_WIDTH = 12


#: With a ``fill`` column, the other text columns are cut to this width before it is.
SIDE_TEXT_WIDTH = 24


@dataclass
class TableLayout:
    """Which columns a table shows at a console width, and how wide its text columns may be.

    A number or a time is never wrapped or cut. When the columns do not fit, the bar column is
    left out first, then the ``constant`` columns (the same value on every row) and then the
    other columns that are not ``keep`` (the first column when ``keep`` is empty), each from
    the last one, then text columns are cut with an ellipsis, widest first, down to
    :data:`MIN_TEXT_WIDTH`. With ``fill``, that text column gets the room the others leave:
    they are cut down to :data:`SIDE_TEXT_WIDTH` before it is cut.
    """

    columns: list[str]
    left_out: list[str]
    show_bar: bool
    max_widths: dict[str, int]

    @staticmethod
    def fit(
        widths: Mapping[str, int],
        text_columns: Sequence[str],
        keep: Sequence[str],
        width: int,
        bar_width: int | None,
        constant: Sequence[str] = (),
        fill: str | None = None,
    ) -> TableLayout:
        columns = list(widths)
        left_out: list[str] = []

        def needed(names: Sequence[str], bar: bool, sizes: Mapping[str, int]) -> int:
            shown = [sizes[n] for n in names] + ([bar_width or 0] if bar else [])
            return sum(shown) + 3 * len(shown) + 1  # padding and borders of rich's default box

        show_bar = bar_width is not None
        if show_bar and needed(columns, True, widths) > width:
            show_bar = False
        protected = set(keep) if keep else set(columns[:1])
        same = [n for n in reversed(list(widths)) if n in constant]
        for name in [*same, *(n for n in reversed(list(widths)) if n not in same)]:
            if needed(columns, show_bar, widths) <= width:
                break
            if name not in protected:
                columns.remove(name)
                left_out.append(name)
        left_out.sort(key=list(widths).index)
        sizes = dict(widths)
        texts = [n for n in columns if n in text_columns]
        steps = [(texts, MIN_TEXT_WIDTH)]
        if fill in texts:
            others = [n for n in texts if n != fill]
            steps = [(others, SIDE_TEXT_WIDTH), ([fill], MIN_TEXT_WIDTH), (others, MIN_TEXT_WIDTH)]
        for names, floor in steps:
            while needed(columns, show_bar, sizes) > width:
                widest = max(names, key=lambda n: sizes[n], default=None)
                if widest is None or sizes[widest] <= floor:
                    break
                excess = needed(columns, show_bar, sizes) - width
                sizes[widest] = max(floor, sizes[widest] - excess)
        max_widths = {n: sizes[n] for n in texts if sizes[n] < widths[n]}
        return TableLayout(columns, left_out, show_bar, max_widths)


def cut_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells by leaving out its middle: ``/srv/l…cess.log``.
    A path keeps its last part (the file name) whole when that leaves a few cells of its
    start."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    tail_cells = (width - 1) // 2
    name = text[text.rfind("/") :] if "/" in text else ""
    if name and cell_len(name) <= width - 1 - _MIN_HEAD:
        tail_cells = max(tail_cells, cell_len(name))
    tail = ""
    for char in reversed(text):
        if cell_len(char + tail) > tail_cells:
            break
        tail = char + tail
    head = ""
    for char in text:
        if cell_len(head + char + tail) + 1 > width:
            break
        head += char
    return f"{head}\u2026{tail}"


#: A path cut in the middle keeps at least this many cells of its start.
_MIN_HEAD = 6


def render_table(
    frame: pl.DataFrame,
    title: str | None = None,
    totals: Sequence[str] = (),
    console: Console | None = None,
    *,
    total_values: Mapping[str, object] | None = None,
    bar: str | None = None,
    keep: Sequence[str] = (),
    blank_labels: Mapping[str, str] | None = None,
    plain: Sequence[str] = (),
    middle: Sequence[str] = (),
    fill: str | None = None,
    drop_constant: bool = False,
) -> None:
    """Print ``frame`` as a rich table that fits the console's width.

    ``totals`` names the columns summed in a totals row; ``total_values`` gives values for
    that row computed elsewhere (e.g. distinct users over all rows, which is not the sum of the
    rows) and wins over the sums; a text value for the first column replaces the label
    ``total``. ``bar`` names a numeric column drawn as a bar in an extra last column (for time
    series). ``blank_labels`` shows null or empty values of text columns as a label such as
    ``(anonymous)`` (default :data:`DEFAULT_BLANK_LABELS`: an empty ``account`` is
    ``(no key)`` in every table). Integer columns named in ``plain`` (line numbers, versions)
    have no thousands separators.

    Numbers and times are never wrapped: columns are chosen to fit (see :class:`TableLayout`;
    ``keep``, or else the first column, stay), and a caption names the columns left out. With
    ``drop_constant``, columns holding one value on every row go first, and the caption gives
    that value. Text columns named in ``middle`` (paths, file names) are cut in the middle
    (``/srv/logs/…/access.log``) rather than at the end; ``fill`` names the text column that
    gets the room the other columns leave (see :class:`TableLayout`).
    """
    # rich is loaded for tables only: CSV, JSON and Parquet output start faster without it
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    bars: list[str] = []
    if bar is not None and frame.height:
        bars = frame.select(bar_expr(bar)).get_column(bar).to_list()
    headers = _short_time_headers(frame)
    original = frame.schema
    frame = printable_frame(
        with_blank_labels(frame, DEFAULT_BLANK_LABELS if blank_labels is None else blank_labels)
    )
    frame = readable_datetimes(frame, short=True)
    total_values = dict(total_values or {})
    show_totals = (bool(totals) or bool(total_values)) and frame.height > 0
    sums = frame.select(pl.col(list(totals)).sum()).row(0, named=True) if totals else {}
    sums.update(total_values)
    dtypes = dict(frame.schema)
    cells = {
        name: [_format_cell(v, dtype, name in plain) for v in frame.get_column(name).to_list()]
        for name, dtype in dtypes.items()
    }
    footers: dict[str, str] = {}
    for index, (name, dtype) in enumerate(dtypes.items()):
        if name in sums:
            footers[name] = _format_cell(sums[name], dtype)
        else:
            footers[name] = "total" if index == 0 and show_totals else ""
    widths = {
        name: max(
            [cell_len(headers.get(name, name)), cell_len(footers[name])]
            + [cell_len(cell) for cell in cells[name]]
        )
        for name in dtypes
    }
    text_columns = [  # amounts are decimal text, but numbers: never shortened
        name
        for name, dtype in original.items()
        if (dtype == pl.String or not (dtype.is_numeric() or dtype.is_temporal()))
        and name not in AMOUNT_COLUMNS
    ]
    bar_width = max(BAR_WIDTH, cell_len(f"{bar} (bar)")) if bars else None
    constant = (
        [name for name in dtypes if len(set(cells[name])) == 1]
        if drop_constant and frame.height > 1
        else []
    )
    layout = TableLayout.fit(
        widths, text_columns, keep, console.width, bar_width, constant=constant, fill=fill
    )
    caption = None
    if layout.left_out:
        names = [
            f"{name} ({cells[name][0]} on every row)" if name in constant else name
            for name in layout.left_out
        ]
        caption = Text(
            f"left out to fit {console.width} columns: {', '.join(names)} "
            "(--format csv has every column)",
            style="dim",
        )
    for name in middle:
        if name in layout.max_widths:
            cells[name] = [cut_middle(cell, layout.max_widths[name]) for cell in cells[name]]
    table = Table(title=Text(title) if title else None, show_footer=show_totals, caption=caption)
    for name in layout.columns:
        numeric = dtypes[name].is_numeric() or name in AMOUNT_COLUMNS
        table.add_column(
            headers.get(name, name),
            justify="right" if numeric else "left",
            footer=footers[name],
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if name in text_columns else widths[name],
            max_width=layout.max_widths.get(name),
        )
    if layout.show_bar:
        table.add_column(f"{bar} (bar)", justify="left", no_wrap=True)
    for index in range(frame.height):
        row = [Text(cells[name][index]) for name in layout.columns]
        table.add_row(*row, *(bars[index : index + 1] if layout.show_bar else ()))
    console.print(table)
