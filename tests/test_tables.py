"""Tables for people fit the terminal: a number or a time is never split across lines.

Rendered at 80, 120 and 160 columns with rich consoles of that width (as a terminal of that
size shows them); every number and time value must appear whole on one line.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from rich.console import Console

from meterlog.output import render_table
from meterlog.query.settings import ReportSettings
from meterlog.query.usage import UsageQuery, run_usage
from tests.support.usage import build_store, requests_frame

WIDTHS = (80, 120, 160)
BERLIN = ZoneInfo("Europe/Berlin")


def rendered(frame: pl.DataFrame, width: int, **options: object) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    render_table(frame, console=console, **options)  # type: ignore[arg-type]
    return console.export_text()


def assert_whole(text: str, values: list[str], width: int) -> None:
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    for value in values:
        assert any(value in line for line in lines), f"{value!r} split or missing:\n{text}"


def header_names(text: str) -> list[str]:
    """The column names in a table's header line (rich's heavy head: ``┃ a ┃ b ┃``)."""
    header = next(line for line in text.splitlines() if "┃" in line)
    return [cell.strip() for cell in header.strip().strip("┃").split("┃")]


def usage_frame(hours: int = 48) -> pl.DataFrame:
    """An hourly series in Berlin with large numbers, like `usage --by hour` over two days."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    rows = [
        {
            "hour": start + timedelta(hours=i),
            "requests": 1_118_908 + i * 7919,
            "errors_4xx": 12_345 + i,
            "errors_5xx": i * 3,
            "bytes_sent": 98_765_432_109 + i,
            "users": 4_321 + i,
            "latency_p50": 0.123456,
            "latency_p95": 1.5 + i / 1000,
            "latency_p99": 12.25,
        }
        for i in range(hours)
    ]
    return pl.DataFrame(rows).with_columns(pl.col("hour").dt.convert_time_zone("Europe/Berlin"))


def number_cells(frame: pl.DataFrame, columns: list[str]) -> list[str]:
    cells = []
    for name in columns:
        for value in frame.get_column(name).to_list():
            cells.append(f"{value:,}" if isinstance(value, int) else f"{value:,.3f}")
    return cells


@pytest.mark.parametrize("width", WIDTHS)
def test_hourly_series_never_splits_a_number_or_a_time(width: int) -> None:
    frame = usage_frame()
    text = rendered(frame, width, bar="requests", totals=["requests", "errors_4xx"])
    hours = [ts.astimezone(BERLIN).strftime("%m-%d %H:%M") for ts in frame.get_column("hour")]
    assert_whole(text, hours, width)  # short labels: one year, one offset
    assert "hour (2026)" in text  # the year the short labels leave out
    visible = header_names(text)[1:]
    assert "requests" in visible
    assert_whole(text, number_cells(frame, [n for n in visible if n in frame.columns]), width)
    total = f"{frame.get_column('requests').sum():,}"
    assert_whole(text, [total], width)
    left_out = [name for name in frame.columns if name not in visible and name != "hour"]
    if width < 160:
        assert left_out  # eight metrics of up to 14 digits do not fit in 80 or 120 columns
    if left_out:
        note = " ".join(text.split())  # the caption may wrap between words
        assert f"left out to fit {width} columns: {', '.join(left_out)}" in note
        assert "--format csv has every column" in note
    else:
        assert "left out" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_bar_goes_first(width: int) -> None:
    frame = usage_frame(4).select("hour", "requests", "bytes_sent", "users", "latency_p95")
    text = rendered(frame, width, bar="requests")
    # data: 11 + 9 + 14 + 5 + 11 cells and 16 of borders = 66; the bar adds 23 more (89)
    assert header_names(text) == ["hour (2026)", *frame.columns[1:]] + (
        ["requests (bar)"] if width >= 89 else []
    )
    assert "left out" not in text  # the bar is not data: dropping it needs no note


@pytest.mark.parametrize("width", WIDTHS)
def test_long_text_is_cut_with_an_ellipsis_and_keys_stay(width: int) -> None:
    path = "/v1/organisations/{org}/projects/{project}/environments/{env}/deployments/{id}"
    frame = pl.DataFrame(
        {
            "endpoint": [path, "/health"],
            "requests": [123_456_789, 5],
            "bytes_sent": [987_654_321_012, 10],
        }
    )
    text = rendered(frame, width, keep=["endpoint", "requests"])
    assert_whole(text, ["123,456,789", "/health"], width)
    if width < len(path) + 40:
        assert "…" in text
        assert path not in text
    else:
        assert path in text


def test_dst_hours_keep_their_offset_in_short_labels() -> None:
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 00:00 Berlin on the 25-hour day
    frame = pl.DataFrame(
        {"hour": [start + timedelta(hours=i) for i in range(25)], "requests": list(range(25))}
    ).with_columns(pl.col("hour").dt.convert_time_zone("Europe/Berlin"))
    text = rendered(frame, 80)
    assert_whole(text, ["10-25 02:00+02:00", "10-25 02:00+01:00"], 80)


def test_blank_groups_get_a_visible_label() -> None:
    frame = pl.DataFrame({"account": ["acme", None, ""], "requests": [3, 2, 1]})
    text = rendered(frame, 80, blank_labels={"account": "(no key)"})
    assert text.count("(no key)") == 2


@pytest.mark.parametrize("width", WIDTHS)
def test_usage_report_by_day_and_account_fits(tmp_path: Path, width: int) -> None:
    store = build_store(tmp_path / "store", requests_frame())
    settings = ReportSettings(
        store=store.uri,
        tz=BERLIN,
        account_field="http_x_api_key",
        accounts={"k1": "acme", "k2": "acme"},
    )
    report = run_usage(settings, UsageQuery(by=("day", "account")), with_totals=True)
    text = rendered(
        report.frame,
        width,
        totals=report.summed_columns,
        total_values=report.totals,
        bar=report.bar_column,
        keep=["day", "account", "requests"],
        blank_labels={"account": "(no key)"},
    )
    days = sorted({ts.strftime("%Y-%m-%d") for ts in report.frame.get_column("day")})
    assert days == [f"2026-10-0{d}" for d in range(1, 6)]  # zero-filled 3 and 4 October
    assert_whole(text, [*days, "(no key)", "acme", "k3"], width)
    assert_whole(text, [f"{n:,}" for n in report.frame.get_column("requests")], width)
