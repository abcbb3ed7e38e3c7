"""Rotation under load: a writer that numbers its lines, a rotator, ``meterlog watch``
following the folder (optionally killed and restarted), then one catch-up ``meterlog ingest``;
every number must be stored exactly once.

    python bench/rotation.py --mode copytruncate --rate 4000 --every 0.4 --seconds 30 --runs 3
    python bench/rotation.py --mode rename --kill-every 3

The writer appends with ``O_APPEND`` as nginx does. Rotation is done by the same process
between two writes, so no line is lost by the rotation itself (with a real logrotate a line
written between copy and truncate is lost to every reader): every line written survives in
``access.log`` or one of its rotated files, and the store must hold each exactly once.
``copytruncate`` copies to ``access.log.1`` and truncates; ``rename`` renames and reopens.
Older files are shifted to ``.2``, ``.3`` ... and compressed with gzip from ``.2`` on
(logrotate's ``delaycompress``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def line(number: int) -> str:
    second = number // 1000
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(1_796_000_000 + second))
    return (
        f"10.1.{number % 200}.{number % 7} - u{number % 97} [{stamp}] "
        f'"GET /v1/items/{number} HTTP/1.1" 200 {number % 900} "-" "probe/1.0"\n'
    )


def shift(logs: Path, keep: int = 500) -> None:
    """``access.log.N[.gz]`` -> ``N+1``; ``.2`` and older compressed."""
    base = logs / "access.log"
    for n in range(keep, 0, -1):
        for suffix in ("", ".gz"):
            old = Path(f"{base}.{n}{suffix}")
            if not old.exists():
                continue
            if n == keep:
                old.unlink()
                continue
            new = Path(f"{base}.{n + 1}{suffix}")
            if suffix == "" and n + 1 >= 2:
                data = old.read_bytes()
                tmp = Path(f"{base}.{n + 1}.gz.tmp")
                tmp.write_bytes(gzip.compress(data, compresslevel=1))
                os.replace(tmp, f"{base}.{n + 1}.gz")
                old.unlink()
            else:
                os.replace(old, new)


def write(logs: Path, mode: str, rate: int, every: float, seconds: float) -> int:
    """Write numbered lines for ``seconds``; the number of lines written."""
    path = logs / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    number = 0
    start = time.monotonic()
    next_rotation = start + every
    tick = 0.01
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        due = int((now - start) * rate)
        if due > number:
            os.write(fd, "".join(line(n) for n in range(number, due)).encode())
            number = due
        if now >= next_rotation:
            shift(logs)
            if mode == "copytruncate":
                shutil.copyfile(path, f"{path}.1")
                os.truncate(path, 0)
            else:
                os.close(fd)
                os.rename(path, f"{path}.1")
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            next_rotation += every
        time.sleep(tick)
    os.close(fd)
    return number


def stored_numbers(store: Path) -> Counter[int]:
    sys.path.insert(0, str(REPO))
    from meterlog.store import Store

    paths = Store(str(store)).scan_events().select("path").collect().get_column("path")
    return Counter(int(p.rsplit("/", 1)[1]) for p in paths.to_list())


def run_once(
    work: Path, mode: str, rate: int, every: float, seconds: float, kill_every: float
) -> dict[str, object]:
    if work.exists():
        shutil.rmtree(work)
    logs, store = work / "logs", work / "store"
    logs.mkdir(parents=True)
    (logs / "access.log").touch()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [
        sys.executable,
        "-m",
        "meterlog",
        "watch",
        "--store",
        str(store),
        "--no-dashboard",
        "--quiet",
        "--interval",
        "0.5",
        "--input-format",
        "combined",
        str(logs),
    ]
    log = (work / "watch.log").open("w")
    watch = subprocess.Popen(command, env=env, stderr=log, stdout=log)
    kills = 0
    import threading

    result: dict[str, int] = {}
    writer = threading.Thread(
        target=lambda: result.update(written=write(logs, mode, rate, every, seconds))
    )
    writer.start()
    last_kill = time.monotonic()
    while writer.is_alive():
        writer.join(0.2)
        if kill_every and time.monotonic() - last_kill >= kill_every and writer.is_alive():
            watch.send_signal(signal.SIGKILL)
            watch.wait()
            kills += 1
            watch = subprocess.Popen(command, env=env, stderr=log, stdout=log)
            last_kill = time.monotonic()
    time.sleep(1.5)
    watch.send_signal(signal.SIGTERM)
    watch.wait(timeout=60)
    catch_up = subprocess.run(
        [
            sys.executable,
            "-m",
            "meterlog",
            "ingest",
            "-q",
            "--store",
            str(store),
            "--input-format",
            "combined",
            str(logs),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    written = result["written"]
    stored = stored_numbers(store)
    duplicated = sum(c - 1 for c in stored.values() if c > 1)
    lost = sum(1 for n in range(written) if n not in stored)
    return {
        "mode": mode,
        "written": written,
        "stored_rows": sum(stored.values()),
        "duplicated": duplicated,
        "lost": lost,
        "kills": kills,
        "watch_exit": watch.returncode,
        "ingest_exit": catch_up.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["copytruncate", "rename"], default="copytruncate")
    parser.add_argument("--rate", type=int, default=4000, help="lines per second")
    parser.add_argument("--every", type=float, default=0.4, help="seconds between rotations")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=0, help="SIGKILL watch this often")
    parser.add_argument("--work", type=Path, default=Path("/tmp/meterlog-rotation"))
    args = parser.parse_args()
    failed = False
    for run in range(args.runs):
        outcome = run_once(
            args.work / str(run), args.mode, args.rate, args.every, args.seconds, args.kill_every
        )
        print(json.dumps(outcome), flush=True)
        failed |= bool(outcome["duplicated"] or outcome["lost"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
