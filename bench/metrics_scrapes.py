"""Bursts of scrapes against ``watch``'s ``/metrics``: ``python bench/metrics_scrapes.py``.

A watcher holds a small store (2,000 requests); ``--clients`` (default 200) scrapes start at
once, ``--rounds`` times (default 5), against meterlog's metrics server (a fixed pool of
threads, a listen backlog of 128) and against prometheus-client's ``start_http_server`` over
the same collector (a thread per connection, a backlog of 5). Reported: whether every scrape
got its page, and the slowest scrape of each round (the median and the worst over rounds).

Results go to ``bench/metrics_scrapes.md`` (included in BENCHMARKS.md by ``bench/run.py``) and
are printed. Not a test: the figures depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from meterlog.ingest import IngestOptions
from meterlog.live import Watcher, WatchOptions
from meterlog.live.metrics import LISTEN_BACKLOG, SERVER_THREADS, MetricsServer, WatchCollector
from meterlog.store import Store

HERE = Path(__file__).resolve().parent


def watcher(folder: Path) -> Watcher:
    logs = folder / "logs"
    logs.mkdir()
    now = datetime.now(UTC)
    (logs / "access.log").write_text(
        "".join(
            f"10.0.0.{i % 200} - u{i % 50} "
            f"[{(now - timedelta(seconds=i)).strftime('%d/%b/%Y:%H:%M:%S +0000')}] "
            f'"GET /v1/items/{i} HTTP/1.1" 200 10 "-" "bench"\n'
            for i in range(2000)
        )
    )
    watch = Watcher(Store(folder / "store"), [str(logs)], IngestOptions(), WatchOptions())
    watch.start()
    watch.step()
    return watch


def burst(port: int, clients: int) -> tuple[float, int]:
    """The slowest of ``clients`` simultaneous scrapes (seconds) and how many got a page."""
    times: list[float] = []
    answered = 0
    lock = threading.Lock()

    def scrape() -> None:
        nonlocal answered
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as page:
                ok = page.status == 200 and b"meterlog_store_version" in page.read()
        except OSError:
            ok = False
        with lock:
            times.append(time.monotonic() - started)
            answered += ok

    threads = [threading.Thread(target=scrape) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(times), answered


def measure(port: int, clients: int, rounds: int) -> dict[str, float]:
    slowest, answered = [], 0
    for _ in range(rounds):
        worst, ok = burst(port, clients)
        slowest.append(worst)
        answered += ok
        time.sleep(0.5)
    return {
        "answered": answered,
        "asked": clients * rounds,
        "median_slowest": statistics.median(slowest),
        "worst": max(slowest),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        watch = watcher(Path(tmp))
        servers: dict[str, tuple[int, Callable[[], None]]] = {}
        ours = MetricsServer(watch, "127.0.0.1", 0)
        servers["meterlog"] = (ours.port, ours.close)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(WatchCollector(watch))
        theirs, thread = start_http_server(0, addr="127.0.0.1", registry=registry)

        def close_theirs() -> None:
            theirs.shutdown()
            theirs.server_close()
            thread.join(5)

        servers["prometheus-client"] = (int(theirs.server_address[1]), close_theirs)
        results = {}
        try:
            for name, (port, _) in servers.items():
                results[name] = measure(port, args.clients, args.rounds)
        finally:
            for _, close in servers.values():
                close()
            watch.close()
    load = os.getloadavg()[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "### Bursts of scrapes",
        "",
        f"Measured on {when} with `python bench/metrics_scrapes.py` ({args.clients} scrapes "
        f"at once, {args.rounds} rounds; load average {load:.1f} on {os.cpu_count()} CPUs).",
        "",
        "| server | scrapes answered | slowest scrape of a round: median, worst |",
        "| --- | --- | --- |",
    ]
    labels = {
        "meterlog": f"meterlog (`watch --metrics`: {SERVER_THREADS} threads, backlog "
        f"{LISTEN_BACKLOG})",
        "prometheus-client": "prometheus-client `start_http_server` (a thread per "
        "connection, backlog 5)",
    }
    for name, result in results.items():
        lines.append(
            f"| {labels[name]} | {result['answered']:,} of {result['asked']:,} | "
            f"{result['median_slowest'] * 1000:,.0f} ms, {result['worst'] * 1000:,.0f} ms |"
        )
    lines += [
        "",
        "A scrape takes a few milliseconds; with a backlog of 5, the connections beyond it are "
        "dropped by the kernel and their clients retry after a second (the slowest scrapes "
        "above), while a backlog of 128 queues them.",
    ]
    text = "\n".join(lines) + "\n"
    (HERE / "metrics_scrapes.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
