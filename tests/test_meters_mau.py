"""MAU: distinct non-anonymous users with a counted request in the period, per account."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import polars as pl
import pytest

from meterlog.meters import MauMeter, Period, RequestFilter, meter_from_params
from meterlog.periods import Month
from meterlog.validation import ParameterError
from tests.support.billing import identified

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")

# Around the October 2026 boundaries (Berlin is UTC+2 until 25 Oct, then UTC+1).
BOUNDARY_ROWS = [
    {"ts": "2026-09-30T22:00:00", "remote_user": "e"},  # Berlin 1 Oct 00:00 exactly
    {"ts": "2026-09-30T22:30:00", "remote_user": "a"},  # Berlin 1 Oct 00:30, UTC 30 Sep
    {"ts": "2026-10-15T12:00:00", "remote_user": "c"},
    {"ts": "2026-10-31T22:30:00", "remote_user": "d"},  # Berlin 31 Oct 23:30
    {"ts": "2026-10-31T23:30:00", "remote_user": "b"},  # Berlin 1 Nov 00:30, UTC 31 Oct
    {"ts": "2026-11-01T03:30:00", "remote_user": "f"},  # New York 31 Oct 23:30 (EDT)
]


def mau(rows, month=Month(2026, 10), tz=UTC_ZONE, meter=None) -> dict[str | None, int]:
    frame = (meter or MauMeter()).quantities(identified(rows), Period(month, tz)).collect()
    return dict(frame.select("account", "quantity").iter_rows())


def users(rows, month=Month(2026, 10), tz=UTC_ZONE, meter=None) -> list[str]:
    evidence = (meter or MauMeter()).evidence(identified(rows), Period(month, tz)).collect()
    return evidence.get_column("user").to_list()


def test_month_boundary_depends_on_the_billing_time_zone() -> None:
    assert users(BOUNDARY_ROWS, tz=UTC_ZONE) == ["b", "c", "d"]
    assert users(BOUNDARY_ROWS, tz=BERLIN) == ["a", "c", "d", "e"]
    assert users(BOUNDARY_ROWS, tz=NEW_YORK) == ["b", "c", "d", "f"]
    assert mau(BOUNDARY_ROWS, tz=UTC_ZONE) == {"acme": 3}
    assert mau(BOUNDARY_ROWS, tz=BERLIN) == {"acme": 4}
    # The 00:30-on-the-1st request in Berlin belongs to September in UTC.
    assert users(BOUNDARY_ROWS, month=Month(2026, 9), tz=UTC_ZONE) == ["a", "e"]
    assert mau(BOUNDARY_ROWS, month=Month(2026, 9), tz=BERLIN) == {}


def test_anonymous_requests_never_make_a_user_count() -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "remote_user": None},
        {"ts": "2026-10-02T10:00:01", "remote_user": "-"},
        {"ts": "2026-10-02T10:00:02", "remote_user": ""},
        {"ts": "2026-10-02T10:00:03", "remote_user": "x", "http_x_api_key": "key-globex"},
    ]
    # acme had traffic, all anonymous: it is reported, with 0.
    assert mau(rows) == {"acme": 0, "globex": 1}


def test_a_user_counts_once_per_account() -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "remote_user": "x"},
        {"ts": "2026-10-03T10:00:00", "remote_user": "x"},
        {"ts": "2026-10-04T10:00:00", "remote_user": "x", "http_x_api_key": "key-globex"},
        {"ts": "2026-10-04T10:00:00", "remote_user": "y", "http_x_api_key": "key-globex"},
    ]
    assert mau(rows) == {"acme": 1, "globex": 2}
    evidence = MauMeter().evidence(identified(rows), Period(Month(2026, 10))).collect()
    assert evidence.row(0, named=True) == {
        "account": "acme",
        "user": "x",
        "first_seen": evidence["first_seen"][0],
        "last_seen": evidence["last_seen"][0],
        "requests": 2,
    }
    assert str(evidence["first_seen"][0]) == "2026-10-02 10:00:00+00:00"
    assert str(evidence["last_seen"][0]) == "2026-10-03 10:00:00+00:00"


def test_without_an_account_field_everything_is_the_default_account() -> None:
    rows = [{"ts": "2026-10-02T10:00:00", "remote_user": "x", "http_x_api_key": "key-globex"}]
    frame = MauMeter().quantities(identified(rows, None), Period(Month(2026, 10))).collect()
    assert frame.to_dicts() == [{"account": "default", "quantity": 1, "peak_start": None}]


FILTER_ROWS = [
    {"ts": "2026-10-02T10:00:00", "remote_user": "ok"},
    {"ts": "2026-10-02T10:00:00", "remote_user": "err", "status": 503},
    {"ts": "2026-10-02T10:00:00", "remote_user": "missing", "status": 404},
    {"ts": "2026-10-02T10:00:00", "remote_user": "health", "path": "/health"},
    {"ts": "2026-10-02T10:00:00", "remote_user": "deep", "path": "/internal/a/b"},
    {"ts": "2026-10-02T10:00:00", "remote_user": "healthz", "path": "/healthz"},
    {"ts": "2026-10-02T10:00:00", "remote_user": "poster", "method": "post"},
    {"ts": "2026-10-02T10:00:00", "remote_user": "nostatus", "status": None},
]


def test_filters_choose_which_requests_count() -> None:
    everything = users(FILTER_ROWS)
    assert len(everything) == 8
    meter = MauMeter.from_params(
        {"exclude_status": ["5xx", 404], "exclude_paths": ["/health", "/internal/*"]}
    )
    assert users(FILTER_ROWS, meter=meter) == ["healthz", "nostatus", "ok", "poster"]
    only_post = MauMeter.from_params({"methods": ["POST"]})
    assert users(FILTER_ROWS, meter=only_post) == ["poster"]
    # Accounts whose every request is excluded are still reported, with 0.
    assert mau(FILTER_ROWS, meter=MauMeter.from_params({"methods": ["DELETE"]})) == {"acme": 0}


def test_glob_characters_only_star_and_question_mark_are_special() -> None:
    rows = [
        {"ts": "2026-10-02T10:00:00", "remote_user": "dot", "path": "/v1.json"},
        {"ts": "2026-10-02T10:00:00", "remote_user": "x", "path": "/v1xjson"},
        {"ts": "2026-10-02T10:00:00", "remote_user": "q", "path": "/v2.json"},
    ]
    meter = MauMeter.from_params({"exclude_paths": ["/v1.json"]})
    assert users(rows, meter=meter) == ["q", "x"]
    meter = MauMeter.from_params({"exclude_paths": ["/v?.json"]})
    assert users(rows, meter=meter) == ["x"]


def test_description_names_the_filters() -> None:
    meter = MauMeter.from_params(
        {"exclude_status": ["5XX"], "exclude_paths": ["/health"], "methods": ["get"]}
    )
    assert meter.description == "mau (not status 5xx; not paths /health; methods GET)"
    assert MauMeter().description == "mau"
    assert meter.counting == RequestFilter(("5xx",), ("/health",), ("GET",))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"window": "1h"},
            "window: unknown key for a mau meter; known keys: endpoints, exclude_paths",
        ),
        ({"exclude_status": ["6xx"]}, "exclude_status[0]: cannot read '6xx' as a status"),
        ({"exclude_status": [99]}, "exclude_status[0]: status 99 is not an HTTP status"),
        ({"exclude_status": "5xx"}, 'exclude_status: must be a list such as ["5xx", 404]'),
        ({"exclude_paths": "/health"}, "exclude_paths: must be a list of non-empty strings"),
        ({"methods": [""]}, "methods: must be a list of non-empty strings"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        meter_from_params("mau", params)
    assert str(caught.value).startswith(message)


def test_unknown_meter() -> None:
    with pytest.raises(ParameterError, match="meter: unknown meter 'dau'; use one of mau, peak"):
        meter_from_params("dau", {})


def test_partition_column_is_used_when_present() -> None:
    lazy = identified(BOUNDARY_ROWS).with_columns(day=pl.col("ts").dt.date())
    frame = MauMeter().quantities(lazy, Period(Month(2026, 10), BERLIN)).collect()
    assert frame.get_column("quantity").to_list() == [4]
