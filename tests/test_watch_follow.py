"""``watch`` follows files exactly once: appends, partial lines, rotation by rename and gzip,
copytruncate, delete and re-create, a restart, an ``ingest`` over the same files in between
and at the same time. Each test writes numbered lines and checks the store against its own
count of what was written: every number exactly once."""

from __future__ import annotations

import gzip
import os
import shutil
import threading
from pathlib import Path

import pytest

from meterlog.ingest import IngestOptions, ingest
from meterlog.live import Watcher, WatchOptions
from meterlog.store import Store
from tests.support.watch import Writer, assert_exactly


def watcher(store: Path, *paths: Path) -> Watcher:
    return Watcher(Store(store), [str(p) for p in paths], IngestOptions(), WatchOptions())


def test_appends_and_partial_lines(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    watch = watcher(store, logs)
    writer.write(100)
    batch = watch.step()
    assert batch is not None and batch.events.height == 100
    writer.write(50, partial=True)  # the 50th line is not finished: it waits
    batch = watch.step()
    assert batch is not None and batch.events.height == 49
    assert watch.step() is None  # nothing changed: the file is not even read
    writer.finish_partial(writer.written[-1])
    writer.write(10)
    batch = watch.step()
    assert batch is not None and batch.events.height == 11
    watch.close()
    assert_exactly(store, writer.written)
    # the sources table holds one row per file and path, not one per batch
    assert Store(store).sources().height == 1


def test_rename_and_gzip_rotation(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    watch = watcher(store, logs)
    writer.write(200)
    watch.step()
    writer.write(30)  # written before the rotation, not read yet
    os.rename(logs / "access.log", logs / "access.log.1")
    writer.write(20)  # nginx keeps writing to the renamed file until it reopens
    writer.path = logs / "access.log"
    writer.write(40)  # the new file
    watch.step()
    # logrotate's delaycompress: the old file is gzipped and removed
    old = logs / "access.log.1"
    writer.path = old
    writer.write(5)  # the last lines reach the old file just before it is compressed
    (logs / "access.log.1.gz").write_bytes(gzip.compress(old.read_bytes()))
    old.unlink()
    writer.path = logs / "access.log"
    writer.write(25)
    watch.step()
    watch.step()
    watch.close()
    assert_exactly(store, writer.written)


def test_copytruncate(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    watch = watcher(store, logs)
    writer.write(300)
    watch.step()
    writer.write(70)  # not read before the rotation
    shutil.copyfile(logs / "access.log", logs / "access.log.1")
    with (logs / "access.log").open("r+") as handle:
        handle.truncate(0)
    watch.step()
    writer.write(90)
    watch.step()
    # a second rotation: the older copy is shifted, the file truncated again
    os.rename(logs / "access.log.1", logs / "access.log.2")
    writer.write(10)
    shutil.copyfile(logs / "access.log", logs / "access.log.1")
    with (logs / "access.log").open("r+") as handle:
        handle.truncate(0)
    writer.write(15)
    watch.step()
    watch.close()
    assert_exactly(store, writer.written)


def test_delete_and_recreate(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    watch = watcher(store, logs / "access.log")  # a file named on the command line
    writer.write(120)
    watch.step()
    writer.write(33)  # written, then the file is deleted before the next poll
    (logs / "access.log").unlink()
    assert watch.step() is not None  # read through the descriptor held open
    assert watch.step() is None  # the file is missing: nothing to do, no error
    writer.write(44)  # re-created
    watch.step()
    writer.write(4)
    (logs / "access.log").unlink()
    writer.write(5)
    watch.step()
    watch.close()
    assert_exactly(store, writer.written)
    assert watch.follower.followed == 0


def test_restart_continues(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    first = watcher(store, logs)
    writer.write(500)
    first.step()
    writer.write(77)
    first.close()  # stopped without reading the last lines
    second = watcher(store, logs)
    second.step()
    writer.write(3)
    second.step()
    second.close()
    assert_exactly(store, writer.written)


def test_ingest_in_between_leaves_watch_nothing_to_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    other = Writer(logs / "other.log")
    other.next = 1_000_000
    watch = watcher(store, logs)
    writer.write(100)
    watch.step()
    writer.write(100)
    other.write(100)
    ingest(Store(store), [str(logs)])  # a cron ingest reads them first
    assert watch.step() is None  # the files changed, but nothing is left to read
    watch.close()
    assert_exactly(store, writer.written + other.written)


@pytest.mark.slow
def test_ingest_at_the_same_time(tmp_path: Path) -> None:
    """A cron ingest in a loop on a thread while watch reads the same growing files."""
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    other = Writer(logs / "other.log")
    other.next = 1_000_000
    watch = watcher(store, logs)
    writer.write(100)
    watch.step()
    stop = threading.Event()

    def cron() -> None:
        while not stop.is_set():
            ingest(Store(store), [str(logs)])

    thread = threading.Thread(target=cron)
    thread.start()
    try:
        for _ in range(15):
            writer.write(37)
            other.write(11)
            watch.step()
    finally:
        stop.set()
        thread.join()
    watch.step()
    watch.close()
    assert_exactly(store, writer.written + other.written)
    # what watch reports as committed by itself is in the store too
    assert watch.stats.lines_stored <= len(writer.written + other.written)


def test_month_to_date_figures_follow_foreign_commits(tmp_path: Path) -> None:
    """A cron ingest between batches: the month-to-date figures are read from the store
    again, so they match it."""
    from datetime import UTC, datetime

    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    now = datetime.now(UTC)
    stamp = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    lines = [
        f'10.0.0.1 - user{i % 17} [{stamp}] "GET /v1/x/{i} HTTP/1.1" 200 10 "-" "curl"'
        for i in range(200)
    ]
    (logs / "a.log").write_text("\n".join(lines[:120]) + "\n")
    watch = watcher(store, logs)
    watch.step()
    assert watch.mtd.mau() == {"default": 17}
    (logs / "b.log").write_text("\n".join(lines[120:]) + "\n")
    ingest(Store(store), [str(logs / "b.log")])
    with (logs / "a.log").open("a") as handle:
        handle.write(lines[0].replace("user0", "newcomer") + "\n")
    watch.step()
    watch.close()
    assert watch.mtd.requests() == {"default": 201}
    assert watch.mtd.mau() == {"default": 18}
    stored = Store(store).scan_events().collect()
    assert stored.height == 201
    assert stored.get_column("remote_user").n_unique() == 18


def test_a_held_lock_delays_the_batch_and_is_reported_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    said: list[str] = []
    watch = Watcher(
        Store(store), [str(logs)], IngestOptions(), WatchOptions(interval=0.2), log=said.append
    )
    writer.write(10)
    with Store(store).lock():  # a long cron ingest, say
        assert watch.step() is None
        assert watch.step() is None
        health = watch.health()
        assert health.lag_seconds > 0
        assert health.last_note == (
            f"{store}: another meterlog run is writing to this store; what was written is "
            "committed once it is done"
        )
        assert health.last_error is None  # a routine wait, not an error
    held = [line for line in said if "another meterlog run" in line]
    assert held == [f"note: {health.last_note}"], said
    batch = watch.step()
    assert batch is not None and batch.events.height == 10
    assert watch.health().lag_seconds == 0 and watch.health().last_error is None
    assert watch.health().last_note is None
    watch.close()
    assert_exactly(store, writer.written)


def test_small_files_are_compacted_once_in_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import meterlog.live.watch as live_watch

    monkeypatch.setattr(live_watch, "COMPACT_SECONDS", 0.0)
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    watch = watcher(store, logs)
    for _ in range(24):  # one commit, so one small file, per batch
        writer.write(5)
        watch.step()
    watch.close()
    files = Store(store).files_per_day()
    assert files and max(files.values()) <= 16
    assert watch.health().store_version == Store(store).version()
    assert_exactly(store, writer.written)


def test_many_lines_waiting_commit_before_the_interval(tmp_path: Path) -> None:
    """With --interval 600, only --batch-lines can make watch commit while it runs."""
    import time

    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    writer.write(50)
    watch = Watcher(
        Store(store), [str(logs)], IngestOptions(), WatchOptions(interval=600, batch_lines=100)
    )
    stop = threading.Event()
    loop = threading.Thread(target=watch.run, args=(stop,))
    loop.start()
    try:
        deadline = time.monotonic() + 60
        while watch.health().commits < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the first batch, at start
        writer.write(20)  # fewer than 100 lines: waits for the interval
        time.sleep(1.5)
        assert watch.health().commits == 1
        writer.write(500)  # many lines: committed without waiting for the interval
        while watch.health().commits < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watch.health().commits == 2
    finally:
        stop.set()
        loop.join(60)
        watch.close()
    assert_exactly(store, writer.written)


def test_a_file_in_another_format_is_reported_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    writer = Writer(logs / "access.log")
    said: list[str] = []
    watch = Watcher(Store(store), [str(logs)], IngestOptions(), WatchOptions(), log=said.append)
    for round_ in range(3):
        writer.write(10)
        with (logs / "other.log").open("a") as handle:
            handle.write("".join(f"not a log line {round_} {i}\n" for i in range(20)))
        watch.step()
    watch.close()
    errors = [line for line in said if line.startswith("error:")]
    error = watch.health().last_error
    assert error is not None and error.startswith(
        f"{logs / 'other.log'}: no line matches a known log format (json, main, combined, "
        "common); the file was not ingested. Give its format with --log-format "
    )
    assert errors == [f"error: {error}"], said
    assert_exactly(store, writer.written)
