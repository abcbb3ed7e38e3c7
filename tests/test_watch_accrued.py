"""``watch`` with a plan: after any sequence of batches its month-to-date quantities and amounts
are the lines ``bill --period current`` prints at the same store version, for every meter and
pricing model of ``sample_logs/plans.toml``; requests without a key are never charged."""

from __future__ import annotations

import json
import random
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
from prometheus_client.parser import text_string_to_metric_families

from meterlog.billing import Identity, compute_invoice
from meterlog.billing.plans import TOTAL_CHARGE, load_plan_file
from meterlog.ingest import IngestOptions
from meterlog.live import Watcher, WatchOptions
from meterlog.live.dashboard import dashboard_data
from meterlog.live.metrics import MetricsServer
from meterlog.query.identity import load_accounts_file
from meterlog.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
UTC_ZONE = ZoneInfo("UTC")


def _keys() -> list[str | None]:
    lines = (SAMPLES / "accounts.csv").read_text().splitlines()[1:]
    return [line.split(",")[0] for line in lines] + ["key_unknown_1", None, None]


def json_lines(count: int, seed: int, now: datetime) -> list[str]:
    """Requests from the end of last month (every billing zone's) to now, by every account of
    the sample plans, an unknown key and requests without a key."""
    rng = random.Random(seed)
    start = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(hours=8)
    span = max(60.0, (now - start).total_seconds() - 30)
    keys = _keys()
    lines = []
    for i in range(count):
        moment = start + timedelta(seconds=rng.uniform(0, span))
        key = rng.choice(keys)
        record = {
            "time": moment.isoformat(),
            "remote_addr": f"10.0.{rng.randrange(3)}.{rng.randrange(40)}",
            "remote_user": f"user{rng.randrange(80)}" if rng.random() < 0.85 else "-",
            "request": f"{rng.choice(['GET', 'POST', 'HEAD'])} "
            f"{rng.choice(['/v1/orders/1', '/v1/items/2', '/health'])} HTTP/1.1",
            "status": rng.choice([200, 200, 201, 404, 500, 503]),
            "body_bytes_sent": rng.randrange(400_000),
            "request_time": round(rng.uniform(0, 2), 3),
        }
        if key is not None:
            record["http_x_api_key"] = key
        lines.append(json.dumps(record))
    return lines


def scrape_accrued(server: MetricsServer) -> dict[tuple[str, str], float]:
    text = urllib.request.urlopen(server.url, timeout=10).read().decode()
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "meterlog_accrued_amount":
                found[(sample.labels["account"], sample.labels["currency"])] = sample.value
    return found


def test_live_amounts_are_the_current_invoice(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    logs = tmp_path / "logs"
    logs.mkdir()
    store = Store(tmp_path / "store")
    plans = load_plan_file(SAMPLES / "plans.toml")
    identity = Identity(
        account_field="http_x_api_key", accounts=load_accounts_file(SAMPLES / "accounts.csv")
    )
    lines = json_lines(2400, 7, now)
    (logs / "api.log").write_text("\n".join(lines[:600]) + "\n")
    from meterlog.ingest import ingest

    ingest(store, [str(logs)])  # part of the month is in the store before watch starts
    watch = Watcher(
        store,
        [str(logs)],
        IngestOptions(),
        WatchOptions(identity=identity, tz=UTC_ZONE, plan=plans),
    )
    server = MetricsServer(watch, "127.0.0.1", 0)
    try:
        watch.start()
        rng = random.Random(3)
        cuts = sorted(rng.sample(range(601, len(lines)), 4))
        for first, last in zip([600, *cuts], [*cuts, len(lines)], strict=True):
            with (logs / "api.log").open("a") as handle:
                handle.write("\n".join(lines[first:last]) + "\n")
            watch.step()
            version = store.version()
            assert version is not None
            expected = compute_invoice(
                store, plans, "current", UTC_ZONE, identity, check_sources=False
            ).lines
            with watch.mtd_lock:
                live = watch.mtd.invoice_lines(version)
            assert live is not None
            assert live.equals(expected), (live, expected)
        # another writer (a cron ingest of other logs) commits between two batches: watch
        # reads its month again from the store (the meter states bill cached, and the files
        # added since), and still prints bill's lines
        other = tmp_path / "other"
        other.mkdir()
        (other / "api.log").write_text("\n".join(json_lines(300, 8, now)) + "\n")
        ingest(store, [str(other)])
        with (logs / "api.log").open("a") as handle:
            handle.write("\n".join(json_lines(200, 9, now)) + "\n")
        watch.step()
        version = store.version()
        assert version is not None and watch.health().store_version == version
        expected = compute_invoice(
            store, plans, "current", UTC_ZONE, identity, check_sources=False
        ).lines
        with watch.mtd_lock:
            live = watch.mtd.invoice_lines(version)
        assert live is not None and live.equals(expected)
        accrued = scrape_accrued(server)
        data = dashboard_data(watch)
    finally:
        server.close()
        watch.close()

    totals = expected.filter(pl.col("charge") == TOTAL_CHARGE)
    # every meter and pricing model of the sample plans is billed, the unknown key on the
    # default plan, the account in New York on its own month
    assert set(expected.get_column("plan")) == set(plans.plans)
    assert "key_unknown_1" in set(totals.get_column("account"))
    umbrella = expected.filter(pl.col("account") == "umbrella").get_column("period_start")
    new_york = now.astimezone(ZoneInfo("America/New_York"))
    month_start = new_york.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert umbrella[0] == month_start.isoformat()  # its month in New York, with that offset
    # /metrics: meterlog_accrued_amount is each account's TOTAL, and no key-less account
    assert accrued == {
        (account, currency): float(Decimal(amount))
        for account, amount, currency in totals.select("account", "amount", "currency").iter_rows()
    }
    assert not any(account in ("none", "(none)", "") for account, _ in accrued)
    # the dashboard: the same amounts; requests without a key are shown, never charged
    shown: dict[str | None, Decimal] = {}
    for usage in data.plan:
        shown[usage.account] = shown.get(usage.account, Decimal(0)) + usage.amount
    assert shown == {
        account: Decimal(amount)
        for account, amount in totals.select("account", "amount").iter_rows()
    }
    assert None in {row.account for row in data.accounts}
    assert None not in shown
    assert all(account is not None for account, _ in watch.included_units())
