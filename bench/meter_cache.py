"""Cold and warm month-end runs against DuckDB on the same Parquet files.

usage: python bench/meter_cache.py STORE_DIR [EVENTS]   (default 10,000,000 events)

Writes EVENTS generated requests of 2026-10 (300,000 users, each of one of 50 accounts) into a new store at
STORE_DIR, one commit per day, then times, each as its own process:

* ``bill``, ``mau --by account`` and ``peak --by account`` (1h, p95) cold (no cached meter
  states), then warm after one more small commit (1,000 requests, late lines for closed days
  included), then cold again with the cache removed (the outputs compared byte for byte);
* DuckDB counting the same MAU (distinct users per account in the month) from the store's own
  Parquet files.

Prints one JSON object. The invoices of the warm run and of the run without the cache are
compared byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAN = """
default_plan = "month"
currency = "EUR"
[plans.month]
[[plans.month.charges]]
name = "users"
meter = "mau"
exclude_status = ["5xx"]
pricing = "per_unit"
unit_price = "0.40"
[[plans.month.charges]]
name = "peak"
meter = "peak"
window = "1h"
statistic = "p95"
pricing = "per_unit"
unit_price = "0.01"
[[plans.month.charges]]
name = "requests"
meter = "count"
pricing = "per_unit"
unit_price = "0.50"
per = 1000
"""


def _events(count: int, seed: int, first_day: int, days: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import polars as pl

    from meterlog.schema import conform_events

    rng = np.random.default_rng(seed)
    start = int(datetime(2026, 10, first_day, tzinfo=UTC).timestamp() * 1_000_000)
    span = days * 86_400 * 1_000_000
    frame = pl.DataFrame(
        {
            "ts": pl.Series(np.sort(rng.integers(start, start + span, count)), dtype=pl.Int64)
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
            "remote_user": pl.Series(rng.integers(0, 300_000, count)),
            "status": pl.Series(rng.choice([200, 200, 200, 404, 503], count)),
            "bytes_sent": pl.Series(rng.integers(0, 20_000, count)),
        }
    ).with_columns(
        method=pl.lit("GET"),
        path=pl.lit("/v1/items"),
        # each user works for one customer (of 50)
        http_x_api_key=pl.lit("key-") + (pl.col("remote_user") % 50).cast(pl.String),
        remote_user=pl.lit("user-") + pl.col("remote_user").cast(pl.String),
    )
    return conform_events(frame)


def _commit(store, frame, source: str) -> None:  # type: ignore[no-untyped-def]
    import polars as pl

    from meterlog.store import Progress

    before = store.progress(source)
    frame = frame.with_columns(
        source_id=pl.lit(source),
        source_offset=pl.int_range(pl.len(), dtype=pl.Int64) + before.offset,
        source_line=pl.int_range(pl.len(), dtype=pl.Int64) + before.lines + 1,
    )
    end = Progress(before.offset + frame.height, before.lines + frame.height)
    store.commit_events(frame, source, end)


def build(path: Path, events: int) -> None:
    sys.path.insert(0, str(ROOT))
    from meterlog.store import Store

    store = Store(path)
    per_day = events // 31
    for day in range(1, 32):
        count = per_day if day < 31 else events - per_day * 30
        _commit(store, _events(count, day, day, 1), f"day-{day}")


def in_process(store: Path, plan: Path) -> dict[str, float]:
    """``compute_invoice`` cold and warm inside one process (no start-up, no output)."""
    from zoneinfo import ZoneInfo

    from meterlog.billing import compute_invoice
    from meterlog.billing.plans import load_plan_file
    from meterlog.query.identity import Identity
    from meterlog.store import Store

    plans, identity, utc = (
        load_plan_file(plan),
        Identity(account_field="http_x_api_key"),
        ZoneInfo("UTC"),
    )
    shutil.rmtree(store / "meter_states", ignore_errors=True)
    began = time.perf_counter()
    compute_invoice(Store(store), plans, "2026-10", utc, identity)
    cold = time.perf_counter() - began
    _commit(Store(store), _events(1_000, 98, 3, 28), "late-again")
    began = time.perf_counter()
    compute_invoice(Store(store), plans, "2026-10", utc, identity)
    return {"in_process_bill_cold": cold, "in_process_bill_warm": time.perf_counter() - began}


def mau_in_process(store: Path) -> dict[str, float]:
    """The month's MAU per account inside one process, next to DuckDB's query, twice each:
    meterlog's one-shot ``quantities`` and the cold cached state (written to the cache)."""
    import duckdb
    import polars as pl

    from meterlog.meters import MauMeter, Period
    from meterlog.meters.cache import month_states
    from meterlog.periods import Month
    from meterlog.query.events import identified_events, pin
    from meterlog.query.identity import Identity
    from meterlog.store import Store

    identity, month = Identity(account_field="http_x_api_key"), Month(2026, 10)
    files = str(store / "events" / "day=2026-10-*" / "*.parquet")
    query = (
        "select http_x_api_key, count(distinct remote_user) from read_parquet(?) "
        "where ts >= timestamptz '2026-10-01 00:00:00+00' "
        "and ts < timestamptz '2026-11-01 00:00:00+00' group by 1"
    )
    results: dict[str, float] = {}
    for run in (1, 2):
        began = time.perf_counter()
        with duckdb.connect() as connection:
            connection.execute("set enable_progress_bar = false")
            connection.execute(query, [files]).fetchall()
        results[f"duckdb_mau_{run}"] = time.perf_counter() - began
        snapshot = pin(Store(store))
        events = identified_events(snapshot, identity, snapshot.pinned)
        began = time.perf_counter()
        MauMeter().quantities(events, Period(month)).collect()
        results[f"meterlog_mau_one_shot_{run}"] = time.perf_counter() - began
        shutil.rmtree(store / "meter_states", ignore_errors=True)
        began = time.perf_counter()
        pl.collect_all(month_states(snapshot, identity, MauMeter(), [month], Period(month).tz))
        results[f"meterlog_mau_cold_cached_{run}"] = time.perf_counter() - began
    return results


def timed(command: list[str]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - began, done.stdout


def main() -> None:
    store = Path(sys.argv[1])
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
    if store.exists():
        shutil.rmtree(store)
    began = time.perf_counter()
    build(store, events)
    build_seconds = time.perf_counter() - began
    plan = store.parent / "bench-plans.toml"
    plan.write_text(PLAN)
    cli = [sys.executable, "-m", "meterlog"]
    common = ["--store", str(store), "--account-field", "http_x_api_key"]
    bill = [*cli, "bill", *common, "--plan", str(plan), "--period", "2026-10", "-f", "csv"]
    cache = store / "meter_states"
    results: dict[str, object] = {
        "events": events,
        "build_seconds": round(build_seconds, 1),
        "load_before": os.getloadavg(),
    }
    mau = [*cli, "mau", *common, "--month", "2026-10", "--by", "account", "-f", "csv"]
    peak = [*cli, "peak", *common, "--month", "2026-10", "--by", "account", "-f", "csv"]
    peak += ["--window", "1h", "--statistic", "p95"]
    results["bill_cold"], _ = timed(bill)
    results["mau_cold"], _ = timed(mau)
    results["peak_cold"], _ = timed(peak)
    sys.path.insert(0, str(ROOT))
    from meterlog.store import Store

    late = _events(1_000, 99, 3, 28)  # late lines for closed days and new ones
    _commit(Store(store), late, "late")
    results["bill_warm"], warm_bill = timed(bill)
    results["mau_warm"], warm_mau = timed(mau)
    results["peak_warm"], warm_peak = timed(peak)
    shutil.rmtree(cache)
    results["bill_cold_after_ingest"], cold_bill = timed(bill)
    results["mau_cold_after_ingest"], cold_mau = timed(mau)
    results["peak_cold_after_ingest"], cold_peak = timed(peak)
    results["same_bytes"] = (warm_bill, warm_mau, warm_peak) == (cold_bill, cold_mau, cold_peak)
    results.update(in_process(store, plan))
    results.update(mau_in_process(store))
    import duckdb

    files = str(store / "events" / "day=2026-10-*" / "*.parquet")
    query = (
        "select http_x_api_key, count(distinct remote_user) from read_parquet(?) "
        "where ts >= timestamptz '2026-10-01 00:00:00+00' "
        "and ts < timestamptz '2026-11-01 00:00:00+00' group by 1"
    )
    began = time.perf_counter()
    with duckdb.connect() as connection:
        rows = connection.execute(query, [files]).fetchall()
    results["duckdb_mau"] = time.perf_counter() - began
    results["duckdb_accounts"] = len(rows)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
