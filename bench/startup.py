"""The fixed cost of a meterlog run, apart from the lines it processes.

usage: python bench/startup.py [--runs N]   (prints JSON)

* ``meterlog --help``, ``meterlog --version`` and ``meterlog ingest --help``: wall time and CPU
  time (user + system, of the process and its children) of each of ``--runs`` whole processes of
  the installed ``meterlog`` program, the median of each, with the 1-minute load average read
  just before the runs of each command;
* an ingest of a tiny file (10 lines) into a new store, the same way;
* ``python -X importtime -c "import meterlog.cli"``: the import's cumulative time and the ten
  slowest imports under it, and which of Polars, PyArrow, NumPy and deltalake it loads.

CPU time is reported next to wall time because it is far less sensitive to other work on the
machine: on a busy machine a process waits for a core, which counts in its wall time only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("polars", "pyarrow", "numpy", "deltalake")
TINY_LOG = "".join(
    f'203.0.113.{n} - user{n} [01/Oct/2026:12:00:0{n} +0000] "GET /api/v1/items/{n}?page=2 '
    f'HTTP/1.1" 200 {512 + n} "-" "curl/8.5.0"\n'
    for n in range(10)
)


def load1() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return os.getloadavg()[0]


def program() -> list[str]:
    """The installed ``meterlog`` program next to this Python, else ``python -m meterlog``."""
    script = Path(sys.executable).parent / "meterlog"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "meterlog"]


def run_once(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run of ``command``, which must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
        raise SystemExit(f"{' '.join(command)}: exit {code}: {error.strip()[-300:]}")
    if process.stderr:
        process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


def measure(command: list[str], runs: int, before: object = None) -> dict[str, object]:
    run_once(command if before is None else [*command[:-1], "--help"])  # warm the file cache
    load = load1()
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        if callable(before):
            before()
        wall, cpu = run_once(command)
        walls.append(wall)
        cpus.append(cpu)
    return {
        "command": " ".join(["meterlog", *command[len(program()) :]]),
        "walls": walls,
        "cpus": cpus,
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "load1_before": load,
        "load1_after": load1(),
    }


def import_time() -> dict[str, object]:
    """``-X importtime`` of ``import meterlog.cli``: its cumulative microseconds, the slowest
    modules it imports directly, and which heavy libraries it loads."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            f"import sys, meterlog.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if found:
            rows.append((int(found.group(2)), len(found.group(3)), found.group(4)))
    # A module's imports are printed before it, one level deeper, so the rows just above
    # meterlog.cli that are deeper than it are what it imports.
    index = next((i for i, row in enumerate(rows) if row[2] == "meterlog.cli"), None)
    total = rows[index][0] if index is not None else 0
    below: list[tuple[int, str]] = []
    if index is not None:
        depth = rows[index][1]
        for cumulative, level, name in reversed(rows[:index]):
            if level <= depth:
                break
            if level == depth + 2:
                below.append((cumulative, name))
    top = sorted(below, reverse=True)
    return {
        "meterlog_cli_us": total,
        "slowest": [{"module": name, "us": us} for us, name in top[:10]],
        "heavy_loaded": done.stdout.split(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = program()
    results: dict[str, object] = {"program": " ".join(base), "runs": args.runs}
    results["commands"] = [
        measure([*base, *words], args.runs)
        for words in (["--help"], ["--version"], ["ingest", "--help"])
    ]
    with tempfile.TemporaryDirectory(prefix="meterlog-startup-") as folder:
        log = Path(folder, "tiny.log")
        log.write_text(TINY_LOG)
        store = Path(folder, "store")

        def fresh() -> None:
            shutil.rmtree(store, ignore_errors=True)

        tiny = measure([*base, "ingest", "-q", "--store", str(store), str(log)], args.runs, fresh)
        tiny["lines"] = TINY_LOG.count("\n")
        results["tiny_ingest"] = tiny
    results["import"] = import_time()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
