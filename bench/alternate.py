"""Whole processes run in turn, several rounds, with the medians of each: for comparisons on a
shared machine, where other work slows whichever process runs while it is busy.

usage: python bench/alternate.py [--rounds N] [--fresh PATH ...] NAME=COMMAND [NAME=COMMAND ...]

Each round runs every command once, in the order given; before each run the ``--fresh`` paths
are deleted (a new store, a new Parquet file). A command is split like a shell would
(``shlex``) and run without a shell; ``NAME=`` may be followed by ``ENV=VALUE`` words, set in
the command's environment (``new=PYTHONPATH=. python -m meterlog ingest ...``). Per run: wall
seconds, CPU seconds (user plus system, of the process and its children, from ``wait4``),
peak RSS, and the 1-minute load average just before. Prints one JSON object: the runs, and
per command the medians of wall and CPU and the largest peak RSS.

To compare two source trees with ``PYTHONPATH``, run this from outside both: ``python -m``
puts the current folder first on the module path, ahead of ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import time
from pathlib import Path


def run_once(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode:
        raise SystemExit(f"{shlex.join(argv)} failed ({process.returncode}): {error[-500:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "load_1min_before": round(load, 2),
    }


def parse_command(spec: str) -> tuple[str, dict[str, str], list[str]]:
    name, _, command = spec.partition("=")
    words = shlex.split(command)
    env: dict[str, str] = {}
    while words and "=" in words[0] and not words[0].startswith(("/", ".")):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    if not name or not words:
        raise SystemExit(f"not NAME=COMMAND: {spec!r}")
    return name, env, words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fresh", action="append", default=[], metavar="PATH")
    parser.add_argument("commands", nargs="+", metavar="NAME=COMMAND")
    args = parser.parse_args()
    commands = [parse_command(spec) for spec in args.commands]
    runs: list[dict[str, object]] = []
    measurements: list[tuple[str, dict[str, float]]] = []
    for round_number in range(1, args.rounds + 1):
        for name, env, argv in commands:
            for path in map(Path, args.fresh):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
            measured = run_once(argv, env)
            measurements.append((name, measured))
            runs.append({"name": name, "round": round_number, **measured})
    summary: dict[str, dict[str, float]] = {}
    for name, _, _ in commands:
        own = [measured for run_name, measured in measurements if run_name == name]
        summary[name] = {
            "wall_s": statistics.median(m["wall_s"] for m in own),
            "cpu_s": statistics.median(m["cpu_s"] for m in own),
            "peak_rss_mib": max(m["peak_rss_mib"] for m in own),
        }
    print(json.dumps({"runs": runs, "medians": summary}, indent=1))


if __name__ == "__main__":
    main()
