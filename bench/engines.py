"""``meterlog bill`` on each engine (Polars, DuckDB, Spark local) over the same store.

usage: python bench/engines.py STORE_DIR [EVENTS] [--spark-master local[2]]

Builds a store of EVENTS generated requests of 2026-10 (the generator of
``bench/meter_cache.py``: 300,000 users in 50 accounts, one commit per day) unless STORE_DIR
holds one already, then runs ``bill --month 2026-10`` once per engine as its own process
(Polars without cached meter states: the cache table is removed before its run), measuring
wall time, CPU seconds (user + system of the process and its children, Spark's JVM included)
and peak memory, and checks the invoices are the same bytes. Prints one JSON object.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from meter_cache import PLAN, build  # noqa: E402


def run(command: list[str], report: Path) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (the process and the children it waited for) and peak RSS
    (KiB, the largest process) measured by GNU time, and stdout."""
    timed = ["/usr/bin/time", "-o", str(report), "-f", "%e %U %S %M", *command]
    done = subprocess.run(timed, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-800:]}")
    wall, user, system, rss = report.read_text().split()[-4:]
    return float(wall), float(user) + float(system), int(rss), done.stdout


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    master = "local[2]"
    if "--spark-master" in sys.argv:
        master = sys.argv[sys.argv.index("--spark-master") + 1]
        args.remove(master)
    store = Path(args[0])
    events = int(args[1]) if len(args) > 1 else 10_000_000
    if not (store / "events").exists():
        build(store, events)
    plan = store.parent / "engines-plan.toml"
    plan.write_text(PLAN)
    base = [sys.executable, "-m", "meterlog", "bill", "--store", str(store), "--month",
            "2026-10", "--plan", str(plan), "--account-field", "http_x_api_key", "--format",
            "csv", "-q"]  # fmt: skip
    results: dict[str, dict[str, float]] = {}
    outputs: dict[str, str] = {}
    for engine in ("polars", "duckdb", "spark"):
        shutil.rmtree(store / "meter_states", ignore_errors=True)
        extra = ["--engine", engine] + (["--spark-master", master] if engine == "spark" else [])
        wall, cpu, rss, out = run(base + extra, store.parent / "engines-time.txt")
        results[engine] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                           "max_rss_mib": round(rss / 1024)}  # fmt: skip
        outputs[engine] = out
    same = len(set(outputs.values())) == 1
    print(json.dumps({"events": events, "invoices_identical": same, "bill": results}, indent=1))
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
