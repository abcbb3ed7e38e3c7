"""Time buckets in a time zone with DST: Europe/Berlin has a 23-hour day on 2026-03-29
(01:00Z: 02:00 CET becomes 03:00 CEST) and a 25-hour day on 2026-10-25 (01:00Z: 03:00 CEST
becomes 02:00 CET)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from meterlog.cli import main
from tests.support.usage import build_store, requests_frame

#   UTC instant            Berlin local time       Berlin day
INSTANTS = [
    "2026-03-28T22:59:59",  # 03-28 23:59:59 +01:00   03-28
    "2026-03-28T23:00:00",  # 03-29 00:00    +01:00   03-29 (starts)
    "2026-03-29T00:59:59",  # 03-29 01:59:59 +01:00   03-29
    "2026-03-29T01:00:00",  # 03-29 03:00    +02:00   03-29 (02:00 to 03:00 does not exist)
    "2026-03-29T21:59:59",  # 03-29 23:59:59 +02:00   03-29 (ends after 23 hours)
    "2026-03-29T22:00:00",  # 03-30 00:00    +02:00   03-30
    "2026-09-30T21:59:59",  # 09-30 23:59:59 +02:00   09-30
    "2026-09-30T22:00:00",  # 10-01 00:00    +02:00   10-01
    "2026-10-24T21:59:59",  # 10-24 23:59:59 +02:00   10-24
    "2026-10-24T22:00:00",  # 10-25 00:00    +02:00   10-25 (starts)
    "2026-10-25T00:30:00",  # 10-25 02:30    +02:00   10-25 (first 02:30)
    "2026-10-25T01:30:00",  # 10-25 02:30    +01:00   10-25 (second 02:30)
    "2026-10-25T22:59:59",  # 10-25 23:59:59 +01:00   10-25 (ends after 25 hours)
    "2026-10-25T23:00:00",  # 10-26 00:00    +01:00   10-26
]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [(ts, f"u{i}", None, "GET", "/", 200, 1, None, None) for i, ts in enumerate(INSTANTS)]
    path = tmp_path_factory.mktemp("dst") / "store"
    build_store(path, requests_frame(rows), sources=1)
    return path


def usage_csv(store_path: Path, *args: str) -> list[tuple[str, str]]:
    result = CliRunner().invoke(
        main,
        ["usage", "--store", str(store_path), "--tz", "Europe/Berlin", "-f", "csv", *args],
        env={"METERLOG_CONFIG": None},
    )
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    return [(row[0], row[1]) for row in rows[1:]]


def nonzero(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [row for row in rows if row[1] != "0"]


def berlin_hours(first_utc: str, count: int) -> list[str]:
    """``count`` hour starts from ``first_utc``, as Berlin wall-clock times with offset."""
    start = datetime.fromisoformat(first_utc).replace(tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")
    return [(start + timedelta(hours=i)).astimezone(berlin).isoformat() for i in range(count)]


def test_days_of_23_and_25_hours(store_path: Path) -> None:
    rows = usage_csv(store_path, "--by", "day")
    # zero-filled: every Berlin day from the first to the last request
    berlin = ZoneInfo("Europe/Berlin")
    days = (date(2026, 10, 26) - date(2026, 3, 28)).days + 1
    assert [day for day, _ in rows] == [
        datetime.combine(date(2026, 3, 28) + timedelta(days=i), time(), berlin).isoformat()
        for i in range(days)
    ]
    assert nonzero(rows) == [
        ("2026-03-28T00:00:00+01:00", "1"),
        ("2026-03-29T00:00:00+01:00", "4"),  # the 23-hour day
        ("2026-03-30T00:00:00+02:00", "1"),
        ("2026-09-30T00:00:00+02:00", "1"),
        ("2026-10-01T00:00:00+02:00", "1"),
        ("2026-10-24T00:00:00+02:00", "1"),
        ("2026-10-25T00:00:00+02:00", "4"),  # the 25-hour day
        ("2026-10-26T00:00:00+01:00", "1"),
    ]


@pytest.mark.parametrize(("day", "offset"), [("2026-03-29", "+01:00"), ("2026-10-25", "+02:00")])
def test_since_until_a_dst_day_covers_it_exactly(store_path: Path, day: str, offset: str) -> None:
    rows = usage_csv(store_path, "--since", day, "--until", day, "--by", "day")
    assert rows == [(f"{day}T00:00:00{offset}", "4")]


def test_hours_on_the_autumn_day_keep_both_0230s_apart(store_path: Path) -> None:
    hours = usage_csv(store_path, "--by", "hour", "--since", "2026-10-25", "--until", "2026-10-25")
    # every hour of the 25-hour day (starting 22:00Z the day before), empty ones as 0
    assert [hour for hour, _ in hours] == berlin_hours("2026-10-24T22:00", 25)
    assert nonzero(hours) == [
        ("2026-10-25T00:00:00+02:00", "1"),
        ("2026-10-25T02:00:00+02:00", "1"),
        ("2026-10-25T02:00:00+01:00", "1"),
        ("2026-10-25T23:00:00+01:00", "1"),
    ]


def test_hours_on_the_spring_day_skip_the_missing_hour(store_path: Path) -> None:
    hours = usage_csv(store_path, "--by", "hour", "--since", "2026-03-29", "--until", "2026-03-29")
    assert [hour for hour, _ in hours] == berlin_hours("2026-03-28T23:00", 23)
    assert nonzero(hours) == [
        ("2026-03-29T00:00:00+01:00", "1"),
        ("2026-03-29T01:00:00+01:00", "1"),
        ("2026-03-29T03:00:00+02:00", "1"),
        ("2026-03-29T23:00:00+02:00", "1"),
    ]


def test_weeks_and_months_follow_local_midnight(store_path: Path) -> None:
    months = usage_csv(store_path, "--by", "month")
    assert len(months) == 8  # March to October, April to August as zeros
    assert nonzero(months) == [
        ("2026-03-01T00:00:00+01:00", "6"),
        ("2026-09-01T00:00:00+02:00", "1"),
        ("2026-10-01T00:00:00+02:00", "7"),  # includes 2026-09-30T22:00Z
    ]
    assert nonzero(usage_csv(store_path, "--by", "week", "--since", "2026-10-01")) == [
        ("2026-09-28T00:00:00+02:00", "1"),  # Thu 10-01 belongs to the week of Mon 09-28
        ("2026-10-19T00:00:00+02:00", "5"),  # Sat 10-24 and the whole of Sun 10-25
        ("2026-10-26T00:00:00+01:00", "1"),
    ]


def test_the_same_requests_in_utc_days(store_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["usage", "--store", str(store_path), "--by", "day", "--since", "2026-10-24"],
        env={"METERLOG_CONFIG": None},
    )
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    assert [(row[0], row[1]) for row in rows] == [
        ("2026-10-24T00:00:00+00:00", "2"),
        ("2026-10-25T00:00:00+00:00", "4"),
    ]
