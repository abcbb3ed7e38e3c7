"""The count, sum and unique meters, and the endpoints filter every meter has."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from meterlog.meters import (
    CountMeter,
    MauMeter,
    Period,
    SumMeter,
    UniqueMeter,
    meter_from_params,
)
from meterlog.periods import Month
from meterlog.validation import ParameterError
from tests.support.billing import identified

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
OCTOBER = Period(Month(2026, 10), UTC_ZONE)

ROWS = [
    {"ts": "2026-09-30T23:59:59", "path": "/v1/items/1", "bytes_sent": 7},  # September (UTC)
    {"ts": "2026-10-01T00:00:00", "path": "/v1/items/1", "bytes_sent": 1500, "method": "POST"},
    {"ts": "2026-10-02T10:00:00", "path": "/v1/items/22", "bytes_sent": 999},
    {"ts": "2026-10-02T11:00:00", "path": "/v1/items/22/parts", "bytes_sent": 1},
    {"ts": "2026-10-03T11:00:00", "path": "/health", "bytes_sent": 0, "status": 503},
    {"ts": "2026-10-31T23:59:59", "path": "/v1/users/5", "bytes_sent": 500, "method": "DELETE"},
    {"ts": "2026-10-05T00:00:00", "path": "/v1/items/3", "http_x_api_key": "key-globex"},
]


def quantities(meter, rows=ROWS, period=OCTOBER) -> dict[str | None, int]:
    frame = meter.quantities(identified(rows), period).collect()
    return dict(frame.select("account", "quantity").iter_rows())


def test_count_counts_requests_with_the_filters() -> None:
    assert quantities(CountMeter()) == {"acme": 5, "globex": 1}
    get_post = meter_from_params("count", {"methods": ["get", "POST"], "exclude_status": ["5xx"]})
    assert quantities(get_post) == {"acme": 3, "globex": 1}
    items = meter_from_params("count", {"endpoints": ["/v1/items/{id}"]})
    assert quantities(items) == {"acme": 2, "globex": 1}  # not /v1/items/22/parts
    assert items.description == "requests (endpoints /v1/items/{id})"


def test_the_endpoints_filter_is_shared_by_every_meter() -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "path": "/v1/items/1", "remote_user": "a"},
        {"ts": "2026-10-02T10:00:00", "path": "/v1/items/1/x", "remote_user": "b"},
        {"ts": "2026-10-02T10:00:00", "path": "/v1/items.json", "remote_user": "c"},
    ]
    meter = meter_from_params("mau", {"endpoints": ["/v1/items/{id}", "/v1/items.json"]})
    assert quantities(meter, rows) == {"acme": 2}  # "." is a literal dot
    with pytest.raises(ParameterError, match=r"endpoints\[0\]: 'v1/x' is not a path template"):
        meter_from_params("count", {"endpoints": ["v1/x"]})


@pytest.mark.parametrize(
    ("rounding", "step", "expected"),
    [
        # October's acme bytes: 1500 + 999 + 1 + 0 + 500 = 3000 -> 3.0 "kilo" units of 1000
        ("up", 1, 3),
        ("down", 1, 3),
        ("nearest", 1, 3),
        ("up", 2, 4),  # 3 -> the next multiple of 2
        ("down", 2, 2),
        ("nearest", 2, 4),  # 1.5 steps -> halves round up -> 2 steps
    ],
)
def test_sum_divides_and_rounds_to_a_step(rounding: str, step: int, expected: int) -> None:
    meter = SumMeter(column="bytes_sent", divide_by=1000, rounding=rounding, step=step)
    assert quantities(meter)["acme"] == expected


@pytest.mark.parametrize(("rounding", "expected"), [("up", 3), ("down", 2), ("nearest", 2)])
def test_sum_rounding_of_a_fraction(rounding: str, expected: int) -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "bytes_sent": 1_200_000_000},
        {"ts": "2026-10-02T10:00:00", "bytes_sent": 1_000_000_000},
    ]  # 2.2 GB
    meter = meter_from_params(
        "sum", {"column": "bytes_sent", "divide_by": 1e9, "rounding": rounding}
    )
    assert quantities(meter, rows) == {"acme": expected}


def test_sum_of_fractional_seconds_is_exact() -> None:
    # 0.1 + 0.2 + ... in binary floats drifts; summed in millionths it does not:
    # 10 x 0.1 + 5 x 0.3 = 2.5 s -> nearest (halves up) 3, down 2
    rows = [{"ts": "2026-10-02T10:00:00", "request_time": 0.1}] * 10 + [
        {"ts": "2026-10-02T10:00:00", "request_time": 0.3}
    ] * 5
    assert quantities(SumMeter(column="request_time", rounding="nearest"), rows) == {"acme": 3}
    assert quantities(SumMeter(column="request_time", rounding="down"), rows) == {"acme": 2}


def test_sum_of_a_text_column_holding_numbers() -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "upstream_time": "1.250"},
        {"ts": "2026-10-02T10:00:00", "upstream_time": "-"},  # not a number: adds nothing
        {"ts": "2026-10-02T10:00:00", "upstream_time": " 0.750 "},
    ]
    meter = SumMeter(column="upstream_time", rounding="down")
    assert quantities(meter, rows) == {"acme": 2}
    evidence = meter.evidence(identified(rows), OCTOBER).collect()
    assert evidence.select("day", "requests", "total").rows()[0][1:] == (3, "2.000000")


def test_sum_parameters_are_checked() -> None:
    with pytest.raises(ParameterError, match="rounding: unknown rounding 'ceil'"):
        meter_from_params("sum", {"column": "bytes_sent", "rounding": "ceil"})
    with pytest.raises(ParameterError, match="divide_by: must be a whole number"):
        meter_from_params("sum", {"column": "bytes_sent", "divide_by": 0.5})
    with pytest.raises(ParameterError, match="column: is required"):
        meter_from_params("sum", {})


def test_unique_counts_distinct_values_of_any_column() -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "remote_addr": "10.0.0.1", "path": "/v1/items/1"},
        {"ts": "2026-10-02T11:00:00", "remote_addr": " 10.0.0.1 ", "path": "/v1/items/2"},
        {"ts": "2026-10-03T10:00:00", "remote_addr": "10.0.0.2", "path": "/v1/users/9"},
        {"ts": "2026-10-03T10:00:00", "remote_addr": "-", "path": "/health"},
        {"ts": "2026-10-03T10:00:00", "remote_addr": None, "path": "/v1/items/3?x=1"},
    ]
    assert quantities(UniqueMeter(column="remote_addr"), rows) == {"acme": 2}
    # automatic endpoint templates: /v1/items/{id}, /v1/users/{id}, /health
    assert quantities(UniqueMeter(column="endpoint"), rows) == {"acme": 3}
    evidence = UniqueMeter(column="endpoint").evidence(identified(rows), OCTOBER).collect()
    assert evidence.get_column("value").to_list() == ["/health", "/v1/items/{id}", "/v1/users/{id}"]
    assert evidence.get_column("requests").to_list() == [1, 3, 1]


def test_unique_of_user_is_mau() -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "remote_user": user}
        for user in ("a", "b", "a", "-", "", None, "c")
    ]
    assert (
        quantities(UniqueMeter(column="user"), rows) == quantities(MauMeter(), rows) == {"acme": 3}
    )


def test_count_evidence_is_per_local_day() -> None:
    period = Period(Month(2026, 10), BERLIN)
    evidence = CountMeter().evidence(identified(ROWS), period).collect()
    acme = evidence.filter(evidence["account"] == "acme")
    # 2026-09-30T23:59:59Z is 1 October in Berlin; 2026-10-31T23:59:59Z is 1 November
    assert [(str(day), n) for day, n in acme.select("day", "requests").rows()] == [
        ("2026-10-01", 2),
        ("2026-10-02", 2),
        ("2026-10-03", 1),
    ]
