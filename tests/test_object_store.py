"""The store on an object store: ingest into ``s3://...`` on a local S3-compatible server
(moto's server mode, the ``s3_endpoint`` fixture in ``conftest.py``), credentials and endpoint
from the usual environment variables, several writers at once, maintenance, and reading it
back."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from meterlog.cli import main
from meterlog.ingest import IngestOptions, ingest
from meterlog.store import Store

# a local S3 server: the slow tier
pytestmark = pytest.mark.slow


def combined(i: int, host: str = "10.0.0") -> str:
    return (
        f"{host}.{i % 250} - user{i % 37} [10/Oct/2026:{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
        f'{i % 60:02d} +0000] "GET /v1/items/{i}?page={i % 7} HTTP/1.1" {200 + i % 3} {i * 7} '
        f'"-" "curl/8.5.0"'
    )


def write_log(path: Path, lines: int, host: str = "10.0.0") -> Path:
    path.write_text("".join(combined(i, host) + "\n" for i in range(lines)))
    return path


def totals(store: Store) -> tuple[int, int, int]:
    frame = store.scan_events().select(
        pl.len().alias("rows"),
        pl.col("bytes_sent").sum().alias("bytes"),
        pl.col("status").cast(pl.Int64).sum().alias("status"),
    )
    rows, sent, status = frame.collect().row(0)
    return rows, sent, status


def test_ingest_into_s3_reads_back_like_a_local_store(s3_env: str, tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", 3000)
    runner = CliRunner()
    first = runner.invoke(main, ["ingest", "--store", s3_env, "--chunk-size", "65536", str(log)])
    assert first.exit_code == 0, first.output
    assert "3,000 stored" in first.output
    again = runner.invoke(main, ["ingest", "--store", s3_env, str(log)])
    assert again.exit_code == 0, again.output
    assert "0 stored" in again.output

    local = tmp_path / "local"
    assert runner.invoke(main, ["ingest", "--store", str(local), str(log)]).exit_code == 0
    remote = Store(s3_env)
    assert totals(remote) == totals(Store(local))
    assert remote.progress(remote.sources().get_column("source_id")[0]).lines == 3000
    status = runner.invoke(main, ["status", "--store", s3_env])
    assert status.exit_code == 0, status.output
    assert ",combined,none,334168,3000," in status.output


def test_several_writers_into_one_table(s3_env: str, tmp_path: Path) -> None:
    """Hosts each ingesting their own logs into one table at the same time: every line once."""
    logs = [write_log(tmp_path / f"host{n}.log", 1500, host=f"10.{n}.0") for n in range(3)]
    errors: list[BaseException] = []

    def run(log: Path) -> None:
        try:
            ingest(Store(s3_env), [str(log)], IngestOptions(chunk_bytes=16 * 1024, compact=False))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    store = Store(s3_env)
    events = store.scan_events().select("source_id", "source_line").collect()
    assert events.height == 4500
    assert events.is_duplicated().sum() == 0
    assert sorted(store.progress(sid).lines for sid in events["source_id"].unique()) == [1500] * 3


def test_maintain_on_s3_keeps_rows_and_progress(s3_env: str, tmp_path: Path) -> None:
    log = write_log(tmp_path / "access.log", 2000)
    store = Store(s3_env)
    ingest(store, [str(log)], IngestOptions(chunk_bytes=8 * 1024, compact=False))
    before = totals(store)
    source_id = store.sources().get_column("source_id")[0]
    progress = store.progress(source_id)
    results = {r.table: r for r in store.maintain(timedelta(0))}
    assert results["events"].files_after < results["events"].files_before
    fresh = Store(s3_env)
    assert totals(fresh) == before
    assert fresh.progress(source_id) == progress
    summary = ingest(fresh, [str(log)], IngestOptions())
    assert summary.parsed == 0
