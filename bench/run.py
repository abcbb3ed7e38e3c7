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

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

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


def time_command(command: list[str]) -> tuple[float, int, str, str, int]:
    """Wall seconds, peak RSS in bytes (of the command and its children), stdout, stderr, exit
    code. GNU time measures the command as a child of its own; without it, the rusage of the
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
        return wall, peak, out.read(), err.read(), process.returncode


def meterlog(*args: str) -> list[str]:
    return [sys.executable, "-m", "meterlog", *args]


def measure(timing: Timing, command: list[str], runs: int, before: object = None) -> Timing:
    for number in range(runs):
        if callable(before):
            before()
        wall, peak, out, err, code = time_command(command)
        if code != 0:
            last = (err.strip() or out.strip()).splitlines()
            timing.failed = last[-1] if last else f"exit {code}"
            say(f"  {timing.name}: failed ({code}): {timing.failed}")
            break
        timing.walls.append(wall)
        timing.rss.append(peak)
        say(f"  {timing.name} run {number + 1}/{runs}: {wall:.2f} s, {peak / 2**20:.0f} MiB")
    return timing


def generate(path: Path, lines: int, kind: str, seed: int) -> Path:
    """Generate a log in a child process (this one stays small)."""
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
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--report-from", metavar="JSON", help="only write the report from a results.json"
    )
    args = parser.parse_args()
    if args.report_from:
        saved = json.loads(Path(args.report_from).read_text())
        fields = set(Timing.__dataclass_fields__)
        timings = {
            name: Timing(**{k: v for k, v in value.items() if k in fields})
            for name, value in saved["timings"].items()
        }
        Path(args.output).write_text(report(saved, timings))
        return

    big = 1_000_000 if args.quick else 10_000_000
    small = 1_000_000
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="meterlog-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    need = (1 if args.quick else 9) * 2**30
    free = shutil.disk_usage(work).free
    if free < need:
        sys.exit(
            f"{work}: {free / 2**30:.1f} GiB free, the benchmark needs about {need / 2**30:.0f} GiB; use --dir"
        )
    results: dict[str, object] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_before": load(),
        "machine": machine(),
        "quick": args.quick,
        "runs": args.runs,
    }
    say(f"work folder {work}; load {results['load_before']}")
    # Byte-compile meterlog as an installed package is (pip does it on install), so that no run
    # compiles it again when bytecode is not written (PYTHONDONTWRITEBYTECODE, read-only trees).
    compileall.compile_dir(ROOT / "meterlog", quiet=1)
    timings: dict[str, Timing] = {}
    notes: list[str] = []
    try:
        # -- inputs ------------------------------------------------------------------------
        say(f"generating {big:,} combined and JSON lines (seed {args.seed})")
        combined_big = generate(work / f"access-{big // 10**6}m.log", big, "combined", args.seed)
        json_big = generate(work / f"access-{big // 10**6}m.jsonl", big, "json", args.seed)
        combined_small = combined_big
        json_small = json_big
        if big != small:
            combined_small = prefix_file(combined_big, work / "access-1m.log", small)
            json_small = prefix_file(json_big, work / "access-1m.jsonl", small)
        say("compressing with gzip -6 (as logrotate does)")
        gz_big = work / f"{combined_big.name}.gz"
        subprocess.run(
            [sys.executable, str(HERE / "generate.py"), "--gzip", str(combined_big), str(gz_big)],
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
        results["inputs"] = {
            name: {"path": path.name, "lines": lines, "bytes": path.stat().st_size}
            for name, (path, lines) in inputs.items()
        }
        uncompressed = {gz_big: combined_big.stat().st_size}

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

        # -- GoAccess and a plain re loop on the same combined files -----------------------
        goaccess, goaccess_version = ensure_goaccess()
        results["goaccess"] = goaccess_version
        if goaccess is None:
            notes.append(f"GoAccess skipped: {goaccess_version}.")
        for name, runs in (("combined_1m", args.runs), ("combined_10m", 1)):
            if name not in inputs or goaccess is None:
                continue
            path, lines = inputs[name]
            say(f"goaccess {path.name}")
            timing = Timing(f"goaccess {name}", lines, path.stat().st_size)
            output = work / "goaccess.json"
            measure(timing, [goaccess, str(path), "--log-format=COMBINED", "-o", str(output)], runs)
            if name == "combined_10m":
                timing.note = "one run: about two minutes each"
            timings[timing.name] = timing
        path, lines = inputs["combined_1m"]
        say(f"python re loop {path.name}")
        timing = Timing("python re loop combined_1m", lines, path.stat().st_size)
        measure(timing, [sys.executable, str(HERE / "re_loop.py"), str(path)], args.runs)
        timings[timing.name] = timing

        # -- where the time goes -----------------------------------------------------------
        say("stage profile (one thread, 1M lines)")
        done = subprocess.run(
            [sys.executable, str(HERE / "stages.py"), str(combined_small), "combined", str(small)],
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

        # -- queries over the store --------------------------------------------------------
        events_store = work / "store-events"
        available = commands_available()
        results["commands"] = sorted(available)
        plan = work / "plans.toml"
        plan.write_text(PLAN)
        month = "2026-10" if big != small else "2026-08"
        day = "2026-10-15" if big != small else "2026-08-05"
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
            "usage one day": ("usage", "--since", day, "--until", day, "--by", "hour", "-f", "csv"),
            "usage all": ("usage", "--by", "month", "-f", "csv"),
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
                days = {match.group(1) for f in opened if (match := re.search(r"day=([\d-]+)", f))}
                results["pruning"] = {"files_opened": len(opened), "days_opened": sorted(days)}
            else:
                notes.append(
                    "strace not available: the files the one-day query opens were not counted."
                )

        # -- many small ingests, then maintain ---------------------------------------------
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
                meterlog("ingest", "-q", "--no-compact", "--store", str(small_store), str(piece)),
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


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


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
        f"Run: {results['started']} .. {results['finished']}, {'quick (1M lines)' if results['quick'] else 'full'}.",
        "",
        "## Machine",
        "",
        f"* CPU: {m.get('cpu', '?')}, {m.get('cpus')} cores ({m.get('cpus_usable')} usable by this process)",
        f"* RAM: {m.get('ram_gib', '?')} GiB",
        f"* Load average (1, 5, 15 min) before: {results['load_before']}; after: {results['load_after']} "
        "(the machine is shared; other work running at the same time slows every figure down)",
        f"* {m.get('platform')}; Python {m.get('python')}, Polars {m.get('polars')}, deltalake "
        f"{m.get('deltalake')}, PyArrow {m.get('pyarrow')}, isal {m.get('isal')}, GoAccess {results.get('goaccess')}",
        "",
        "## Ingest",
        "",
        "| input | lines | MB | seconds | lines/s | MB/s | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for timing in timings.values():
        if not timing.name.startswith(("meterlog ingest", "goaccess", "python re")):
            continue
        if timing.failed:
            lines.append(f"| {timing.name} | {timing.lines:,} | | failed: {timing.failed} | | | |")
            continue
        lines.append(
            f"| {timing.name}{' (' + timing.note + ')' if timing.note else ''} | {timing.lines:,} | "
            f"{timing.size / MB:,.0f} | {timing.wall:.2f} | {fmt_rate(timing.lines_per_s)} | "
            f"{timing.mb_per_s:,.1f} | {timing.peak_rss / 2**20:,.0f} MiB |"
        )
    lines += ["", "Ratios measured in this run:", ""]

    def ratio(a: Timing | None, b: Timing | None) -> float:
        if not a or not b or not a.walls or not b.walls:
            return float("nan")
        return a.lines_per_s / b.lines_per_s

    r_ga_small, r_ga_big, r_re = (
        ratio(ingest_small, ga_small),
        ratio(ingest_big, ga_big),
        ratio(ingest_small, re_small),
    )
    lines += [
        f"* meterlog / GoAccess, 1M lines: **{r_ga_small:.1f}x**",
        f"* meterlog / GoAccess, {big.split('_')[1].upper()} lines: **{r_ga_big:.1f}x**"
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
    lines += ["", "## Reports over the store", ""]
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
    rows: list[tuple[str, str, bool | None]] = [
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
    for name, measured, ok in rows:
        lines.append(f"| {name} | {measured} | {verdict(ok)} |")
    stages = results.get("stages")
    if isinstance(stages, dict) and "stages" in stages:
        lines += [
            "",
            "## Where the time goes",
            "",
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
    notes = results.get("notes") or []
    if notes:
        lines += ["", "## Notes from this run", ""] + [f"* {note}" for note in notes]  # type: ignore[union-attr]
    discussion = HERE / "discussion.md"
    if discussion.exists():
        lines += ["", discussion.read_text(encoding="utf-8").strip()]
    watch = HERE / "watch.md"  # written by bench/watch.py (minutes long, run on its own)
    if watch.exists():
        lines += ["", watch.read_text(encoding="utf-8").strip()]
    lines.append("")
    return "\n".join(line for line in lines if line is not None)


if __name__ == "__main__":
    main()
