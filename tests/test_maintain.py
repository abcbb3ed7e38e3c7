"""``maintain``: full vacuum of orphan data files on every store kind, and the command line."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from deltalake import DeltaTable

from meterlog.ingest import IngestOptions, ingest
from meterlog.store import EVENTS_TABLE, Store
from tests.support import cli, combined, write_lines
from tests.support.s3 import BUCKET

DAY = 24 * 3600


def filled_store(uri: str, folder: Path, lines: int = 600) -> Store:
    log = write_lines(folder / "access.log", [combined(i) for i in range(lines)])
    store = Store(uri)
    ingest(store, [str(log)], IngestOptions(chunk_bytes=8 * 1024, compact=False))
    return store


def rows(store: Store) -> int:
    return Store(store.uri).scan_events().collect().height


def test_maintain_removes_an_old_orphan_and_keeps_young_and_referenced_files(
    tmp_path: Path,
) -> None:
    store = filled_store(str(tmp_path / "store"), tmp_path)
    table = store.table(EVENTS_TABLE)
    assert table is not None
    referenced = [Path(uri) for uri in table.file_uris()]
    partition = referenced[0].parent
    # data files no commit refers to, as a run stopped before its commit leaves them
    old = partition / "part-00000-00000000-0000-0000-0000-000000000001-c000.zstd.parquet"
    young = partition / "part-00000-00000000-0000-0000-0000-000000000002-c000.zstd.parquet"
    shutil.copy(referenced[0], old)
    shutil.copy(referenced[0], young)
    os.utime(old, (time.time() - 3 * DAY, time.time() - 3 * DAY))
    before = rows(store)

    dry = store.maintain(timedelta(days=1), dry_run=True)
    assert {r.table: r.files_deleted for r in dry}[EVENTS_TABLE] == 1
    assert old.exists()

    store.maintain(timedelta(days=1))
    assert not old.exists()
    assert young.exists()
    assert all(path.exists() for path in referenced)  # compaction's leftovers: within retention
    assert rows(store) == before
    # every file the new version uses is there, and reads agree
    assert all(Path(uri).exists() for uri in DeltaTable(store.table_uri(EVENTS_TABLE)).file_uris())


@pytest.mark.slow
def test_maintain_on_s3_removes_an_old_orphan_only(
    s3_env: str,
    s3_endpoint: str,
    tmp_path: Path,
) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    store = filled_store(s3_env, tmp_path)
    table = store.table(EVENTS_TABLE)
    assert table is not None
    prefix = s3_env.removeprefix(f"s3://{BUCKET}/")
    referenced = [uri.removeprefix(f"s3://{BUCKET}/") for uri in table.file_uris()]
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    partition = referenced[0].rsplit("/", 1)[0]
    old = f"{partition}/part-00000-00000000-0000-0000-0000-000000000001-c000.zstd.parquet"
    young = f"{partition}/part-00000-00000000-0000-0000-0000-000000000002-c000.zstd.parquet"
    for key in (old, young):
        client.copy_object(
            Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": referenced[0]}
        )
    # the test server's clock for the old one: written three days ago
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    backend.get_object(BUCKET, old).last_modified = datetime.now(UTC).replace(
        tzinfo=None
    ) - timedelta(days=3)
    before = rows(store)

    store.maintain(timedelta(days=1))

    keys = {
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for item in page.get("Contents", [])
    }
    assert old not in keys
    assert young in keys
    assert set(referenced) <= keys
    assert rows(store) == before


def test_maintain_command_dry_run_deletes_nothing(tmp_path: Path) -> None:
    store = filled_store(str(tmp_path / "store"), tmp_path)
    table = store.table(EVENTS_TABLE)
    assert table is not None
    orphan = Path(table.file_uris()[0]).parent / "part-00000-orphan-c000.zstd.parquet"
    shutil.copy(table.file_uris()[0], orphan)
    os.utime(orphan, (time.time() - 3 * DAY, time.time() - 3 * DAY))
    files = sorted(p for p in (tmp_path / "store").rglob("*") if p.is_file())

    result = cli("maintain", "--store", str(tmp_path / "store"), "--dry-run", "--retention", "1d")
    assert result.exit_code == 0, result.output
    assert "would delete" in result.output
    events_row = next(line for line in result.output.splitlines() if "events" in line)
    assert re.findall(r"\d[\d,]*", events_row)[-1] == "1"  # before, would delete
    assert sorted(p for p in (tmp_path / "store").rglob("*") if p.is_file()) == files

    result = cli("maintain", "--store", str(tmp_path / "store"), "--retention", "1d")
    assert result.exit_code == 0, result.output
    assert not orphan.exists()


@pytest.mark.parametrize(
    ("value", "hours"), [("36h", 36), ("2w", 336), ("45d", 1080), ("400", 9600), (" 1 d ", 24)]
)
def test_maintain_retention_forms(tmp_path: Path, value: str, hours: int) -> None:
    """Hours, days (the default unit) and weeks; over Delta's 30 days of log retention the
    table keeps its log entries as long (the property is written on every table)."""
    store = filled_store(str(tmp_path / "store"), tmp_path, lines=50)
    result = cli("maintain", "--store", str(tmp_path / "store"), "--retention", value)
    assert result.exit_code == 0, result.output
    for name in ("events", "sources"):
        configuration = DeltaTable(store.table_uri(name)).metadata().configuration
        expected = f"interval {hours} hours" if hours > 30 * 24 else None
        assert configuration.get("delta.logRetentionDuration") == expected
    assert rows(store) == 50


@pytest.mark.parametrize("value", ["30x", "-1d", "d", "1.5d", ""])
def test_maintain_rejects_a_bad_retention_with_exit_2(tmp_path: Path, value: str) -> None:
    filled_store(str(tmp_path / "store"), tmp_path, lines=10)
    result = cli("maintain", "--store", str(tmp_path / "store"), "--retention", value)
    assert result.exit_code == 2
    assert "36h, 30d or 2w" in result.output
