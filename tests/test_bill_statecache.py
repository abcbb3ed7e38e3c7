"""Incremental month-end: a bill after a small ingest reads only the files added since the last
bill (late lines for closed days included) and prints the same bytes as without the cache."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from meterlog.billing import compute_invoice
from meterlog.billing.plans import load_plan_file
from meterlog.meters.cache import CacheReport
from meterlog.query.identity import Identity
from meterlog.store import METER_STATES_TABLE, Store
from meterlog.store.maintenance import prune_meter_states
from tests.support.billing import append_events, build_store

UTC_ZONE = ZoneInfo("UTC")
SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
IDENTITY = Identity(account_field="http_x_api_key", accounts={"key-acme": "acme"})
PLAN = """
default_plan = "basic"
currency = "EUR"
[accounts]
acme = { plan = "basic", tz = "Europe/Berlin" }
[plans.basic]
[[plans.basic.charges]]
name = "users"
meter = "mau"
pricing = "per_unit"
unit_price = "1.00"
[[plans.basic.charges]]
name = "requests"
meter = "count"
exclude_status = ["5xx"]
pricing = "per_unit"
unit_price = "0.01"
[[plans.basic.charges]]
name = "mb"
meter = "sum"
column = "bytes_sent"
divide_by = 1000
pricing = "per_unit"
unit_price = "0.10"
[[plans.basic.charges]]
name = "addresses"
meter = "unique"
column = "remote_addr"
pricing = "per_unit"
unit_price = "0.50"
[[plans.basic.charges]]
name = "peak"
meter = "peak"
window = "1h"
statistic = "p95"
pricing = "per_unit"
unit_price = "0.20"
"""


def _rows(day: int, count: int, key: str | None = "key-acme") -> list[dict[str, object]]:
    return [
        {
            "ts": f"2026-10-{day:02d}T{(n * 7) % 24:02d}:{n % 60:02d}:00",
            "remote_user": f"u{(day * 13 + n) % 17}",
            "remote_addr": f"10.0.0.{n % 5}",
            "status": 503 if n % 11 == 0 else 200,
            "bytes_sent": 100 * n,
            "http_x_api_key": key,
        }
        for n in range(count)
    ]


@pytest.fixture
def billed(tmp_path: Path) -> tuple[Store, Path]:
    store = build_store(
        tmp_path / "store", _rows(1, 30), _rows(12, 30, "key-globex"), _rows(30, 30, None)
    )
    plan_path = tmp_path / "plans.toml"
    plan_path.write_text(PLAN)
    return store, plan_path


def _bill(store: Store, plan_path: Path, **kwargs: object) -> tuple[str, CacheReport]:
    report = CacheReport()
    invoice = compute_invoice(
        store,
        load_plan_file(plan_path),
        "2026-10",
        UTC_ZONE,
        IDENTITY,
        check_sources=False,
        cache_report=report,
        **kwargs,  # type: ignore[arg-type]
    )
    return invoice.lines.write_csv(), report


def _unversioned(csv: str) -> list[str]:
    """Invoice CSV lines without the store_version column (the last)."""
    return [line.rsplit(",", 1)[0] for line in csv.splitlines()]


def _new_files(store: Store, before: set[str]) -> set[str]:
    from deltalake import DeltaTable

    table = DeltaTable(store.table_uri("events"))
    import pyarrow as pa

    paths = pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist()
    now = {str(path) for path in paths}
    return now - before


def _files(store: Store) -> set[str]:
    return _new_files(store, set())


def test_a_warm_bill_reads_only_the_new_files_and_prints_the_same_bytes(
    billed: tuple[Store, Path],
) -> None:
    store, plan_path = billed
    cold, report = _bill(store, plan_path)
    assert report.computed > 0 and report.reused == 0
    old_files = _files(store)
    assert old_files <= report.files_read
    # a late line for a closed day, and a new day
    append_events(store, _rows(1, 3) + _rows(20, 5, "key-globex"))
    added = _new_files(store, old_files)
    warm, report = _bill(store, plan_path)
    assert report.computed == 0 and report.reused > 0
    assert report.files_read == added  # no old event file is opened for the meters
    shutil.rmtree(store.root / METER_STATES_TABLE)
    without_cache, _ = _bill(store, plan_path)
    assert warm == without_cache == _bill(store, plan_path, cache=False)[0]
    assert warm != cold  # the late lines count


def test_compaction_does_not_invalidate_and_as_of_gives_the_old_bytes(
    billed: tuple[Store, Path],
) -> None:
    store, plan_path = billed
    first_version = store.version()
    first, _ = _bill(store, plan_path)
    for day in (1, 2, 2):  # day 1 and day 2 now have two files each
        append_events(store, _rows(day, 4))
    second, _ = _bill(store, plan_path)
    before = _files(store)
    store.compact()  # rewrites the small files, changes no data
    assert _files(store) != before and len(_files(store)) < len(before)
    again, report = _bill(store, plan_path)
    assert report.computed == 0 and report.files_read == set()
    assert again == _bill(store, plan_path, cache=False)[0]
    assert _unversioned(again) == _unversioned(second)  # compaction is a version of its own
    # a compaction of files covered by the cache with a file added since: computed afresh
    append_events(store, _rows(2, 3))
    store.compact()
    mixed, report = _bill(store, plan_path)
    assert report.computed > 0
    assert mixed == _bill(store, plan_path, cache=False)[0]
    older, _ = _bill(store, plan_path, as_of=first_version)
    assert older == first


def test_a_changed_plan_computes_afresh(billed: tuple[Store, Path]) -> None:
    store, plan_path = billed
    _bill(store, plan_path)
    plan_path.write_text(PLAN.replace('exclude_status = ["5xx"]', 'exclude_status = ["4xx"]'))
    changed, report = _bill(store, plan_path)
    assert report.computed > 0
    assert changed == _bill(store, plan_path, cache=False)[0]


def test_maintain_keeps_the_newest_state_of_each_key(billed: tuple[Store, Path]) -> None:
    store, plan_path = billed
    _bill(store, plan_path)
    append_events(store, _rows(5, 2))
    _bill(store, plan_path)
    cache = pl.scan_delta(store.table_uri(METER_STATES_TABLE))
    rows = cache.select(pl.len()).collect().item()
    keys = cache.select(pl.col("key").n_unique()).collect().item()
    assert rows == 2 * keys
    store.maintain()  # also compacts the events' small files: that invalidates nothing
    kept = pl.scan_delta(store.table_uri(METER_STATES_TABLE))
    assert kept.select(pl.len()).collect().item() == keys
    assert prune_meter_states(store) == 0
    warm, report = _bill(store, plan_path)
    assert report.computed == 0 and report.files_read == set()
    assert warm == _bill(store, plan_path, cache=False)[0]


def test_a_warm_bill_opens_no_old_event_file(billed: tuple[Store, Path], tmp_path: Path) -> None:
    """With the month's old data files moved out of the store, a warm bill after a small
    ingest still prints the bytes of a full run: it opened only the cache and the new files."""
    store, plan_path = billed
    _bill(store, plan_path)  # caches the states
    old_files = _files(store)
    append_events(store, _rows(1, 3) + _rows(20, 5, "key-globex"))  # late lines, a new day
    expected, _ = _bill(store, plan_path, cache=False)
    events, away = store.root / "events", tmp_path / "away"
    for path in old_files:
        (away / path).parent.mkdir(parents=True, exist_ok=True)
        (events / path).rename(away / path)
    try:
        warm, report = _bill(store, plan_path)
    finally:
        for path in old_files:
            (away / path).rename(events / path)
    assert warm == expected
    assert report.files_read == _files(store) - old_files
