"""``meterlog watch`` as a service with a plan, on traffic like a real API's: requests without a
key, a key shared across many networks, a scraper. Every scrape answers 200, the live detectors
see the columns they need, key-less requests have one name, live findings escalate and carry the
ids ``meterlog anomalies`` gives, the metrics server bounds its threads and times out idle
clients, and routine retries are notes, not errors."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from meterlog.anomalies.live import LiveAnomalies
from meterlog.billing import Identity
from meterlog.billing.plans import load_plan_file
from meterlog.formats.nginx import NginxLogFormat
from meterlog.ingest import IngestOptions
from meterlog.live import Watcher, WatchOptions
from meterlog.live.metrics import MetricsServer
from meterlog.query.identity import NO_KEY
from meterlog.query.settings import ReportSettings
from meterlog.store import Store
from tests.support import REPO
from tests.support.watch import by, free_port, scrape

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_api_key"'
)
IDENTITY = Identity(account_field="http_x_api_key")
PLANS = REPO / "sample_logs" / "plans.toml"


def line(
    when: datetime,
    *,
    ip: str = "10.0.0.1",
    key: str = "-",
    path: str = "/v1/items",
    status: int = 200,
    agent: str = "curl/8.0",
    user: str = "-",
    method: str = "GET",
) -> str:
    stamp = when.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} 12 "-" "{agent}" "{key}"'


def traffic(start: datetime) -> list[str]:
    """A minute of requests timed from ``start``: without a key, one key from 40 networks and
    12 user agents, a scraper walking through 400 ids."""
    lines = [line(start + timedelta(seconds=i % 60), ip=f"10.0.0.{i % 9}") for i in range(120)]
    lines += [
        line(
            start + timedelta(seconds=i % 60),
            ip=f"198.{i % 40}.{i % 3}.9",
            key="k-shared",
            agent=f"client/{i % 12}",
            user=f"u{i % 7}",
        )
        for i in range(240)
    ]
    lines += [
        line(
            start + timedelta(seconds=i % 60),
            ip="203.0.113.50",
            key="k-scraper",
            path=f"/v1/orders/{1000 + i}",
            agent="python-requests/2.31",
        )
        for i in range(400)
    ]
    return lines


def live_watch(
    tmp_path: Path,
    said: list[str],
    plan: bool = True,
    lookback: timedelta | None = None,
    interval: float | None = None,
) -> tuple[Watcher, LiveAnomalies, Path]:
    """``interval`` also bounds how long a batch waits for the store's lock."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    store_path = tmp_path / "store"
    watch = Watcher(
        Store(store_path),
        [str(logs)],
        IngestOptions(log_format=NginxLogFormat(LOG_FORMAT)),
        WatchOptions(
            identity=IDENTITY,
            plan=load_plan_file(str(PLANS)) if plan else None,
            **({} if interval is None else {"interval": interval}),
        ),
        log=said.append,
    )
    settings = ReportSettings(store=str(store_path), account_field="http_x_api_key")
    live = (
        LiveAnomalies(settings, log=said.append)
        if lookback is None
        else LiveAnomalies(settings, log=said.append, lookback=lookback)
    )
    watch.anomalies = live
    watch.on_batch.append(live)
    return watch, live, logs / "access.log"


def append(path: Path, lines: list[str]) -> None:
    with path.open("a") as handle:
        handle.write("\n".join(lines) + "\n")


def test_scrape_with_a_plan_and_keyless_requests_answers_200(tmp_path: Path) -> None:
    said: list[str] = []
    watch, _, log = live_watch(tmp_path, said)
    server = MetricsServer(watch, "127.0.0.1", 0)
    try:
        watch.start()
        append(log, traffic(datetime.now(UTC) - timedelta(minutes=2)))
        watch.step()
        with urllib.request.urlopen(server.url, timeout=10) as response:
            assert response.status == 200
        samples = scrape(server)
    finally:
        server.close()
        watch.close()
    month = by(samples["meterlog_month_requests"], "account")
    assert month == {NO_KEY: 120, "k-shared": 240, "k-scraper": 400}
    assert by(samples["meterlog_http_requests_total"], "account")[NO_KEY] == 120
    assert "meterlog_plan_included_units" in samples
    assert not [entry for entry in said if "error" in entry], said


def test_live_detectors_see_their_columns_without_the_dashboard(tmp_path: Path) -> None:
    """The key from 40 networks and the scraper are found live; no batch callback fails."""
    said: list[str] = []
    watch, live, log = live_watch(tmp_path, said, plan=False)
    try:
        watch.start()
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
        append(log, traffic(start))
        watch.step()
        append(log, traffic(start + timedelta(minutes=1)))
        watch.step()
    finally:
        watch.close()
    assert not [entry for entry in said if entry.startswith("error")], said
    kinds = {(row["kind"], row["entity"]) for row in live.recent_findings}
    assert ("key_sharing", "k-shared") in kinds
    assert ("scraping", "k-scraper") in kinds


def test_a_failing_batch_callback_is_one_line_said_once(tmp_path: Path) -> None:
    said: list[str] = []
    watch, _, log = live_watch(tmp_path, said, plan=False)

    def broken_plugin(batch: object) -> None:
        pl.DataFrame({"a": [1]}).select("user_agent")  # a real Polars error, every batch

    watch.on_batch.append(broken_plugin)
    try:
        watch.start()
        now = datetime.now(UTC) - timedelta(minutes=1)
        for n in range(3):
            append(log, [line(now, path=f"/v1/x/{n}")])
            watch.step()
    finally:
        watch.close()
    errors = [entry for entry in said if entry.startswith("error")]
    assert len(errors) == 1, said
    (error,) = errors
    assert "broken_plugin" in error and 'unable to find column "user_agent"' in error
    assert "\n" not in error and " object at 0x" not in error


def failures(start: datetime, count: int, per_second: int = 2) -> list[str]:
    return [
        line(
            start + timedelta(seconds=i // per_second),
            ip="203.0.113.7",
            path="/v1/login",
            status=401,
            agent="hydra",
            method="POST",
        )
        for i in range(count)
    ]


def test_a_live_finding_escalates_and_has_the_id_anomalies_gives(tmp_path: Path) -> None:
    """A burst of 160 failures that grows to 700: raised medium, escalated to high once, with
    the id, start and observed value of ``meterlog anomalies`` on the same store, whose
    ``--explain`` finds it."""
    from meterlog.anomalies.runner import AnomalyQuery, explain_finding, run_anomalies

    said: list[str] = []
    watch, live, log = live_watch(tmp_path, said, plan=False)
    server = MetricsServer(watch, "127.0.0.1", 0)
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    burst = minute + timedelta(seconds=17)  # the first failure, mid-minute
    try:
        watch.start()
        append(log, failures(burst, 160))
        watch.step()
        append(log, failures(burst + timedelta(seconds=80), 540))
        watch.step()
        samples = scrape(server)
    finally:
        server.close()
        watch.close()
    lines = [entry for entry in said if " anomaly " in entry and "ip 203.0.113.7" in entry]
    assert len(lines) == 2, said
    assert " anomaly medium auth_failures " in lines[0]
    assert " anomaly high (was medium) auth_failures " in lines[1]
    assert "observed 700" in lines[1]
    for entry in lines:  # stamped when written, not at the finding's start
        written = datetime.strptime(entry.split()[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - written).total_seconds()) < 120
        assert f"since {burst.strftime('%Y-%m-%dT%H:%M:%SZ')}" in entry  # the first failure
    (row,) = [r for r in live.recent_findings if r["entity"] == "203.0.113.7"]
    assert (row["severity"], row["observed"]) == ("high", 700)
    assert by(samples["meterlog_anomalies_total"], "severity") == {"medium": 1, "high": 1}

    settings = ReportSettings(store=str(tmp_path / "store"), account_field="http_x_api_key")
    query = AnomalyQuery(
        since=(minute - timedelta(hours=1)).isoformat(),
        until=(minute + timedelta(hours=1)).isoformat(),
        kinds=("auth_failures",),
    )
    batch = run_anomalies(settings, query).findings.filter(pl.col("entity") == "203.0.113.7")
    assert batch.select("id", "severity", "observed").row(0) == (row["id"], "high", 700.0)
    assert batch.get_column("start").item() == row["start"] == burst
    assert f"[id {row['id']}]" in lines[0] and f"[id {row['id']}]" in lines[1]
    evidence = explain_finding(settings, query, row["id"])
    assert evidence.height == 700


def test_keyless_requests_have_one_name_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables of every command, the dashboard, the metrics label and finding lines."""
    from rich.console import Console

    from meterlog.live.dashboard import dashboard_data, render
    from tests.support import cli

    said: list[str] = []
    watch, _, log = live_watch(tmp_path, said)
    server = MetricsServer(watch, "127.0.0.1", 0)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    try:
        watch.start()
        append(log, traffic(start) + failures(start, 80))
        watch.step()
        samples = scrape(server)
        data = dashboard_data(watch)
    finally:
        server.close()
        watch.close()
    assert NO_KEY in by(samples["meterlog_mau"], "account")
    console = Console(record=True, width=160, height=40, color_system=None)
    console.print(render(data, 160, 40))
    screen = console.export_text()
    assert NO_KEY in screen and "(none)" not in screen
    finding = [entry for entry in said if "auth_failures ip 203.0.113.7" in entry]
    assert finding and f"account {NO_KEY}," in finding[0]

    store = str(tmp_path / "store")
    month = start.strftime("%Y-%m")
    common = ["--store", store, "--account-field", "http_x_api_key", "--format", "table"]
    monkeypatch.setenv("COLUMNS", "160")  # every column shown, whatever the terminal
    for args in (
        ["usage", "--by", "account"],
        ["mau", "--month", month, "--by", "account"],
        ["peak", "--month", month, "--by", "account"],
        [
            "anomalies",
            "--since",
            (start - timedelta(hours=1)).isoformat(),
            "--until",
            (start + timedelta(hours=1)).isoformat(),
            "--kind",
            "auth_failures",
        ],
    ):
        result = cli(*args, *common)
        assert result.exit_code == 0, result.output
        rows = [row for row in result.stdout.splitlines() if "│" in row]
        assert any(NO_KEY in row for row in rows), (args, result.stdout)
    assert "none" not in {v for k in samples["meterlog_mau"] for _, v in k}


def test_routine_retries_are_notes(tmp_path: Path) -> None:
    """A rotated file renamed between the poll and the read is a note, read under its new
    name by the next batch; another run holding the lock is a note too."""
    import gzip
    import os

    said: list[str] = []
    watch, _, log = live_watch(tmp_path, said, plan=False, interval=0.2)  # a short lock wait
    now = datetime.now(UTC) - timedelta(minutes=1)
    rotated = log.parent / "access.log.2.gz"
    rotated.write_bytes(gzip.compress(("\n".join(line(now) for _ in range(50)) + "\n").encode()))
    poll = watch.follower.poll

    def poll_then_rotate() -> object:
        result = poll()
        os.rename(rotated, log.parent / "access.log.3.gz")  # logrotate, right then
        return result

    try:
        watch.start()
        watch.follower.poll = poll_then_rotate  # type: ignore[method-assign]
        watch.step()
        watch.follower.poll = poll  # type: ignore[method-assign]
        watch.step()
        append(log, [line(now)])
        with Store(tmp_path / "store").lock():  # a long cron ingest, say
            watch.step()
            watch.step()
        watch.step()
    finally:
        watch.close()
    assert Store(tmp_path / "store").scan_events().collect().height == 51
    notes = [entry for entry in said if entry.startswith("note: ")]
    assert len(notes) == 2, said
    assert "access.log.2.gz: renamed or removed while it was read" in notes[0]
    assert "another meterlog run" in notes[1]
    assert not [entry for entry in said if entry.startswith("error")], said


@pytest.mark.slow
def test_metrics_server_times_out_idle_clients_on_bounded_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import threading

    from meterlog.live import metrics

    monkeypatch.setattr(metrics._Handler, "timeout", 0.5)  # 10 s in service
    said: list[str] = []
    watch, _, _ = live_watch(tmp_path, said, plan=False)
    watch.start()
    before = threading.active_count()
    server = MetricsServer(watch, "127.0.0.1", 0)
    clients: list[socket.socket] = []
    try:
        for n in range(40):  # idle, or stopped half way through their request
            client = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            if n % 2:
                client.sendall(b"GET /metr")
            clients.append(client)
        # a fixed pool: 4 threads answer, plus the accepting one, whatever the clients
        assert threading.active_count() - before <= metrics.SERVER_THREADS + 1
        for client in clients:  # each is disconnected (not held forever)
            assert client.recv(100) == b""
        with urllib.request.urlopen(server.url, timeout=30) as response:
            assert response.status == 200
        # a request trickled a byte at a time: disconnected after the connection's deadline
        monkeypatch.setattr(metrics, "CONNECTION_DEADLINE", 1.5)
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        clients.append(slow)
        slow.settimeout(0.2)
        closed = False
        for byte in b"GET /metrics HTTP/1.0\r\nX-Padding: " + b"x" * 100:
            try:
                slow.sendall(bytes([byte]))
                closed = slow.recv(100) == b""
            except TimeoutError:
                continue
            except OSError:  # reset: the server closed it
                closed = True
            if closed:
                break
        assert closed
    finally:
        for client in clients:
            client.close()
        server.close()
        watch.close()


@pytest.mark.slow
def test_metrics_server_listens_with_a_deep_backlog(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) not installed: cannot read the listen backlog")
    said: list[str] = []
    watch, _, _ = live_watch(tmp_path, said, plan=False)
    server = MetricsServer(watch, "127.0.0.1", 0)
    try:
        listing = subprocess.run(
            ["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True, check=True
        ).stdout.split()
    finally:
        server.close()
        watch.close()
    # State Recv-Q Send-Q Local Peer: for a listening socket, Send-Q is the backlog
    assert int(listing[2]) >= 128, listing


def test_a_part_that_fails_is_left_out_of_the_scrape_and_said_once(tmp_path: Path) -> None:
    said: list[str] = []
    watch, live, log = live_watch(tmp_path, said)

    class BrokenLive(LiveAnomalies):
        def open_findings(self, now: datetime | None = None) -> int:
            raise ValueError("a finding without an end")  # a data error in one part

    broken = BrokenLive(live.settings, log=said.append)
    watch.anomalies = broken
    watch.on_batch = [broken]
    server = MetricsServer(watch, "127.0.0.1", 0)
    try:
        watch.start()
        append(log, traffic(datetime.now(UTC) - timedelta(minutes=2)))
        watch.step()
        for _ in range(3):
            with urllib.request.urlopen(server.url, timeout=10) as response:
                assert response.status == 200
        samples = scrape(server)
    finally:
        server.close()
        watch.close()
    assert sum(samples["meterlog_http_requests_total"].values()) == 760
    assert "meterlog_month_requests" in samples and "meterlog_store_version" in samples
    assert "meterlog_anomalies_open" not in samples
    errors = [entry for entry in said if entry.startswith("error")]
    assert errors == [
        "error: /metrics: the anomalies figures are left out: ValueError: a finding without an end"
    ]


@pytest.mark.slow
def test_watch_service_with_a_plan_on_real_traffic(tmp_path: Path) -> None:
    """Acceptance: ``meterlog watch --no-dashboard --plan ... --metrics`` as a process, on
    traffic timed now mixing key-less requests, a key from 40 networks and a scraper: every
    scrape answers 200 and the log has no error line."""
    import signal
    import subprocess
    import sys
    import threading
    import time
    import urllib.error

    from tests.support import process_env

    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "access.log"
    log.write_text("")
    port = free_port()
    stderr_path = tmp_path / "watch.log"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meterlog",
                "watch",
                "--no-dashboard",
                "--plan",
                str(PLANS),
                "--metrics",
                f"127.0.0.1:{port}",
                "--store",
                str(tmp_path / "store"),
                "--log-format",
                LOG_FORMAT,
                "--account-field",
                "http_x_api_key",
                "--interval",
                "0.5",
                str(logs),
            ],
            cwd=REPO,
            env=process_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
    statuses: list[int | str] = []
    stop = threading.Event()

    def scraper() -> None:
        while not stop.is_set():
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                with urllib.request.urlopen(url, timeout=10) as response:
                    response.read()
                    statuses.append(response.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
            except OSError:
                if statuses:  # refused before the server listens: not a scrape
                    statuses.append("refused")
            time.sleep(0.2)

    thread = threading.Thread(target=scraper)
    try:
        deadline = time.monotonic() + 60
        while "serving metrics" not in stderr_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        thread.start()
        for _ in range(6):  # a minute of traffic, written in six parts timed now
            start = datetime.now(UTC) - timedelta(seconds=59)
            append(log, traffic(start) + failures(start, 60))
            time.sleep(1.0)
        deadline = time.monotonic() + 60
        while "scraping" not in stderr_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(30)
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    said = stderr_path.read_text()
    assert process.returncode == 0, said
    assert len(statuses) >= 10 and set(statuses) == {200}, statuses
    assert "error" not in said and "Traceback" not in said, said
    assert "committed" in said
    assert "anomaly" in said and "key_sharing key k-shared" in said, said
    assert "scraping key k-scraper" in said, said
