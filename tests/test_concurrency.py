"""Two writers at once, and readers while a writer commits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from meterlog.ingest import IngestOptions, ingest
from meterlog.store import WRITING_MARKER, Store
from tests.support import REPO, combined, events, process_env, progress_table, write_lines

# several ingest processes at once: the slow tier
pytestmark = pytest.mark.slow

KEY = ["source_id", "source_offset"]
COMMAND = [sys.executable, "-m", "meterlog", "ingest"]


def logs(folder: Path, count: int = 3, lines: int = 4000) -> list[str]:
    paths = []
    for n in range(count):
        body = [combined(n * 100_000 + i, user=f"u{i % 13}") for i in range(lines)]
        paths.append(str(write_lines(folder / f"{'abc'[n]}.log", body)))
    return paths


def start(store: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "meterlog", "ingest", "-q", "--store", str(store), *args],
        cwd=REPO,
        env=process_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_marker(store: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not (store / WRITING_MARKER).exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_two_ingests_on_overlapping_inputs_equal_the_sequential_result(tmp_path: Path) -> None:
    a, b, c = logs(tmp_path)
    sequential = Store(tmp_path / "sequential")
    ingest(sequential, [a, b, c], IngestOptions())
    store = tmp_path / "store"
    first = start(store, "--chunk-size", "65536", a, b)
    second = start(store, "--chunk-size", "65536", b, c)
    outputs = [first.communicate(timeout=120), second.communicate(timeout=120)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    assert events(store).select(KEY).equals(events(sequential).select(KEY))
    assert progress_table(store) == progress_table(sequential)


def test_second_writer_with_no_patience_fails_clearly(tmp_path: Path) -> None:
    [a] = logs(tmp_path, count=1, lines=20_000)
    store = tmp_path / "store"
    writer = start(store, "--chunk-size", "16384", a)
    try:
        wait_for_marker(store, writer)
        other = subprocess.run(
            [*COMMAND, "--store", str(store), "--lock-timeout", "0", a],
            cwd=REPO,
            env=process_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        writer.kill()
        writer.wait()
    assert other.returncode == 1
    assert other.stderr == (
        f"meterlog: error: {store}: another meterlog run is writing to this store; "
        "try again later or wait longer with --lock-timeout SECONDS\n"
    )


def test_readers_see_consistent_versions_while_ingest_commits(tmp_path: Path) -> None:
    paths = logs(tmp_path, count=2, lines=6000)
    clean = Store(tmp_path / "clean")
    ingest(clean, paths, IngestOptions())
    expected = events(clean).select(KEY)
    store = tmp_path / "store"
    writer = start(store, "--chunk-size", "16384", *paths)
    checked: set[int] = set()
    try:
        while writer.poll() is None or not checked:
            if not (store / "events" / "_delta_log").is_dir():
                time.sleep(0.01)
                continue
            table = DeltaTable(str(store / "events"))
            version = table.version()
            if version in checked:
                time.sleep(0.01)
                continue
            seen = Store(store).scan_events(version=version).select(KEY).collect()
            # every source's rows at this version are exactly its lines before its progress
            for source_id, part in expected.group_by("source_id"):
                offset = table.transaction_version(f"meterlog-offset:{source_id[0]}") or 0
                want = part.filter(pl.col("source_offset") < offset).height
                got = seen.filter(pl.col("source_id") == source_id[0]).height
                assert got == want, (version, source_id, got, want)
            assert seen.height == seen.unique().height
            checked.add(version)
    finally:
        writer.communicate(timeout=120)
    assert writer.returncode == 0
    assert len(checked) >= 5, checked
    assert events(store).select(KEY).equals(expected)
