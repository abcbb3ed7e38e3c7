"""meterlog benchmarks: ``make bench`` (or ``python bench/run.py [--quick]``).

In one run, on the same generated inputs (seeded nginx ``combined`` logs and their JSON-lines
equivalent, in a temporary folder):

* ``meterlog ingest`` end to end (a whole process: start-up, parse, Delta commits) on 1M and
  10M lines, plain, gzip and JSON lines: lines/s, MB/s and peak RSS, median of ``--runs`` runs;
* GoAccess (``goaccess FILE --log-format=COMBINED -o out.json``) and a plain ``re`` loop on the
  same combined files, with the ratios;
* where the time goes (CPU per stage, one thread);
* ``meterlog mau``, ``peak`` and ``bill`` over the store of the 10M-line ingest (three months),
  a one-day ``usage`` query on it (which files it opens), and many small ingests before and
  after ``meterlog maintain``.

The results are written to ``BENCHMARKS.md`` (and ``bench/out/results.json``). Nothing here is
a test: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

MB = 1_000_000


@dataclass
class Timing:
    """Runs of one command: wall seconds and peak RSS (bytes) of each."""

    name: str
    lines: int = 0
    size: int = 0
    walls: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    note: str = ""
    failed: str = ""
    #: the start of the earlier run a figure is carried over from ("" when measured now)
    run: str = ""
    #: CPU seconds (user + system, of the command and its children) of each run
    cpus: list[float] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus) if self.cpus else float("nan")

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.wall if self.walls else float("nan")

    @property
    def mb_per_s(self) -> float:
        return self.size / MB / self.wall if self.walls else float("nan")

    @property
    def peak_rss(self) -> int:
        return max(self.rss) if self.rss else 0


def say(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


TIME = "/usr/bin/time"  # GNU time: the peak RSS of exactly the command, not of this process


def time_command(command: list[str]) -> tuple[float, int, str, str, int, float]:
    """Wall seconds, peak RSS in bytes (of the command and its children), stdout, stderr, exit
    code, CPU seconds (user + system, of the command and its children). GNU time measures the command as a child of its own; without it, the rusage of the
    waited-for child is used (after fork, it includes this process's own size)."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r", suffix=".rss") as rss,
    ):
        gnu_time = os.access(TIME, os.X_OK) and sys.platform.startswith("linux")
        argv = [TIME, "-f", "%M", "-o", rss.name, *command] if gnu_time else command
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
        peak = usage.ru_maxrss * scale
        if gnu_time:
            text = rss.read().split()
            peak = int(text[-1]) * 1024 if text and text[-1].isdigit() else 0
        cpu = usage.ru_utime + usage.ru_stime
        return wall, peak, out.read(), err.read(), process.returncode, cpu


def meterlog(*args: str) -> list[str]:
    return [sys.executable, "-m", "meterlog", *args]


def measure(timing: Timing, command: list[str], runs: int, before: object = None) -> Timing:
    for number in range(runs):
        if callable(before):
            before()
        wall, peak, out, err, code, cpu = time_command(command)
        if code != 0:
            last = (err.strip() or out.strip()).splitlines()
            timing.failed = last[-1] if last else f"exit {code}"
            say(f"  {timing.name}: failed ({code}): {timing.failed}")
            break
        timing.walls.append(wall)
        timing.rss.append(peak)
        timing.cpus.append(cpu)
        say(
            f"  {timing.name} run {number + 1}/{runs}: {wall:.2f} s, CPU {cpu:.2f} s, "
            f"{peak / 2**20:.0f} MiB"
        )
    return timing


REUSE_INPUTS = False


def generate(path: Path, lines: int, kind: str, seed: int) -> Path:
    """Generate a log in a child process (this one stays small)."""
    if REUSE_INPUTS and path.exists():
        say(f"  reusing {path}")
        return path
    subprocess.run(
        [sys.executable, str(HERE / "generate.py"), str(path), str(lines), kind, str(seed)],
        check=True,
    )
    return path


def count_lines(path: Path) -> int:
    lines = 0
    with open(path, "rb") as data:
        while block := data.read(1 << 24):
            lines += block.count(b"\n")
    return lines


def prefix_file(source: Path, target: Path, lines: int) -> Path:
    """The first ``lines`` lines of ``source`` (the generator's blocks make it the same as
    generating ``lines`` lines)."""
    if REUSE_INPUTS and target.exists():
        return target
    left = lines
    with open(source, "rb") as data, open(target, "wb") as out:
        while left > 0:
            block = data.read(1 << 24)
            if not block:
                break
            newlines = block.count(b"\n")
            if newlines <= left:
                out.write(block)
                left -= newlines
                continue
            cut = 0
            for _ in range(left):
                cut = block.index(b"\n", cut) + 1
            out.write(block[:cut])
            left = 0
    return target


def machine() -> dict[str, object]:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    info: dict[str, object] = {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "polars": installed("polars"),
        "deltalake": installed("deltalake"),
        "pyarrow": installed("pyarrow"),
        "isal": installed("isal"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ensure_goaccess() -> tuple[str | None, str]:
    """The goaccess executable and its version, installing the Debian package if missing."""
    found = shutil.which("goaccess")
    if not found and shutil.which("apt-get") and os.geteuid() == 0:
        say("GoAccess missing: apt-get install goaccess")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "goaccess"], capture_output=True)
        found = shutil.which("goaccess")
    if not found:
        return None, "GoAccess is not installed and could not be installed (apt-get, as root)"
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"GoAccess - ([\d.]+)", version)
    return found, match.group(1) if match else version.strip().splitlines()[0]


SECTIONS = (
    "ingest",
    "goaccess",
    "re",
    "duckdb",
    "startup",
    "json",
    "stages",
    "queries",
    "small",
)


def section_start(results: dict[str, object], name: str) -> None:
    sections = results.setdefault("sections", {})
    assert isinstance(sections, dict)
    sections[name] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_before": load(),
    }


def section_end(results: dict[str, object], name: str) -> None:
    section = results["sections"][name]  # type: ignore[index]
    section["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    section["load_after"] = load()


def load_timings(results: dict[str, object]) -> dict[str, Timing]:
    fields = set(Timing.__dataclass_fields__)
    saved = results.get("timings") or {}
    assert isinstance(saved, dict)
    return {
        name: Timing(**{k: v for k, v in value.items() if k in fields})
        for name, value in saved.items()
    }


def carry_goaccess_10m(results: dict[str, object], timings: dict[str, Timing]) -> None:
    """When GoAccess was not timed on 10M lines in this run, keep the recorded figure and the
    meterlog figure of the same run (bench/recorded.json), so the ratio compares one run."""
    goaccess = timings.get("goaccess combined_10m")
    meter = timings.get("meterlog ingest combined_10m")
    if goaccess is not None and not goaccess.run:
        return  # timed now: the ratio uses this run's meterlog figure
    if goaccess is None or meter is None or meter.run != goaccess.run:
        recorded = json.loads((HERE / "recorded.json").read_text())
        saved = load_timings(recorded)
        goaccess = saved["goaccess combined_10m"]
        meter = saved["meterlog ingest combined_10m"]
        goaccess.run = goaccess.run or str(recorded["started"])
        meter.run = meter.run or str(recorded["started"])
        timings[goaccess.name] = goaccess
    results["goaccess_10m_recorded"] = {
        "run": goaccess.run,
        "goaccess_wall": goaccess.wall,
        "meterlog_wall": meter.wall,
        "ratio": meter.lines_per_s / goaccess.lines_per_s,
    }


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def duckdb_section(
    inputs: dict[str, tuple[Path, int]], work: Path, runs: int, full: bool
) -> dict[str, object]:
    """meterlog ingest and DuckDB to Parquet on the same files (``regexp_extract`` for
    combined lines, ``read_json`` for JSON lines), runs alternating; then whether DuckDB's rows
    are meterlog's events."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        duckdb_version = version("duckdb")
    except PackageNotFoundError:
        return {"error": "duckdb is not installed (pip install -e '.[bench]')"}
    out: dict[str, object] = {"version": duckdb_version, "files": {}}
    script = str(HERE / "duckdb_parquet.py")
    names = ["combined_1m", "json_1m", *(["combined_10m", "json_10m"] if full else [])]
    for name in [name for name in names if name in inputs]:
        path, lines = inputs[name]
        as_json = ["--json"] if name.startswith("json") else []
        size = path.stat().st_size
        store = work / "store-vs-duckdb"
        parquet = work / "duckdb.parquet"
        meter = Timing(f"meterlog ingest {name}", lines, size)
        duck = Timing(f"duckdb parquet {name}", lines, size)
        say(f"meterlog and DuckDB, alternating, on {path.name}")
        for _ in range(runs):
            shutil.rmtree(store, ignore_errors=True)
            measure(meter, meterlog("ingest", "-q", "--store", str(store), str(path)), 1)
            parquet.unlink(missing_ok=True)
            measure(duck, [sys.executable, script, *as_json, str(path), str(parquet)], 1)
            if meter.failed or duck.failed:
                break
        compared: dict[str, object] = {}
        if not (meter.failed or duck.failed):
            done = subprocess.run(
                [
                    sys.executable,
                    script,
                    "--compare-json" if as_json else "--compare",
                    str(parquet),
                    str(store),
                ],
                capture_output=True,
                text=True,
            )
            compared = (
                json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-300:]}
            )
        out["files"][name] = {  # type: ignore[index]
            "meterlog": asdict(meter),
            "duckdb": asdict(duck),
            "compare": compared,
            "parquet_bytes": parquet.stat().st_size if parquet.exists() else 0,
            "store_bytes": directory_bytes(store / "events") if store.exists() else 0,
        }
        shutil.rmtree(store, ignore_errors=True)
        parquet.unlink(missing_ok=True)
    return out


def commands_available() -> set[str]:
    listed = subprocess.run(meterlog("--help"), capture_output=True, text=True).stdout
    return {word for word in ("usage", "mau", "peak", "bill", "maintain") if f"  {word} " in listed}


STORE_STATS = """
import json, re, sys
import polars as pl
from deltalake import DeltaTable
from meterlog.store import Store
store, month, day = sys.argv[1:4]
files = {}
for uri in DeltaTable(store + "/events").file_uris():
    found = re.search(r"day=([0-9-]+)", uri)
    if found:
        files[found.group(1)] = files.get(found.group(1), 0) + 1
row = Store(store).scan_events().select(
    pl.len().alias("rows"),
    (pl.col("ts").dt.strftime("%Y-%m") == month).sum().alias("in_month"),
    (pl.col("day").cast(pl.String) == day).sum().alias("in_day"),
    pl.col("day").n_unique().alias("days"),
).collect().row(0, named=True)
print(json.dumps({**row, "files": sum(files.values()), "files_in_day": files.get(day, 0)}))
"""


def store_stats(store: Path, month: str, day: str) -> dict[str, object]:
    """Rows, rows in ``month`` and ``day``, days and data files of a store (in a child process,
    so this process stays small and does not inflate the RSS of the commands it starts)."""
    done = subprocess.run(
        [sys.executable, "-c", STORE_STATS, str(store), month, day], capture_output=True, text=True
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return {**json.loads(done.stdout), "month": month, "day": day}


def opened_parquet_files(command: list[str]) -> set[str] | None:
    """Parquet files ``command`` opens (through strace), None without strace."""
    strace = shutil.which("strace")
    if not strace:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".trace") as trace:
        done = subprocess.run(
            [strace, "-f", "-qq", "-e", "trace=openat", "-o", trace.name, *command],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return None
        return set(re.findall(r'"([^"]+\.parquet)"', trace.read()))


PLAN = """default_plan = "standard"
currency = "EUR"

[plans.standard]
base_fee = "49.00"

[[plans.standard.charges]]
name = "active_users"
meter = "mau"
pricing = "per_unit"
unit_price = "0.10"
included = 1000

[[plans.standard.charges]]
name = "peak_hourly_requests"
meter = "peak"
metric = "requests"
window = "1h"
statistic = "p95"
pricing = "graduated"
tiers = [{ up_to = 1000, unit_price = "0" }, { unit_price = "0.01" }]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1M lines only (development)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--dir", help="work folder (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--reuse-inputs",
        action="store_true",
        help="keep generated logs already in --dir (from an earlier run with the same seed)",
    )
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--report-from", metavar="JSON", help="only write the report from a results.json"
    )
    parser.add_argument(
        "--only",
        metavar="SECTIONS",
        help=f"run only these sections, comma-separated, of: {', '.join(SECTIONS)} "
        "(default: all; queries and small need ingest)",
    )
    parser.add_argument(
        "--merge",
        metavar="JSON",
        help="start from an earlier results.json (e.g. bench/recorded.json): the sections not "
        "run now keep its figures, marked with its date",
    )
    parser.add_argument(
        "--goaccess-10m",
        choices=("auto", "yes", "no"),
        default="auto",
        help="time GoAccess on the 10M-line file (about two minutes): auto does so only when the "
        "1-minute load average is below 0.5; otherwise its recorded figure is kept",
    )
    args = parser.parse_args()
    if args.report_from:
        saved = json.loads(Path(args.report_from).read_text())
        Path(args.output).write_text(report(saved, load_timings(saved)))
        return
    global REUSE_INPUTS
    REUSE_INPUTS = args.reuse_inputs and bool(args.dir)
    wanted = set(SECTIONS) if not args.only else {x.strip() for x in args.only.split(",")}
    unknown = wanted - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(sorted(unknown))}")
    if wanted & {"queries", "small"} and "ingest" not in wanted:
        parser.error("--only: queries and small need ingest (the store and files it writes)")

    big = 1_000_000 if args.quick else 10_000_000
    small = 1_000_000
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="meterlog-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    need = (1 if args.quick else (9 if "ingest" in wanted else 2)) * 2**30
    free = shutil.disk_usage(work).free
    if free < need:
        sys.exit(
            f"{work}: {free / 2**30:.1f} GiB free, the benchmark needs about {need / 2**30:.0f} GiB; use --dir"
        )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results: dict[str, object] = {}
    timings: dict[str, Timing] = {}
    if args.merge:
        results = json.loads(Path(args.merge).read_text())
        timings = load_timings(results)
        for timing in timings.values():
            timing.run = timing.run or str(results["started"])
        base = {
            key: results.get(key) for key in ("started", "finished", "load_before", "load_after")
        }
        # each section keeps the run it was measured in, through any number of merges
        kept = results.setdefault("sections", {})
        assert isinstance(kept, dict)
        for name in SECTIONS:
            if name not in wanted and name not in kept:
                kept[name] = dict(base)
        results["merged_from"] = {**base, "path": Path(args.merge).name}
        for key in ("load_before", "load_after"):
            results.pop(key, None)  # this run's own are written below
    results.update(
        {
            "started": started,
            "load_before": load(),
            "machine": {**(results.get("machine") or {}), **machine()},  # type: ignore[dict-item]
            # the scale of the ingest figures (kept from the merged run when they are not re-run)
            "quick": args.quick if "ingest" in wanted else results.get("quick", args.quick),
            "this_run_quick": args.quick,
            "runs": args.runs,
            "sections_run": [name for name in SECTIONS if name in wanted],
        }
    )
    say(f"work folder {work}; load {results['load_before']}")
    # Byte-compile meterlog as an installed package is (pip does it on install), so that no run
    # compiles it again when bytecode is not written (PYTHONDONTWRITEBYTECODE, read-only trees).
    compileall.compile_dir(ROOT / "meterlog", quiet=1)
    notes: list[str] = []
    try:
        # -- inputs ------------------------------------------------------------------------
        need_big = bool(wanted & {"ingest", "goaccess", "duckdb"})
        need_json = bool(wanted & {"ingest", "stages", "json", "duckdb"})
        say(f"generating {big if need_big else small:,} combined and JSON lines (seed {args.seed})")
        combined_big = work / f"access-{big // 10**6}m.log"
        json_big = work / f"access-{big // 10**6}m.jsonl"
        combined_small = combined_big
        json_small = json_big
        if need_big or big == small:
            generate(combined_big, big, "combined", args.seed)
        if big != small:
            combined_small = work / "access-1m.log"
            if need_big:
                prefix_file(combined_big, combined_small, small)
            else:
                generate(combined_small, small, "combined", args.seed)
        if need_json:
            if wanted & {"ingest", "duckdb"} or big == small:
                generate(json_big, big, "json", args.seed)
            if big != small:
                json_small = work / "access-1m.jsonl"
                if wanted & {"ingest", "duckdb"}:
                    prefix_file(json_big, json_small, small)
                else:
                    generate(json_small, small, "json", args.seed)
        gz_big = work / f"{combined_big.name}.gz"
        if "ingest" in wanted:
            say("compressing with gzip -6 (as logrotate does)")
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "generate.py"),
                    "--gzip",
                    str(combined_big),
                    str(gz_big),
                ],
                check=True,
            )
        inputs = {
            "combined_1m": (combined_small, small),
            "json_1m": (json_small, small),
            "combined_gz_" + ("10m" if big != small else "1m"): (gz_big, big),
        }
        if big != small:
            inputs["combined_10m"] = (combined_big, big)
            inputs["json_10m"] = (json_big, big)
        inputs = {name: item for name, item in inputs.items() if item[0].exists()}
        results.setdefault("inputs", {}).update(  # type: ignore[union-attr]
            {
                name: {"path": path.name, "lines": lines, "bytes": path.stat().st_size}
                for name, (path, lines) in inputs.items()
            }
        )
        uncompressed = {gz_big: combined_big.stat().st_size} if gz_big.exists() else {}

        # -- meterlog ingest ---------------------------------------------------------------
        store = work / "store"

        def fresh_store() -> None:
            shutil.rmtree(store, ignore_errors=True)

        order = [
            "combined_1m",
            "combined_10m",
            "combined_gz_10m",
            "combined_gz_1m",
            "json_1m",
            "json_10m",
        ]
        if "ingest" in wanted:
            section_start(results, "ingest")
            for name in [n for n in order if n in inputs]:
                path, lines = inputs[name]
                say(f"meterlog ingest {path.name}")
                timing = Timing(
                    f"meterlog ingest {name}", lines, uncompressed.get(path, path.stat().st_size)
                )
                measure(
                    timing,
                    meterlog("ingest", "-q", "--store", str(store), str(path)),
                    args.runs,
                    fresh_store,
                )
                timings[timing.name] = timing
                if name == ("combined_10m" if big != small else "combined_1m"):
                    kept = work / "store-events"  # the store queried below
                    shutil.rmtree(kept, ignore_errors=True)
                    shutil.copytree(store, kept)
            fresh_store()
            section_end(results, "ingest")

        # -- GoAccess and a plain re loop on the same combined files -----------------------
        if "goaccess" in wanted:
            section_start(results, "goaccess")
            goaccess, goaccess_version = ensure_goaccess()
            results["goaccess"] = goaccess_version
            if goaccess is None:
                notes.append(f"GoAccess skipped: {goaccess_version}.")
            load_now = float(load().split()[0])
            run_10m = args.goaccess_10m == "yes" or (args.goaccess_10m == "auto" and load_now < 0.5)
            for name, runs in (("combined_1m", args.runs), ("combined_10m", 1)):
                if name not in inputs or goaccess is None:
                    continue
                if name == "combined_10m" and not run_10m:
                    say(f"goaccess on 10M lines not re-run (load {load_now}); recorded figure kept")
                    results["goaccess_10m_skipped"] = (
                        f"the 1-minute load average was {load_now}"
                        if args.goaccess_10m == "auto"
                        else "--goaccess-10m no"
                    )
                    continue
                path, lines = inputs[name]
                say(f"goaccess {path.name}")
                timing = Timing(f"goaccess {name}", lines, path.stat().st_size)
                output = work / "goaccess.json"
                measure(
                    timing, [goaccess, str(path), "--log-format=COMBINED", "-o", str(output)], runs
                )
                if name == "combined_10m":
                    timing.note = "one run: about two minutes each"
                timings[timing.name] = timing
            section_end(results, "goaccess")
        if big != small:
            carry_goaccess_10m(results, timings)
        if "re" in wanted:
            section_start(results, "re")
            path, lines = inputs["combined_1m"]
            say(f"python re loop {path.name}")
            timing = Timing("python re loop combined_1m", lines, path.stat().st_size)
            measure(timing, [sys.executable, str(HERE / "re_loop.py"), str(path)], args.runs)
            timings[timing.name] = timing
            section_end(results, "re")

        # -- DuckDB: the same file to Parquet with regexp_extract --------------------------
        if "duckdb" in wanted:
            section_start(results, "duckdb")
            results["duckdb"] = duckdb_section(inputs, work, args.runs, big != small)
            section_end(results, "duckdb")

        # -- fixed cost per run ------------------------------------------------------------
        if "startup" in wanted:
            section_start(results, "startup")
            say("fixed cost per run: start-up and a tiny ingest (median of 5 each)")
            done = subprocess.run(
                [sys.executable, str(HERE / "startup.py"), "--runs", "5"],
                capture_output=True,
                text=True,
            )
            results["startup"] = (
                json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-500:]}
            )
            section_end(results, "startup")

        # -- JSON lines through Arrow's JSON reader ----------------------------------------
        if "json" in wanted:
            section_start(results, "json")
            json_lines = 200_000 if args.quick else small
            say(f"JSON lines: Arrow's reader against meterlog's ({json_lines:,} lines)")
            done = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "json_reader.py"),
                    str(json_small),
                    str(json_lines),
                    "--runs",
                    str(args.runs),
                ],
                capture_output=True,
                text=True,
            )
            results["json_reader"] = (
                json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-500:]}
            )
            section_end(results, "json")

        # -- where the time goes -----------------------------------------------------------
        if "stages" in wanted:
            section_start(results, "stages")
            say("stage profile (one thread, 1M lines)")
            done = subprocess.run(
                [
                    sys.executable,
                    str(HERE / "stages.py"),
                    str(combined_small),
                    "combined",
                    str(small),
                ],
                capture_output=True,
                text=True,
            )
            results["stages"] = (
                json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-500:]}
            )
            done = subprocess.run(
                [sys.executable, str(HERE / "stages.py"), str(json_small), "json", str(small // 2)],
                capture_output=True,
                text=True,
            )
            results["stages_json"] = (
                json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-500:]}
            )
            section_end(results, "stages")

        # -- queries over the store --------------------------------------------------------
        month = "2026-10" if big != small else "2026-08"
        day = "2026-10-15" if big != small else "2026-08-05"
        available: set[str] = set()
        if "queries" in wanted or "small" in wanted:
            available = commands_available()
        if "queries" in wanted:
            section_start(results, "queries")
            events_store = work / "store-events"
            results["commands"] = sorted(available)
            plan = work / "plans.toml"
            plan.write_text(PLAN)
            queries = {
                "mau": ("mau", "--month", month, "-f", "csv"),
                "peak": (
                    "peak",
                    "--month",
                    month,
                    "--window",
                    "1h",
                    "--metric",
                    "requests",
                    "-f",
                    "csv",
                ),
                "bill": ("bill", "--period", month, "--plan", str(plan), "-f", "csv"),
                "usage one day": (
                    "usage",
                    "--since",
                    day,
                    "--until",
                    day,
                    "--by",
                    "hour",
                    "-f",
                    "csv",
                ),
                "usage all": ("usage", "--by", "month", "-f", "csv"),
                "usage by endpoint": ("usage", "--by", "endpoint", "-f", "csv"),
            }
            if events_store.exists():
                results["query_store"] = store_stats(events_store, month, day)
            for label, words in queries.items():
                command = words[0]
                timing = Timing(f"meterlog {label}")
                if command not in available:
                    timing.failed = "skipped: command not available"
                    timings[timing.name] = timing
                    continue
                say(f"meterlog {label}")
                measure(timing, meterlog(*words, "--store", str(events_store)), args.runs)
                timings[timing.name] = timing
            if "usage" in available:
                opened = opened_parquet_files(
                    meterlog(*queries["usage one day"], "--store", str(events_store))
                )
                if opened is not None:
                    days = {
                        match.group(1) for f in opened if (match := re.search(r"day=([\d-]+)", f))
                    }
                    results["pruning"] = {"files_opened": len(opened), "days_opened": sorted(days)}
                else:
                    notes.append(
                        "strace not available: the files the one-day query opens were not counted."
                    )
            section_end(results, "queries")

        # -- many small ingests, then maintain ---------------------------------------------
        if "small" in wanted:
            section_start(results, "small")
            pieces = 48
            say(f"{pieces} small ingests, then meterlog maintain")
            small_store = work / "store-small"
            shutil.rmtree(small_store, ignore_errors=True)
            piece_lines = 200_000 // pieces
            source = combined_small.read_bytes().splitlines(keepends=True)[: piece_lines * pieces]
            started = time.perf_counter()
            for index in range(pieces):
                piece = work / f"piece-{index:02d}.log"
                piece.write_bytes(b"".join(source[index * piece_lines : (index + 1) * piece_lines]))
                subprocess.run(
                    meterlog(
                        "ingest", "-q", "--no-compact", "--store", str(small_store), str(piece)
                    ),
                    check=True,
                )
            small_runs = time.perf_counter() - started
            before_files = store_stats(small_store, month, day).get("files")
            query = meterlog("usage", "--by", "day", "-f", "csv", "--store", str(small_store))
            before_query = Timing("usage before maintain")
            if "usage" in available:
                measure(before_query, query, args.runs)
            maintain_timing = Timing("meterlog maintain")
            if "maintain" in available:
                measure(
                    maintain_timing,
                    meterlog("maintain", "--retention", "0h", "--store", str(small_store)),
                    1,
                )
            after_query = Timing("usage after maintain")
            if "usage" in available:
                measure(after_query, query, args.runs)
            results["small_ingests"] = {
                "runs": pieces,
                "lines_each": piece_lines,
                "seconds_total": small_runs,
                "files_before": before_files,
                "files_after": store_stats(small_store, month, day).get("files"),
                "query_before": before_query.wall,
                "query_after": after_query.wall,
                "maintain": maintain_timing.wall,
            }
            section_end(results, "small")
    finally:
        results["load_after"] = load()
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["timings"] = {
            name: asdict(t) | {"median_wall": t.wall} for name, t in timings.items()
        }
        results["notes"] = notes
        out = HERE / "out"
        out.mkdir(exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"kept {work}")
    Path(args.output).write_text(report(results, timings))
    say(f"wrote {args.output}")


# -- the report ------------------------------------------------------------------------------

TARGETS = {
    "ingest_lines_per_s": 1_000_000,
    "ratio_goaccess": 10,
    "json_lines_per_s": 500_000,
    "gzip_slowdown": 1.5,
    "rss_bytes": 2**30,
    "bill_seconds": 3.0,
}


def fmt_rate(value: float) -> str:
    return "n/a" if value != value else f"{value:,.0f}"


def verdict(ok: bool | str | None) -> str:
    if isinstance(ok, str):
        return ok
    return "n/a" if ok is None else ("met" if ok else "**not met**")


DUCKDB_PROSE = (
    "What the DuckDB side does ([bench/duckdb_parquet.py](bench/duckdb_parquet.py), one `COPY ... "
    "TO ... (FORMAT parquet)` statement in a fresh process): reads the file's lines as one text "
    "column, takes the fields out with one `regexp_extract` of eleven named groups (RE2), parses "
    "the time with `strptime` and its `%z` offset to a UTC timestamp, casts status to SMALLINT and "
    "bytes to BIGINT, splits the request into method, path, query and protocol, turns `-` into "
    "null, and keeps a line that does not match whole in a `bad_line` column. After the timed "
    "runs, its rows are compared with meterlog's stored events of the same file "
    "(`--compare`: as a multiset, with nginx's `\\x22` in the user agent unescaped first, "
    "which meterlog does and the SQL does not). What it does not do, and meterlog does: remember "
    "what was read (a second run reads and writes everything again; meterlog reads only new "
    "lines, whatever rotation or compression), per-line provenance (source, byte offset, line "
    "number), detect the format or take an nginx `log_format`, unescape nginx's `\\xHH`, "
    "decompress by content, check the time window, a transactional Delta table partitioned by day "
    "that several runs can append to safely, and a record of the rejects with their reasons. "
    "For JSON lines (`--json`), DuckDB's `read_json` reads the generated keys with their types "
    "named (no sampling), skips a line that is not a JSON object (`ignore_errors`; a row of "
    "nulls, marked, its text not kept), parses the time with its offset and splits the request "
    "line with `regexp_extract`; its rows are compared with meterlog's events (request time "
    "too), its skipped lines only counted against meterlog's rejects. meterlog reads any keys "
    "(mapped by name, preset or `--json-field`, nested ones too), judges each number on its own "
    "line, and keeps up to 64 other keys as columns."
)


def report_duckdb(results: dict[str, object], measured: list[str]) -> list[str]:
    section = results.get("duckdb")
    if not isinstance(section, dict):
        return []
    lines = ["", "## Against DuckDB (`regexp_extract` and `read_json` to Parquet)", "", *measured]
    if "error" in section:
        return [*lines, f"Not measured: {section['error']}."]
    lines += [
        f"The same generated file, the same machine, in the same run: each run is a whole "
        f"`meterlog ingest` into a new store, then a whole DuckDB {section['version']} process "
        "(`python bench/duckdb_parquet.py [--json] FILE OUT.parquet`), alternating, "
        f"{len(next(iter(section['files'].values()))['meterlog']['walls'])} runs each; medians.",
        "",
        "| file | lines | meterlog s | DuckDB s | meterlog lines/s | DuckDB lines/s | meterlog MB/s | meterlog / DuckDB | CPU s meterlog / DuckDB | peak RSS meterlog / DuckDB | output MB: Delta events / Parquet |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    checks = []
    for name, item in section["files"].items():
        meter = Timing(**item["meterlog"])
        duck = Timing(**item["duckdb"])
        if meter.failed or duck.failed or not meter.walls or not duck.walls:
            lines.append(f"| {name} | {meter.lines:,} | failed: {meter.failed or duck.failed} |")
            continue
        lines.append(
            f"| {name} | {meter.lines:,} | {meter.wall:.2f} | {duck.wall:.2f} | "
            f"{fmt_rate(meter.lines_per_s)} | {fmt_rate(duck.lines_per_s)} | "
            f"{meter.mb_per_s:,.1f} | "
            f"**{meter.lines_per_s / duck.lines_per_s:.2f}x** | {meter.cpu:.1f} / {duck.cpu:.1f} | "
            f"{meter.peak_rss / 2**20:,.0f} / "
            f"{duck.peak_rss / 2**20:,.0f} MiB | {item['store_bytes'] / MB:,.0f} / "
            f"{item['parquet_bytes'] / MB:,.0f} |"
        )
        compared = item.get("compare") or {}
        if "same_rows" in compared:
            checks.append(
                f"{name}: DuckDB's {compared['duckdb_rows']:,} rows "
                + ("are" if compared["same_rows"] else "are **not**")
                + f" meterlog's {compared['events']:,} events, and its {compared['duckdb_bad_lines']:,} "
                + ("unmatched lines " if not name.startswith("json") else "lines not read ")
                + ("are" if compared["same_bad_lines"] else "are **not**")
                + f" meterlog's {compared['rejects']:,} rejects"
            )
        elif compared:
            checks.append(f"{name}: the comparison failed ({compared.get('error')})")
    lines += [
        "",
        "A ratio above 1 means meterlog is faster (wall time; the CPU seconds, user plus system "
        "of the whole process, are less sensitive to other work on the machine). Same output: "
        + "; ".join(checks)
        + ".",
        "",
        DUCKDB_PROSE,
    ]
    return lines


def report_startup(
    results: dict[str, object], measured: list[str]
) -> tuple[list[str], tuple[str, str, bool | str | None] | None]:
    """The fixed-cost section and the `meterlog --help` target row."""
    section = results.get("startup")
    if not isinstance(section, dict):
        return [], None
    lines = ["", "## Fixed cost per run", "", *measured]
    if "error" in section:
        return [*lines, f"Not measured: {section['error']}"], None
    cpus = (results.get("machine") or {}).get("cpus") or 1  # type: ignore[union-attr]
    lines += [
        f"Whole processes of the installed program (`{Path(section['program']).name}`, "
        f"[bench/startup.py](bench/startup.py)), {section['runs']} runs of each, medians; CPU is user "
        "plus system time, which waiting for a busy core does not inflate. The 1-minute load "
        f"average is read just before each command's runs (the machine has {cpus} cores).",
        "",
        "| command | wall s | CPU s | load (1 min) before |",
        "| --- | ---: | ---: | ---: |",
    ]
    tiny = section["tiny_ingest"]
    rows = [
        *section["commands"],
        {**tiny, "command": f"`meterlog ingest` of {tiny['lines']} lines into a new store"},
    ]
    for row in rows:
        command = row["command"] if row["command"].startswith("`") else f"`{row['command']}`"
        lines.append(
            f"| {command} | {row['wall']:.3f} | {row['cpu']:.3f} | {row['load1_before']:.2f} |"
        )
    imported = section.get("import") or {}
    heavy = imported.get("heavy_loaded") or []
    slowest = [x for x in imported.get("slowest", []) if x["us"] >= 1000][:4]
    lines += [
        "",
        f'`python -X importtime -c "import meterlog.cli"`: {imported.get("meterlog_cli_us", 0) / 1000:.0f} ms '
        "for `meterlog.cli` and what it imports; "
        + (
            "it loads " + ", ".join(heavy)
            if heavy
            else "it loads none of Polars, PyArrow, NumPy and deltalake"
        )
        + (
            "; the slowest modules it imports: "
            + ", ".join(f"{x['module']} {x['us'] / 1000:.0f} ms" for x in slowest)
            if slowest
            else ""
        )
        + ".",
    ]
    help_run = next(
        (row for row in section["commands"] if row["command"] == "meterlog --help"), None
    )
    row = None
    if help_run:
        idle = help_run["load1_before"] < 0.5 * cpus
        figure = f"{help_run['wall']:.3f} s ({help_run['cpu']:.3f} s CPU) at load {help_run['load1_before']:.2f}"
        ok: bool | str = help_run["wall"] < 0.15 if idle else "not judged: the machine was busy"
        row = ("`meterlog --help` < 0.15 s (median of 5, idle machine)", figure, ok)
    return lines, row


def report_json(results: dict[str, object], measured: list[str]) -> list[str]:
    section = results.get("json_reader")
    if not isinstance(section, dict):
        return []
    lines = ["", "## JSON lines through Arrow's JSON reader (a trial)", "", *measured]
    if "error" in section:
        return [*lines, f"Not measured: {section['error']}"]
    lines += [
        "[bench/json_reader.py](bench/json_reader.py) parses the generated JSON lines in 16 MiB "
        "chunks of lines, as `meterlog ingest` does, in one process (parsing only: no reading, "
        "no commits) with: meterlog's JSON-lines parser as it is; the same parser with its "
        "decoding step (validate and normalise each line, then `json_decode` with an inferred "
        "schema) replaced by `pyarrow.json.read_json` on the chunk's bytes with an explicit schema "
        "(the generated keys; an unknown key is an error), falling back to meterlog's own decoding "
        "for a chunk Arrow refuses; and that again with the lines that are not `{...}` rejected "
        "first (meterlog's own first check), so that a line cut short does not send its chunk to "
        f"the fallback. Medians of {results.get('runs')} runs; CPU is the process's user plus "
        "system time (both readers use both cores).",
        "",
        "| input | lines | parser | seconds | lines/s | CPU µs per line | chunks to the fallback | same events and rejects as meterlog |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for label in ("generated", "clean"):
        data = section.get(label)
        if not isinstance(data, dict):
            continue
        title = (
            "as generated (1 line in 10,000 cut short)"
            if label == "generated"
            else "clean lines only"
        )
        for name, v in data["variants"].items():
            fallback = "" if v["fallbacks"] is None else f"{v['fallbacks']} of {v['chunks']}"
            lines.append(
                f"| {title} | {data['lines']:,} | {name} | {v['wall']:.2f} | "
                f"{fmt_rate(v['lines_per_s'])} | {v['cpu_us_per_line']:.2f} | {fallback} | "
                f"{'yes' if v['same_as_meterlog'] else '**no**'} |"
            )
    decode = section.get("decode_only")
    if isinstance(decode, dict):
        a, b = decode["arrow read_json"], decode["meterlog validate + decode"]
        lines += [
            "",
            f"Decoding alone, clean lines: `read_json` of each chunk's bytes {fmt_rate(a['lines_per_s'])} "
            f"lines/s ({a['cpu'] / decode['lines'] * 1e6:.2f} CPU-µs per line), meterlog's validate "
            f"and decode step {fmt_rate(b['lines_per_s'])} lines/s "
            f"({b['cpu'] / decode['lines'] * 1e6:.2f} CPU-µs per line).",
        ]
    odd = section.get("differences") or []
    if odd:
        lines += [
            "",
            "Where the two readers differ: 21 lines, one of them odd, parsed both ways (the Arrow "
            "parser falls back to meterlog's decoding when Arrow refuses the chunk):",
            "",
            "| the odd line | meterlog | Arrow's reader alone | the Arrow parser fell back | same result |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in odd:
            lines.append(
                f"| {row['case']} | {row['meterlog']} | {row['arrow_reader']} | "
                f"{'yes' if row['fell_back'] else 'no'} | {'yes' if row['same_result'] else '**no**'} |"
            )
        whole = [row["case"] for row in odd if row["meterlog"].startswith("0 events")]
        if whole:
            lines += [
                "",
                "In "
                + ", ".join(f"'{case}'" for case in whole)
                + ", meterlog rejects all 21 lines, not only the odd one (`bad_number`): one "
                "value decoded as a float or text makes the whole column of the chunk so, and "
                "`200` then reads `200.0`. In a real chunk that is tens of thousands of good "
                "lines rejected, or the whole file refused by `--max-reject-ratio`.",
            ]
    return lines


def report(results: dict[str, object], timings: dict[str, Timing]) -> str:
    m = results["machine"]
    assert isinstance(m, dict)
    t = timings.get
    big = "combined_1m" if results["quick"] else "combined_10m"
    ingest_big = t(f"meterlog ingest {big}")
    ingest_small = t("meterlog ingest combined_1m")
    gz = t("meterlog ingest combined_gz_" + ("1m" if results["quick"] else "10m"))
    json_big = t("meterlog ingest json_" + ("1m" if results["quick"] else "10m"))
    ga_small = t("goaccess combined_1m")
    ga_big = t("goaccess combined_10m")
    re_small = t("python re loop combined_1m")
    sections_run = list(results.get("sections_run") or SECTIONS)  # type: ignore[call-overload]
    merged = results.get("merged_from")
    merged = merged if isinstance(merged, dict) else None
    sections = results.get("sections")
    sections = sections if isinstance(sections, dict) else {}

    def section_run(section: str) -> str:
        """The start of the run a section's figures come from ("" for this run)."""
        if section in sections_run or not merged:
            return ""
        info = sections.get(section) or merged
        return str(info["started"])

    def measured(section: str, always: bool = False) -> list[str]:
        """One sentence on when a section was measured, under what load (as a list of lines)."""
        if section not in sections_run:
            info = sections.get(section) or merged
            if not info:
                return []
            return [
                f"Carried over from the run of {info['started']} (load average before it "
                f"{info['load_before']}), not re-run this time.",
                "",
            ]
        info = sections.get(section)
        if not (merged or always) or not isinstance(info, dict):
            return []
        return [
            f"Measured {info['started']} .. {info.get('finished', '?')}, load average (1, 5, 15 "
            f"min) before {info['load_before']}, after {info.get('load_after', '?')}, on "
            f"{m.get('cpus')} cores.",
            "",
        ]

    mode = "quick (1M lines)" if results.get("this_run_quick", results["quick"]) else "full"
    if merged:
        origin = results.get("recorded_from")
        run_line = (
            f"Run: {results['started']} .. {results['finished']}, {mode}, sections "
            f"{', '.join(sections_run)}; the other figures are carried over from earlier runs "
            f"([bench/{merged['path']}](bench/{merged['path']})"
            + (f"; those of 2026-11-25 are {origin}" if origin else "")
            + "), as each section says."
        )
    else:
        run_line = f"Run: {results['started']} .. {results['finished']}, {mode}."
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python bench/run.py`); see [bench/run.py](bench/run.py) for what is "
        "measured and how. Inputs are generated with a fixed seed ([bench/generate.py](bench/generate.py)): "
        "nginx `combined` lines (about 164 bytes each) spread over August to October 2026, one line in "
        "10,000 damaged, and the same requests as JSON lines (about 300 bytes each). Every ingest is "
        "a whole process (`python -m meterlog ingest -q --store NEW_STORE FILE`: start-up, parsing, "
        f"Delta commits), the median of {results['runs']} runs; peak RSS is the largest of the runs. "
        "meterlog's modules are byte-compiled first, as an installed package's are.",
        "",
        run_line,
        "",
        "## Machine",
        "",
        f"* CPU: {m.get('cpu', '?')}, {m.get('cpus')} cores ({m.get('cpus_usable')} usable by this process)",
        f"* RAM: {m.get('ram_gib', '?')} GiB",
        f"* Load average (1, 5, 15 min) before this run: {results['load_before']}; after: "
        f"{results['load_after']} (the machine is shared; other work running at the same time "
        "slows every figure down)",
        f"* {m.get('platform')}; Python {m.get('python')}, Polars {m.get('polars')}, deltalake "
        f"{m.get('deltalake')}, PyArrow {m.get('pyarrow')}, isal {m.get('isal')}, GoAccess {results.get('goaccess')}",
        "",
        "## Ingest",
        "",
        *measured("ingest"),
        "| input | lines | MB | seconds | lines/s | MB/s | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    skipped = results.get("goaccess_10m_skipped")
    for timing in timings.values():
        if not timing.name.startswith(("meterlog ingest", "goaccess", "python re")):
            continue
        if timing.failed:
            lines.append(f"| {timing.name} | {timing.lines:,} | | failed: {timing.failed} | | | |")
            continue
        section = timing.name.split()[0].replace("meterlog", "ingest").replace("python", "re")
        notes = [timing.note] if timing.note else []
        if timing.run and timing.run != section_run(section):
            notes.append(
                f"from the run of {timing.run[:10]}"
                + (f", not re-run: {skipped}" if skipped and "10m" in timing.name else "")
            )
        lines.append(
            f"| {timing.name}{' (' + '; '.join(notes) + ')' if notes else ''} | {timing.lines:,} | "
            f"{timing.size / MB:,.0f} | {timing.wall:.2f} | {fmt_rate(timing.lines_per_s)} | "
            f"{timing.mb_per_s:,.1f} | {timing.peak_rss / 2**20:,.0f} MiB |"
        )
    lines += ["", "Ratios:", ""]

    def ratio(a: Timing | None, b: Timing | None) -> float:
        if not a or not b or not a.walls or not b.walls:
            return float("nan")
        return a.lines_per_s / b.lines_per_s

    r_ga_small, r_ga_big, r_re = (
        ratio(ingest_small, ga_small),
        ratio(ingest_big, ga_big),
        ratio(ingest_small, re_small),
    )
    recorded = results.get("goaccess_10m_recorded")
    same_run = ""
    if ga_big and ga_big.run and isinstance(recorded, dict) and ingest_big is not ingest_small:
        r_ga_big = float(recorded["ratio"])
        same_run = (
            f" (both from the run of {str(recorded['run'])[:10]}: meterlog "
            f"{recorded['meterlog_wall']:.2f} s, GoAccess {recorded['goaccess_wall']:.2f} s)"
        )
    lines += [
        f"* meterlog / GoAccess, 1M lines: **{r_ga_small:.1f}x**",
        f"* meterlog / GoAccess, {big.split('_')[1].upper()} lines: **{r_ga_big:.1f}x**{same_run}"
        if ga_big
        else "",
        f"* meterlog / plain Python `re` loop, 1M lines: **{r_re:.1f}x**",
    ]
    if (
        ingest_small
        and ingest_big
        and ingest_small.walls
        and ingest_big.walls
        and ingest_big is not ingest_small
    ):
        # time = fixed + lines * per_line, solved from the two sizes
        scale = ingest_big.lines / ingest_small.lines
        fixed = (scale * ingest_small.wall - ingest_big.wall) / (scale - 1)
        per_line = (ingest_big.wall - fixed) / ingest_big.lines
        lines.append(
            f"* linearity: 10M lines take {ingest_big.wall / ingest_small.wall:.1f}x the time of 1M "
            f"({fmt_rate(ingest_small.lines_per_s)} vs {fmt_rate(ingest_big.lines_per_s)} lines/s). "
            f"As a straight line through both: a fixed {fixed:.2f} s per run (start-up, imports, "
            f"opening the store) plus {fmt_rate(1 / per_line)} lines/s, so the fixed part weighs "
            "more on 1M"
        )
    if gz and ingest_big and gz.walls and ingest_big.walls:
        lines.append(f"* gzip input: {gz.wall / ingest_big.wall:.2f}x the time of the plain file")
    lines += report_duckdb(results, measured("duckdb", always=True))
    startup_lines, help_row = report_startup(results, measured("startup", always=True))
    lines += startup_lines
    lines += ["", "## Reports over the store", "", *measured("queries")]
    store = results.get("query_store")
    if isinstance(store, dict):
        lines.append(
            f"The store written by the last {big.replace('_', ' ')} ingest: {store['rows']:,} events over "
            f"{store['days']} days in {store['files']:,} data files; the billed month {store['month']} holds "
            f"{store['in_month']:,} of them, the queried day {store['day']} {store['in_day']:,} "
            f"({store['files_in_day']} files)."
        )
        lines.append("")
    lines += ["| command | seconds (median) | peak RSS |", "| --- | ---: | ---: |"]
    for name in (
        "meterlog mau",
        "meterlog peak",
        "meterlog bill",
        "meterlog usage one day",
        "meterlog usage all",
        "meterlog usage by endpoint",
    ):
        timing = timings.get(name)
        if timing is None:
            continue
        if timing.failed:
            lines.append(f"| `{name[9:]}` | {timing.failed} | |")
        else:
            lines.append(
                f"| `{name[9:]}` | {timing.wall:.2f} | {timing.peak_rss / 2**20:,.0f} MiB |"
            )
    pruning = results.get("pruning")
    if isinstance(pruning, dict) and isinstance(store, dict):
        lines += [
            "",
            f"Partition pruning: the one-day `usage` query opened {pruning['files_opened']} Parquet "
            f"file(s), all of day(s) {', '.join(pruning['days_opened']) or 'none'} (the store has "
            f"{store['files']:,} files over {store['days']} days), counted with `strace -e openat`.",
        ]
    small = results.get("small_ingests")
    if isinstance(small, dict):
        lines += [
            "",
            "## Many small ingests, then `meterlog maintain`",
            "",
            *measured("small"),
            f"{small['runs']} ingest runs of {small['lines_each']:,} lines each into a new store "
            f"(`--no-compact`, {small['seconds_total']:.1f} s in all) left {small['files_before']} data "
            f"files; `meterlog maintain --retention 0h` took {small['maintain']:.2f} s and left "
            f"{small['files_after']}. `usage --by day` over it: {small['query_before']:.2f} s before, "
            f"{small['query_after']:.2f} s after. (With the default `--compact`, each run compacts a day "
            "partition once it holds more than 16 files.)",
        ]
    lines += ["", "## Targets", "", "| target | measured | |", "| --- | --- | --- |"]

    def ran(*items: Timing | None) -> bool:
        return all(item is not None and item.walls for item in items)

    rss = max((x.peak_rss for x in (ingest_big, gz, json_big) if ran(x)), default=0)
    bill = timings.get("meterlog bill")
    goaccess_ratio = r_ga_big if ran(ga_big) else r_ga_small
    rows: list[tuple[str, str, bool | str | None]] = [
        (
            "ingest of nginx combined ≥ 1,000,000 lines/s end to end (10M-line file)",
            f"{fmt_rate(ingest_big.lines_per_s)} lines/s" if ran(ingest_big) else "n/a",
            ingest_big.lines_per_s >= TARGETS["ingest_lines_per_s"] if ran(ingest_big) else None,
        ),
        (
            "≥ 10x GoAccess's whole-process rate on the same file",
            f"{goaccess_ratio:.1f}x",
            goaccess_ratio >= TARGETS["ratio_goaccess"]
            if goaccess_ratio == goaccess_ratio
            else None,
        ),
        (
            "JSON lines ≥ 500,000 lines/s",
            f"{fmt_rate(json_big.lines_per_s)} lines/s" if ran(json_big) else "n/a",
            json_big.lines_per_s >= TARGETS["json_lines_per_s"] if ran(json_big) else None,
        ),
        (
            "gzip no more than 1.5x slower than plain",
            f"{gz.wall / ingest_big.wall:.2f}x" if ran(gz, ingest_big) else "n/a",
            gz.wall / ingest_big.wall <= TARGETS["gzip_slowdown"] if ran(gz, ingest_big) else None,
        ),
        (
            "peak RSS < 1 GiB on the 10M-line file, not growing with size",
            f"{rss / 2**20:,.0f} MiB (1M: {ingest_small.peak_rss / 2**20:,.0f} MiB)"
            if ran(ingest_small)
            else "n/a",
            rss < TARGETS["rss_bytes"] if rss else None,
        ),
        (
            "`meterlog bill` for one month over 10M stored events < 3 s",
            f"{bill.wall:.2f} s" if ran(bill) else (bill.failed if bill else "n/a"),
            bill.wall < TARGETS["bill_seconds"] if ran(bill) else None,
        ),
    ]
    if help_row:
        rows.append(help_row)
    for name, figure, ok in rows:
        lines.append(f"| {name} | {figure} | {verdict(ok)} |")
    stages = results.get("stages")
    if isinstance(stages, dict) and "stages" in stages:
        lines += [
            "",
            "## Where the time goes",
            "",
            *measured("stages"),
            f"CPU time per line of each stage, ingesting {stages['lines']:,} combined lines on one "
            f"thread ([bench/stages.py](bench/stages.py)): {stages['cpu_seconds']:.2f} CPU-seconds, "
            f"{stages['cpu_seconds'] / max(stages['lines'], 1) * 1e6:.2f} µs per line. Indented rows "
            "are Polars steps inside the stage above them.",
            "",
            "| stage | µs per line |",
            "| --- | ---: |",
        ]
        for name, value in stages["stages"].items():
            label = f"&nbsp;&nbsp;{name.strip()}" if name.startswith(" ") else name
            lines.append(f"| {label} | {value['us_per_line']:.3f} |")
    stages_json = results.get("stages_json")
    if isinstance(stages_json, dict) and "stages" in stages_json:
        top = list(stages_json["stages"].items())[:6]
        lines += [
            "",
            f"JSON lines, same way ({stages_json['lines']:,} lines): "
            f"{stages_json['cpu_seconds'] / max(stages_json['lines'], 1) * 1e6:.2f} µs per line; "
            + ", ".join(f"{name.strip()} {value['us_per_line']:.2f}" for name, value in top)
            + ".",
        ]
    lines += report_json(results, measured("json", always=True))
    notes = results.get("notes") or []
    if notes:
        lines += ["", "## Notes from this run", ""] + [f"* {note}" for note in notes]  # type: ignore[union-attr]
    discussion = HERE / "discussion.md"
    if discussion.exists():
        lines += ["", discussion.read_text(encoding="utf-8").strip()]
    watch = HERE / "watch.md"  # written by bench/watch.py (minutes long, run on its own)
    if watch.exists():
        lines += ["", watch.read_text(encoding="utf-8").strip()]
    scrapes = HERE / "metrics_scrapes.md"  # written by bench/metrics_scrapes.py
    if scrapes.exists():
        lines += ["", scrapes.read_text(encoding="utf-8").strip()]
    lines.append("")
    return "\n".join(line for line in lines if line is not None)


if __name__ == "__main__":
    main()
