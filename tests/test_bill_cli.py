"""``meterlog bill`` (and ``mau``/``peak``) end to end on small stores."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from meterlog.cli import main
from tests.support.billing import append_events, build_store

ACCOUNTS_CSV = (
    "key,account\nkey-acme,acme\nkey-globex,globex\nkey-initech,initech\nkey-umbrella,umbrella\n"
)

PLANS = """
default_plan = "volume_plan"
currency = "EUR"

[accounts]
acme = "per_unit_plan"
globex = "graduated_plan"
initech = "package_plan"
hooli = "per_unit_plan"        # listed, no traffic: billed its base fee and minimum

[plans.per_unit_plan]
base_fee = "10.00"
[[plans.per_unit_plan.charges]]
name = "users"
meter = "mau"
pricing = "per_unit"
unit_price = "0.125"
included = 1
minimum = "0.25"

[plans.graduated_plan]
[[plans.graduated_plan.charges]]
name = "users"
meter = "mau"
pricing = "graduated"
tiers = [{ up_to = 2, unit_price = "1.00" }, { unit_price = "0.333" }]
[[plans.graduated_plan.charges]]
name = "peak_rph"
meter = "peak"
window = "1h"
pricing = "per_unit"
unit_price = "0.10"

[plans.package_plan]
[[plans.package_plan.charges]]
name = "users"
meter = "mau"
pricing = "package"
package_size = 2
package_price = "7.50"

[plans.volume_plan]
[[plans.volume_plan.charges]]
name = "users"
meter = "mau"
exclude_status = ["5xx"]
pricing = "volume"
tiers = [{ up_to = 1, unit_price = "3.00" }, { unit_price = "2.005" }]
"""


def rows_for(key: str, users: list[str], ts: str = "2026-10-10T12:00:00", **extra) -> list[dict]:
    return [{"ts": ts, "remote_user": user, "http_x_api_key": key, **extra} for user in users]


# October 2026 (UTC): acme 4 users, globex 5 users (3 requests in one hour), initech 3 users,
# umbrella (unlisted: default plan) 2 users with a 2xx request + 1 user with only a 503.
OCTOBER = [
    *rows_for("key-acme", ["a1", "a2", "a3", "a4"]),
    *rows_for("key-globex", ["g1", "g2", "g3"], "2026-10-05T09:10:00"),
    *rows_for("key-globex", ["g4", "g5"], "2026-10-06T09:10:00"),
    *rows_for("key-initech", ["i1", "i2", "i3"]),
    *rows_for("key-umbrella", ["u1", "u2"]),
    *rows_for("key-umbrella", ["u3"], status=503),
    {"ts": "2026-11-01T00:05:00", "remote_user": "late", "http_x_api_key": "key-acme"},
]


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    (tmp_path / "plans.toml").write_text(PLANS, encoding="utf-8")
    (tmp_path / "accounts.csv").write_text(ACCOUNTS_CSV, encoding="utf-8")
    return tmp_path


def run(tmp_path: Path, *args: str, expect: int = 0):
    command = [
        *args,
        "--store",
        str(tmp_path / "store"),
        "--account-field",
        "http_x_api_key",
        "--accounts",
        str(tmp_path / "accounts.csv"),
    ]
    result = CliRunner().invoke(main, command, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def bill(tmp_path: Path, *args: str, expect: int = 0):
    return run(
        tmp_path,
        "bill",
        "--period",
        "2026-10",
        "--plan",
        str(tmp_path / "plans.toml"),
        *args,
        expect=expect,
    )


def amounts(csv_text: str) -> dict[tuple[str, str], str]:
    lines = csv_text.strip().splitlines()
    header = lines[0].split(",")
    result = {}
    for line in lines[1:]:
        cells = dict(zip(header, line.split(","), strict=False))
        result[cells["account"], cells["charge"]] = cells["amount"]
    return result


def test_invoice_lines_equal_hand_computed_amounts(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    result = bill(setup)
    assert amounts(result.stdout) == {
        # per_unit: base fee 10.00; (4 - 1 included) x 0.125 = 0.375 -> 0.38 (half-even)
        ("acme", "base_fee"): "10.00",
        ("acme", "users"): "0.38",
        ("acme", "TOTAL"): "10.38",
        # graduated: 2 x 1.00 + 3 x 0.333 = 2.999 -> 3.00; peak 3 requests/h x 0.10 = 0.30
        ("globex", "users"): "3.00",
        ("globex", "peak_rph"): "0.30",
        ("globex", "TOTAL"): "3.30",
        # listed without traffic: 0 users, minimum 0.25
        ("hooli", "base_fee"): "10.00",
        ("hooli", "users"): "0.25",
        ("hooli", "TOTAL"): "10.25",
        # package: 3 users -> 2 blocks of 2 x 7.50
        ("initech", "users"): "15.00",
        ("initech", "TOTAL"): "15.00",
        # volume (default plan, 5xx excluded): 2 users > 1 -> all at 2.005 = 4.010
        ("umbrella", "users"): "4.01",
        ("umbrella", "TOTAL"): "4.01",
    }
    header, acme_users = result.stdout.splitlines()[0], result.stdout.splitlines()[2]
    assert header == (
        "account,plan,charge,meter,period_start,period_end,quantity,included,"
        "billable_quantity,unit_price,amount,currency,peak_start,store_version"
    )
    assert acme_users == (
        "acme,per_unit_plan,users,mau,2026-10-01T00:00:00+00:00,2026-11-01T00:00:00+00:00,"
        "4,1,3,3 @ 0.125,0.38,EUR,,0"
    )
    globex_peak = next(line for line in result.stdout.splitlines() if ",peak_rph," in line)
    assert ",3,0,3,3 @ 0.10,0.30,EUR,2026-10-05T09:00:00+00:00,0" in globex_peak
    assert result.stderr == ""


def independent_amount(model: str, users: int) -> Decimal:
    """The sample PLANS priced by hand-written formulas (not the pricing package)."""
    cent = Decimal("0.01")
    if model == "per_unit":
        raw = max(Decimal("0.25"), max(users - 1, 0) * Decimal("0.125"))
    elif model == "graduated":
        raw = min(users, 2) * Decimal("1.00") + max(users - 2, 0) * Decimal("0.333")
    elif model == "package":
        raw = math.ceil(users / 2) * Decimal("7.50")
    else:
        raw = users * (Decimal("3.00") if users <= 1 else Decimal("2.005"))
    return raw.quantize(cent, rounding=ROUND_HALF_EVEN)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invoice_amounts_equal_an_independent_decimal_computation(setup: Path, seed: int) -> None:
    generator = random.Random(seed)
    counts = {key: generator.randint(0, 40) for key in ("acme", "globex", "initech", "umbrella")}
    rows = [
        row
        for key, count in counts.items()
        for row in rows_for(f"key-{key}", [f"{key}{n}" for n in range(count)])
    ]
    rows.append({"ts": "2026-11-02T00:00:00", "http_x_api_key": "key-acme"})
    build_store(setup / "store", rows)
    billed = amounts(bill(setup).stdout)
    models = {"acme": "per_unit", "globex": "graduated", "initech": "package"}
    for account, model in [*models.items(), ("umbrella", "volume")]:
        if counts[account] == 0 and account == "umbrella":
            assert (account, "users") not in billed  # unlisted, no traffic: no invoice
            continue
        assert billed[account, "users"] == str(independent_amount(model, counts[account]))


def test_same_command_twice_gives_identical_bytes(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    first = setup / "first.csv"
    second = setup / "second.csv"
    bill(setup, "-o", str(first))
    bill(setup, "-o", str(second))
    assert first.read_bytes() == second.read_bytes()
    assert bill(setup, "-f", "json").stdout == bill(setup, "-f", "json").stdout


def test_as_of_reproduces_an_earlier_invoice_after_more_data(setup: Path) -> None:
    store = build_store(setup / "store", OCTOBER)
    before = bill(setup).stdout
    append_events(store, rows_for("key-acme", ["a5", "a6"]))
    after = bill(setup).stdout
    assert amounts(after)["acme", "users"] == "0.62"  # (6 - 1) x 0.125 = 0.625 -> 0.62
    assert after.splitlines()[1].endswith(",1")  # store_version 1
    assert bill(setup, "--as-of", "0").stdout == before


def test_as_of_a_version_that_does_not_exist(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    result = bill(setup, "--as-of", "5", expect=1)
    assert result.stderr == (
        f"meterlog: error: store version 5 does not exist: {setup / 'store'} has versions 0 to 0\n"
    )


def test_compare_lists_what_changed_as_adjustment_lines(setup: Path) -> None:
    store = build_store(setup / "store", OCTOBER)
    previous = setup / "invoice-v0.csv"
    bill(setup, "-o", str(previous))
    append_events(store, [*rows_for("key-acme", ["a5", "a6"]), *rows_for("key-new", ["n1"])])
    result = bill(setup, "--compare", str(previous))
    assert result.stdout.splitlines() == [
        "account,charge,currency,previous_quantity,new_quantity,previous_amount,new_amount,"
        "difference,previous_store_version,store_version",
        "acme,users,EUR,4,6,0.38,0.62,0.24,0,1",
        "acme,TOTAL,EUR,,,10.38,10.62,0.24,0,1",
        # a new account (default plan): everything is new
        "key-new,users,EUR,,1,0.00,3.00,3.00,,1",
        "key-new,TOTAL,EUR,,,0.00,3.00,3.00,,1",
    ]
    assert "1 http_x_api_key values are not in the accounts file (key-ne...)" in result.stderr
    since = bill(setup, "--since-version", "0")
    assert since.stdout == result.stdout


def test_compare_with_no_change_writes_only_the_header(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    previous = setup / "invoice.csv"
    bill(setup, "-o", str(previous))
    assert len(bill(setup, "--compare", str(previous)).stdout.splitlines()) == 1


def test_compare_refuses_another_period(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    previous = setup / "september.csv"
    plan = str(setup / "plans.toml")
    run(setup, "bill", "--period", "2026-09", "--plan", plan, "-o", str(previous))
    result = bill(setup, "--compare", str(previous), expect=1)
    assert result.stderr.startswith(
        f"meterlog: error: {previous} bills acme for the period starting "
        "2026-09-01T00:00:00+00:00, this run for 2026-10-01T00:00:00+00:00"
    )


def test_compare_refuses_a_file_that_is_not_an_invoice(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    other = setup / "other.csv"
    other.write_text("account,month,mau\nacme,2026-10,3\n", encoding="utf-8")
    result = bill(setup, "--compare", str(other), expect=1)
    assert result.stderr == (
        f"meterlog: error: {other}: not a meterlog bill CSV: missing column(s) charge, "
        "quantity, amount, currency, period_start; pass a file written by "
        "'meterlog bill --format csv'\n"
    )


def test_compare_and_since_version_are_exclusive(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    result = bill(setup, "--compare", "x.csv", "--since-version", "0", expect=2)
    assert "use either --compare or --since-version, not both" in result.stderr


def test_completeness_guard_warns_and_can_refuse(setup: Path) -> None:
    store = build_store(setup / "store", OCTOBER[:-1])  # nothing after 31 October
    result = bill(setup)
    assert result.stderr == (
        "meterlog: warning: the store's data ends at 2026-10-10T12:00:00+00:00, before the end "
        "of period 2026-10 (2026-11-01T00:00:00+00:00, UTC): the invoice may be incomplete; "
        "ingest the rest of the logs or bill later\n"
    )
    assert result.stdout.startswith("account,plan,")
    output = setup / "invoice.csv"
    refused = bill(setup, "--require-complete", "-o", str(output), expect=1)
    assert refused.stderr.endswith(
        "meterlog: error: the store may not hold the whole billing period (see the warnings "
        "above); nothing written because of --require-complete\n"
    )
    assert not output.exists()
    append_events(store, [{"ts": "2026-11-01T00:00:00", "http_x_api_key": "key-acme"}])
    assert bill(setup, "--require-complete", "-o", str(output)).stderr == ""
    assert output.exists()


def test_explain_exports_the_inputs_of_an_account(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    result = bill(setup, "--explain", "globex", "-f", "json")
    rows = json.loads(result.stdout)
    users = [row["user"] for row in rows if row["charge"] == "users"]
    assert users == ["g1", "g2", "g3", "g4", "g5"]
    windows = [row for row in rows if row["charge"] == "peak_rph"]
    assert len(windows) == 31 * 24
    peaks = [row for row in windows if row["is_peak"]]
    assert [(row["window_start"], row["value"]) for row in peaks] == [
        ("2026-10-05T09:00:00+00:00", 3)
    ]


def test_plan_mistakes_stop_before_anything_is_computed(setup: Path) -> None:
    (setup / "plans.toml").write_text(PLANS.replace('"0.125"', "0.125"), encoding="utf-8")
    result = bill(setup, expect=1)  # no store exists: the plan is checked first
    assert result.stderr == (
        f"meterlog: error: {setup / 'plans.toml'}: plans.per_unit_plan.charges[0].unit_price: "
        'write amounts as strings, e.g. unit_price = "0.125": a TOML float is binary and cannot '
        "hold every decimal exactly\n"
    )


def test_bad_period(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    plan = str(setup / "plans.toml")
    result = run(setup, "bill", "--period", "october", "--plan", plan, expect=2)
    assert result.stderr == (
        "meterlog: error: cannot read month 'october': use YYYY-MM (e.g. 2026-10), "
        "previous or current\n"
    )


def test_accounts_in_other_time_zones_get_their_own_month(setup: Path) -> None:
    plans = PLANS.replace(
        'acme = "per_unit_plan"', 'acme = { plan = "per_unit_plan", tz = "Europe/Berlin" }'
    )
    (setup / "plans.toml").write_text(plans, encoding="utf-8")
    early = {"ts": "2026-09-30T22:30:00", "remote_user": "early", "http_x_api_key": "key-acme"}
    build_store(setup / "store", [*OCTOBER, early])
    lines = [line for line in bill(setup).stdout.splitlines() if line.startswith("acme,")]
    # a1-a4 and "early" (00:30 on 1 October in Berlin); "late" is 1 November 01:05 there.
    assert lines[1].startswith(
        "acme,per_unit_plan,users,mau,2026-10-01T00:00:00+02:00,2026-11-01T00:00:00+01:00,5,"
    )


# -- mau and peak --------------------------------------------------------------------------


def test_mau_by_account_over_a_month_range(setup: Path) -> None:
    early = {"ts": "2026-09-30T22:30:00", "remote_user": "a1", "http_x_api_key": "key-acme"}
    build_store(setup / "store", [*OCTOBER, early])
    result = run(setup, "mau", "--month", "2026-09..2026-11", "--by", "account")
    assert result.stdout.splitlines() == [
        "account,month,mau",
        "acme,2026-09,1",
        "acme,2026-10,4",
        "acme,2026-11,1",
        "globex,2026-10,5",
        "initech,2026-10,3",
        "umbrella,2026-10,3",
    ]
    berlin = run(setup, "mau", "--month", "2026-09", "--by", "account", "--tz", "Europe/Berlin")
    assert berlin.stdout.splitlines() == ["account,month,mau"]
    total = run(setup, "mau", "--month", "2026-10", "--exclude-status", "5xx")
    assert total.stdout.splitlines() == ["account,month,mau", "default,2026-10,14"]


def test_mau_list_users(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    result = run(setup, "mau", "--month", "2026-10", "--by", "account", "--list-users")
    lines = result.stdout.splitlines()
    assert lines[0] == "account,month,user,first_seen,last_seen,requests"
    assert lines[1] == "acme,2026-10,a1,2026-10-10T12:00:00+00:00,2026-10-10T12:00:00+00:00,1"
    assert len(lines) == 1 + 15


def test_peak_report_and_windows(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    result = run(setup, "peak", "--month", "2026-10", "--by", "account", "--tz", "Europe/Berlin")
    assert result.stdout.splitlines()[:3] == [
        "account,month,window,metric,peak,peak_start",
        "acme,2026-10,1h,requests,4,2026-10-10T14:00:00+02:00",
        "globex,2026-10,1h,requests,3,2026-10-05T11:00:00+02:00",
    ]
    args = ["--by", "account", "--windows", "--window", "1d", "--metric", "users"]
    lines = run(setup, "peak", "--month", "2026-10", *args).stdout.splitlines()
    assert lines[0] == "account,month,window_start,window_end,value,rank,is_peak"
    assert len(lines) == 1 + 4 * 31
    assert "acme,2026-10,2026-10-10T00:00:00+00:00,2026-10-11T00:00:00+00:00,4,31,true" in lines


def test_peak_usage_errors_exit_2(setup: Path) -> None:
    build_store(setup / "store", OCTOBER)
    result = run(setup, "peak", "--month", "2026-10", "--statistic", "p0", expect=2)
    assert "Invalid value for '--statistic': cannot read 'p0'" in result.stderr
    result = run(setup, "peak", "--month", "2026-10", "--window", "2h", expect=2)
    assert "Invalid value for '--window'" in result.stderr


def test_help_texts_have_examples() -> None:
    for command in ("mau", "peak", "bill"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.stdout and f"meterlog {command} " in result.stdout


# -- acceptance: MAU and peak hourly requests against an independent reference ---------------


def random_rows(seed: int, count: int) -> list[dict]:
    generator = random.Random(seed)
    start = datetime(2026, 9, 28, tzinfo=UTC)
    busy_hours = [datetime(2026, 10, day, tzinfo=UTC) for day in (3, 25, 31)]
    rows = []
    for _ in range(count):
        if generator.random() < 0.25:  # bursts: a quarter of the requests in a few hours
            moment = generator.choice(busy_hours) + timedelta(seconds=generator.randrange(10800))
        else:
            moment = start + timedelta(seconds=generator.randrange(40 * 24 * 3600))
        rows.append(
            {
                "ts": moment.strftime("%Y-%m-%dT%H:%M:%S"),
                "remote_user": generator.choice([None, "-", *(f"user{n}" for n in range(60))]),
                "http_x_api_key": generator.choice(
                    ["key-acme", "key-globex", "key-initech", "key-hooli"]
                ),
            }
        )
    return rows


def reference(rows: list[dict], zone: ZoneInfo, year: int, month: int):
    """MAU and peak hourly requests per account by plain Python over the rows.

    Hourly windows are UTC hours: every zone tested has whole-hour offsets.
    """
    start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone).astimezone(UTC)
    users: dict[str, set[str]] = defaultdict(set)
    hours: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        ts = datetime.fromisoformat(row["ts"]).replace(tzinfo=UTC)
        if start <= ts < end:
            account = row["http_x_api_key"].removeprefix("key-")
            hours[account][ts.replace(minute=0, second=0)] += 1
            if row["remote_user"] not in (None, "-"):
                users[account].add(row["remote_user"])
    mau = {account: len(users[account]) for account in hours}
    peak = {}
    for account, counts in hours.items():
        best = max(counts.values())
        first = min(hour for hour, value in counts.items() if value == best)
        peak[account] = (best, first.astimezone(zone).isoformat())
    return mau, peak


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_mau_and_peak_equal_an_independent_reference(setup: Path, zone: str) -> None:
    rows = random_rows(7, 3000)
    build_store(setup / "store", rows[:1500], rows[1500:])
    (setup / "accounts.csv").write_text(ACCOUNTS_CSV + "key-hooli,hooli\n", encoding="utf-8")
    for year, month in [(2026, 9), (2026, 10)]:
        label = f"{year}-{month:02d}"
        expected_mau, expected_peak = reference(rows, ZoneInfo(zone), year, month)
        args = ["--month", label, "--by", "account", "--tz", zone]
        mau_lines = run(setup, "mau", *args).stdout.splitlines()[1:]
        assert {line.split(",")[0]: int(line.split(",")[2]) for line in mau_lines} == (expected_mau)
        peak_lines = run(setup, "peak", *args).stdout.splitlines()[1:]
        got_peak = {}
        for line in peak_lines:
            account, _, _, _, value, start = line.split(",")
            got_peak[account] = (int(value), start)
        assert got_peak == expected_peak


# -- the manual's cron set-up (docs/billing.md) works as written --------------------------------

BILLING_PAGE = Path(__file__).resolve().parent.parent / "docs" / "billing.md"


def readme_block(info: str) -> str:
    """The fenced block of the billing page in the language ``info`` starts with; with a path
    after the language, the first such block after the line that names that path."""
    text = BILLING_PAGE.read_text(encoding="utf-8")
    language, _, path = info.partition(" ")
    start = text.index(f"\n`{path}`") if path else 0
    start = text.index(f"```{language}\n", start) + len(language) + 4
    return text[start : text.index("```", start)]


def previous_month(now: datetime) -> datetime:
    return (now.replace(day=1) - timedelta(days=1)).replace(hour=12, minute=0, second=0)


def json_line(moment: datetime, user: str, key: str) -> str:
    record = {
        "time": moment.isoformat(),
        "remote_addr": "10.0.0.1",
        "remote_user": user,
        "request": "GET /v1/items HTTP/1.1",
        "status": 200,
        "body_bytes_sent": 10,
        "http_x_api_key": key,
    }
    return json.dumps(record) + "\n"


def readme_cron(tmp_path: Path):
    """The manual's files and crontab, with paths under ``tmp_path``: (jobs, env)."""

    def local(text: str) -> str:
        for original, replacement in [
            ("/etc/meterlog", str(tmp_path / "etc")),
            ("/var/lib/meterlog", str(tmp_path / "var")),
            ("/var/log/meterlog", str(tmp_path / "log")),
            ("/var/log/nginx", str(tmp_path / "nginx")),
            ("/opt/meterlog/.venv/bin/meterlog", f"{sys.executable} -m meterlog"),
        ]:
            text = text.replace(original, replacement)
        return text

    for folder in ("etc", "var/invoices", "var/store", "log", "nginx"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("meterlog.toml", "accounts.csv", "plans.toml"):
        kind = "csv" if name.endswith(".csv") else "toml"
        (tmp_path / "etc" / name).write_text(
            local(readme_block(f"{kind} /etc/meterlog/{name}")), encoding="utf-8"
        )
    crontab = readme_block("crontab").splitlines()
    environment = dict(line.split("=", 1) for line in crontab if "=" in line.split()[0])
    jobs = {}
    for line in crontab:
        if line[:1].isdigit():
            minute, hour, day, month, weekday, command = line.split(" ", 5)
            name = command.split()[1]  # ingest, bill
            jobs[name] = ((minute, hour, day, month, weekday), local(command).replace("\\%", "%"))
    env = {
        **os.environ,
        **{key: local(value) for key, value in environment.items()},
        "PYTHONPATH": str(BILLING_PAGE.parent.parent),
    }
    return jobs, env


@pytest.mark.slow
def test_readme_cron_setup_works_as_written(tmp_path: Path) -> None:
    jobs, env = readme_cron(tmp_path)
    assert jobs["ingest"][0] == ("5", "*", "*", "*", "*")
    assert jobs["bill"][0] == ("30", "6", "2", "*", "*")
    assert "$(" not in jobs["bill"][1]  # no date arithmetic

    def cron_run(name: str) -> int:
        command = ["/bin/sh", "-c", jobs[name][1]]
        return subprocess.run(command, env=env, cwd=tmp_path, check=False).returncode

    now = datetime.now(UTC).replace(microsecond=0)
    billed = previous_month(now)
    nginx = tmp_path / "nginx"
    log = nginx / "access.log"
    log.write_text(
        json_line(billed.replace(day=10), "a1", "k-7f3a9c")
        + json_line(billed.replace(day=10), "g1", "k-02bd41"),
        encoding="utf-8",
    )
    assert cron_run("ingest") == 0  # the last hourly ingest that saw the billed month...
    with log.open("a", encoding="utf-8") as handle:  # ...then more of it, then logrotate
        handle.write(json_line(billed.replace(day=20), "a2", "k-7f3a9c"))
    log.rename(nginx / "access.log.1")
    log.write_text(json_line(now - timedelta(seconds=2), "a3", "k-7f3a9c"), encoding="utf-8")
    assert cron_run("ingest") == 0
    # nginx keeps writing: a new line, and half of the next one
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json_line(now - timedelta(seconds=1), "a4", "k-7f3a9c"))
        handle.write(json_line(billed.replace(day=25), "x", "k-7f3a9c")[:30])
    assert cron_run("bill") == 0
    month = billed.strftime("%Y-%m")
    invoice = (tmp_path / "var" / "invoices" / f"invoice-{month}.csv").read_text()
    assert invoice.startswith("account,plan,charge,meter,period_start,")
    assert "\nacme,pro,base_fee," in invoice and "\nglobex,pro,TOTAL," in invoice
    acme_users = next(line for line in invoice.splitlines() if line.startswith("acme,pro,active"))
    assert ",2,0," in acme_users  # a1 and a2: the rotated file's last line is billed
    quality = (tmp_path / "var" / "invoices" / f"quality-{month}.csv").read_text()
    assert quality.startswith("store_version,period_start,period_end,requests,")
    assert (tmp_path / "log" / "bill.log").read_text() == ""  # -q: nothing to say


@pytest.mark.slow
def test_readme_cron_refuses_while_a_rotated_file_holds_unread_lines(tmp_path: Path) -> None:
    jobs, env = readme_cron(tmp_path)

    def cron_run(name: str) -> int:
        command = ["/bin/sh", "-c", jobs[name][1]]
        return subprocess.run(command, env=env, cwd=tmp_path, check=False).returncode

    now = datetime.now(UTC).replace(microsecond=0)
    billed = previous_month(now)
    nginx = tmp_path / "nginx"
    log = nginx / "access.log"
    log.write_text(json_line(billed.replace(day=10), "a1", "k-7f3a9c"), encoding="utf-8")
    assert cron_run("ingest") == 0
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json_line(billed.replace(day=20), "a2", "k-7f3a9c"))
    log.rename(nginx / "access.log.1")
    log.write_text(json_line(now - timedelta(seconds=2), "a3", "k-7f3a9c"), encoding="utf-8")
    # the new file alone is ingested (say, by hand): the rotated one still holds unread lines
    ingest = jobs["ingest"][1].replace(str(nginx) + "/", str(log))
    assert subprocess.run(["/bin/sh", "-c", ingest], env=env, check=False).returncode == 0
    assert cron_run("bill") == 1
    assert list((tmp_path / "var" / "invoices").iterdir()) == []
    message = (tmp_path / "log" / "bill.log").read_text()
    assert message.startswith("meterlog: error: the store may not hold the whole billing period")
    assert f"source {nginx / 'access.log.1'} has lines from " in message
    assert "nothing written because of --require-complete" in message
    assert message.count("\n") == 1  # -q: the error line alone, with the reason in it
    assert cron_run("ingest") == 0
    assert cron_run("bill") == 0
