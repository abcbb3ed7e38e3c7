"""``meterlog watch`` as a program: log lines without a terminal, SIGTERM commits and exits 0,
SIGKILL at several moments (with a cron ``ingest`` running too) loses and doubles nothing, and
a one-shot ``ingest`` of the same files into a fresh store bills the same."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import REPO, cli, combined, meterlog_process, process_env
from tests.support.watch import Writer, assert_exactly, start_watch, wait_for_line


def test_help_lists_the_options() -> None:
    result = cli("watch", "--help")
    assert result.exit_code == 0
    for option in (
        "--interval",
        "--batch-lines",
        "--metrics",
        "--max-accounts",
        "--plan",
        "--no-dashboard",
        "--log-format",
        "--nginx-conf",
        "--account-field",
        "--pseudonymize",
        "--quiet",
    ):
        assert option in result.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(combined(1) + "\n")
    bad_port = meterlog_process(
        "watch", "--store", "s", "--metrics", ":http", "a.log", cwd=tmp_path
    )
    assert bad_port.returncode == 2
    assert "--metrics" in bad_port.stderr and "Traceback" not in bad_port.stderr
    stdin = meterlog_process("watch", "--store", "s", "-", cwd=tmp_path)
    assert stdin.returncode == 2 and "standard input" in stdin.stderr


@pytest.mark.slow  # watch as a program, until a signal
def test_sigterm_commits_and_exits_0(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    writer.write(1000)
    process = start_watch(store, "--interval", "0.3", "--metrics", ":0", str(logs))
    try:
        url = wait_for_line(process, r"serving metrics at http://127\.0\.0\.1:\d+/metrics")
        assert "127.0.0.1" in url  # ":PORT" listens on the loopback interface only
        wait_for_line(process, r"committed 1,000 lines")
        writer.write(250)
        time.sleep(0.1)
        process.send_signal(signal.SIGTERM)  # right after the write: the last batch commits
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert_exactly(store, writer.written)


@pytest.mark.slow  # watch as a program, until a signal
def test_quiet_prints_nothing_without_errors(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    writer = Writer(logs / "access.log")
    writer.write(10)
    process = start_watch(tmp_path / "store", "--quiet", "--interval", "0.2", str(logs))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "store" / "sources").exists():
        time.sleep(0.1)  # the first batch is committed (with its source registered)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert out == "" and err == ""
    assert_exactly(tmp_path / "store", writer.written)


@pytest.mark.slow
def test_sigkill_at_several_moments_with_cron_ingest(tmp_path: Path) -> None:
    """A writer appends and rotates all along; watch is killed with SIGKILL six times at random
    moments and started again, while a cron ingest runs over the same folder now and then. The
    store ends with exactly the lines written, and bills like a one-shot ingest."""
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    done = threading.Event()

    def write() -> None:
        rotation = 0
        while not done.is_set():
            writer.write(random.randint(50, 400))
            time.sleep(0.02)
            if random.random() < 0.02:  # rename rotation
                rotation += 1
                os.rename(writer.path, logs / f"access.log.{rotation}")
                writer.path = logs / "access.log"

    thread = threading.Thread(target=write)
    thread.start()
    rng = random.Random(13)
    crons: list[subprocess.Popen[str]] = []
    try:
        for kill in range(6):
            process = start_watch(store, "--interval", "0.2", "--quiet", str(logs))
            time.sleep(rng.uniform(1.5, 4.0))
            if kill % 2:
                crons.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "meterlog",
                            "ingest",
                            "--store",
                            str(store),
                            "-q",
                            str(logs),
                        ],
                        cwd=REPO,
                        env=process_env(),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        text=True,
                    )
                )
            time.sleep(rng.uniform(0.0, 1.0))
            process.kill()
            process.wait(30)
    finally:
        done.set()
        thread.join()
        for cron in crons:
            cron.wait(120)
    final = start_watch(store, "--interval", "0.2", "--quiet", str(logs))
    time.sleep(4)
    final.send_signal(signal.SIGTERM)
    final.wait(60)
    assert final.returncode == 0
    assert_exactly(store, writer.written)
    # bill agrees with a one-shot ingest of the same files into a fresh store
    fresh = tmp_path / "fresh"
    assert meterlog_process("ingest", "--store", str(fresh), "-q", str(logs)).returncode == 0
    bills = [
        meterlog_process(
            "bill",
            "--store",
            str(where),
            "--period",
            "2026-10",
            "--plan",
            str(REPO / "sample_logs" / "plans.toml"),
            "--format",
            "csv",
        )
        for where in (store, fresh)
    ]
    assert bills[0].returncode == 0, bills[0].stderr
    strip = re.compile(r",\d+\r?$", re.M)  # the store version column differs
    assert strip.sub("", bills[0].stdout) == strip.sub("", bills[1].stdout)


@pytest.mark.slow  # watch as a program, until a signal
def test_dashboard_on_a_terminal(tmp_path: Path) -> None:
    """On a (pseudo) terminal watch draws the dashboard, sized to it, and SIGTERM ends it."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    logs = tmp_path / "logs"
    logs.mkdir()
    writer = Writer(logs / "access.log")
    writer.write(300)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = process_env({"TERM": "xterm-256color"})
    env.pop("COLUMNS", None)  # the size comes from the terminal
    env.pop("LINES", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meterlog",
            "watch",
            "--store",
            str(tmp_path / "store"),
            "--interval",
            "0.3",
            str(logs),
        ],
        cwd=REPO,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and b"lines 300 " not in screen:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    break
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    assert process.returncode == 0
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", screen).decode("utf-8", "replace")
    assert "month to date" in text and "busiest accounts" in text
    assert "lines 300 " in text  # the status line: all 300 lines committed
    assert max(len(line) for line in text.splitlines()) <= 100
    assert_exactly(tmp_path / "store", writer.written)
