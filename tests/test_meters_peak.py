"""Peak meter: local-time windows (DST included), metrics, max and nearest-rank percentiles."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterlog.meters import PeakMeter, Period, meter_from_params
from meterlog.meters.peak import nearest_rank, parse_statistic, window_starts
from meterlog.periods import Month
from meterlog.validation import ParameterError
from tests.support.billing import identified, utc

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
UTC_ZONE = ZoneInfo("UTC")
OCTOBER = Month(2026, 10)
SEPTEMBER = Month(2026, 9)


def peaks(rows, meter: PeakMeter, month=OCTOBER, tz=UTC_ZONE) -> dict:
    frame = meter.quantities(identified(rows), Period(month, tz)).collect()
    return {
        account: (quantity, start.astimezone(tz).isoformat())
        for account, quantity, start in frame.iter_rows()
    }


def test_window_grid_follows_the_local_clock_across_dst() -> None:
    # October 2026 in Berlin has 31 days, one of them 25 hours long (clocks go back on 25 Oct).
    hours = window_starts(Period(OCTOBER, BERLIN), "1h")
    assert len(hours) == 31 * 24 + 1
    days = window_starts(Period(OCTOBER, BERLIN), "1d")
    lengths = Counter(b - a for a, b in zip(days, [*days[1:], Period(OCTOBER, BERLIN).end]))
    assert lengths == {timedelta(hours=24): 30, timedelta(hours=25): 1}
    assert days[24].astimezone(BERLIN).isoformat() == "2026-10-25T00:00:00+02:00"
    assert days[25].astimezone(BERLIN).isoformat() == "2026-10-26T00:00:00+01:00"
    # March 2026 loses an hour.
    assert len(window_starts(Period(Month(2026, 3), BERLIN), "1h")) == 31 * 24 - 1
    assert len(window_starts(Period(OCTOBER, UTC_ZONE), "5m")) == 31 * 24 * 12
    assert len(window_starts(Period(OCTOBER, UTC_ZONE), "1m")) == 31 * 24 * 60


def test_hourly_windows_start_on_the_local_hour_in_half_hour_zones() -> None:
    starts = window_starts(Period(OCTOBER, KOLKATA), "1h")
    assert starts[0] == datetime(2026, 9, 30, 18, 30, tzinfo=UTC)  # 1 Oct 00:00 +05:30
    assert {start.minute for start in starts} == {30}


def test_the_repeated_autumn_hour_is_two_windows() -> None:
    rows = [
        # 25 Oct 02:xx CEST (first time): three requests
        {"ts": "2026-10-25T00:10:00"},
        {"ts": "2026-10-25T00:20:00"},
        {"ts": "2026-10-25T00:30:00"},
        # 25 Oct 02:xx CET (second time): two requests
        {"ts": "2026-10-25T01:10:00"},
        {"ts": "2026-10-25T01:50:00"},
    ]
    assert peaks(rows, PeakMeter(), tz=BERLIN) == {"acme": (3, "2026-10-25T02:00:00+02:00")}
    later = [*rows, {"ts": "2026-10-25T01:55:00"}, {"ts": "2026-10-25T01:56:00"}]
    assert peaks(later, PeakMeter(), tz=BERLIN) == {"acme": (4, "2026-10-25T02:00:00+01:00")}


def test_daily_windows_are_local_days_of_23_to_25_hours() -> None:
    rows = [
        {"ts": "2026-10-24T22:30:00"},  # Berlin 25 Oct 00:30 (UTC: 24 Oct)
        {"ts": "2026-10-25T22:30:00"},  # Berlin 25 Oct 23:30 (the 25-hour day)
        {"ts": "2026-10-26T10:00:00"},
    ]
    meter = PeakMeter(window="1d")
    assert peaks(rows, meter, tz=BERLIN) == {"acme": (2, "2026-10-25T00:00:00+02:00")}
    # In UTC the same requests fall on three different days: the earliest wins the tie.
    assert peaks(rows, meter, tz=UTC_ZONE) == {"acme": (1, "2026-10-24T00:00:00+00:00")}


def test_ties_go_to_the_earliest_window() -> None:
    rows = [{"ts": "2026-10-20T10:00:00"}, {"ts": "2026-10-03T10:00:00"}]
    assert peaks(rows, PeakMeter()) == {"acme": (1, "2026-10-03T10:00:00+00:00")}


def test_metrics() -> None:
    rows = [
        {"ts": "2026-10-02T10:01:00", "remote_user": "u1", "bytes_sent": 500},
        {"ts": "2026-10-02T10:02:00", "remote_user": "u1", "bytes_sent": 500},
        {"ts": "2026-10-02T10:03:00", "remote_user": None, "bytes_sent": 500},
        {"ts": "2026-10-02T11:00:00", "remote_user": "u2", "bytes_sent": 2000},
        {"ts": "2026-10-02T11:10:00", "remote_user": "u3", "bytes_sent": None},
    ]
    assert peaks(rows, PeakMeter(metric="requests")) == {"acme": (3, "2026-10-02T10:00:00+00:00")}
    assert peaks(rows, PeakMeter(metric="users")) == {"acme": (2, "2026-10-02T11:00:00+00:00")}
    assert peaks(rows, PeakMeter(metric="bytes_sent")) == {
        "acme": (2000, "2026-10-02T11:00:00+00:00")
    }
    # Peak daily active users: distinct users on the busiest day.
    daily = PeakMeter(metric="users", window="1d")
    assert peaks(rows, daily) == {"acme": (3, "2026-10-02T00:00:00+00:00")}


def test_p95_is_the_nearest_rank_percentile_of_all_windows() -> None:
    # September has 30 daily windows; day d gets d requests. ceil(0.95 * 30) = 29.
    rows = [
        {"ts": f"2026-09-{day:02d}T12:{minute:02d}:00"}
        for day in range(1, 31)
        for minute in range(day)
    ]
    check = lambda statistic: peaks(rows, PeakMeter(window="1d", statistic=statistic), SEPTEMBER)  # noqa: E731
    assert check("p95") == {"acme": (29, "2026-09-29T00:00:00+00:00")}
    assert check("p50") == {"acme": (15, "2026-09-15T00:00:00+00:00")}  # rank 15
    assert check("max") == check("p100") == {"acme": (30, "2026-09-30T00:00:00+00:00")}
    assert check("p1") == {"acme": (1, "2026-09-01T00:00:00+00:00")}  # rank ceil(0.3) = 1


def test_windows_without_traffic_count_as_zero() -> None:
    # Days 1..10 have 1..10 requests; the other 20 September days none.
    rows = [
        {"ts": f"2026-09-{day:02d}T12:{minute:02d}:00"}
        for day in range(1, 11)
        for minute in range(day)
    ]
    check = lambda statistic: peaks(rows, PeakMeter(window="1d", statistic=statistic), SEPTEMBER)  # noqa: E731
    # Sorted: 20 zeros, then 1..10. Rank 29 is the 9th non-zero value.
    assert check("p95") == {"acme": (9, "2026-09-09T00:00:00+00:00")}
    # Rank 15 is a zero: the earliest window holding 0 is 11 September.
    assert check("p50") == {"acme": (0, "2026-09-11T00:00:00+00:00")}


def test_zero_peaks_report_the_earliest_zero_window() -> None:
    # Hours 0-2 of 1 Oct have traffic, the rest none: p1 (rank 8 of 744) is 0, from 03:00.
    rows = [{"ts": f"2026-10-01T0{hour}:00:00"} for hour in range(3)]
    assert peaks(rows, PeakMeter(statistic="p1")) == {"acme": (0, "2026-10-01T03:00:00+00:00")}
    # Only anonymous traffic, metric users: all windows are 0, the first one wins.
    assert peaks(rows, PeakMeter(metric="users")) == {"acme": (0, "2026-10-01T00:00:00+00:00")}
    # All traffic excluded: the account is reported with 0 from the period's start.
    excluded = PeakMeter.from_params({"methods": ["POST"]})
    assert peaks(rows, excluded, tz=BERLIN) == {"acme": (0, "2026-10-01T00:00:00+02:00")}


def test_evidence_lists_every_window_and_marks_the_peak() -> None:
    rows = [
        {"ts": "2026-09-02T12:00:00"},
        {"ts": "2026-09-02T13:00:00"},
        {"ts": "2026-09-05T12:00:00", "http_x_api_key": "key-globex"},
    ]
    meter = PeakMeter(window="1d")
    evidence = meter.evidence(identified(rows), Period(SEPTEMBER, UTC_ZONE)).collect()
    assert evidence.height == 60  # 30 days for each of two accounts
    acme = evidence.filter(account="acme")
    assert acme.get_column("value").sum() == 2
    marked = evidence.filter("is_peak").select("account", "window_start", "value", "rank")
    assert [(a, s.day, v, r) for a, s, v, r in marked.iter_rows()] == [
        ("acme", 2, 2, 30),
        ("globex", 5, 1, 30),
    ]
    first = acme.row(0, named=True)
    assert (first["window_start"].day, first["window_end"].day, first["rank"]) == (1, 2, 1)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window": "2h"}, "window: unknown window '2h'; use one of 1m, 5m, 1h, 1d"),
        ({"metric": "errors"}, "metric: unknown metric 'errors'; use one of requests, errors_4xx"),
        ({"statistic": "p0"}, "statistic: cannot read 'p0': use max or a percentile"),
        ({"statistic": "p101"}, "statistic: cannot read 'p101'"),
        ({"statistic": "avg"}, "statistic: cannot read 'avg'"),
        ({"window": 60}, "window: must be a non-empty string, not integer 60"),
        ({"windows": "1h"}, "windows: unknown key for a peak meter"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        meter_from_params("peak", params)
    assert str(caught.value).startswith(message)


def test_statistic_parsing_and_rank() -> None:
    assert parse_statistic("p99.9") == parse_statistic("p99.90")
    assert nearest_rank(parse_statistic("p95"), 720) == 684
    assert nearest_rank(parse_statistic("p95"), 744) == 707  # 706.8 -> 707
    assert nearest_rank(parse_statistic("p99.9"), 1000) == 999
    assert nearest_rank(parse_statistic("max"), 745) == 745
    description = meter_from_params("peak", {"statistic": "P95", "exclude_status": ["5xx"]})
    assert description.description == "peak requests/1h p95 (not status 5xx)"


# -- against an independent reference ------------------------------------------------------


def reference_peaks(rows, tz: ZoneInfo, window: str, percentile: float) -> dict:
    """Brute force: every window of the period listed explicitly, values sorted in Python.

    Hourly windows are UTC hours (Berlin and UTC offsets are whole hours); daily windows are
    local dates.
    """
    start, end = OCTOBER.start(tz), OCTOBER.end(tz)
    if window == "1h":
        grid = []
        moment = start
        while moment < end:
            grid.append(moment)
            moment += timedelta(hours=1)
        key = lambda ts: ts.replace(minute=0, second=0, microsecond=0)  # noqa: E731
    else:
        grid = sorted({(start + timedelta(hours=h)).astimezone(tz).date() for h in range(800)})
        grid = [day for day in grid if day.month == 10]
        key = lambda ts: ts.astimezone(tz).date()  # noqa: E731
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        ts = utc(row["ts"])
        if start <= ts < end:
            counts[row["http_x_api_key"].removeprefix("key-")][key(ts)] += 1
    result = {}
    for account, per_window in counts.items():
        values = [per_window.get(w, 0) for w in grid]
        rank = math.ceil(percentile * len(values) / 100)
        value = sorted(values)[rank - 1]
        first = next(w for w, v in zip(grid, values) if v == value)
        if window == "1d":
            first = datetime(first.year, first.month, first.day, tzinfo=tz)
        result[account] = (value, first.astimezone(tz).isoformat())
    return result


timestamps = st.datetimes(
    min_value=datetime(2026, 9, 30, 20), max_value=datetime(2026, 11, 1, 2)
).map(lambda moment: moment.replace(microsecond=0).isoformat())
rows_strategy = st.lists(
    st.fixed_dictionaries(
        {"ts": timestamps, "http_x_api_key": st.sampled_from(["key-a", "key-b", "key-c"])}
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(
    rows=rows_strategy,
    tz=st.sampled_from([UTC_ZONE, BERLIN]),
    window=st.sampled_from(["1h", "1d"]),
    percentile=st.sampled_from([100, 99, 95, 50, 3]),
)
def test_peaks_equal_a_brute_force_reference(rows, tz, window, percentile) -> None:
    statistic = "max" if percentile == 100 else f"p{percentile}"
    meter = PeakMeter(window=window, statistic=statistic)
    assert peaks(rows, meter, tz=tz) == reference_peaks(rows, tz, window, percentile)
