"""The meters on other engines: DuckDB in the normal suite, a real Spark (local and a standalone
master and worker on 127.0.0.1) in the slow tier. Whatever the engine, the invoice is the same
bytes: the engines compute the meters' states from the same store version with SQL generated
from the meter definitions, and meterlog finalises and prices them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from meterlog.billing import compute_invoice, invoice_json
from meterlog.billing.plans import load_plan_file
from meterlog.billing.sql import charge_query
from meterlog.engines import open_engine
from meterlog.engines.sql import column_kinds
from meterlog.meters import Period
from meterlog.periods import Month
from meterlog.query.events import pin
from meterlog.query.identity import Identity
from meterlog.store import Store
from tests.support import REPO, cli
from tests.support.billing import append_events

SAMPLE = REPO / "sample_logs"

pytest.importorskip("duckdb", reason="DuckDB is not installed (pip install duckdb)")

KEYS = {
    "key-berlin": "berlin",
    "key-newyork": "newyork",
    "key-kolkata": "kolkata",
    "key-utc": "utcco",
}
PLAN = """
default_plan = "basic"
currency = "EUR"

[accounts]
berlin = { plan = "full", tz = "Europe/Berlin" }
newyork = { plan = "full", tz = "America/New_York", start = 2026-10-20 }
kolkata = { plan = "basic", tz = "Asia/Kolkata" }

[plans.basic]
[[plans.basic.charges]]
name = "users"
meter = "mau"
exclude_status = ["5xx"]
exclude_paths = ["/health", "/internal/*"]
pricing = "per_unit"
unit_price = "0.37"
included = 2
minimum = "1.00"

[plans.full]
base_fee = "10.00"
[[plans.full.charges]]
name = "users"
meter = "mau"
methods = ["get", "POST"]
pricing = "graduated"
tiers = [{ up_to = 3, unit_price = "0" }, { unit_price = "0.55" }]
[[plans.full.charges]]
name = "peak_hour"
meter = "peak"
metric = "requests"
window = "1h"
statistic = "p95"
pricing = "package"
package_size = 5
package_price = "1.10"
[[plans.full.charges]]
name = "peak_5m_max"
meter = "peak"
metric = "requests"
window = "5m"
statistic = "max"
pricing = "per_unit"
unit_price = "0.01"
[[plans.full.charges]]
name = "daily_users"
meter = "peak"
metric = "users"
window = "1d"
pricing = "per_unit"
unit_price = "0.02"
[[plans.full.charges]]
name = "errors"
meter = "peak"
metric = "errors_5xx"
window = "1h"
pricing = "per_unit"
unit_price = "0.03"
[[plans.full.charges]]
name = "bytes_peak"
meter = "peak"
metric = "bytes_sent"
window = "1m"
statistic = "p50"
pricing = "per_unit"
unit_price = "0.000001"
[[plans.full.charges]]
name = "calls"
meter = "count"
endpoints = ["/v1/users/{id}"]
pricing = "volume"
tiers = [{ up_to = 10, unit_price = "0.10" }, { unit_price = "0.05" }]
[[plans.full.charges]]
name = "traffic"
meter = "sum"
column = "bytes_sent"
divide_by = 1000
rounding = "up"
pricing = "per_unit"
unit_price = "0.002"
[[plans.full.charges]]
name = "seconds"
meter = "sum"
column = "request_time"
step = 1
rounding = "nearest"
pricing = "per_unit"
unit_price = "0.004"
[[plans.full.charges]]
name = "addresses"
meter = "unique"
column = "remote_addr"
exclude_status = [404]
pricing = "per_unit"
unit_price = "0.09"
"""
USERS = ["ann", " bob ", "carl\t", "-", "", "dora lee", "eve", "f\u00a0", None]
PATHS = ["/v1/users/7", "/v1/users/8/orders", "/health", "/internal/x", "/v1/items", "/v1/users/9"]


def generated(seed: int, count: int = 1500) -> list[dict[str, object]]:
    """Requests around two DST changes (Europe 25 Oct, America 1 Nov) and the month boundary in
    every zone, with messy identities, every status class and missing values."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 24, tzinfo=UTC)
    rows = []
    for _ in range(count):
        moment = start + timedelta(seconds=rng.randrange(10 * 24 * 3600))
        key = rng.choice([*KEYS, "key-unlisted", None, " key-berlin "])
        rows.append(
            {
                "ts": moment.replace(tzinfo=None).isoformat(),
                "remote_user": rng.choice(USERS),
                "http_x_api_key": key,
                "remote_addr": f"10.0.{rng.randrange(3)}.{rng.randrange(6)}",
                "method": rng.choice(["GET", "get", "POST", "DELETE", None]),
                "path": rng.choice(PATHS),
                "status": rng.choice([200, 200, 201, 404, 500, 503, None]),
                "bytes_sent": rng.choice([0, 512, 1999, 70000, None]),
                "request_time": rng.choice([0.0015, 0.25, 1.5, 2.4995, None]),
            }
        )
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store written in several commits (several data files per day)."""
    path = tmp_path_factory.mktemp("engines") / "store"
    store = Store(path)
    rows = generated(7)
    for part in range(3):
        append_events(store, rows[part::3], source_id=f"src{part}")
    return store


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "plans.toml"
    path.write_text(PLAN)
    return path


IDENTITY = Identity("remote_user", "http_x_api_key", KEYS)


@pytest.mark.parametrize("month", ["2026-10", "2026-11"])
def test_duckdb_invoice_is_the_same_bytes(store: Store, plan_file: Path, month: str) -> None:
    plans = load_plan_file(plan_file)
    snapshot = pin(store)
    zone = ZoneInfo("UTC")
    ours = compute_invoice(snapshot, plans, month, zone, IDENTITY, cache=False)
    engine = open_engine("duckdb", snapshot, snapshot.pinned)
    assert engine is not None
    try:
        theirs = compute_invoice(snapshot, plans, month, zone, IDENTITY, engine=engine)
    finally:
        engine.close()
    assert ours.lines.height > 20
    assert invoice_json(theirs) == invoice_json(ours)


def test_every_meter_state_matches_on_duckdb(store: Store, plan_file: Path) -> None:
    """State for state (after merging nothing into it), not only the priced result."""
    plans = load_plan_file(plan_file)
    snapshot = pin(store)
    events = IDENTITY.apply(snapshot.scan_events())
    engine = open_engine("duckdb", snapshot, snapshot.pinned)
    assert engine is not None
    try:
        for meter in plans.meters():
            for zone in ("Europe/Berlin", "America/New_York", "Asia/Kolkata"):
                period = Period(Month(2026, 10), ZoneInfo(zone))
                ours = meter.finalize(meter.partial(events, period), period).collect()
                theirs = meter.finalize(engine.state(meter, period, IDENTITY), period).collect()
                assert theirs.equals(ours), (meter, zone)
    finally:
        engine.close()


def test_sql_command_query_run_by_duckdb_gives_mau(store: Store, plan_file: Path) -> None:
    import duckdb

    result = cli(
        "sql", "--store", str(store.uri), "--meter", "basic.users", "--plan", str(plan_file),
        "--month", "2026-10", "--tz", "Asia/Kolkata", "--account-field", "http_x_api_key",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "meterlog_events" in result.stdout
    snapshot = pin(store)
    engine = open_engine("duckdb", snapshot, snapshot.pinned)
    assert engine is not None
    files = sorted(str(p) for p in Path(str(store.uri)).joinpath("events").rglob("*.parquet"))
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    listed = ", ".join(f"'{f}'" for f in files)
    connection.execute(
        f"CREATE VIEW meterlog_events AS SELECT * FROM read_parquet([{listed}], "
        "union_by_name = true)"
    )
    state = pl.from_arrow(connection.sql(result.stdout.rstrip().rstrip(";")).to_arrow_table())
    assert isinstance(state, pl.DataFrame)
    theirs = (
        state.group_by("account")
        .agg(pl.col("value").drop_nulls().n_unique().alias("mau"))
        .sort("account", nulls_last=True)
    )
    mau = cli(
        "mau", "--store", str(store.uri), "--month", "2026-10", "--by", "account",
        "--tz", "Asia/Kolkata", "--account-field", "http_x_api_key", "--exclude-status", "5xx",
        "--exclude-path", "/health", "--exclude-path", "/internal/*", "--format", "csv",
    )  # fmt: skip
    assert mau.exit_code == 0, mau.output
    ours = pl.read_csv(mau.stdout.encode(), schema_overrides={"account": pl.String})
    assert dict(zip(ours["account"], ours["mau"], strict=True)) == dict(
        zip(theirs["account"], theirs["mau"], strict=True)
    )
    engine.close()


def test_spark_queries_are_translated_from_one_source(store: Store, plan_file: Path) -> None:
    plans = load_plan_file(plan_file)
    columns = column_kinds(dict(store.scan_events().collect_schema()))
    for dialect in ("duckdb", "spark", "trino"):
        query = charge_query(
            plans, "full.seconds", Month(2026, 10), ZoneInfo("UTC"), IDENTITY, columns, dialect
        )
        import sqlglot

        assert "meterlog_events" in query
        assert len(sqlglot.parse(query, read=dialect)) == 1


def test_unknown_charge_is_a_usage_error(plan_file: Path, tmp_path: Path) -> None:
    result = cli("sql", "--store", str(tmp_path / "none"), "--meter", "nope", "--plan",
                 str(plan_file))  # fmt: skip
    assert result.exit_code == 2
    assert "no charge 'nope'" in result.output


def _bill(store: Path, engine: str, *extra: str) -> str:
    result = cli(
        "bill", "--store", str(store), "--account-field", "http_x_api_key", "--accounts",
        str(SAMPLE / "accounts.csv"), "--month", "2026-10", "--plan", str(SAMPLE / "plans.toml"),
        "--format", "csv", "--engine", engine, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def test_bundled_sample_bill_on_duckdb_is_the_same_bytes(sample_store: Path) -> None:
    store = sample_store
    assert _bill(store, "duckdb") == _bill(store, "polars")


@pytest.mark.slow
def test_bundled_sample_bill_on_spark_is_the_same_bytes(sample_store: Path, tmp_path: Path) -> None:
    """A real Spark: local[2], then a standalone master and one worker on 127.0.0.1."""
    from tests.support.spark import spark_home, standalone_cluster

    spark_home()
    store = sample_store
    polars = _bill(store, "polars")
    assert _bill(store, "spark", "--spark-master", "local[2]") == polars
    work = tmp_path / "spark"
    work.mkdir()
    with standalone_cluster(work) as master:
        assert _bill(store, "spark", "--spark-master", master) == polars


@pytest.mark.slow  # the whole report, twice
def test_report_invoice_section_on_duckdb_is_the_same_bytes(
    sample_store: Path, tmp_path: Path
) -> None:
    """The report's billing section computed on DuckDB: the same page, byte for byte."""
    store = sample_store
    pages = []
    for engine in ("polars", "duckdb"):
        page = tmp_path / f"report-{engine}.html"
        result = cli(
            "report", "--store", str(store), "--account-field", "http_x_api_key", "--accounts",
            str(SAMPLE / "accounts.csv"), "--month", "2026-10", "--plan",
            str(SAMPLE / "plans.toml"), "--engine", engine, "-o", str(page),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        pages.append(page.read_bytes())
    assert b"Invoice 2026-10" in pages[0]
    assert pages[0] == pages[1]


def test_a_meter_without_sql_is_refused_not_miscounted(sample_store: Path, tmp_path: Path) -> None:
    """``unique`` over the endpoint templates meterlog derives from paths has no SQL: the
    engine says so (exit 2) instead of counting nothing, in ``bill`` and in ``report``."""
    store = sample_store
    plans = tmp_path / "endpoints.toml"
    plans.write_text(
        'default_plan = "p"\ncurrency = "EUR"\n[plans.p]\n[[plans.p.charges]]\n'
        'name = "endpoints"\nmeter = "unique"\ncolumn = "endpoint"\npricing = "per_unit"\n'
        'unit_price = "1.00"\n'
    )
    common = ["--store", str(store), "--month", "2026-10", "--plan", str(plans)]
    bill = cli("bill", *common, "--engine", "duckdb")
    report = cli("report", *common, "--engine", "duckdb", "-o", str(tmp_path / "r.html"))
    for result in (bill, report):
        assert result.exit_code == 2
        assert "no SQL for unique over the endpoint templates" in result.output
    assert cli("bill", *common).exit_code == 0
