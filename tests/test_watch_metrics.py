"""``/metrics`` of a watch, read over HTTP and parsed with prometheus-client's own parser, agrees
with the store: requests and bytes per account, rejected lines, the store version, and the
month-to-date MAU and peaks as ``meterlog mau`` / ``meterlog peak`` compute them."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from meterlog.billing import Identity, identified_events
from meterlog.ingest import IngestOptions
from meterlog.live import Watcher, WatchOptions
from meterlog.live.metrics import MetricsServer, parse_listen_address
from meterlog.meters import MauMeter, PeakMeter, RequestFilter
from meterlog.meters.run import meter_report
from meterlog.periods import Month
from meterlog.store import Store
from tests.support.watch import by, scrape

IDENTITY = Identity(account_field="http_x_api_key", accounts={"k1": "acme", "k2": "acme"})
BERLIN = ZoneInfo("Europe/Berlin")


def json_lines(count: int, seed: int, now: datetime) -> list[str]:
    """Requests of this month (Berlin time) by 5 keys and 300 users; some lines broken."""
    rng = random.Random(seed)
    start = datetime(now.year, now.month, 1, tzinfo=BERLIN).astimezone(UTC)
    span = max(60.0, (now - start).total_seconds() - 60)
    lines = []
    for i in range(count):
        if i % 97 == 5:
            lines.append("{not json")
            continue
        moment = start + timedelta(seconds=rng.uniform(0, span))
        user = f"user{rng.randrange(300)}" if rng.random() < 0.9 else "-"
        lines.append(
            json.dumps(
                {
                    "time": moment.isoformat(),
                    "remote_user": user,
                    "request": f"{rng.choice(['GET', 'POST', 'BREW'])} /v1/orders/{i} HTTP/1.1",
                    "status": rng.choice([200, 200, 201, 404, 500, 302]),
                    "body_bytes_sent": rng.randrange(5000),
                    "request_time": round(rng.uniform(0, 3), 3),
                    "http_x_api_key": rng.choice(["k1", "k2", "k3", "k4", "k5"]),
                }
            )
        )
    return lines


@pytest.fixture
def watched(tmp_path: Path) -> tuple[Path, Path, datetime]:
    logs = tmp_path / "logs"
    logs.mkdir()
    return logs, tmp_path / "store", datetime.now(UTC)


def test_metrics_agree_with_the_store(watched: tuple[Path, Path, datetime]) -> None:
    logs, store_path, now = watched
    lines = json_lines(3000, 1, now)
    meters = [
        MauMeter(),
        MauMeter(counting=RequestFilter(exclude_status=("5xx",))),
        PeakMeter(window="1h", metric="requests"),
        PeakMeter(window="1d", metric="users", statistic="p50"),
        PeakMeter(window="5m", metric="bytes_sent", statistic="p95"),
    ]
    store = Store(store_path)
    # part of the month is in the store before watch starts
    (logs / "api.log").write_text("\n".join(lines[:1000]) + "\n")
    from meterlog.ingest import ingest

    ingest(store, [str(logs)])
    watch = Watcher(
        store,
        [str(logs)],
        IngestOptions(),
        WatchOptions(identity=IDENTITY, tz=BERLIN, meters=meters, max_accounts=3),
    )
    server = MetricsServer(watch, "127.0.0.1", 0)
    try:
        watch.start()
        for part in (lines[1000:2200], lines[2200:]):
            with (logs / "api.log").open("a") as handle:
                handle.write("\n".join(part) + "\n")
            watch.step()
        samples = scrape(server)
    finally:
        server.close()
        watch.close()

    events = identified_events(store, IDENTITY, store.version()).collect()
    added = events.filter(pl.col("source_line") > 1000)  # what watch itself committed
    # counters: what this watch committed, by account label (3 accounts named at most)
    requests = samples["meterlog_http_requests_total"]
    assert sum(requests.values()) == added.height
    labels = by(requests, "account")
    # three accounts named (the busiest in the store at start first), the fourth is "other"
    assert "acme" in labels and "other" in labels and len(labels) == 4
    expected = dict(added.group_by("account").len().iter_rows())
    for name, count in labels.items():
        if name != "other":
            assert count == expected[name]
    assert labels.get("other", 0) == sum(
        count for name, count in expected.items() if name not in labels
    )
    methods = by(requests, "method")
    assert methods.get("OTHER", 0) == added.filter(pl.col("method") == "BREW").height
    classes = by(requests, "status_class")
    assert classes["5xx"] == added.filter(pl.col("status") >= 500).height
    sent = samples["meterlog_http_response_bytes_total"]
    assert sum(sent.values()) == added.get_column("bytes_sent").sum()
    durations = samples["meterlog_http_request_duration_seconds_count"]
    assert sum(durations.values()) == added.height
    within_1s = samples["meterlog_http_request_duration_seconds_bucket"]
    assert sum(v for k, v in within_1s.items() if dict(k)["le"] == "1.0") == (
        added.filter(pl.col("request_time") <= 1.0).height
    )
    rejected = Store(store_path).scan_rejects().collect()
    assert samples["meterlog_rejected_lines_total"] == {
        (("reason", "bad_json"),): float(rejected.filter(pl.col("source_line") > 1000).height)
    }
    assert samples["meterlog_store_version"][()] == store.version()
    assert samples["meterlog_last_commit_timestamp_seconds"][()] > now.timestamp() - 1

    # month-to-date figures: the store's whole month, as meterlog mau / peak compute them
    month = Month.containing(now, BERLIN)
    mau = meter_report(events.lazy(), MauMeter(), [month], BERLIN)
    figures = dict(watch.mtd.mau().items())
    assert figures == dict(mau.select("account", "mau").iter_rows())
    for meter in meters[1:2]:
        report = meter_report(events.lazy(), meter, [month], BERLIN)
        assert watch.mtd.mau(meter) == dict(report.select("account", "mau").iter_rows())
    for meter in meters[2:]:
        assert isinstance(meter, PeakMeter)
        report = meter_report(events.lazy(), meter, [month], BERLIN)
        live = {
            f.account: (f.value, f.peak_start)
            for f in watch.mtd.peaks()
            if (f.window, f.metric, f.statistic) == (meter.window, meter.metric, meter.statistic)
        }
        assert live == {
            account: (value, start.astimezone(UTC))
            for account, value, start in report.select("account", "peak", "peak_start").iter_rows()
        }
    gauge = samples["meterlog_mau"]
    named = {dict(k)["account"]: v for k, v in gauge.items()}
    for account, value in figures.items():
        if account in named:
            assert named[account] == value
    peaks = samples["meterlog_peak"]
    hourly = {
        dict(k)["account"]: v
        for k, v in peaks.items()
        if dict(k)["window"] == "1h" and dict(k)["metric"] == "requests"
    }
    live_hourly = {f.account: f.value for f in watch.mtd.peaks() if f.window == "1h"}
    for account, value in hourly.items():
        if account != "other":
            assert value == live_hourly[account]
    assert samples["meterlog_month_requests"][(("account", "acme"),)] == (
        events.filter(pl.col("account") == "acme").height
    )


def test_listen_address() -> None:
    assert parse_listen_address(":9108") == ("127.0.0.1", 9108)
    assert parse_listen_address("9108") == ("127.0.0.1", 9108)
    assert parse_listen_address("0.0.0.0:9108") == ("0.0.0.0", 9108)
    assert parse_listen_address("[::1]:9108") == ("::1", 9108)
    with pytest.raises(ValueError, match="ADDRESS"):
        parse_listen_address(":http")


def test_library_import_changes_nothing_global() -> None:
    """The default registry of prometheus-client gets no meterlog metric."""
    from prometheus_client import REGISTRY

    import meterlog.live.metrics  # noqa: F401

    names = {metric.name for metric in REGISTRY.collect()}
    assert not any(name.startswith("meterlog") for name in names)
