"""Exactly-once with several writers: a chunk is committed only on a snapshot in which its
source's progress is the progress the chunk starts from, on every store kind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from meterlog.ingest import IngestOptions, ingest
from meterlog.store import EVENTS_TABLE, Progress, ProgressMoved, Store
from tests.support import REPO, combined, process_env, write_lines

SOURCE = "a" * 64


def frame(first: int, count: int, *, extra: str | None = None) -> pl.DataFrame:
    """Events of lines ``first`` .. ``first + count - 1`` of a source (100 bytes a line)."""
    rows = pl.DataFrame(
        {
            "ts": pl.datetime_range(
                pl.datetime(2026, 10, 1, time_zone="UTC"),
                pl.datetime(2026, 10, 1, time_zone="UTC") + pl.duration(seconds=count - 1),
                "1s",
                eager=True,
            ).dt.cast_time_unit("us"),
            "status": pl.Series([200] * count, dtype=pl.Int16),
            "path": [f"/v1/items/{first + i}" for i in range(count)],
            "source_id": [SOURCE] * count,
            "source_offset": pl.Series([(first + i) * 100 for i in range(count)], dtype=pl.Int64),
            "source_line": pl.Series([first + i + 1 for i in range(count)], dtype=pl.Int64),
        }
    )
    return rows if extra is None else rows.with_columns(pl.lit("x").alias(extra))


def stored_lines(store: Store) -> list[int]:
    return sorted(store.scan_events().select("source_line").collect()["source_line"].to_list())


def store_of(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "local":
        return str(tmp_path / "store")
    return str(request.getfixturevalue("s3_env"))


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_of(request.param, tmp_path, request)


def test_two_stores_committing_the_same_chunk_store_it_once(store_uri: str) -> None:
    """Two writers read the same progress and both commit the chunk that follows it: the
    first succeeds, the second is refused with the progress it must re-plan from."""
    first, second = Store(store_uri), Store(store_uri)
    first.commit_events(frame(0, 10), SOURCE, Progress(1000, 10), start=Progress())
    first.commit_events(frame(10, 5), SOURCE, Progress(1500, 15), start=Progress(1000, 10))
    # the second writer planned both chunks from the empty progress it read before
    assert second.progress(SOURCE) == Progress(1500, 15)
    with pytest.raises(ProgressMoved) as refused:
        second.commit_events(frame(0, 10), SOURCE, Progress(1000, 10), start=Progress())
    assert refused.value.found == Progress(1500, 15)
    assert stored_lines(Store(store_uri)) == list(range(1, 16))


def test_writers_creating_the_store_at_once_store_the_first_chunk_once(store_uri: str) -> None:
    """Several writers find no table and commit the same first chunk at the same moment: the
    table is created empty first, so the chunk's commits are checked against each other."""
    for trial in range(4):
        uri = f"{store_uri}-{trial}"
        start = threading.Barrier(4)
        outcomes: list[str] = []

        def write(uri: str = uri, start: threading.Barrier = start) -> None:
            store = Store(uri)
            start.wait()
            try:
                store.commit_events(frame(0, 10), SOURCE, Progress(1000, 10), start=Progress())
                outcomes.append("stored")
            except ProgressMoved:
                outcomes.append("moved")

        threads = [threading.Thread(target=write) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["moved"] * 3 + ["stored"], trial
        assert stored_lines(Store(uri)) == list(range(1, 11)), trial


class RacingStore(Store):
    """A store whose next commit is overtaken: right after it has taken the snapshot it will
    commit on, ``rival`` runs (another writer's real commit), then the commit goes ahead."""

    def __init__(self, uri: str, rival: Callable[[], None], at: int = 2) -> None:
        super().__init__(uri)
        self.rival: Callable[[], None] | None = rival
        self.at = at  # the rival runs after this many snapshots of the events table
        self.snapshots: list[int] = []

    def table(self, name: str) -> DeltaTable | None:
        table = super().table(name)
        if name == EVENTS_TABLE and table is not None:
            self.snapshots.append(table.version())
            if self.rival is not None and len(self.snapshots) >= self.at:
                rival, self.rival = self.rival, None
                rival()
        return table


def test_a_commit_overtaken_by_the_same_chunk_adds_nothing(store_uri: str) -> None:
    """The rival commits the same chunk between the snapshot and the commit: Delta refuses
    the commit (same source transaction), the retry sees the new progress and gives up."""
    Store(store_uri).commit_events(frame(0, 3), SOURCE, Progress(300, 3), start=Progress())

    def rival() -> None:
        Store(store_uri).commit_events(
            frame(3, 7), SOURCE, Progress(1000, 10), start=Progress(300, 3)
        )

    racing = RacingStore(store_uri, rival)
    racing.progress(SOURCE)  # the first snapshot
    with pytest.raises(ProgressMoved) as refused:
        racing.commit_events(frame(3, 7), SOURCE, Progress(1000, 10), start=Progress(300, 3))
    assert refused.value.found == Progress(1000, 10)
    # the commit was tried on the snapshot before the rival's commit, then once more
    assert len(set(racing.snapshots)) == 2
    assert stored_lines(Store(store_uri)) == list(range(1, 11))


def test_a_commit_that_loses_a_race_is_retried_once_and_stored_once(store_uri: str) -> None:
    """The rival commits another source and adds a column (a schema change conflicts with any
    concurrent append): the commit fails, is retried on the new snapshot and succeeds."""
    Store(store_uri).commit_events(frame(0, 3), SOURCE, Progress(300, 3), start=Progress())
    other = "b" * 64

    def rival() -> None:
        Store(store_uri).commit_events(
            frame(0, 4, extra="http_x_api_key").with_columns(pl.lit(other).alias("source_id")),
            other,
            Progress(400, 4),
            start=Progress(),
        )

    racing = RacingStore(store_uri, rival)
    racing.progress(SOURCE)
    racing.commit_events(frame(3, 7), SOURCE, Progress(1000, 10), start=Progress(300, 3))
    assert len(set(racing.snapshots)) == 2  # the retry ran, on the rival's snapshot
    store = Store(store_uri)
    assert store.progress(SOURCE) == Progress(1000, 10)
    assert store.progress(other) == Progress(400, 4)
    counts = store.scan_events().group_by("source_id").len().collect()
    assert dict(counts.iter_rows()) == {SOURCE: 10, other: 4}
    keys = store.scan_events().select("source_id", "source_line").collect()
    assert keys.is_duplicated().sum() == 0


@pytest.mark.slow
def test_ingest_overtaken_mid_file_re_plans_and_stores_each_line_once(
    s3_env: str,
    tmp_path: Path,
) -> None:
    """An ingest whose commit is overtaken by another run of the same file (which saw it
    shorter, and read it in other chunks) continues after what the other run stored, from
    the middle of one of its own chunks: every line once."""
    lines = [combined(i) for i in range(3000)]
    log = write_lines(tmp_path / "access.log", lines)
    (tmp_path / "earlier").mkdir()
    earlier = write_lines(tmp_path / "earlier" / "access.log", lines[:2000])
    rival_summary = []

    def rival() -> None:  # another host ingests the file as it was a moment ago
        options = IngestOptions(chunk_bytes=23 * 1024, compact=False)
        rival_summary.append(ingest(Store(s3_env), [str(earlier)], options))

    racing = RacingStore(s3_env, rival, at=6)
    summary = ingest(racing, [str(log)], IngestOptions(chunk_bytes=16 * 1024, compact=False))
    assert summary.failed == []
    assert rival_summary and rival_summary[0].failed == []
    assert summary.parsed + rival_summary[0].parsed == 3000
    assert 0 < rival_summary[0].parsed < 2000  # both stored part of the first 2,000 lines
    events = Store(s3_env).scan_events().select("source_id", "source_line").collect()
    assert events.height == 3000
    assert events.is_duplicated().sum() == 0
    assert sorted(events["source_line"].to_list()) == list(range(1, 3001))
    assert Store(s3_env).progress(events["source_id"][0]) == Progress(log.stat().st_size, 3000)


@pytest.mark.slow
def test_three_concurrent_ingest_processes_into_s3_store_each_line_once(
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    """Three ``meterlog ingest`` runs of one directory into one ``s3://`` store at the same time
    (two cron runs that overlap, on several hosts): 0 duplicated rows. One trial in the suite
    (about a minute against the local S3 server); ``METERLOG_S3_TRIALS=3`` repeats it."""
    folder = tmp_path / "logs"
    folder.mkdir()
    expected = 0
    for n in range(3):
        body = [combined(n * 100_000 + i, user=f"u{i % 11}") for i in range(500 + 200 * n)]
        write_lines(folder / f"host{n}.log", body)
    # an independent count of the lines written: newline characters in the files
    expected = sum(path.read_bytes().count(b"\n") for path in folder.iterdir())
    env = process_env(
        {
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
    )
    for trial in range(int(os.environ.get("METERLOG_S3_TRIALS", "1"))):
        url = f"s3://meterlog-test/three-writers-{trial}"
        command = [sys.executable, "-m", "meterlog", "ingest", "-q", "--no-compact"]
        runs = [
            subprocess.Popen(
                [*command, "--store", url, "--chunk-size", str(size), str(folder)],
                cwd=REPO,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for size in (6144, 9216, 12288)
        ]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], outputs
        with pytest.MonkeyPatch.context() as patch:
            for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                patch.setenv(name, env[name])
            patch.setenv("AWS_REGION", "us-east-1")
            patch.setenv("AWS_ALLOW_HTTP", "true")
            events = Store(url).scan_events().select("source_id", "source_line").collect()
        assert events.height == expected, f"trial {trial}"
        assert events.is_duplicated().sum() == 0, f"trial {trial}"
        per_source = events.group_by("source_id").agg(
            pl.len().alias("rows"), pl.col("source_line").max().alias("last")
        )
        assert (per_source["rows"] == per_source["last"]).all()
