"""Helpers for the ``watch`` tests: a log writer that remembers what it wrote, the check that
the store holds each written line exactly once, ``meterlog watch`` as a process, and
Prometheus scrapes of ``/metrics``."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from meterlog.live.metrics import MetricsServer
from meterlog.store import Store
from tests.support import REPO, combined, process_env


class Writer:
    """Appends numbered lines to a log file, as nginx does, and remembers what it wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written: list[int] = []
        self.next = 0

    def write(self, count: int, *, partial: bool = False) -> None:
        numbers = list(range(self.next, self.next + count))
        self.next += count
        text = "".join(combined(n, user=f"u{n % 13}") + "\n" for n in numbers)
        if partial:  # the last line's end is written later
            text = text[:-30]
        with self.path.open("a") as handle:
            handle.write(text)
        self.written += numbers

    def finish_partial(self, last: int) -> None:
        with self.path.open("a") as handle:
            handle.write((combined(last, user=f"u{last % 13}") + "\n")[-30:])


def stored_numbers(store: Path) -> Counter[int]:
    paths = Store(store).scan_events().select("path").collect().get_column("path")
    return Counter(int(p.rsplit("/", 1)[1]) for p in paths.to_list())


def assert_exactly(store: Path, written: list[int]) -> None:
    stored = stored_numbers(store)
    doubled = [n for n, c in stored.items() if c > 1]
    missing = sorted(set(written) - set(stored))
    extra = sorted(set(stored) - set(written))
    assert not doubled and not missing and not extra, (doubled[:5], missing[:5], extra[:5])
    assert sum(stored.values()) == len(written)


def start_watch(store: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meterlog", "watch", "--store", str(store), *args],
        cwd=REPO,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], pattern: str, timeout: float = 60) -> str:
    """The first stderr line matching ``pattern`` (read on a thread, with a deadline)."""
    found: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if re.search(pattern, line):
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert found, f"no line matching {pattern!r} within {timeout} s"
    return found[0]


def scrape(server: MetricsServer) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = urllib.request.urlopen(server.url, timeout=10).read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def by(samples: dict[tuple[tuple[str, str], ...], float], label: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for key, value in samples.items():
        name = dict(key)[label]
        totals[name] = totals.get(name, 0) + value
    return totals


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
