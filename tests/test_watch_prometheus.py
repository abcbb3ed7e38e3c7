"""A real Prometheus server (the Debian package) scrapes a running watch; its HTTP API returns
the counters and gauges the store agrees with. The shipped alerting rules are checked and
unit-tested with promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meterlog.billing import Identity
from meterlog.ingest import IngestOptions
from meterlog.live import Watcher, WatchOptions
from meterlog.live.metrics import MetricsServer
from meterlog.store import Store
from tests.support import REPO
from tests.support.watch import free_port

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
IDENTITY = Identity(account_field="http_x_api_key")


def lines(start: int, count: int) -> str:
    now = datetime.now(UTC)
    return "".join(
        json.dumps(
            {
                "time": (now - timedelta(seconds=i % 30)).isoformat(),
                "remote_user": f"user{i % 23}",
                "request": f"GET /v1/items/{i} HTTP/1.1",
                "status": 200 if i % 5 else 404,
                "body_bytes_sent": 10,
                "request_time": 0.01,
                "http_x_api_key": "acme" if i % 2 else "globex",
            }
        )
        + "\n"
        for i in range(start, start + count)
    )


def query(base: str, expr: str) -> dict[str, float]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(urllib.request.urlopen(url, timeout=5).read())
    return {
        item["metric"].get("account", ""): float(item["value"][1])
        for item in body["data"]["result"]
    }


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (apt install prometheus)")
def test_prometheus_scrapes_watch(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "api.log"
    log.write_text(lines(0, 400))
    store = Store(tmp_path / "store")
    watch = Watcher(
        store, [str(logs)], IngestOptions(), WatchOptions(identity=IDENTITY, interval=0.5)
    )
    watch.start()
    server = MetricsServer(watch, "127.0.0.1", 0)
    stop = threading.Event()
    loop = threading.Thread(target=watch.run, args=(stop,))
    loop.start()
    web = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: meterlog\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{web}"
    try:
        with log.open("a") as handle:
            handle.write(lines(400, 600))
        deadline = time.monotonic() + 60
        requests: dict[str, float] = {}
        while time.monotonic() < deadline:
            try:
                requests = query(base, "sum by (account) (meterlog_http_requests_total)")
            except OSError:
                requests = {}
            if sum(requests.values()) == 1000:
                break
            time.sleep(0.5)
        assert requests == {"acme": 500.0, "globex": 500.0}, prometheus.poll()
        errors = query(base, 'sum by (account) (meterlog_http_requests_total{status_class="4xx"})')
        assert errors == {"acme": 100.0, "globex": 100.0}  # every fifth line is a 404
        # gauges: month-to-date MAU (23 users, odd and even numbers split by account)
        expected_mau = {
            "acme": len({i % 23 for i in range(1000) if i % 2}),
            "globex": len({i % 23 for i in range(1000) if not i % 2}),
        }
        assert query(base, "meterlog_mau") == {k: float(v) for k, v in expected_mau.items()}
        version = query(base, "meterlog_store_version")[""]
        assert version == store.version()
        assert query(base, "meterlog_ingest_lag_seconds")[""] < 60
    finally:
        prometheus.terminate()
        prometheus.wait(10)
        stop.set()
        loop.join(30)
        server.close()
        watch.close()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt install prometheus)")
def test_alert_rules_are_valid_and_fire(tmp_path: Path) -> None:
    rules = REPO / "sample_logs" / "alerts.yml"
    checked = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    checked = subprocess.run(
        [str(PROMTOOL), "check", "config", str(REPO / "sample_logs" / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(
        f"""
rule_files: ["{rules}"]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'meterlog_mau{{instance="a", account="acme"}}'
        values: '10 50 85 90 90 90 90 90 90 90'
      - series: 'meterlog_plan_included_units{{instance="a", account="acme", meter="mau"}}'
        values: '100x10'
      - series: 'meterlog_peak{{instance="a", account="acme", window="1h", metric="requests", statistic="max"}}'
        values: '100 100 100 100 100 100 100 100 100 100 100 100 100 100 100 100 100 100 100 100 140'
      - series: 'meterlog_rejected_lines_total{{instance="a", reason="no_match"}}'
        values: '0+5x30'
      - series: 'meterlog_lines_read_total{{instance="a"}}'
        values: '0+100x30'
      - series: 'meterlog_ingest_lag_seconds{{instance="a"}}'
        values: '0 0 400 400 400 400'
    alert_rule_test:
      - eval_time: 9m
        alertname: MeterlogAccountNearIncludedUsers
        exp_alerts:
          - exp_labels: {{severity: info, instance: a, account: acme}}
            exp_annotations:
              summary: "acme used 90% of the users its plan includes this month"
      - eval_time: 20m
        alertname: MeterlogAccountNewMonthlyPeak
        exp_alerts:
          - exp_labels: {{severity: info, instance: a, account: acme, window: 1h, metric: requests, statistic: max}}
            exp_annotations:
              summary: "acme is setting a new monthly peak of requests per 1h"
      - eval_time: 19m
        alertname: MeterlogAccountNewMonthlyPeak
        exp_alerts: []
      - eval_time: 25m
        alertname: MeterlogRejectedLines
        exp_alerts:
          - exp_labels: {{severity: warning, instance: a}}
            exp_annotations:
              summary: "5% of the log lines on a are rejected: check the log format (meterlog status shows examples)"
      - eval_time: 5m
        alertname: MeterlogIngestLagging
        exp_alerts:
          - exp_labels: {{severity: warning, instance: a}}
            exp_annotations:
              summary: "meterlog watch on a is 6m 40s behind the logs"
"""
    )
    result = subprocess.run(
        [str(PROMTOOL), "test", "rules", str(tests)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
