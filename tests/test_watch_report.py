"""``watch --report FILE``: the HTML report rewritten while the store grows."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from meterlog.query.settings import ReportSettings
from meterlog.report.live import ReportRefresher
from meterlog.store import Progress
from tests.support.usage import build_store, requests_frame
from tests.support.watch import Writer, start_watch, wait_for_line


def test_report_is_rewritten_when_the_store_changes(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store", sources=1)
    out = tmp_path / "live.html"
    messages: list[str] = []
    refresher = ReportRefresher(ReportSettings(store=store.uri), out, log=messages.append)
    assert refresher.refresh()
    first = out.read_text(encoding="utf-8")
    assert "meterlog report: 2026-10" in first and "requests<b>10</b>" in first
    assert not refresher.refresh()  # same store version: nothing to write
    more = requests_frame([("2026-10-06T10:00", "dan", "k9", "GET", "/x", 200, 1, "curl/8", 0.1)])
    store.commit_events(more, "later", Progress(100, 1))
    assert refresher.refresh()
    assert "requests<b>11</b>" in out.read_text(encoding="utf-8")
    assert messages == [f"writing the report {out} every 60 s"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_a_report_that_cannot_be_written_is_said_once(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store", sources=1)
    messages: list[str] = []
    out = tmp_path / "missing" / "live.html"
    refresher = ReportRefresher(ReportSettings(store=store.uri), out, log=messages.append)
    assert not refresher.refresh() and not refresher.refresh()
    assert len(messages) == 1 and "folder" in messages[0] and str(out) in messages[0]
    stop = threading.Event()
    stop.set()
    refresher.run(stop)  # returns at once when stopped


def test_nothing_is_written_before_the_first_requests(tmp_path: Path) -> None:
    refresher = ReportRefresher(ReportSettings(store=str(tmp_path / "none")), tmp_path / "r.html")
    assert not refresher.refresh()
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_watch_writes_the_report_and_stops_cleanly(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    writer = Writer(logs / "access.log")
    writer.write(300)
    out = tmp_path / "live.html"
    process = start_watch(
        tmp_path / "store", "--interval", "0.3", "--no-dashboard", "--report", str(out), str(logs)
    )
    try:
        wait_for_line(process, r"writing the report .*live\.html every 60 s")
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
