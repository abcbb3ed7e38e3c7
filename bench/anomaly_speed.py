"""How long ``meterlog anomalies`` takes over a month of about 10 million requests.

Generates five weeks of traffic for 150 accounts (``bench/anomaly_traffic.py``, about 14.8M
lines; the last 29 days, which one run reads, hold about 10M), ingests it into a fresh store,
then times the whole ``meterlog anomalies`` process (start-up, reading the store, every
detector, evidence) for the last day against a 28-day baseline, the median of ``--runs``.

    python bench/anomaly_speed.py --work /tmp/anomaly-speed          # generate, ingest, time
    python bench/anomaly_speed.py --work /tmp/anomaly-speed --runs 5 # reuse the store
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anomaly_traffic import LOG_FORMAT, START, write_traffic

WEEKS = 5
ACCOUNTS = 150


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=500)
    args = parser.parse_args()
    store = args.work / "store"
    if not store.exists():
        log, _, lines = write_traffic(
            args.work, args.seed, accounts=ACCOUNTS, weeks=WEEKS, eval_days=7
        )
        print(f"{lines:,} lines generated", flush=True)
        subprocess.run(
            [sys.executable, "-m", "meterlog", "ingest", "--store", str(store), "--log-format",
             LOG_FORMAT, "--accept-window", "off", "-q", str(log)],
            check=True,
        )  # fmt: skip
    # the last day (a date as --until includes that day), and the 28 days before it
    since = until = (START + timedelta(weeks=WEEKS, days=-1)).date().isoformat()
    read = (
        pl.scan_delta(str(store / "events"))
        .filter(pl.col("ts") >= START + timedelta(weeks=WEEKS, days=-29))
        .select(pl.len())
        .collect()
        .item()
    )
    command = [
        sys.executable, "-m", "meterlog", "anomalies", "--store", str(store),
        "--account-field", "http_x_api_key", "--accounts", str(args.work / "accounts.csv"),
        "--since", since, "--until", until, "--baseline", "28d", "--format", "csv",
    ]  # fmt: skip
    seconds = []
    findings = 0
    for _ in range(args.runs):
        begin = time.perf_counter()
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        seconds.append(time.perf_counter() - begin)
        findings = result.stdout.count("\n") - 1
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"meterlog anomalies --since {since} --until {until} --baseline 28d: "
        f"{read:,} requests read, {findings} findings, median {statistics.median(seconds):.1f} s "
        f"of {args.runs} runs ({', '.join(f'{s:.1f}' for s in seconds)}); load {' '.join(load)}"
    )


if __name__ == "__main__":
    main()
