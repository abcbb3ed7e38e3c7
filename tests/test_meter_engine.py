"""Every meter is a mergeable aggregate: partial states of any split of the events, merged,
give exactly the one-shot quantities (splits inside a window, across a DST change and across
a month boundary included)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterlog.meters import (
    CountMeter,
    MauMeter,
    Meter,
    Period,
    RequestFilter,
    SumMeter,
    UniqueMeter,
)
from meterlog.meters.peak import PeakMeter
from meterlog.periods import Month
from tests.support.billing import identified, utc

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
NOT_5XX = RequestFilter(exclude_status=("5xx",), exclude_paths=("/health",))

METERS: list[Meter] = [
    MauMeter(),
    MauMeter(counting=NOT_5XX),
    UniqueMeter(column="remote_addr"),
    UniqueMeter(column="endpoint", counting=NOT_5XX),
    CountMeter(),
    CountMeter(counting=NOT_5XX),
    SumMeter(column="bytes_sent", divide_by=1000, rounding="up"),
    SumMeter(column="bytes_sent", divide_by=7, rounding="nearest", step=2),
    SumMeter(column="request_time", rounding="down", counting=NOT_5XX),
    *(
        PeakMeter(metric="requests", window=window, statistic=statistic)
        for window in ("5m", "1h", "1d")
        for statistic in ("max", "p95")
    ),
    PeakMeter(metric="users", window="1h", statistic="p50"),
    PeakMeter(metric="users", window="1d", statistic="max", counting=NOT_5XX),
    PeakMeter(metric="bytes_sent", window="1h", statistic="p95"),
    PeakMeter(metric="errors_5xx", window="5m", statistic="max"),
    PeakMeter(metric="requests", window="1m", statistic="p99.9", counting=NOT_5XX),
]

PERIODS = [
    Period(Month(2026, 10), BERLIN),  # the clock goes back on 2026-10-25 at 01:00 UTC
    Period(Month(2026, 11), BERLIN),
    Period(Month(2026, 10), UTC_ZONE),
    Period(Month(2026, 10), BERLIN, first_day=date(2026, 10, 25)),
]

#: Moments events cluster around: inside one window, the DST change, the month's end.
ANCHORS = [
    utc("2026-10-24T22:00:00"),  # local midnight
    utc("2026-10-25T00:30:00"),  # the first 02:30 (CEST)
    utc("2026-10-25T01:30:00"),  # the second 02:30 (CET)
    utc("2026-10-31T22:59:00"),  # the last minute of October in Berlin
    utc("2026-10-31T23:00:00"),  # November in Berlin, still October in UTC
    utc("2026-11-01T00:10:00"),
]

event = st.fixed_dictionaries(
    {
        "anchor": st.sampled_from(ANCHORS),
        "seconds": st.integers(-400, 400),
        "remote_user": st.sampled_from([None, "ann", "bob", "cy", "dee"]),
        "remote_addr": st.sampled_from(["10.0.0.1", "10.0.0.2", "-"]),
        "http_x_api_key": st.sampled_from([None, "key-acme", "key-globex"]),
        "status": st.sampled_from([200, 404, 503]),
        "path": st.sampled_from(["/v1/items/1", "/v1/items/2", "/health"]),
        "bytes_sent": st.integers(0, 5000),
        "request_time": st.sampled_from([None, 0.001, 0.25, 1.5]),
    }
)


def _rows(drawn: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = []
    for item in drawn:
        moment = item["anchor"] + timedelta(seconds=int(item["seconds"]))  # type: ignore[operator]
        row = {k: v for k, v in item.items() if k not in ("anchor", "seconds")}
        rows.append({**row, "ts": moment.replace(tzinfo=None).isoformat()})
    return rows


def _batch(events: pl.DataFrame, batches: list[int], which: int) -> pl.LazyFrame:
    chosen = pl.Series([b == which for b in batches], dtype=pl.Boolean)
    return events.filter(chosen).lazy()


SPLITS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=2, **SPLITS)  # the slow tier draws 12 longer lists below
@given(data=st.data(), drawn=st.lists(event, min_size=1, max_size=30))
def test_merged_partials_equal_the_one_shot_quantities(data, drawn) -> None:
    check_any_split(data, drawn)


@pytest.mark.slow
@settings(max_examples=12, **SPLITS)
@given(data=st.data(), drawn=st.lists(event, min_size=1, max_size=60))
def test_merged_partials_equal_the_one_shot_quantities_many_splits(data, drawn) -> None:
    check_any_split(data, drawn)


def check_any_split(data: st.DataObject, drawn: list[dict[str, object]]) -> None:
    rows = _rows(drawn)
    events = identified(rows).collect()
    parts = data.draw(st.integers(1, 4), label="batches")
    batches = data.draw(
        st.lists(st.integers(0, parts - 1), min_size=len(rows), max_size=len(rows)),
        label="batch of each event",
    )
    reverse = data.draw(st.booleans(), label="merge newest first")
    one_shot: list[pl.LazyFrame] = []
    merged: list[pl.LazyFrame] = []
    for period in PERIODS:
        for meter in METERS:
            one_shot.append(meter.quantities(events.lazy(), period))
            states = [
                state.lazy()
                for state in pl.collect_all(
                    [
                        meter.partial(_batch(events, batches, which), period)
                        for which in range(parts)
                    ]
                )
            ]
            if reverse:
                states.reverse()
            merged.append(meter.finalize(meter.merge_all(states), period))
    results = pl.collect_all([*one_shot, *merged])
    half = len(one_shot)
    for index, (expected, got) in enumerate(zip(results[:half], results[half:], strict=True)):
        meter = METERS[index % len(METERS)]
        period = PERIODS[index // len(METERS)]
        assert got.equals(expected), (meter, period, expected, got)


def test_merging_the_empty_state_changes_nothing() -> None:
    rows = [
        {"ts": "2026-10-25T00:30:00", "remote_user": "ann", "bytes_sent": 10},
        {"ts": "2026-10-25T01:30:00", "remote_user": "bob", "http_x_api_key": None},
    ]
    events = identified(rows)
    for meter in METERS:
        for period in PERIODS:
            state = meter.partial(events, period)
            with_empty = meter.merge(meter.empty_state().lazy(), state)
            assert (
                meter.finalize(with_empty, period)
                .collect()
                .equals(meter.quantities(events, period).collect())
            )


def test_a_peak_split_inside_one_window_adds_up() -> None:
    # two requests of one hour in two batches: the hour's value is 2, not 1
    meter = PeakMeter(metric="requests", window="1h")
    period = Period(Month(2026, 10), BERLIN)
    first = identified([{"ts": "2026-10-25T00:10:00"}])
    second = identified([{"ts": "2026-10-25T00:50:00"}])
    state = meter.merge(meter.partial(first, period), meter.partial(second, period))
    frame = meter.finalize(state, period).collect()
    assert frame.get_column("quantity").to_list() == [2]
    assert str(frame.get_column("peak_start")[0]) == "2026-10-25 00:00:00+00:00"


SAMPLE_KEYS = {
    "key_live_5c1faa9f52135cb13ccc38b7": "acme",
    "key_live_941707dc8770f0b6d75df7ee": "globex",
    "key_live_d2edd018cbf9952fe408726b": "umbrella",
    "key_live_2661ddfe99635f3e1fc4be40": "hooli",
}


@settings(max_examples=4, **SPLITS)
@given(data=st.data(), drawn=st.lists(event, min_size=1, max_size=25))
def test_a_running_invoice_is_the_same_whatever_the_batches(data, drawn) -> None:
    """``watch``'s running invoice (every meter and pricing model of the sample plans) after
    any sequence of batches equals the one computed from all the events at once."""
    from meterlog.billing.invoice import RunningInvoice
    from meterlog.billing.plans import load_plan_file
    from meterlog.query.identity import with_identity
    from tests.support.billing import event_frame

    keys = [None, "key-unknown", *SAMPLE_KEYS]
    rows = _rows(drawn)
    for row, key in zip(
        rows,
        data.draw(st.lists(st.sampled_from(keys), min_size=len(rows), max_size=len(rows))),
        strict=True,
    ):
        row["http_x_api_key"] = key
    frame = event_frame(rows)
    events = with_identity(frame.lazy(), "remote_user", "http_x_api_key", SAMPLE_KEYS).collect()
    plans = load_plan_file(Path(__file__).resolve().parent.parent / "sample_logs" / "plans.toml")
    now = utc("2026-10-31T12:00:00")
    parts = data.draw(st.integers(1, 4), label="batches")
    batches = data.draw(
        st.lists(st.integers(0, parts - 1), min_size=len(rows), max_size=len(rows)),
        label="batch of each event",
    )
    at_once = RunningInvoice(plans, UTC_ZONE, now)
    at_once.add(events.lazy())
    running = RunningInvoice(plans, UTC_ZONE, now)
    for which in range(parts):
        running.add(_batch(events, batches, which))
    expected = at_once.lines(7)
    assert running.lines(7).equals(expected)
    # requests without a key are never billed
    assert None not in expected.get_column("account").to_list()
