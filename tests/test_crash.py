"""Crash safety: an ingest killed with SIGKILL at many moments, then run again, stores exactly
what one clean ingest stores: no line lost, none doubled, same per-source progress; files of
killed runs are never visible to readers and are removed by the next run."""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from meterlog.ingest import IngestOptions, ingest
from meterlog.store import WRITING_MARKER, Store
from tests.support import REPO, combined, events, process_env, progress_table, rejects

KILLS = 22
CHUNK = 32 * 1024
KEY = ["source_id", "source_offset"]


def make_inputs(folder: Path) -> list[str]:
    """50,000 lines (every 500th one broken) in a plain file and a gzip file."""
    lines = [
        combined(i, user=f"user{i % 97}") if i % 500 else f"broken line {i}" for i in range(50_000)
    ]
    plain = folder / "a.log"
    plain.write_text("\n".join(lines[:35_000]) + "\n")
    packed = folder / "b.log.gz"
    packed.write_bytes(gzip.compress(("\n".join(lines[35_000:]) + "\n").encode()))
    return [str(plain), str(packed)]


def data_files(table: Path) -> set[str]:
    return {
        os.path.normpath(os.path.join(root, name))
        for root, dirs, files in os.walk(table)
        if "_delta_log" not in root
        for name in files
        if name.endswith(".parquet")
    }


def unreferenced(store: Path) -> set[str]:
    """Data files on disk that no commit refers to (files a compaction replaced stay, for
    reading older versions, until ``meterlog maintain`` removes them)."""
    from deltalake import DeltaTable

    from meterlog.store import paths_in_commit

    orphans: set[str] = set()
    for name in ("events", "rejects", "sources"):
        table = store / name
        if (table / "_delta_log").is_dir():
            referenced = {os.path.normpath(u) for u in DeltaTable(str(table)).file_uris()}
            for commit in (table / "_delta_log").glob("*.json"):
                referenced |= paths_in_commit(table, commit)
            orphans |= data_files(table) - referenced
    return orphans


def wait_until_writing(store: Path, started: float, process: subprocess.Popen[str]) -> bool:
    """Wait until the child holds the lock and marked the store (imports done)."""
    marker = store / WRITING_MARKER
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if marker.stat().st_mtime >= started - 0.05:
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    return False


@pytest.mark.slow
def test_sigkill_at_many_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path)
    clean = Store(tmp_path / "clean")
    ingest(clean, inputs, IngestOptions())
    expected = events(clean).select(KEY)
    expected_rejects = rejects(clean).select(KEY)
    assert expected.height == 49_900
    assert expected_rejects.height == 100

    store = tmp_path / "store"
    command = [sys.executable, "-m", "meterlog", "ingest", "-q", "--store", str(store)]
    command += ["--chunk-size", str(CHUNK), *inputs]
    rng = random.Random(20261125)
    moments: Counter[str] = Counter()
    kills = 0
    versions: list[int] = []
    # Kill within this many seconds of the run taking the lock; widened while kills land
    # before the first commit or before a run's first new commit, so a loaded machine (where
    # a run takes longer to reach a commit) still spreads them over the whole run.
    window = 0.35
    while kills < KILLS:
        started = time.time()
        process = subprocess.Popen(command, cwd=REPO, env=process_env(), text=True)
        if wait_until_writing(store, started, process):
            time.sleep(rng.uniform(0.0, window))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
        if not (store / "events" / "_delta_log").is_dir():
            moments["before the first commit"] += 1
            window *= 1.5
            continue
        version = Store(store).version() or 0
        if version > max(versions, default=-1):
            moments["after a new commit"] += 1
        else:
            moments["no commit"] += 1
            window = min(window * 1.25, 5.0)
        versions.append(version)
        if unreferenced(store):
            moments["orphan files on disk"] += 1
        # what a reader sees now: a prefix of each source, nothing twice, nothing foreign
        seen = events(store).select(KEY)
        assert seen.is_duplicated().sum() == 0
        assert seen.join(expected, on=KEY, how="anti").height == 0
        assert rejects(store).select(KEY).is_duplicated().sum() == 0

    final = subprocess.run(command, cwd=REPO, env=process_env(), text=True, capture_output=True)
    assert final.returncode == 0, final.stderr
    stored = events(store)
    assert stored.height == expected.height
    assert stored.select(KEY).equals(expected)
    assert rejects(store).select(KEY).equals(expected_rejects)
    assert progress_table(store) == progress_table(clean)
    assert unreferenced(store) == set()
    assert not list((store / "events" / "_delta_log").glob("*.tmp"))
    assert not (store / WRITING_MARKER).exists()
    assert kills >= 20
    assert moments["after a new commit"] >= 5, moments
    print(f"kill points: {kills}, {dict(moments)}, last versions {versions[-3:]}")


def test_orphans_are_invisible_and_removed_by_the_next_run(tmp_path: Path) -> None:
    """A data file written by a run that died before committing it."""
    log = tmp_path / "a.log"
    log.write_text("\n".join(combined(i) for i in range(10)) + "\n")
    store = Store(tmp_path / "store")
    ingest(store, [str(log)], IngestOptions())
    day = tmp_path / "store" / "events" / "day=2026-10-10"
    [committed] = list(day.glob("*.parquet"))
    orphan = day / "part-00000-00000000-dead-beef-0000-000000000000-c000.snappy.parquet"
    orphan.write_bytes(committed.read_bytes())  # same rows: would double them if read
    (tmp_path / "store" / WRITING_MARKER).touch()  # the dead run's mark
    assert events(store).height == 10
    assert Store(tmp_path / "store").scan_events().select(pl.len()).collect().item() == 10
    with Store(tmp_path / "store").lock(), Store(tmp_path / "store").writing() as removed:
        pass
    assert removed == [str(orphan)]
    assert not orphan.exists()
    assert committed.exists()
    assert events(store).height == 10


def test_old_files_and_removed_files_are_left_alone(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("\n".join(combined(i) for i in range(10)) + "\n")
    store = Store(tmp_path / "store")
    ingest(store, [str(log)], IngestOptions())
    folder = tmp_path / "store" / "events"
    stray = folder / "day=2026-10-10" / "part-old-c000.snappy.parquet"
    stray.write_bytes(b"not ours")
    os.utime(stray, (time.time() - 3600, time.time() - 3600))
    assert Store(folder.parent).cleanup_orphans(time.time() - 60) == []
    assert stray.exists()  # older than the stopped run: not its file
