"""Time: out-of-order lines, offsets changing within a file (DST), lines from the future or
the far past (kept, counted and named), UTC day partitions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from meterlog.errors import MeterlogError
from meterlog.formats import NginxLogFormat
from meterlog.ingest import IngestOptions, ingest, summary_lines
from meterlog.ingest.timewindow import AcceptWindow, parse_accept_window
from meterlog.store import Store
from tests.support import cli, events, utc, write_lines

NOW = utc(2026, 10, 10, 12)


def line(stamp: str, path: str = "/") -> str:
    return f'192.0.2.1 - - [{stamp}] "GET {path} HTTP/1.1" 200 1 "-" "-"'


def test_out_of_order_lines_are_stored_as_written(tmp_path: Path) -> None:
    stamps = [
        "10/Oct/2026:10:00:05 +0000",
        "10/Oct/2026:09:00:00 +0000",
        "09/Oct/2026:23:59:59 +0000",
    ]
    log = write_lines(tmp_path / "a.log", [line(s) for s in stamps])
    ingest(Store(tmp_path / "s"), [str(log)], IngestOptions(now=NOW))
    stored = events(tmp_path / "s")
    assert stored.get_column("ts").to_list() == [
        utc(2026, 10, 10, 10, 0, 5),
        utc(2026, 10, 10, 9),
        utc(2026, 10, 9, 23, 59, 59),
    ]
    assert stored.get_column("source_line").to_list() == [1, 2, 3]


def test_dst_change_and_mixed_offsets_in_one_file(tmp_path: Path) -> None:
    # Europe/Berlin falls back on 25 Oct 2026 at 03:00 CEST: 02:00-03:00 happens twice.
    stamps = [
        "25/Oct/2026:01:59:00 +0200",
        "25/Oct/2026:02:30:00 +0200",
        "25/Oct/2026:02:59:59 +0200",
        "25/Oct/2026:02:00:00 +0100",
        "25/Oct/2026:02:30:00 +0100",
        "25/Oct/2026:03:00:00 +0100",
        "24/Oct/2026:20:00:00 -0700",
        "25/Oct/2026:05:00:00 +0330",
    ]
    log = write_lines(tmp_path / "a.log", [line(s) for s in stamps])
    ingest(Store(tmp_path / "s"), [str(log)], IngestOptions(now=NOW))
    stored = events(tmp_path / "s")
    assert stored.get_column("ts").to_list() == [
        utc(2026, 10, 24, 23, 59),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 0, 59, 59),
        utc(2026, 10, 25, 1, 0),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 25, 3, 0),
        utc(2026, 10, 25, 1, 30),
    ]
    # the partition is the UTC day of each line, whatever its offset
    days = stored.select(pl.col("day") == pl.col("ts").dt.date()).to_series()
    assert days.all()


def test_iso8601_offsets_across_dst() -> None:
    fmt = NginxLogFormat("$time_iso8601 $status")
    from meterlog.sources import split_lines

    text = b"2026-03-29T01:59:59+01:00 200\n2026-03-29T03:00:00+02:00 200\n"
    parsed = fmt.parse(split_lines(text, 0, 1).lines).events
    assert parsed.get_column("ts").to_list() == [utc(2026, 3, 29, 0, 59, 59), utc(2026, 3, 29, 1)]


def test_future_and_far_past_lines_are_kept_and_flagged(tmp_path: Path) -> None:
    stamps = [
        "10/Oct/2026:11:00:00 +0000",  # an hour ago: fine
        "11/Oct/2026:11:00:00 +0000",  # 23 h ahead: within a 1-day tolerance
        "12/Oct/2026:13:00:00 +0000",  # two days ahead: flagged
        "10/Oct/2027:00:00:00 +0000",  # a year ahead: flagged
        "01/Jan/2009:00:00:00 +0000",  # 17 years back: flagged
        "12/Oct/2017:00:00:00 +0000",  # nine years back: fine
    ]
    log = write_lines(tmp_path / "a.log", [line(s) for s in stamps])
    store = Store(tmp_path / "s")
    summary = ingest(store, [str(log)], IngestOptions(now=NOW))
    assert events(store).height == 6  # all kept
    outside = summary.outside
    assert (outside.before, outside.after) == (1, 2)
    assert outside.earliest == utc(2009, 1, 1)
    assert outside.latest == utc(2027, 10, 10)
    text = "\n".join(summary_lines(summary))
    assert (
        "warning: 3 lines have times outside the accept window (1 in the far past (earliest "
        "2009-01-01 00:00:00+00:00); 2 in the future (latest 2027-10-10 00:00:00+00:00))"
    ) in text
    assert "+6 rows, 3 outside the accept window" in text
    history = DeltaTable(str(tmp_path / "s" / "events")).history(1)[0]
    assert history["meterlog.outside_window"] == "3"


def test_window_can_be_narrowed_or_turned_off(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "a.log", [line("10/Oct/2026:11:00:00 +0000")])
    narrow = AcceptWindow(past=timedelta(minutes=30), future=timedelta(0))
    summary = ingest(
        Store(tmp_path / "s"), [str(log)], IngestOptions(now=NOW, accept_window=narrow)
    )
    assert summary.outside.before == 1
    summary = ingest(Store(tmp_path / "t"), [str(log)], IngestOptions(now=NOW, accept_window=None))
    assert summary.outside.total == 0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("3650d:1d", AcceptWindow(timedelta(days=3650), timedelta(days=1))),
        ("90d:10m", AcceptWindow(timedelta(days=90), timedelta(minutes=10))),
        (" 12h : 30s ", AcceptWindow(timedelta(hours=12), timedelta(seconds=30))),
        ("off", None),
    ],
)
def test_parse_accept_window(spec: str, expected: AcceptWindow | None) -> None:
    assert parse_accept_window(spec) == expected


@pytest.mark.parametrize("spec", ["10d", "x:1d", "1y:1d", "-1d:1d", ""])
def test_parse_accept_window_errors(spec: str) -> None:
    with pytest.raises(MeterlogError, match="--accept-window"):
        parse_accept_window(spec)


def test_cli_accept_window(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "a.log", [line("01/Jan/2001:00:00:00 +0000")])
    flagged = cli("ingest", "--store", str(tmp_path / "s"), str(log))
    assert flagged.exit_code == 0  # a warning, not an error
    assert "warning: 1 lines have times outside the accept window" in flagged.stdout
    quiet = cli("ingest", "--store", str(tmp_path / "t"), "--accept-window", "off", str(log))
    assert "accept window" not in quiet.stdout
    bad = cli("ingest", "--store", str(tmp_path / "u"), "--accept-window", "soon", str(log))
    assert bad.exit_code == 2
    assert "give PAST:FUTURE" in bad.stderr
