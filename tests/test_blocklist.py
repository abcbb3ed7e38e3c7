"""``meterlog anomalies --blocklist``: nginx deny lines and CrowdSec decisions, and a real nginx
that refuses the blocked addresses."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from meterlog.anomalies.blocklist import crowdsec_decisions, nginx_blocklist
from tests.support import cli
from tests.support.anomalies import at, hourly, ingest, requests

DAY = at(2026, 10, 27)
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
RANGE = ("--since", "2026-10-27", "--until", "2026-10-27")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clean = hourly(DAY, 24, 30, seed=1, key="acme", networks=("10.1.1",))
    breach = requests([DAY + timedelta(hours=2)], key=None, ip="198.51.100.20", path="/.env")
    tool = requests(
        [DAY + timedelta(hours=4)], key=None, ip="2001:db8:7::9", path="/", agent="sqlmap/1.7"
    )
    return ingest(tmp_path_factory.mktemp("blocklist"), pl.concat([clean, breach, tool]))


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "id": "0123456789ab",
                "kind": "probing",
                "severity": "medium",
                "entity_type": "ip",
                "account": None,
                "start": DAY,
                **row,
            }
            for row in rows
        ]
    )


def test_nginx_lines_name_each_address_once_with_its_findings() -> None:
    findings = _frame(
        [
            {"entity": "203.0.113.7", "id": "aaaaaaaaaaaa"},
            {
                "entity": "203.0.113.7",
                "id": "bbbbbbbbbbbb",
                "kind": "injection",
                "severity": "high",
            },
            {"entity": "198.51.100.0/24", "entity_type": "network", "id": "cccccccccccc"},
            {"entity": "acme", "entity_type": "account", "id": "dddddddddddd"},
            {"entity": "not-an-ip;\n}", "id": "eeeeeeeeeeee"},
        ]
    )
    text = nginx_blocklist(findings)
    deny = [line for line in text.splitlines() if not line.startswith("#")]
    assert deny == [
        "deny 198.51.100.0/24;  # medium: probing cccccccccccc",
        "deny 203.0.113.7;  # high: probing aaaaaaaaaaaa, injection bbbbbbbbbbbb",
    ]
    decisions = json.loads(crowdsec_decisions(findings, duration="7d"))
    assert [(d["value"], d["scope"], d["duration"], d["type"]) for d in decisions] == [
        ("198.51.100.0/24", "range", "168h", "ban"),
        ("203.0.113.7", "ip", "168h", "ban"),
    ]


def test_cli_writes_the_blocklist_at_or_above_min_severity(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "deny.conf"
    args = ["anomalies", "--store", str(store), *RANGE, "--blocklist", "nginx", "-o", str(out)]
    result = cli(*args, "--min-severity", "high")
    assert result.exit_code == 0, result.stderr
    deny = [line for line in out.read_text().splitlines() if line.startswith("deny")]
    assert len(deny) == 1 and deny[0].startswith("deny 198.51.100.20;  # high: sensitive_file")
    everything = cli(*args[:-2], "--blocklist", "crowdsec", "--block-for", "4h")
    values = {d["value"] for d in json.loads(everything.stdout)}
    assert values == {"198.51.100.20", "2001:db8:7::9"}
    bad = cli(*args[:-2], "--blocklist", "crowdsec", "--block-for", "forever")
    assert bad.exit_code == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(port: int, client: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": client}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.slow
@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx)")
def test_a_real_nginx_refuses_the_blocked_addresses(store: Path, tmp_path: Path) -> None:
    assert NGINX is not None
    deny = tmp_path / "deny.conf"
    result = cli(
        "anomalies", "--store", str(store), *RANGE, "--blocklist", "nginx", "-o", str(deny)
    )
    assert result.exit_code == 0, result.stderr
    port = _free_port()
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "index.html").write_text("ok\n")
    # (a "return 200" would answer before the access phase that applies deny)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp folder
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"""
{user}
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    server {{
        listen 127.0.0.1:{port};
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        include {deny};
        location / {{ root {tmp_path}/html; }}
    }}
}}
"""
    )
    base = [NGINX, "-p", str(tmp_path), "-c", str(conf)]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    server = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        assert _status(port, "198.51.100.20") == 403
        assert _status(port, "2001:db8:7::9") == 403
        assert _status(port, "198.51.100.21") == 200
        assert _status(port, "10.1.1.10") == 200
    finally:
        server.terminate()
        server.wait(timeout=15)
