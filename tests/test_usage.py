"""Usage reports: every dimension, metric and filter against hand-computed expectations.

The fixture is ``tests.support.usage.REQUESTS`` (ten requests); the comments name the rows
(#1 to #10, in table order) each expected value comes from.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from meterlog.errors import MeterlogError
from meterlog.query.settings import ReportSettings
from meterlog.query.usage import UsageQuery, run_usage, usage_plan
from tests.support.usage import build_store, requests_frame

ACCOUNTS = {"k1": "acme", "k2": "acme"}
BASE = ("requests", "errors_4xx", "errors_5xx", "bytes_sent", "users")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usage") / "store"
    build_store(path)
    return path


def settings_for(store_path: Path, **changes: object) -> ReportSettings:
    return ReportSettings(store=str(store_path), **changes)  # type: ignore[arg-type]


def report(store_path: Path, settings: dict | None = None, **query: object) -> pl.DataFrame:
    return run_usage(settings_for(store_path, **(settings or {})), UsageQuery(**query)).frame


def rows(frame: pl.DataFrame, columns: tuple[str, ...]) -> list[tuple]:
    return frame.select(columns).rows()


def local(text: str, tz: str = "UTC") -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def test_no_grouping_gives_one_row_with_every_metric(store_path: Path) -> None:
    frame = report(store_path)
    assert frame.columns == [*BASE, "latency_p50", "latency_p95", "latency_p99"]
    # bytes: 100+200+300+50+10+10+0+20+400+0; users ann, bob, cid ('-', '' and null anonymous)
    assert rows(frame, BASE) == [(10, 1, 2, 1090, 3)]
    # request times sorted: .01 .02 .1 .2 .3 .4 .5 1 2 (#9 has none); linear interpolation
    latency = frame.select("latency_p50", "latency_p95", "latency_p99").row(0)
    assert latency == pytest.approx((0.3, 1.6, 1.92))


def test_by_day(store_path: Path) -> None:
    frame = report(store_path, by=("day",))
    assert frame.schema["day"] == pl.Datetime("us", "UTC")
    assert rows(frame, ("day", *BASE)) == [
        (local("2026-10-01"), 5, 1, 0, 660, 2),  # #1-#5: ann, bob
        (local("2026-10-02"), 4, 0, 2, 430, 2),  # #6-#9: cid, ann
        (local("2026-10-03"), 0, 0, 0, 0, 0),  # no traffic: a row of zeros
        (local("2026-10-04"), 0, 0, 0, 0, 0),
        (local("2026-10-05"), 1, 0, 0, 0, 1),  # #10: bob
    ]
    latency = frame.select("latency_p50", "latency_p95", "latency_p99").rows()
    assert latency[0] == pytest.approx((0.2, 0.38, 0.396))  # .01 .1 .2 .3 .4
    assert latency[1] == pytest.approx((1.0, 1.9, 1.98))  # .02 1 2
    assert latency[2] == latency[3] == (None, None, None)  # no request, no latency
    assert latency[4] == pytest.approx((0.5, 0.5, 0.5))


def test_by_hour(store_path: Path) -> None:
    frame = report(store_path, by=("hour",), since="2026-10-01", until="2026-10-01")
    # every hour of the requested day, the five with a request (#1-#5) holding 1
    assert rows(frame, ("hour", "requests")) == [
        (local(f"2026-10-01T{hour:02d}:00"), 1 if 8 <= hour <= 12 else 0) for hour in range(24)
    ]


def test_time_series_are_zero_filled_per_group(store_path: Path) -> None:
    settings = {"account_field": "http_x_api_key", "accounts": ACCOUNTS}
    frame = report(store_path, settings, by=("day", "account"), since="2026-10-02")
    got = {(day.day, account): n for day, account, n in rows(frame, ("day", "account", "requests"))}
    # from 2 Oct (--since) to the last request (5 Oct), for each account seen: acme, k3, empty
    expected = {(day, account): 0 for day in (2, 3, 4, 5) for account in ("acme", "k3", None)}
    expected.update({(2, "acme"): 1, (2, "k3"): 2, (2, None): 1, (5, "acme"): 1})  # #6-#10
    assert got == expected
    assert frame.height == len(expected)


def test_by_week_starts_on_monday(store_path: Path) -> None:
    frame = report(store_path, by=("week",))
    assert rows(frame, ("week", "requests", "users")) == [
        (local("2026-09-28"), 9, 3),  # Thu 1 Oct to Fri 2 Oct
        (local("2026-10-05"), 1, 1),  # Mon 5 Oct
    ]


def test_by_month(store_path: Path) -> None:
    assert rows(report(store_path, by=("month",)), ("month", *BASE)) == [
        (local("2026-10-01"), 10, 1, 2, 1090, 3)
    ]


def test_by_account_with_accounts_file(store_path: Path) -> None:
    settings = {"account_field": "http_x_api_key", "accounts": ACCOUNTS}
    frame = report(store_path, settings, by=("account",))
    assert rows(frame, ("account", *BASE)) == [
        ("acme", 7, 1, 0, 670, 2),  # k1 and k2: #1-#6, #10
        ("k3", 2, 0, 2, 20, 1),  # not in the file: raw key
        (None, 1, 0, 0, 400, 1),  # #9 has no key; empty values sort last
    ]


def test_without_account_field_everything_is_one_account(store_path: Path) -> None:
    assert rows(report(store_path, by=("account",)), ("account", "requests")) == [("default", 10)]


def test_by_user_counts_anonymous_requests_but_never_anonymous_users(store_path: Path) -> None:
    frame = report(store_path, by=("user",))
    assert "users" not in frame.columns  # always 1 per user (0 for the anonymous row)
    assert rows(frame, ("user", *BASE[:-1])) == [
        ("ann", 3, 0, 0, 700),
        ("bob", 2, 0, 0, 300),
        ("cid", 2, 0, 2, 20),
        (None, 3, 1, 0, 70),  # '-', null and '' (#4, #5, #6)
    ]


def test_user_field_can_be_any_column(store_path: Path) -> None:
    frame = report(store_path, {"user_field": "http_x_api_key"}, by=("day",))
    assert rows(frame, ("day", "users")) == [
        (local("2026-10-01"), 2),  # k1, k2
        (local("2026-10-02"), 2),  # k2, k3
        (local("2026-10-03"), 0),
        (local("2026-10-04"), 0),
        (local("2026-10-05"), 1),
    ]


def test_by_endpoint(store_path: Path) -> None:
    frame = report(store_path, by=("endpoint",))
    assert rows(frame, ("endpoint", *BASE)) == [
        ("/health", 2, 0, 0, 20, 0),
        ("/v1/orders", 1, 0, 0, 300, 1),
        ("/v1/orders/{id}", 2, 0, 1, 400, 2),  # #7 cid, #9 ann
        ("/v1/users/{id}/orders", 5, 1, 1, 370, 3),  # #1 #2 #4 #8 #10
    ]


def test_by_endpoint_uses_config_routes(store_path: Path) -> None:
    settings = {"routes": ("/v1/users/{user_id}/orders",)}
    frame = report(store_path, settings, by=("endpoint",), paths=("/v1/users/*",))
    assert rows(frame, ("endpoint", "requests")) == [("/v1/users/{user_id}/orders", 5)]


def test_by_method_upper_cases(store_path: Path) -> None:
    assert rows(report(store_path, by=("method",)), ("method", "requests")) == [
        ("DELETE", 1),
        ("GET", 8),  # includes #9 logged as 'get'
        ("POST", 1),
    ]


def test_by_method_and_endpoint(store_path: Path) -> None:
    frame = report(store_path, by=("method", "endpoint"), paths=("/v1/orders*",))
    assert rows(frame, ("method", "endpoint", "requests")) == [
        ("DELETE", "/v1/orders/{id}", 1),
        ("GET", "/v1/orders/{id}", 1),
        ("POST", "/v1/orders", 1),
    ]


def test_by_status(store_path: Path) -> None:
    assert rows(report(store_path, by=("status",)), ("status", "requests")) == [
        (200, 5),
        (201, 1),
        (302, 1),
        (404, 1),
        (500, 1),
        (503, 1),
    ]


def test_by_status_class(store_path: Path) -> None:
    frame = report(store_path, by=("status_class",))
    assert rows(frame, ("status_class", "requests", "errors_4xx", "errors_5xx")) == [
        ("2xx", 6, 0, 0),
        ("3xx", 1, 0, 0),
        ("4xx", 1, 1, 0),
        ("5xx", 2, 0, 2),
    ]


def test_dimensions_combine_in_the_order_given(store_path: Path) -> None:
    frame = report(store_path, by=("status_class", "day"))
    assert frame.columns[:2] == ["status_class", "day"]
    assert rows(frame, ("status_class", "day", "requests"))[:2] == [
        ("2xx", local("2026-10-01"), 4),  # #1 #2 #3 #5
        ("2xx", local("2026-10-02"), 2),  # #6 #9
    ]


@pytest.mark.parametrize(
    ("query", "requests"),
    [
        ({"since": "2026-10-02"}, 5),
        ({"until": "2026-10-01"}, 5),  # a date: the whole day
        ({"until": "2026-10-01T11:00"}, 3),  # a timestamp: exclusive
        ({"since": "2026-10-01T09:00", "until": "2026-10-01T11:00"}, 2),
        ({"since": "2026-10-02T12:00+02:00", "until": "2026-10-02T12:00:01+02:00"}, 1),  # #8
        ({"users": ("ann",)}, 3),
        ({"users": ("ann", "cid")}, 5),
        ({"statuses": ("2xx",)}, 6),
        ({"statuses": ("404", "5xx")}, 3),
        ({"methods": ("get",)}, 8),
        ({"paths": ("/v1/users/*",)}, 5),
        ({"paths": ("/v1/orders/??",)}, 1),
        ({"paths": ("/health", "/v1/orders")}, 3),
        ({"exclude_paths": ("/health",)}, 8),
        ({"exclude_paths": ("/health", "/v1/orders*")}, 5),
        ({"exclude_bots": True}, 7),  # kube-probe #5 #6, Googlebot #7
    ],
)
def test_filters(store_path: Path, query: dict, requests: int) -> None:
    frame = report(store_path, **query)
    assert frame.get_column("requests").sum() == requests


def test_since_and_until_are_read_in_the_time_zone(store_path: Path) -> None:
    # 2026-10-01 in Berlin is 2026-09-30T22:00Z to 2026-10-01T22:00Z: #1-#5
    settings = {"tz": ZoneInfo("Europe/Berlin")}
    frame = report(store_path, settings, since="2026-10-01", until="2026-10-01")
    assert frame.item(0, "requests") == 5
    # 2026-10-05 02:30 Berlin is #10 (00:30Z)
    frame = report(store_path, settings, since="2026-10-05T02:30", until="2026-10-05T02:31")
    assert frame.item(0, "requests") == 1


def test_account_filter_uses_account_names(store_path: Path) -> None:
    settings = {"account_field": "http_x_api_key", "accounts": ACCOUNTS}
    assert report(store_path, settings, accounts=("acme",)).item(0, "requests") == 7
    assert report(store_path, settings, accounts=("k3",)).item(0, "requests") == 2


def test_bot_patterns_can_be_replaced(store_path: Path) -> None:
    settings = {"bot_patterns": ("PYTHON-requests",)}  # case-insensitive substrings
    assert report(store_path, settings, exclude_bots=True).item(0, "requests") == 9


def test_top_and_sort(store_path: Path) -> None:
    frame = report(store_path, by=("user",), top=2, sort="bytes_sent")
    assert rows(frame, ("user", "bytes_sent")) == [("ann", 700), ("bob", 300)]


def test_sort_ties_are_broken_by_group_keys(store_path: Path) -> None:
    frame = report(store_path, by=("method",), top=2, sort="errors_4xx")
    assert rows(frame, ("method", "errors_4xx")) == [("GET", 1), ("DELETE", 0)]


def test_top_defaults_to_requests(store_path: Path) -> None:
    frame = report(store_path, by=("endpoint",), top=1)
    assert rows(frame, ("endpoint", "requests")) == [("/v1/users/{id}/orders", 5)]


def test_sort_without_top_keeps_every_row(store_path: Path) -> None:
    frame = report(store_path, by=("status_class",), sort="requests")
    assert frame.get_column("status_class").to_list() == ["2xx", "5xx", "3xx", "4xx"]


@pytest.mark.parametrize("dtype", [pl.Float64, pl.Null])
def test_latency_columns_only_when_request_times_exist(tmp_path: Path, dtype: pl.DataType) -> None:
    frame = requests_frame().with_columns(request_time=pl.lit(None, dtype))
    build_store(tmp_path / "s", frame, sources=1)
    frame = report(tmp_path / "s", by=("day",))
    assert frame.columns == ["day", *BASE]


def test_empty_result_has_columns_no_rows_and_a_note(store_path: Path) -> None:
    result = run_usage(settings_for(store_path), UsageQuery(by=("day",), statuses=("1xx",)))
    assert result.frame.height == 0
    assert result.frame.columns == ["day", *BASE]
    assert result.notes == ["no requests match --status 1xx"]


@pytest.mark.parametrize(
    ("query", "note"),
    [
        (
            {"since": "2027-01-01"},
            "no requests stored from 2027-01-01T00:00:00+00:00 on; check --since/--until and --tz",
        ),
        ({"users": ("zed",), "methods": ("GET",)}, "no requests match --user zed"),
        (
            {"users": ("zed",), "statuses": ("1xx",)},
            "no requests match --user zed, nor --status 1xx",
        ),
        (
            {"users": ("cid",), "statuses": ("2xx",)},
            "no requests match --user cid and --status 2xx together",
        ),
        (
            {"until": "2026-10-01", "users": ("cid",)},
            "no requests before 2026-10-02T00:00:00+00:00 match --user cid",
        ),
    ],
)
def test_empty_result_notes_name_what_matched_nothing(
    store_path: Path, query: dict, note: str
) -> None:
    result = run_usage(settings_for(store_path), UsageQuery(**query))
    assert result.frame.height == 0
    assert result.notes == [note]


def test_unmapped_account_keys_are_listed_in_a_warning(store_path: Path) -> None:
    settings = settings_for(
        store_path,
        account_field="http_x_api_key",
        accounts={"k1": "acme"},
        accounts_path=Path("accounts.csv"),
    )
    result = run_usage(settings, UsageQuery(by=("account",)))
    assert result.warnings == [
        "2 account keys are not in accounts.csv and reported under the raw value: k2, k3; "
        "add them to the file to roll them up to an account"
    ]


def test_missing_identity_columns_are_warned_about(store_path: Path) -> None:
    settings = settings_for(store_path, user_field="http_x_user", account_field="http_x_org")
    result = run_usage(settings, UsageQuery())
    assert result.frame.item(0, "users") == 0
    assert [w.split(" is not")[0] for w in result.warnings] == [
        "user field 'http_x_user'",
        "account field 'http_x_org'",
    ]


def test_totals_are_exact_for_distinct_users(store_path: Path) -> None:
    result = run_usage(settings_for(store_path), UsageQuery(by=("day",)), with_totals=True)
    assert result.frame.get_column("users").sum() == 5  # ann, bob on day 1 ... counted per day
    assert result.totals is not None
    assert result.totals["users"] == 3
    assert result.totals["requests"] == 10
    assert result.summed_columns == ("requests", "errors_4xx", "errors_5xx", "bytes_sent")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (UsageQuery(by=("region",)), "unknown --by 'region'"),
        (UsageQuery(sort="speed"), "unknown --sort 'speed'"),
        (UsageQuery(top=0), "--top 0"),
        (UsageQuery(statuses=("2x",)), "cannot read status '2x'"),
        (UsageQuery(since="yesterday"), "cannot read 'yesterday'"),
        (UsageQuery(since="2026-10-02", until="2026-10-01T00:00"), "is not before --until"),
    ],
)
def test_bad_queries_raise_one_clear_error(
    store_path: Path, query: UsageQuery, message: str
) -> None:
    with pytest.raises(MeterlogError, match=message):
        run_usage(settings_for(store_path), query)


def test_plan_filters_the_partition_column(store_path: Path) -> None:
    events = pl.scan_delta(str(store_path / "events"))
    query = UsageQuery(by=("day",), since="2026-10-02", until="2026-10-02")
    grouped = usage_plan(events, settings_for(store_path), query).report
    plan = grouped.explain()
    assert "day=2026-10-02" in plan
    assert "day=2026-10-01" not in plan
    assert "day=2026-10-05" not in plan
    assert grouped.collect().get_column("day").to_list() == [local("2026-10-02")]


def test_zero_filled_over_the_stored_range_whatever_the_filters(store_path: Path) -> None:
    frame = report(store_path, by=("day",), users=("cid",))
    # cid's two requests are on 2 October; the store holds 1 to 5 October
    assert rows(frame, ("day", "requests")) == [
        (local("2026-10-01"), 0),
        (local("2026-10-02"), 2),
        (local("2026-10-03"), 0),
        (local("2026-10-04"), 0),
        (local("2026-10-05"), 0),
    ]


def test_a_huge_zero_filled_series_is_refused_with_a_note(store_path: Path) -> None:
    result = run_usage(settings_for(store_path), UsageQuery(by=("hour",), since="1700-01-01"))
    # 1700 to 2026 is about 2.9 million hours: only the ten hours with requests are rows
    assert result.frame.get_column("requests").to_list() == [1] * 10
    assert any("left out" in note and "--since/--until" in note for note in result.notes)
