"""End-to-end: ingest through the CLI, twice, and read the store back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from click.testing import CliRunner

from meterlog.cli import main
from meterlog.store import Store

LINES = [
    '203.0.113.7 - alice [30/Sep/2026:23:59:59 +0200] "GET /v1/users/1?x=1 HTTP/1.1" 200 512 "-" "curl/8.0"',
    '2001:db8::2 - - [01/Oct/2026:00:00:01 +0000] "POST /v1/orders HTTP/1.1" 201 0 "-" "python"',
    "this line is not a log line",
]


def test_ingest_twice_adds_lines_once(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("\n".join(LINES) + "\n")
    store = tmp_path / "store"
    runner = CliRunner()
    first = runner.invoke(main, ["ingest", "--store", str(store), str(log)])
    assert first.exit_code == 0, first.output
    assert "2 stored, 1 rejected" in first.output
    again = runner.invoke(main, ["ingest", "--store", str(store), str(log)])
    assert again.exit_code == 0, again.output
    assert "0 stored" in again.output
    events = Store(store).scan_events().sort("source_line").collect()
    assert events.height == 2
    assert events["ts"].dt.to_string("%Y-%m-%dT%H:%M:%S").to_list() == [
        "2026-09-30T21:59:59",
        "2026-10-01T00:00:01",
    ]
    assert events["path"].to_list() == ["/v1/users/1", "/v1/orders"]
    assert events["remote_user"].to_list() == ["alice", None]
    rejects = Store(store).scan_rejects().collect()
    assert rejects.select("source_line", "reason").rows() == [(3, "no_match")]
    assert events.schema["status"] == pl.Int16
