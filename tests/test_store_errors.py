"""Disk full, read-only file systems, size limits: one clear error line, exit 1, store as
before (no new version, same rows), and the next run works once the cause is gone."""

from __future__ import annotations

import json
import random
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from meterlog.store import Store
from tests.support import REPO, combined, events, meterlog_process, process_env, write_lines

SCRIPT = r"""
import json, subprocess, sys
from pathlib import Path
root, small, big = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = root / "store"
def ingest(*paths):
    done = subprocess.run([sys.executable, "-m", "meterlog", "ingest", "-q", "--store",
                           str(store), *paths], capture_output=True, text=True)
    return done.returncode, done.stderr
def state():
    from meterlog.store import Store
    s = Store(store)
    return [s.version(), s.scan_events().collect().height]
result = {"small": ingest(small), "before": state()}
result["full"] = ingest(big)
result["after_full"] = state()
subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
result["readonly"] = ingest(small + ".again")
result["after_readonly"] = state()
status = subprocess.run([sys.executable, "-m", "meterlog", "status", "--store", str(store), "--format", "table"],
                        capture_output=True, text=True)
result["status"] = [status.returncode, status.stdout]
print(json.dumps(result))
"""


def big_log(path: Path, lines: int) -> Path:
    rng = random.Random(7)  # random agents: the data does not compress away
    body = [combined(i, agent=f"{rng.getrandbits(128):032x}") for i in range(lines)]
    return write_lines(path, body)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    assert "panicked" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.slow
def test_disk_full_and_read_only_file_system(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("unshare/mount not installed: cannot make a small file system")
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs", "/mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({probe.stderr.strip()})")
    small = write_lines(tmp_path / "small.log", [combined(i) for i in range(50)])
    write_lines(tmp_path / "small.log.again", [combined(i) for i in range(100, 150)])
    big = big_log(tmp_path / "big.log", 40_000)
    (tmp_path / "script.py").write_text(SCRIPT)
    mount = tmp_path / "mnt"
    mount.mkdir()
    shell = (
        f"mount -t tmpfs -o size=700k tmpfs {mount} && "
        f"exec {sys.executable} {tmp_path / 'script.py'} {mount} {small} {big}"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", shell],
        cwd=REPO,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["small"] == [0, ""]
    assert result["before"] == [1, 50]  # version 0 creates the empty table
    code, stderr = result["full"]
    assert code == 1
    line = one_error_line(stderr)
    assert line.startswith(f"meterlog: error: {mount / 'store' / 'events'}: cannot write: ")
    assert "no space left on the device" in line
    assert "nothing of this chunk was committed" in line
    assert result["after_full"] == result["before"]
    code, stderr = result["readonly"]
    assert code == 1
    assert one_error_line(stderr) == (
        f"meterlog: error: {mount / 'store'}: cannot open the store for writing: "
        "Read-only file system; check the path and permissions"
    )
    assert result["after_readonly"] == result["before"]
    assert result["status"][0] == 0
    assert "rows: 50" in result["status"][1]


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))


@pytest.mark.slow
def test_file_size_limit_during_a_write(tmp_path: Path) -> None:
    """Works without privileges: a size limit makes the data file write fail midway."""
    store = tmp_path / "store"
    small = write_lines(tmp_path / "small.log", [combined(i) for i in range(50)])
    assert meterlog_process("ingest", "-q", "--store", str(store), str(small)).returncode == 0
    before = (Store(store).version(), events(store))
    big = big_log(tmp_path / "big.log", 20_000)
    done = subprocess.run(
        [sys.executable, "-m", "meterlog", "ingest", "-q", "--store", str(store), str(big)],
        cwd=REPO,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size,
    )
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "cannot write: file too large (a size limit)" in line
    assert Store(store).version() == before[0]
    assert events(store).equals(before[1])
    again = meterlog_process("ingest", "-q", "--store", str(store), str(big))
    assert again.returncode == 0, again.stderr
    assert events(store).height == 20_050
    leftovers = list((store / "events").rglob("*.parquet"))  # the failed write's are removed
    assert len(leftovers) == len(DeltaTable(str(store / "events")).file_uris())


def test_store_path_with_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "store").write_text("not a folder")
    log = write_lines(tmp_path / "a.log", [combined(1)])
    done = meterlog_process("ingest", "--store", str(tmp_path / "store"), str(log))
    assert done.returncode == 1
    assert one_error_line(done.stderr) == (
        f"meterlog: error: {tmp_path / 'store'}: is not a folder; "
        "give the store's folder with --store"
    )
