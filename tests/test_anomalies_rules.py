"""Each detector's rule at its documented threshold, on small in-memory request tables."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from meterlog.anomalies.registry import KINDS
from tests.support.anomalies import at, hourly, judge, requests

RANGE_START = at(2026, 10, 29)
RANGE_END = at(2026, 10, 30)
HISTORY_START = RANGE_START - timedelta(days=28)


def seconds_apart(start, count: int, step: float = 1.0) -> list:
    return [start + timedelta(seconds=i * step) for i in range(count)]


def flat_history(rate: int, *, key: str = "k1") -> pl.DataFrame:
    """Exactly ``rate`` requests every hour for four weeks before the range."""
    return hourly(HISTORY_START, 28 * 24, rate, exact=True, key=key)


# -- spike ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("observed", "found"), [(300, True), (299, False)])
def test_spike_needs_three_times_the_expected_rate(observed: int, found: bool) -> None:
    # history: 100 an hour, so expected 100 and spread sqrt(100) = 10: 300 is 3x, 299 is not
    hour = RANGE_START + timedelta(hours=10)
    frame = pl.concat(
        [
            flat_history(100),
            hourly(RANGE_START, 10, 100, exact=True, seed=1),
            hourly(hour, 1, observed, exact=True, seed=2),
            hourly(hour + timedelta(hours=1), 14, 100, exact=True, seed=3),
        ]
    )
    findings = judge(frame, "spike", RANGE_START, RANGE_END)
    assert findings.height == int(found)
    if found:
        row = findings.row(0, named=True)
        assert (row["entity"], row["start"], row["end"]) == ("k1", hour, hour + timedelta(hours=1))
        assert (row["observed"], row["expected"]) == (observed, 100)


def test_a_small_accounts_spike_is_found_with_low_severity() -> None:
    # 2 an hour, then 30: fifteen times as many, 28 more requests (< min_excess 100): low
    hour = RANGE_START + timedelta(hours=5)
    frame = pl.concat([flat_history(2), hourly(hour, 1, 30, exact=True, seed=1)])
    findings = judge(frame, "spike", RANGE_START, RANGE_END)
    assert findings.height == 1
    assert findings["severity"].item() == "low"
    # 8 where 2 are usual is chance enough (a Poisson tail above max_p): nothing
    frame = pl.concat([flat_history(2), hourly(hour, 1, 8, exact=True, seed=1)])
    assert judge(frame, "spike", RANGE_START, RANGE_END).height == 0


def test_spike_needs_history() -> None:
    # a week of history is less than min_history_weeks (2): nothing is judged
    week = hourly(RANGE_START - timedelta(days=7), 7 * 24, 10, exact=True)
    spike = hourly(RANGE_START + timedelta(hours=5), 1, 2000, exact=True, seed=1)
    frame = pl.concat([week, spike])
    assert judge(frame, "spike", RANGE_START, RANGE_END).height == 0
    assert judge(frame, "spike", RANGE_START, RANGE_END, min_history_weeks=1).height == 1


# -- drop -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "hours", "found"), [(20, 3, True), (21, 3, False), (0, 2, False)]
)
def test_drop_needs_most_traffic_gone_for_three_hours(observed: int, hours: int, found: bool):
    # history 100 an hour: an hour is low at 20 or fewer (80% gone); three such hours in a row
    low_start = RANGE_START + timedelta(hours=6)
    frame = pl.concat(
        [
            flat_history(100),
            hourly(RANGE_START, 6, 100, exact=True, seed=1),
            hourly(low_start, hours, observed, exact=True, seed=2),
            hourly(low_start + timedelta(hours=hours), 18 - hours, 100, exact=True, seed=3),
        ]
    )
    findings = judge(frame, "drop", RANGE_START, RANGE_END)
    assert findings.height == int(found)
    if found:
        row = findings.row(0, named=True)
        assert (row["start"], row["end"]) == (low_start, low_start + timedelta(hours=hours))
        assert row["observed"] == observed * hours
        assert row["expected"] == 100 * hours


def test_a_small_accounts_outage_is_found_with_low_severity() -> None:
    # 5 an hour; nothing for six hours (30 missing: under min_expected's old 20 an hour)
    frame = pl.concat(
        [
            flat_history(5),
            hourly(RANGE_START, 6, 5, exact=True, seed=1),
            hourly(RANGE_START + timedelta(hours=12), 12, 5, exact=True, seed=2),
        ]
    )
    findings = judge(frame, "drop", RANGE_START, RANGE_END)
    assert findings.height == 1
    row = findings.row(0, named=True)
    assert (row["start"], row["end"], row["severity"]) == (
        RANGE_START + timedelta(hours=6),
        RANGE_START + timedelta(hours=12),
        "low",
    )


def test_a_small_account_quiet_for_three_hours_is_chance() -> None:
    # 1 an hour: three hours without a request happen (Poisson chance e^-3)
    frame = pl.concat(
        [
            flat_history(1),
            hourly(RANGE_START, 6, 1, exact=True, seed=1),
            hourly(RANGE_START + timedelta(hours=9), 15, 1, exact=True, seed=2),
        ]
    )
    assert judge(frame, "drop", RANGE_START, RANGE_END).height == 0


def test_an_outage_across_hour_boundaries_counts_its_edge_hours() -> None:
    # 100 an hour; down from 06:24 to 09:06 (2.7 hours): two whole low hours, and 06:00 and
    # 09:00 lost 60% and 10%: the 06:00 edge makes three hours
    traffic = hourly(RANGE_START, 24, 100, exact=True, seed=1)
    down = (pl.col("ts") >= RANGE_START + timedelta(hours=6, minutes=24)) & (
        pl.col("ts") < RANGE_START + timedelta(hours=9, minutes=6)
    )
    frame = pl.concat([flat_history(100), traffic.filter(~down)])
    findings = judge(frame, "drop", RANGE_START, RANGE_END)
    assert findings.height == 1
    row = findings.row(0, named=True)
    assert (row["start"], row["end"]) == (
        RANGE_START + timedelta(hours=6),
        RANGE_START + timedelta(hours=9),
    )


def test_drop_does_not_judge_hours_after_the_newest_request() -> None:
    # the logs stop at 06:00 (not ingested yet): the rest of the day is not a drop
    frame = pl.concat([flat_history(100), hourly(RANGE_START, 6, 100, exact=True, seed=1)])
    assert judge(frame, "drop", RANGE_START, RANGE_END).height == 0


# -- auth_failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(("failures", "found"), [(50, True), (49, False)])
def test_auth_failures_from_one_address(failures: int, found: bool) -> None:
    start = RANGE_START + timedelta(hours=3)
    attack = requests(
        seconds_apart(start, failures, 11.0),  # 49 gaps of 11 s: within 10 minutes
        ip="203.0.113.7",
        method="POST",
        path="/v1/login",
        status=401,
    )
    frame = pl.concat([flat_history(20), attack])
    findings = judge(frame, "auth_failures", RANGE_START, RANGE_END)
    by_type = {row["entity_type"]: row for row in findings.iter_rows(named=True)}
    if not found:
        assert findings.height == 0
        return
    # one incident named by the address; the account's and the /24's findings (the one
    # address holds all of them) are its signals
    assert set(by_type) == {"ip"}
    assert "auth_failures account k1" in by_type["ip"]["signals"]
    assert "auth_failures network 203.0.113.0/24" in by_type["ip"]["signals"]
    assert by_type["ip"]["entity"] == "203.0.113.7"
    assert by_type["ip"]["observed"] == failures
    assert by_type["ip"]["start"] <= start
    assert by_type["ip"]["end"] >= attack["ts"].max()
    assert "statuses 401 x" in by_type["ip"]["evidence"]


def test_auth_failures_from_a_network_of_many_addresses() -> None:
    start = RANGE_START + timedelta(hours=3)
    addresses = [f"198.51.100.{i % 40 + 1}" for i in range(120)]
    attack = requests(seconds_apart(start, 120, 2.0), key="k2", ip=addresses, status=401)
    findings = judge(pl.concat([flat_history(20), attack]), "auth_failures", RANGE_START, RANGE_END)
    assert set(findings["entity_type"]) == {"network"}
    assert "auth_failures account k2" in findings["signals"].item()
    assert findings.filter(pl.col("entity_type") == "network")["entity"].item() == (
        "198.51.100.0/24"
    )


def test_auth_failures_are_judged_against_the_usual_rate() -> None:
    # an account with 30 failed logins every ten minutes all month: 60 are not a burst
    count = 28 * 24 * 180
    usual = requests(
        [HISTORY_START + timedelta(seconds=20 * i) for i in range(count)],
        ip=[f"10.9.{i % 200}.{i % 7}" for i in range(count)],
        status=401,
    )
    burst = requests(
        seconds_apart(RANGE_START + timedelta(hours=2), 60, 5.0), ip="10.8.0.1", status=401
    )
    findings = judge(pl.concat([usual, burst]), "auth_failures", RANGE_START, RANGE_END)
    assert findings.filter(pl.col("entity_type") == "account").height == 0


# -- key_sharing -----------------------------------------------------------------------------


@pytest.mark.parametrize(("networks", "found"), [(10, True), (9, False)])
def test_key_sharing_needs_ten_new_networks(networks: int, found: bool) -> None:
    start = RANGE_START + timedelta(hours=4)
    addresses = [f"192.0.{n}.7" for n in range(networks)]
    leak = requests(seconds_apart(start, networks, 30.0), ip=addresses)
    findings = judge(pl.concat([flat_history(20), leak]), "key_sharing", RANGE_START, RANGE_END)
    assert findings.height == int(found)
    if found:
        row = findings.row(0, named=True)
        assert (row["entity_type"], row["entity"], row["score"]) == ("key", "k1", networks)
        assert (row["start"], row["end"]) == (start, start + timedelta(hours=1))
        # the explanation names the networks new to the key, and how many it knew
        assert f"{networks} new networks (192.0." in row["evidence"]
        assert row["evidence"].endswith(", 0 known")


def test_key_sharing_ignores_new_addresses_in_known_networks() -> None:
    # 60 new servers in the customer's own network are not a leak
    start = RANGE_START + timedelta(hours=4)
    servers = requests(seconds_apart(start, 60), ip=[f"10.1.1.{100 + i}" for i in range(60)])
    frame = pl.concat([flat_history(20), servers])
    assert judge(frame, "key_sharing", RANGE_START, RANGE_END).height == 0


# -- probing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("paths", "found"), [(20, True), (19, False)])
def test_probing_needs_twenty_missing_paths_within_five_minutes(paths: int, found: bool) -> None:
    start = RANGE_START + timedelta(hours=1)
    made_up = [f"/admin{chr(97 + i % 26)}/page{chr(97 + i // 26)}" for i in range(paths)]
    scan = requests(
        seconds_apart(start, paths, 10.0), key=None, ip="192.0.2.50", path=made_up, status=404
    )
    findings = judge(pl.concat([flat_history(20), scan]), "probing", RANGE_START, RANGE_END)
    assert findings.height == int(found)
    if found:
        row = findings.row(0, named=True)
        assert (row["entity_type"], row["entity"], row["observed"]) == ("ip", "192.0.2.50", paths)


def test_probing_counts_missing_records_of_one_endpoint_once() -> None:
    # a client looking up 100 records that do not exist is not scanning
    start = RANGE_START + timedelta(hours=1)
    lookups = requests(
        seconds_apart(start, 100), path=[f"/v1/items/{i}" for i in range(100)], status=404
    )
    assert (
        judge(pl.concat([flat_history(20), lookups]), "probing", RANGE_START, RANGE_END).height == 0
    )


@pytest.mark.parametrize(("paths", "found"), [(3, True), (2, False)])
def test_sensitive_paths(paths: int, found: bool) -> None:
    start = RANGE_START + timedelta(hours=1)
    sensitive = ["/.env", "/.git/config", "/wp-login.php"][:paths]
    scan = requests(seconds_apart(start, paths, 20.0), key=None, ip="192.0.2.51", path=sensitive)
    findings = judge(pl.concat([flat_history(20), scan]), "sensitive_paths", RANGE_START, RANGE_END)
    assert findings.height == int(found)
    if found:
        # answered 200: something may have leaked
        assert findings["severity"].item() == "high"


# -- error_surge -----------------------------------------------------------------------------


@pytest.mark.parametrize(("errors", "found"), [(10, True), (9, False)])
def test_error_surge_needs_ten_errors_and_a_much_higher_share(errors: int, found: bool) -> None:
    hour = RANGE_START + timedelta(hours=12)
    statuses = [500] * errors + [200] * (50 - errors)
    surge = requests(seconds_apart(hour, 50, 60.0), status=statuses)
    findings = judge(pl.concat([flat_history(20), surge]), "error_surge", RANGE_START, RANGE_END)
    assert findings.height == int(found)
    if found:
        row = findings.row(0, named=True)
        assert (row["entity"], row["start"], row["end"]) == ("k1", hour, hour + timedelta(hours=1))
        assert row["observed"] == pytest.approx(errors / 50)


# -- scraping --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ids", "found"), [(300, True), (299, False)])
def test_scraping_needs_three_hundred_ids_in_an_hour(ids: int, found: bool) -> None:
    hour = RANGE_START + timedelta(hours=8)
    walk = requests(
        seconds_apart(hour, ids, 3600 / ids),
        user="mallory",
        path=[f"/v1/orders/{1000 + i}" for i in range(ids)],
    )
    findings = judge(pl.concat([flat_history(20), walk]), "scraping", RANGE_START, RANGE_END)
    assert findings.height == int(found)
    if found:
        row = findings.row(0, named=True)
        assert (row["entity_type"], row["entity"], row["observed"]) == ("user", "mallory", ids)


def test_scraping_is_judged_against_the_users_own_history() -> None:
    # a user who reads 400 records an hour every day is not scraping at 400
    history = requests(
        [HISTORY_START + timedelta(seconds=9 * i) for i in range(28 * 400)],
        user="batch",
        path=[f"/v1/orders/{i % 5000}" for i in range(28 * 400)],
    )
    today = requests(
        seconds_apart(RANGE_START + timedelta(hours=8), 400, 9.0),
        user="batch",
        path=[f"/v1/orders/{20000 + i}" for i in range(400)],
    )
    assert judge(pl.concat([history, today]), "scraping", RANGE_START, RANGE_END).height == 0


# -- all detectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    KINDS,
)
def test_clean_noisy_traffic_raises_nothing(kind: str) -> None:
    frame = hourly(HISTORY_START, 29 * 24, 150, seed=7, users=40, networks=("10.2.3", "10.2.4"))
    assert judge(frame, kind, RANGE_START, RANGE_END).height == 0


def test_findings_are_deterministic() -> None:
    rng = np.random.default_rng(3)
    scan = requests(
        seconds_apart(RANGE_START + timedelta(hours=2), 40, 3.0),
        key=None,
        ip="192.0.2.9",
        path=[f"/x{rng.integers(0, 10**6)}/y" for _ in range(40)],
        status=404,
    )
    frame = pl.concat([flat_history(20), scan])
    first = judge(frame, "probing", RANGE_START, RANGE_END)
    second = judge(
        frame.sample(fraction=1.0, shuffle=True, seed=5), "probing", RANGE_START, RANGE_END
    )
    assert first.height == 1
    assert first.equals(second)
    assert len(first["id"].item()) == 12


def _endpoint_traffic(start, hours: int, failing_share: float, *, seed: int) -> pl.DataFrame:
    """200 requests an hour, 15% of them on /v1/reports/{id}, which answers 500 to
    ``failing_share`` of its requests."""
    rng = np.random.default_rng(seed)
    count = hours * 200
    times = [
        start + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, hours * 3600, count))
    ]
    report = rng.random(count) < 0.15
    paths = [f"/v1/reports/{i}" if r else f"/v1/items/{i}" for i, r in zip(range(count), report)]
    failing = report & (rng.random(count) < failing_share)
    return requests(times, path=paths, status=[500 if f else 200 for f in failing])


def test_error_surge_of_one_endpoint_is_found() -> None:
    # the reports endpoint fails half its requests for three hours: the account's share
    # moves from 0 to about 7.5%, under min_increase (10 points); the endpoint's to 50%
    history = _endpoint_traffic(HISTORY_START, 28 * 24, 0.0, seed=1)
    outage = _endpoint_traffic(RANGE_START + timedelta(hours=5), 3, 0.5, seed=2)
    findings = judge(pl.concat([history, outage]), "error_surge", RANGE_START, RANGE_END)
    assert findings.height == 1
    row = findings.row(0, named=True)
    assert row["start"] <= RANGE_START + timedelta(hours=6)
    assert "/v1/reports/" in row["evidence"]


def test_an_endpoint_that_always_fails_as_much_is_no_surge() -> None:
    history = _endpoint_traffic(HISTORY_START, 28 * 24, 0.5, seed=1)
    today = _endpoint_traffic(RANGE_START + timedelta(hours=5), 3, 0.5, seed=2)
    assert judge(pl.concat([history, today]), "error_surge", RANGE_START, RANGE_END).height == 0
