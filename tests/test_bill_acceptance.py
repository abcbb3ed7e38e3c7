"""Acceptance: a plan using every meter and pricing model, with half-cent cases, against an
independent Decimal computation written here from the raw log lines (``json`` and
``decimal`` only, none of meterlog's code), on generated data; and byte-identical re-runs."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from meterlog.cli import main

PLANS = """
default_plan = "basic"
currency = "EUR"

[accounts]
acme = { plan = "pro", tz = "Europe/Berlin" }
globex = { plan = "yen", start = 2026-10-11 }
initech = { plan = "dinar", end = 2026-10-21 }
hooli = { plan = "pro", start = 2026-12-01 }   # not active in October: not billed

[plans.basic]
[[plans.basic.charges]]
name = "requests"
meter = "count"
pricing = "per_unit"
unit_price = "0.125"
per = 100
included = 50

[plans.pro]
base_fee = "49.00"

[[plans.pro.charges]]
name = "users"
meter = "mau"
exclude_status = ["5xx"]
pricing = "graduated"
tiers = [
  { up_to = 5, unit_price = "0", flat_amount = "2.50" },
  { up_to = 50, unit_price = "0.125", flat_amount = "1.005" },
  { unit_price = "0.0625" },
]

[[plans.pro.charges]]
name = "peak_rph"
meter = "peak"
window = "1h"
pricing = "volume"
tiers = [{ up_to = 3, unit_price = "0.505" }, { unit_price = "0.335", flat_amount = "0.125" }]

[[plans.pro.charges]]
name = "item_calls"
meter = "count"
methods = ["GET", "POST"]
endpoints = ["/v1/items/{id}"]
pricing = "per_unit"
unit_price = "0.045"
per = 10
maximum = "3.00"

[[plans.pro.charges]]
name = "transfer"
meter = "sum"
column = "bytes_sent"
divide_by = 1000
rounding = "up"
pricing = "package"
package_size = 10
package_price = "0.015"
minimum = "0.50"

[[plans.pro.charges]]
name = "compute"
meter = "sum"
column = "request_time"
rounding = "nearest"
pricing = "graduated"
per = 60
tiers = [{ up_to = 30, unit_price = "0" }, { unit_price = "0.25" }]

[[plans.pro.charges]]
name = "clients"
meter = "unique"
column = "remote_addr"
exclude_paths = ["/health"]
pricing = "per_unit"
unit_price = "0.205"

[plans.yen]
currency = "JPY"
base_fee = "1000"

[[plans.yen.charges]]
name = "requests"
meter = "count"
exclude_status = ["4xx", "5xx"]
pricing = "per_unit"
unit_price = "1.5"
minimum = "100"

[[plans.yen.charges]]
name = "megabytes"
meter = "sum"
column = "bytes_sent"
divide_by = 1_000_000
rounding = "down"
step = 1
pricing = "per_unit"
unit_price = "12.5"

[plans.dinar]
currency = "KWD"
base_fee = "10.000"

[[plans.dinar.charges]]
name = "endpoints"
meter = "unique"
column = "endpoint"
pricing = "per_unit"
unit_price = "0.0125"

[[plans.dinar.charges]]
name = "users"
meter = "mau"
pricing = "per_unit"
unit_price = "0.0625"
maximum = "0.500"
"""

ACCOUNTS = ["acme", "globex", "initech", "umbrella", "wayne"]
PATHS = ["/v1/items/{n}", "/v1/items/{n}/parts", "/v1/users/{n}", "/health", "/v1/items"]
MINOR = {"EUR": 2, "JPY": 0, "KWD": 3}
UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def generate(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 29, tzinfo=UTC)
    span = (datetime(2026, 11, 2, tzinfo=UTC) - start).total_seconds()
    records = []
    moments = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    # the edges of the month in UTC and in Berlin, and of the prorated accounts
    moments += [
        datetime(2026, 9, 30, 22, 0, 0, tzinfo=UTC),  # 1 October 00:00 in Berlin
        datetime(2026, 10, 31, 22, 59, 59, 999999, tzinfo=UTC),  # last instant in Berlin
        datetime(2026, 10, 31, 23, 0, 0, tzinfo=UTC),  # 1 November in Berlin
        datetime(2026, 10, 10, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 10, 11, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 10, 20, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 10, 21, 0, 0, 0, tzinfo=UTC),
    ]
    for moment in sorted(moments):
        path = rng.choice(PATHS).format(n=rng.randint(1, 40))
        record = {
            "time": moment.isoformat(timespec="microseconds"),
            "remote_addr": f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 30)}",
            "remote_user": rng.choice([f"u{rng.randint(1, 70)}", "-", ""]),
            "request_method": rng.choice(["GET", "GET", "POST", "DELETE"]),
            "request_uri": path + rng.choice(["", "?page=2"]),
            "status": rng.choice([200, 200, 200, 201, 404, 500, 503]),
            "body_bytes_sent": rng.choice([0, rng.randint(1, 99_999), rng.randint(1, 3_000_000)]),
            "request_time": f"{rng.randint(0, 4000) / 1000:.3f}",
            "http_x_api_key": rng.choice(ACCOUNTS),
        }
        records.append(record)
    return records


# -- the independent computation -------------------------------------------------------------


def rounded(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-MINOR[currency]), rounding=ROUND_HALF_EVEN)


def graduated(units: int, tiers: list[tuple[int | None, str, str]], per: int = 1) -> Decimal:
    amount, lower = Decimal(0), 0
    for up_to, price, flat in tiers:
        upper = units if up_to is None else min(units, up_to)
        if upper - lower > 0:
            amount += (upper - lower) * Decimal(price) / per + Decimal(flat)
        if up_to is None or units <= up_to:
            break
        lower = up_to
    return amount


def volume(units: int, tiers: list[tuple[int | None, str, str]]) -> Decimal:
    if units == 0:
        return Decimal(0)
    for up_to, price, flat in tiers:
        if up_to is None or units <= up_to:
            return units * Decimal(price) + Decimal(flat)
    raise AssertionError


def anonymous(user: str) -> bool:
    return user.strip() in ("", "-")


def expected_invoice(records: list[dict]) -> dict[tuple[str, str], tuple[int | None, Decimal]]:
    """(account, charge) -> (quantity, amount rounded), and TOTAL lines."""
    parsed = []
    for record in records:
        moment = datetime.fromisoformat(record["time"])
        path = record["request_uri"].split("?")[0]
        parsed.append({**record, "ts": moment, "path": path})

    def in_month(row: dict, zone: ZoneInfo, first: date | None = None, end: date | None = None):
        local = row["ts"].astimezone(zone)
        if (local.year, local.month) != (2026, 10):
            return False
        if first is not None and local.date() < first:
            return False
        return end is None or local.date() < end

    result: dict[tuple[str, str], tuple[int | None, Decimal]] = {}

    def add(account: str, charge: str, quantity: int | None, amount: Decimal, cur: str):
        result[account, charge] = (quantity, rounded(amount, cur))

    def total(account: str, cur: str) -> None:
        amounts = [amount for (acc, _), (_, amount) in result.items() if acc == account]
        result[account, "TOTAL"] = (None, sum(amounts, Decimal(0)))

    # acme: pro, Berlin months
    rows = [r for r in parsed if r["http_x_api_key"] == "acme" and in_month(r, BERLIN)]
    add("acme", "base_fee", None, Decimal("49.00"), "EUR")
    users = {r["remote_user"].strip() for r in rows if r["status"] < 500}
    users = {u for u in users if not anonymous(u)}
    add(
        "acme",
        "users",
        len(users),
        graduated(
            len(users),
            [(5, "0", "2.50"), (50, "0.125", "1.005"), (None, "0.0625", "0")],
        ),
        "EUR",
    )
    hours: dict[tuple, int] = defaultdict(int)
    for r in rows:
        local = r["ts"].astimezone(BERLIN)
        hours[local.replace(minute=0, second=0, microsecond=0).isoformat()] += 1
    peak = max(hours.values(), default=0)
    add(
        "acme",
        "peak_rph",
        peak,
        volume(peak, [(3, "0.505", "0"), (None, "0.335", "0.125")]),
        "EUR",
    )
    calls = sum(
        1
        for r in rows
        if r["request_method"] in ("GET", "POST")
        and r["path"].startswith("/v1/items/")
        and "/" not in r["path"][len("/v1/items/") :]
        and r["path"] != "/v1/items/"
    )
    add("acme", "item_calls", calls, min(calls * Decimal("0.045") / 10, Decimal("3.00")), "EUR")
    kilobytes = -(-sum(r["body_bytes_sent"] for r in rows) // 1000)
    packages = -(-kilobytes // 10)
    add("acme", "transfer", kilobytes, max(packages * Decimal("0.015"), Decimal("0.50")), "EUR")
    seconds_total = sum(Decimal(r["request_time"]) for r in rows)
    seconds = int(seconds_total.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    add(
        "acme",
        "compute",
        seconds,
        graduated(seconds, [(30, "0", "0"), (None, "0.25", "0")], 60),
        "EUR",
    )
    clients = {r["remote_addr"] for r in rows if r["path"] != "/health"}
    add("acme", "clients", len(clients), len(clients) * Decimal("0.205"), "EUR")
    total("acme", "EUR")

    # globex: yen, active from 11 October (21 of 31 days)
    rows = [
        r
        for r in parsed
        if r["http_x_api_key"] == "globex" and in_month(r, UTC_ZONE, first=date(2026, 10, 11))
    ]
    add("globex", "base_fee", None, Decimal(1000) * 21 / 31, "JPY")
    requests = sum(1 for r in rows if r["status"] < 400)
    add(
        "globex",
        "requests",
        requests,
        max(requests * Decimal("1.5"), Decimal(100) * 21 / 31),
        "JPY",
    )
    megabytes = sum(r["body_bytes_sent"] for r in rows) // 1_000_000
    add("globex", "megabytes", megabytes, megabytes * Decimal("12.5"), "JPY")
    total("globex", "JPY")

    # initech: dinar, active until 21 October (20 of 31 days)
    rows = [
        r
        for r in parsed
        if r["http_x_api_key"] == "initech" and in_month(r, UTC_ZONE, end=date(2026, 10, 21))
    ]
    add("initech", "base_fee", None, Decimal("10.000") * 20 / 31, "KWD")
    endpoints = set()
    for r in rows:
        segments = ["{id}" if part.isdigit() else part for part in r["path"].split("/")]
        endpoints.add("/".join(segments))
    add("initech", "endpoints", len(endpoints), len(endpoints) * Decimal("0.0125"), "KWD")
    users = {r["remote_user"].strip() for r in rows if not anonymous(r["remote_user"])}
    cap = Decimal("0.500") * 20 / 31
    add("initech", "users", len(users), min(len(users) * Decimal("0.0625"), cap), "KWD")
    total("initech", "KWD")

    # everyone else: basic
    for account in ("umbrella", "wayne"):
        rows = [r for r in parsed if r["http_x_api_key"] == account and in_month(r, UTC_ZONE)]
        billable = max(0, len(rows) - 50)
        add(account, "requests", len(rows), billable * Decimal("0.125") / 100, "EUR")
        total(account, "EUR")
    return result


# -- the run -----------------------------------------------------------------------------------


def cli(tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(
        main,
        [*args, "--store", str(tmp_path / "store"), "--account-field", "http_x_api_key"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_meter_and_pricing_model_against_an_independent_computation(
    tmp_path: Path, seed: int
) -> None:
    records = generate(seed, 1500)
    log = tmp_path / "logs" / "requests.jsonl"
    log.parent.mkdir()
    log.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    (tmp_path / "plans.toml").write_text(PLANS, encoding="utf-8")
    CliRunner().invoke(
        main, ["ingest", "-q", "--store", str(tmp_path / "store"), str(log)], catch_exceptions=False
    )
    invoice = cli(
        tmp_path, "bill", "--period", "2026-10", "--plan", str(tmp_path / "plans.toml"), "-f", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(invoice, newline="")))
    got = {
        (row["account"], row["charge"]): (
            int(row["quantity"]) if row["quantity"] else None,
            row["amount"],
        )
        for row in rows
    }
    expected = expected_invoice(records)
    assert set(got) == set(expected)
    for key, (quantity, amount) in expected.items():
        currency = next(row["currency"] for row in rows if row["account"] == key[0])
        assert got[key] == (quantity, format(amount, "f")), (key, currency)
    # each amount with its own currency's decimals
    assert {len(row["amount"].partition(".")[2]) for row in rows if row["currency"] == "JPY"} == {0}
    assert {len(row["amount"].partition(".")[2]) for row in rows if row["currency"] == "KWD"} == {3}
    # the prorated accounts' lines cover their active days only
    globex = next(row for row in rows if row["account"] == "globex")
    assert (globex["period_start"], globex["period_end"]) == (
        "2026-10-11T00:00:00+00:00",
        "2026-11-01T00:00:00+00:00",
    )
    assert "hooli" not in {row["account"] for row in rows}
    # byte-identical re-runs, in every text format
    for fmt in ("csv", "json"):
        args = ("bill", "--period", "2026-10", "--plan", str(tmp_path / "plans.toml"), "-f", fmt)
        assert cli(tmp_path, *args) == cli(tmp_path, *args)
