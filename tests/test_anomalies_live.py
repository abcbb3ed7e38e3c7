"""The live detectors in ``meterlog watch``: each new finding once, as a line and in metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from meterlog.anomalies.live import LiveAnomalies
from meterlog.ingest import IngestOptions
from meterlog.live import Watcher, WatchOptions
from meterlog.live.metrics import MetricsServer
from meterlog.query.settings import ReportSettings
from meterlog.store import Store
from tests.support.watch import by, scrape


def brute_force(start: datetime, count: int, ip: str = "203.0.113.7") -> list[str]:
    return [
        f"{ip} - - [{(start + timedelta(seconds=i)).strftime('%d/%b/%Y:%H:%M:%S +0000')}] "
        f'"POST /v1/login HTTP/1.1" 401 12 "-" "hydra"'
        for i in range(count)
    ]


def test_watch_reports_each_new_finding_once_in_lines_and_metrics(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store_path = tmp_path / "store"
    said: list[str] = []
    watch = Watcher(
        Store(store_path), [str(logs)], IngestOptions(), WatchOptions(), log=said.append
    )
    live = LiveAnomalies(ReportSettings(store=str(store_path)), log=said.append)
    watch.anomalies = live
    watch.on_batch.append(live)
    server = MetricsServer(watch, "127.0.0.1", 0)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    lines = brute_force(start, 120)
    try:
        watch.start()
        for part in (lines[:60], lines[60:]):  # the burst crosses two batches
            with (logs / "access.log").open("a") as handle:
                handle.write("\n".join(part) + "\n")
            watch.step()
        samples = scrape(server)
    finally:
        server.close()
        watch.close()
    findings = [line for line in said if " anomaly " in line]
    # one incident: the address (the default account's burst and the tool are its signals),
    # reported once
    assert len(findings) == 1, said
    assert any("auth_failures ip 203.0.113.7" in line for line in findings)
    assert by(samples["meterlog_anomalies_total"], "kind") == {"auth_failures": 1}
    assert by(samples["meterlog_anomalies_total"], "severity") == {"medium": 1}
    assert sum(samples["meterlog_anomalies_open"].values()) == 1


def test_quiet_traffic_reports_nothing(tmp_path: Path) -> None:
    live = LiveAnomalies(ReportSettings(store=str(tmp_path / "store")))
    import polars as pl

    now = datetime.now(UTC)
    events = pl.DataFrame(
        {
            "ts": [now - timedelta(seconds=i) for i in range(30)],
            "remote_addr": "10.0.0.1",
            "path": "/v1/items",
            "status": 401,
            "user_agent": "sdk/1.0",
        }
    )
    assert live.add(events).height == 0  # 30 failures are below min_failures (50)
    assert live.open_findings() == 0


def test_dashboard_lists_the_newest_findings(tmp_path: Path) -> None:
    from rich.console import Console

    from meterlog.live.dashboard import dashboard_data, render

    logs = tmp_path / "logs"
    logs.mkdir()
    store_path = tmp_path / "store"
    watch = Watcher(Store(store_path), [str(logs)], IngestOptions(), WatchOptions())
    live = LiveAnomalies(ReportSettings(store=str(store_path)))
    watch.anomalies = live
    watch.on_batch.append(live)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    try:
        watch.start()
        (logs / "access.log").write_text("\n".join(brute_force(start, 120)) + "\n")
        watch.step()
        data = dashboard_data(watch)
    finally:
        watch.close()
    assert len(data.findings) == 1
    for width in (80, 160):
        console = Console(record=True, width=width, height=30, color_system=None)
        console.print(render(data, width, 30))
        shown = console.export_text().splitlines()
        assert all(len(line) <= width for line in shown)
        assert any("auth_failures ip 203.0.113.7" in line for line in shown)
