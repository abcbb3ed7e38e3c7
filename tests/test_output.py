"""Output writers: CSV neutralisation, tables (totals, bars, safe text), format resolution."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from meterlog.errors import MeterlogError
from meterlog.output import (
    bar_expr,
    frame_to_csv,
    readable_datetimes,
    render_table,
    resolve_output_format,
    write_report,
)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def table_text(frame: pl.DataFrame, **options: object) -> str:
    buffer = io.StringIO()
    render_table(frame, console=Console(file=buffer, width=200), **options)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("ann", "ann"),
        ("a=b", "a=b"),  # only the first character matters
        ("", ""),
    ],
)
def test_csv_neutralises_formula_prefixes(value: str, cell: str) -> None:
    frame = pl.DataFrame({"user": [value], "requests": [-1]})
    rows = list(csv.reader(io.StringIO(frame_to_csv(frame), newline="")))
    assert rows == [["user", "requests"], [cell, "-1"]]  # numbers are never touched


def test_csv_is_rfc4180_with_iso_timestamps() -> None:
    moment = datetime(2026, 10, 25, tzinfo=UTC)
    frame = pl.DataFrame({"day": [moment], "path": ['/a,"b"'], "n": [1234567]}).with_columns(
        pl.col("day").dt.convert_time_zone("Europe/Berlin")
    )
    text = frame_to_csv(frame)
    assert text == 'day,path,n\r\n2026-10-25T02:00:00+02:00,"/a,""b""",1234567\r\n'


def test_csv_header_only_when_empty() -> None:
    frame = pl.DataFrame(schema={"day": pl.Datetime("us", "UTC"), "requests": pl.Int64})
    assert frame_to_csv(frame) == "day,requests\r\n"


def test_table_numbers_have_thousands_separators_and_a_totals_row() -> None:
    frame = pl.DataFrame({"account": ["a", "b"], "requests": [1234567, 1000]})
    text = table_text(frame, totals=["requests"])
    assert "1,234,567" in text
    assert "1,000" in text
    assert "1,235,567" in text  # the sum
    assert "total" in text


def test_table_total_values_win_over_sums_and_may_relabel() -> None:
    frame = pl.DataFrame({"account": ["a", "b"], "users": [2, 2]})
    text = table_text(frame, totals=["users"], total_values={"account": "everyone", "users": 3})
    last_rows = text.splitlines()[-3:]
    assert any("everyone" in row and "3" in row for row in last_rows)
    assert "total" not in text


def test_table_bar_column_scales_to_the_largest_value() -> None:
    frame = pl.DataFrame({"day": ["d1", "d2", "d3"], "requests": [100, 50, 0]})
    bars = frame.select(bar_expr("requests", width=4)).get_column("requests").to_list()
    assert bars == ["████", "██", ""]
    assert "requests (bar)" in table_text(frame, bar="requests")


def test_bar_shows_a_sliver_for_small_values() -> None:
    frame = pl.DataFrame({"n": [1000, 1]})
    assert frame.select(bar_expr("n", width=4)).get_column("n").to_list() == ["████", "▏"]


def test_table_shows_markup_and_control_characters_harmlessly() -> None:
    frame = pl.DataFrame({"user_agent": ["[bold]x[/bold]", "evil\x1b[31mred"]})
    text = table_text(frame)
    assert "[bold]x[/bold]" in text
    assert "\x1b" not in text
    assert "evil\ufffd[31mred" in text


def test_readable_datetimes_pick_one_shape_per_column() -> None:
    berlin = "Europe/Berlin"
    frame = pl.DataFrame(
        {
            "day": [datetime(2026, 10, 24, 22, tzinfo=UTC)],
            "hour": [datetime(2026, 10, 25, 1, tzinfo=UTC)],
        }
    ).with_columns(pl.all().dt.convert_time_zone(berlin))
    assert readable_datetimes(frame).row(0) == ("2026-10-25", "2026-10-25 02:00+01:00")


def test_resolve_output_format() -> None:
    assert resolve_output_format(None, None, to_terminal=True) == "table"
    assert resolve_output_format(None, None, to_terminal=False) == "csv"
    assert resolve_output_format(None, "x.parquet", to_terminal=True) == "parquet"
    assert resolve_output_format(None, "x.JSONL", to_terminal=True) == "ndjson"
    assert resolve_output_format("json", "x.csv", to_terminal=True) == "json"
    with pytest.raises(MeterlogError, match="cannot tell the output format"):
        resolve_output_format(None, "x.xlsx", to_terminal=True)


def test_write_report_picks_table_on_a_terminal_and_csv_otherwise() -> None:
    frame = pl.DataFrame({"account": ["a"], "requests": [1]})
    terminal, pipe = FakeTerminal(), io.StringIO()
    assert write_report(frame, stdout=terminal) == "table"
    shown = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())  # the heading's bold
    assert shown.splitlines() == [
        "┏━━━━━━━━━┳━━━━━━━━━━┓",
        "┃ account ┃ requests ┃",
        "┡━━━━━━━━━╇━━━━━━━━━━┩",
        "│ a       │        1 │",
        "└─────────┴──────────┘",
    ]
    assert write_report(frame, stdout=pipe) == "csv"
    assert pipe.getvalue() == "account,requests\r\na,1\r\n"


def test_json_and_parquet_keep_native_types(tmp_path: Path) -> None:
    moment = datetime(2026, 10, 25, tzinfo=UTC)
    frame = pl.DataFrame({"day": [moment], "requests": [3], "latency_p50": [0.25]})
    out = tmp_path / "r.json"
    write_report(frame, output=out)
    assert json.loads(out.read_text()) == [
        {"day": "2026-10-25T00:00:00+00:00", "requests": 3, "latency_p50": 0.25}
    ]
    parquet = tmp_path / "r.parquet"
    write_report(frame, output=parquet)
    assert pl.read_parquet(parquet).schema == frame.schema
