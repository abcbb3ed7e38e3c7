"""``meterlog watch`` benchmark: ``python bench/watch.py [--soak-minutes M] [--rate R]``.

Measures, each with a real ``meterlog watch`` process (``--metrics``, ``--no-dashboard``):

* commit-to-``/metrics`` latency while another process appends ``--rate`` lines/s (default
  20,000): the writer notes when each burst of lines was written; a scraper reads
  ``meterlog_lines_read_total`` every 50 ms; a line's latency is the time from its write to the
  first scrape that counts it (p50, p99, max);
* one batch (in-process): the time a batch of 40,000 lines (2 s at 20,000 lines/s) takes
  from read to figures, p50/p99 over 60 batches;
* idle: CPU (share of one core, from ``/proc``) and RSS over ``--idle-seconds`` with nothing
  written;
* a soak at ``--soak-rate`` lines/s (default 2,000) for ``--soak-minutes`` (RSS every 10 s);
* month-to-date MAU with 1M distinct users in one account (in-process): memory of the kept
  pairs, RSS growth, and the time to add a batch once they are held.

Results go to ``bench/watch.md`` (included in BENCHMARKS.md by ``bench/run.py``) and are
printed. Not a test: the figures depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log_line(index: int, now: datetime) -> str:
    stamp = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f"10.0.{index % 250}.{index % 7} - user{index % 5000} [{stamp}] "
        f'"GET /v1/items/{index} HTTP/1.1" 200 {100 + index % 900} "-" "bench/1.0" '
        f'"key{index % 20}" 0.0{index % 10}\n'
    )


LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_api_key" $request_time'
)


def start_watch(store: Path, logs: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meterlog",
            "watch",
            "--store",
            str(store),
            "--log-format",
            LOG_FORMAT,
            "--account-field",
            "http_x_api_key",
            "--metrics",
            f"127.0.0.1:{port}",
            "--no-dashboard",
            "--quiet",
            str(logs),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape_lines(port: int) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return None
    match = re.search(rb"^meterlog_lines_read_total ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else None


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"watch exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        if scrape_lines(port) is not None:
            return
        time.sleep(0.1)
    raise SystemExit("watch did not start")


def rss_and_cpu(pid: int) -> tuple[int, float]:
    """RSS bytes and CPU seconds so far of ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return rss, cpu


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()


class Appender(threading.Thread):
    """Appends ``rate`` lines/s in bursts every 10 ms; notes (time, lines written so far)."""

    def __init__(self, path: Path, rate: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.path, self.rate, self.seconds = path, rate, seconds
        self.marks: list[tuple[float, int]] = []
        self.written = 0

    def run(self) -> None:
        start = time.monotonic()
        with self.path.open("a") as handle:
            while (elapsed := time.monotonic() - start) < self.seconds:
                due = int(elapsed * self.rate) - self.written
                if due > 0:
                    now = datetime.now(UTC)
                    handle.write("".join(log_line(self.written + i, now) for i in range(due)))
                    handle.flush()
                    self.written += due
                    self.marks.append((time.monotonic(), self.written))
                time.sleep(0.01)


def latency(folder: Path, rate: int, seconds: float) -> dict[str, object]:
    logs, store = folder / "lat-logs", folder / "lat-store"
    logs.mkdir()
    (logs / "access.log").write_text(log_line(0, datetime.now(UTC)))
    port = free_port()
    process = start_watch(store, logs, port)
    wait_ready(port, process)
    appender = Appender(logs / "access.log", rate, seconds)
    seen: list[tuple[float, float]] = []
    _, cpu_start = rss_and_cpu(process.pid)
    load_start = os.getloadavg()[0]
    began = time.monotonic()
    appender.start()
    while appender.is_alive() or (seen and seen[-1][1] < appender.written + 1):
        value = scrape_lines(port)
        if value is not None:
            seen.append((time.monotonic(), value))
        if not appender.is_alive() and time.monotonic() - appender.marks[-1][0] > 30:
            break
        time.sleep(0.05)
    _, cpu_end = rss_and_cpu(process.pid)
    wall = time.monotonic() - began
    load_end = os.getloadavg()[0]
    stop(process)
    delays = []
    index = 0
    for written_at, total in appender.marks:
        while index < len(seen) and seen[index][1] < total + 1:  # +1: the line written first
            index += 1
        if index == len(seen):
            break
        delays.append(seen[index][0] - written_at)
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return {
        "rate": rate,
        "seconds": seconds,
        "lines": appender.written,
        "achieved_rate": appender.written / seconds,
        "bursts": len(delays),
        "p50": statistics.median(delays),
        "p99": p99,
        "max": delays[-1],
        "watch_cpu_share": (cpu_end - cpu_start) / wall,
        "load_average": (load_start + load_end) / 2,
    }


def idle(folder: Path, seconds: float) -> dict[str, object]:
    logs, store = folder / "idle-logs", folder / "idle-store"
    logs.mkdir()
    (logs / "access.log").write_text("".join(log_line(i, datetime.now(UTC)) for i in range(1000)))
    port = free_port()
    process = start_watch(store, logs, port)
    wait_ready(port, process)
    time.sleep(5)  # the first batch and start-up are not idle
    rss0, cpu0 = rss_and_cpu(process.pid)
    samples = [rss0]
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(5)
        samples.append(rss_and_cpu(process.pid)[0])
    rss1, cpu1 = rss_and_cpu(process.pid)
    wall = time.monotonic() - start
    stop(process)
    return {
        "seconds": wall,
        "cpu_share": (cpu1 - cpu0) / wall,
        "rss_start": rss0,
        "rss_end": rss1,
        "rss_max": max(samples),
    }


def soak(folder: Path, rate: int, minutes: float) -> dict[str, object]:
    logs, store = folder / "soak-logs", folder / "soak-store"
    logs.mkdir()
    (logs / "access.log").write_text(log_line(0, datetime.now(UTC)))
    port = free_port()
    process = start_watch(store, logs, port)
    wait_ready(port, process)
    appender = Appender(logs / "access.log", rate, minutes * 60)
    appender.start()
    samples: list[tuple[float, int]] = []
    start = time.monotonic()
    while appender.is_alive():
        time.sleep(10)
        samples.append((time.monotonic() - start, rss_and_cpu(process.pid)[0]))
    time.sleep(5)
    stored = scrape_lines(port)
    stop(process)
    rss = [value for _, value in samples]
    half = len(rss) // 2
    return {
        "minutes": minutes,
        "rate": rate,
        "lines": appender.written + 1,
        "committed": stored,
        "rss_first_half_max": max(rss[:half]) if half else None,
        "rss_second_half_max": max(rss[half:]) if rss else None,
        "rss_min": min(rss) if rss else None,
        "rss_last": rss[-1] if rss else None,
        "samples": samples,
    }


def batches(folder: Path, lines_per_batch: int, count: int) -> dict[str, object]:
    """In-process: the time one watch batch takes (read, parse, commit, figures) when
    ``lines_per_batch`` lines arrived since the last one (40,000: 2 s at 20,000 lines/s)."""
    sys.path.insert(0, str(ROOT))
    from meterlog.billing import Identity
    from meterlog.formats import NginxLogFormat
    from meterlog.ingest import IngestOptions
    from meterlog.live import Watcher, WatchOptions
    from meterlog.store import Store

    logs = folder / "batch-logs"
    logs.mkdir()
    log = logs / "access.log"
    watcher = Watcher(
        Store(folder / "batch-store"),
        [str(logs)],
        IngestOptions(custom_format=NginxLogFormat(LOG_FORMAT, name="custom")),
        WatchOptions(identity=Identity(account_field="http_x_api_key")),
    )
    walls: list[float] = []
    cpus: list[float] = []
    written = 0
    for _ in range(count):
        now = datetime.now(UTC)
        with log.open("a") as handle:
            handle.write("".join(log_line(written + i, now) for i in range(lines_per_batch)))
        written += lines_per_batch
        wall, cpu = time.perf_counter(), time.process_time()
        watcher.step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    watcher.close()
    walls.sort()
    return {
        "lines_per_batch": lines_per_batch,
        "batches": count,
        "wall_p50": statistics.median(walls),
        "wall_p99": walls[min(len(walls) - 1, int(len(walls) * 0.99))],
        "wall_max": walls[-1],
        "cpu_per_batch": statistics.mean(cpus),
        "load_average": os.getloadavg()[0],
    }


def mau_memory(users: int) -> dict[str, object]:
    """In-process: MonthToDate holding ``users`` distinct users in one account."""
    sys.path.insert(0, str(ROOT))
    from zoneinfo import ZoneInfo

    import polars as pl

    from meterlog.live.mtd import MonthToDate
    from meterlog.meters import MauMeter

    now = datetime.now(UTC)
    mtd = MonthToDate([MauMeter()], ZoneInfo("UTC"))
    empty = pl.LazyFrame(
        schema={"ts": pl.Datetime("us", "UTC"), "user": pl.String(), "account": pl.String()}
    )
    mtd.load(empty, now)
    rss_before, _ = rss_and_cpu(os.getpid())
    batch = 100_000
    adds: list[float] = []
    for start in range(0, users, batch):
        frame = pl.DataFrame(
            {
                "ts": [now] * batch,
                "user": [f"user-{n:09d}" for n in range(start, start + batch)],
                "account": ["acme"] * batch,
            }
        )
        began = time.perf_counter()
        mtd.add(frame.lazy())
        adds.append(time.perf_counter() - began)
    assert mtd.figures is not None
    held = mtd.figures.states[MauMeter()]  # the MAU meter's state: (account, user) pairs
    rss_after, _ = rss_and_cpu(os.getpid())
    counted = mtd.mau()["acme"]
    # a batch of 40,000 requests (2 s at 20,000 lines/s) from known and new users
    frame = pl.DataFrame(
        {
            "ts": [now] * 40_000,
            "user": [f"user-{n:09d}" for n in range(users - 20_000, users + 20_000)],
            "account": ["acme"] * 40_000,
        }
    )
    began = time.perf_counter()
    mtd.add(frame.lazy())
    batch_seconds = time.perf_counter() - began
    return {
        "users": users,
        "mau": counted,
        "mau_after_batch": mtd.mau()["acme"],
        "pairs_bytes": int(held.estimated_size()),
        "rss_growth": rss_after - rss_before,
        "add_batch_seconds": batch_seconds,
        "load_batches_seconds_median": statistics.median(adds),
    }


def mib(value: object) -> str:
    return f"{int(value) / 2**20:,.0f} MiB" if isinstance(value, int | float) else "-"


def _settled(soak_result: dict[str, object]) -> str:
    """RSS range of the soak's samples after the first two minutes (start-up, first batches)."""
    samples = soak_result.get("samples") or []
    values = [rss for seconds, rss in samples if seconds >= 120]  # type: ignore[union-attr]
    if not values:
        return "-"
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    return f"{mib(min(values))} to {mib(max(values))}, median {mib(median)}"


def report(results: dict[str, dict[str, object]]) -> str:
    lines = [
        "## `meterlog watch`",
        "",
        f"Measured on {datetime.now(UTC):%Y-%m-%d} with `python bench/watch.py` on "
        f"{platform.node()} ({os.cpu_count()} CPUs, shared with other work and loaded while "
        "measured, so the figures are pessimistic). The latency, idle and soak figures are from a "
        "real `meterlog watch --metrics ... --no-dashboard` process with the default "
        "`--interval 2`; the batch and MAU figures are taken in-process.",
        "",
        "| what | target | measured |",
        "| --- | --- | --- |",
    ]
    lat = results.get("latency")
    if lat:
        lines.append(
            f"| line appended -> counted in `/metrics`, while {lat['achieved_rate']:,.0f} "
            f"lines/s are appended ({lat['lines']:,} lines over {lat['seconds']:.0f} s) | "
            f"p99 under 3 s | p50 {lat['p50']:.2f} s, **p99 {lat['p99']:.2f} s**, "
            f"max {lat['max']:.2f} s (watch used {float(lat.get('watch_cpu_share', 0)) * 100:.0f}% "
            f"of a core; load average {float(lat.get('load_average', 0)):.1f} on "
            f"{os.cpu_count()} CPUs) |"
        )
    batch = results.get("batch")
    if batch:
        lines.append(
            f"| one batch of {batch['lines_per_batch']:,} lines (2 s at 20,000 lines/s: read, "
            f"parse, commit, figures; {batch['batches']} batches in-process, no writer "
            f"competing) | under 1 s, so that interval + batch stays under 3 s | p50 "
            f"{batch['wall_p50']:.2f} s, **p99 {batch['wall_p99']:.2f} s**, max "
            f"{batch['wall_max']:.2f} s; {batch['cpu_per_batch']:.2f} CPU s per batch "
            f"(load average {float(batch['load_average']):.1f}) |"
        )
    idle_result = results.get("idle")
    if idle_result:
        lines.append(
            f"| idle ({idle_result['seconds']:.0f} s, nothing written) | under 2% of one core, "
            f"no growing memory | **{float(idle_result['cpu_share']) * 100:.2f}%** of one core; "
            f"RSS {mib(idle_result['rss_start'])} -> {mib(idle_result['rss_end'])} |"
        )
    soak_result = results.get("soak")
    if soak_result:
        lines.append(
            f"| soak: {soak_result['rate']:,} lines/s for {soak_result['minutes']} min "
            f"({soak_result['lines']:,} lines, {int(soak_result['committed'] or 0):,} committed) "
            "| RSS flat (the issue asks for an hour; this is shorter) | RSS max "
            f"{mib(soak_result['rss_first_half_max'])} in the first half, "
            f"{mib(soak_result['rss_second_half_max'])} in the second; last "
            f"{mib(soak_result['rss_last'])}; every 10 s after the first two minutes: "
            f"{_settled(soak_result)} |"
        )
    mau = results.get("mau")
    if mau:
        lines.append(
            f"| month-to-date MAU, {mau['users']:,} distinct users in one account | exact, "
            f"bounded memory | MAU {mau['mau']:,} (exact); the kept (account, user) pairs take "
            f"**{mib(mau['pairs_bytes'])}** (RSS +{mib(mau['rss_growth'])}); a 40,000-request "
            f"batch (half of it new users) is added in "
            f"{float(mau['add_batch_seconds']) * 1000:,.0f} ms, giving {mau.get('mau_after_batch', '-'):,} |"
        )
    lines += [
        "",
        "How to read these figures. The latency of a line is the wait for the next batch (up to "
        "`--interval`, 2 s) plus the time the batch takes (read, parse, commit, update the "
        "figures) plus the scrape; the batch itself needs the CPU time shown above, about a "
        "quarter of a CPU second for 40,000 lines, so on a machine with a free core a line is "
        "in `/metrics` within about 2.3 s. On the shared machine these figures were taken on, "
        "with a load average many times the number of CPUs, watch got a small share of a core "
        "and the wall times above are mostly waiting for it: the 3 s target was not met "
        "there, and the latency row says so. `--interval 1` halves the wait when that matters. "
        "Idle, watch lists and `stat`s the watched paths once per interval and reads nothing. "
        "Memory: the per-second history of the last hour and the month-to-date pairs are the "
        "only things that grow with time, both bounded (an hour; the month's distinct users).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--latency-seconds", type=float, default=60)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--soak-rate", type=int, default=2_000)
    parser.add_argument("--soak-minutes", type=float, default=5)
    parser.add_argument("--mau-users", type=int, default=1_000_000)
    parser.add_argument(
        "--only",
        choices=["latency", "batch", "idle", "soak", "mau"],
        action="append",
        default=[],
    )
    parser.add_argument("--output", default=str(HERE / "watch.md"))
    parser.add_argument(
        "--report-only", action="store_true", help="Rewrite the report from the saved results."
    )
    args = parser.parse_args()
    wanted = [] if args.report_only else args.only or ["latency", "batch", "idle", "soak", "mau"]
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    previous = out / "watch.json"
    results: dict[str, dict[str, object]] = (
        json.loads(previous.read_text()) if previous.exists() else {}
    )
    folder = Path(tempfile.mkdtemp(prefix="meterlog-watch-bench-"))
    try:
        if "latency" in wanted:
            results["latency"] = latency(folder, args.rate, args.latency_seconds)
            print("latency", results["latency"], flush=True)
        if "batch" in wanted:
            results["batch"] = batches(folder, 40_000, 60)
            print("batch", results["batch"], flush=True)
        if "idle" in wanted:
            results["idle"] = idle(folder, args.idle_seconds)
            print("idle", results["idle"], flush=True)
        if "soak" in wanted:
            results["soak"] = soak(folder, args.soak_rate, args.soak_minutes)
            print("soak", {k: v for k, v in results["soak"].items() if k != "samples"}, flush=True)
        if "mau" in wanted:
            results["mau"] = mau_memory(args.mau_users)
            print("mau", results["mau"], flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    previous.write_text(json.dumps(results, indent=1))
    text = report(results)
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
