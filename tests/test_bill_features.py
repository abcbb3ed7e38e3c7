"""``bill``: prorated accounts, the data-quality block, JSON, re-rating, evidence of the new
meters, quiet runs and ``{period}`` file names; ``mau``/``peak`` empty notes; ``maintain -q``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from meterlog.cli import main
from tests.support.billing import build_store

PLANS = """
default_plan = "basic"
currency = "EUR"

[accounts]
acme = { plan = "pro", start = 2026-10-15 }
globex = { plan = "pro", end = 2026-10-11 }
initech = { plan = "pro", end = 2026-10-01 }

[plans.basic]
[[plans.basic.charges]]
name = "requests"
meter = "count"
pricing = "per_unit"
unit_price = "0.10"

[plans.pro]
base_fee = "31.00"
[[plans.pro.charges]]
name = "requests"
meter = "count"
pricing = "per_unit"
unit_price = "1.00"
minimum = "6.20"
maximum = "9.30"
[[plans.pro.charges]]
name = "kilobytes"
meter = "sum"
column = "bytes_sent"
divide_by = 1000
pricing = "per_unit"
unit_price = "0.01"
[[plans.pro.charges]]
name = "clients"
meter = "unique"
column = "remote_addr"
pricing = "per_unit"
unit_price = "0.50"
"""


def row(ts: str, key: str = "key-acme", **extra) -> dict:
    return {"ts": ts, "http_x_api_key": key, **extra}


OCTOBER = [
    row("2026-10-01T10:00:00", remote_addr="10.0.0.1"),  # acme before its start: not billed
    row("2026-10-15T00:00:00", remote_addr="10.0.0.2", bytes_sent=1500),
    row("2026-10-20T12:00:00", remote_addr="10.0.0.3", bytes_sent=1),
    row("2026-10-01T00:00:00", "key-globex", remote_addr="10.0.0.9"),
    row("2026-10-10T23:59:59", "key-globex", remote_addr="10.0.0.9"),
    row("2026-10-11T00:00:00", "key-globex", remote_addr="10.0.0.8"),  # after globex's end
    row("2026-10-12T00:00:00", "key-umbrella", remote_user="ann"),
    row("2026-10-12T00:00:01", "key-umbrella"),
    row("2026-11-01T00:00:00", "key-umbrella"),
]


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    (tmp_path / "plans.toml").write_text(PLANS, encoding="utf-8")
    build_store(tmp_path / "store", OCTOBER)
    return tmp_path


def bill(tmp_path: Path, *args: str, expect: int = 0, plan: str = "plans.toml"):
    result = CliRunner().invoke(
        main,
        [
            "bill",
            "--period",
            "2026-10",
            "--plan",
            str(tmp_path / plan),
            "--store",
            str(tmp_path / "store"),
            "--account-field",
            "http_x_api_key",
            *args,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == expect, result.output
    return result


def lines(csv_text: str) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["account"], r["charge"]): r for r in csv.DictReader(io.StringIO(csv_text))}


def test_accounts_starting_or_ending_in_the_month_are_prorated(setup: Path) -> None:
    # acme from 15 October (17 of 31 days), globex until 10 October (10 days)
    accounts = setup / "accounts.csv"
    accounts.write_text(
        "key,account\nkey-acme,acme\nkey-globex,globex\nkey-umbrella,umbrella\n", encoding="utf-8"
    )
    got = lines(bill(setup, "--accounts", str(accounts), "-f", "csv").stdout)
    fee = got["acme", "base_fee"]
    assert (fee["amount"], fee["unit_price"]) == ("17.00", "flat 31.00 x 17/31 days")
    assert (fee["period_start"], fee["period_end"]) == (
        "2026-10-15T00:00:00+00:00",
        "2026-11-01T00:00:00+00:00",
    )
    requests = got["acme", "requests"]  # 2 requests: below the prorated minimum 6.20 x 17/31
    assert (requests["quantity"], requests["amount"]) == ("2", "3.40")
    assert requests["unit_price"] == "2 @ 1.00; minimum 3.40 applies"
    assert (got["acme", "kilobytes"]["quantity"], got["acme", "kilobytes"]["amount"]) == (
        "2",  # 1501 bytes -> 2 started kB
        "0.02",
    )
    assert got["acme", "clients"]["quantity"] == "2"  # not 10.0.0.1, seen before the start
    assert got["acme", "TOTAL"]["amount"] == "21.42"  # 17.00 + 3.40 + 0.02 + 1.00
    assert got["globex", "base_fee"]["amount"] == "10.00"  # 31.00 x 10/31
    assert got["globex", "requests"]["quantity"] == "2"  # not the one on 11 October
    assert got["globex", "requests"]["amount"] == "2.00"  # minimum 2.00, maximum 3.00
    assert got["globex", "base_fee"]["period_end"] == "2026-10-11T00:00:00+00:00"
    assert "initech" not in {account for account, _ in got}  # gone before October
    assert got["umbrella", "requests"]["amount"] == "0.20"


def test_the_cap_is_prorated_too(setup: Path) -> None:
    rows = [row(f"2026-10-20T12:00:{n:02d}") for n in range(20)]
    build_store(setup / "store2", rows)
    result = CliRunner().invoke(
        main,
        [
            "bill",
            "--period",
            "2026-10",
            "--plan",
            str(setup / "plans.toml"),
            "--store",
            str(setup / "store2"),
            "--account-field",
            "http_x_api_key",
            "--accounts",
            str(_accounts(setup)),
            "-f",
            "csv",
        ],
        catch_exceptions=False,
    )
    got = lines(result.stdout)
    # 20 requests x 1.00 = 20.00, capped at 9.30 x 17/31 = 5.10
    assert got["acme", "requests"]["amount"] == "5.10"
    assert got["acme", "requests"]["unit_price"] == "20 @ 1.00; maximum 5.10 applies"


def _accounts(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.csv"
    path.write_text("key,account\nkey-acme,acme\nkey-globex,globex\n", encoding="utf-8")
    return path


def test_json_is_the_lines_and_the_quality_block(setup: Path) -> None:
    document = json.loads(bill(setup, "-f", "json").stdout)
    assert set(document) == {"lines", "quality"}
    assert all(isinstance(line["amount"], str) for line in document["lines"])
    quality = document["quality"]
    # October in UTC: 8 requests; 7 without a user (anonymous), 1 with "ann"
    assert quality["requests"] == 8
    assert quality["anonymous_requests"] == 7
    assert quality["anonymous_percent"] == "87.50"
    assert quality["store_version"] == 0
    assert quality["incomplete"] == 0


def test_quality_csv_and_period_in_file_names(setup: Path) -> None:
    out = setup / "out"
    out.mkdir()
    result = bill(
        setup,
        "-o",
        str(out / "invoice-{period}.csv"),
        "--quality",
        str(out / "quality-{period}.csv"),
    )
    assert result.stdout == ""
    assert (out / "invoice-2026-10.csv").read_text().startswith("account,plan,charge,")
    rows = list(csv.DictReader(io.StringIO((out / "quality-2026-10.csv").read_text())))
    assert len(rows) == 1
    assert rows[0]["requests"] == "8" and rows[0]["anonymous_percent"] == "87.50"


@pytest.mark.parametrize("width", [80, 160])
def test_the_table_ends_with_the_quality_block(setup: Path, width: int) -> None:
    from zoneinfo import ZoneInfo

    from meterlog.billing import compute_invoice
    from meterlog.billing.plans import load_plan_file
    from meterlog.output import render_table
    from meterlog.query.identity import Identity
    from meterlog.store import Store

    invoice = compute_invoice(
        Store(setup / "store"),
        load_plan_file(setup / "plans.toml"),
        "2026-10",
        ZoneInfo("UTC"),
        Identity(account_field="http_x_api_key"),
    )
    console = Console(record=True, width=width, force_terminal=False)
    render_table(invoice.lines, "Invoice 2026-10", console=console)
    assert invoice.quality is not None
    for line in invoice.quality.lines():
        console.print(line, soft_wrap=False, overflow="fold")
    text = console.export_text()
    assert "data quality (store version 0):" in text
    assert "requests in the period: 8" in text
    assert "anonymous requests: 7 (87.50%)" in text
    assert all(len(line) <= width for line in text.splitlines())


def test_quality_counts_rejected_lines_of_the_period_and_the_accept_window(
    tmp_path: Path,
) -> None:
    def line(day: int, hour: int) -> str:
        return (
            f'10.0.0.1 - u{hour} [{day:02d}/Oct/2026:{hour:02d}:00:00 +0000] "GET / HTTP/1.1" '
            '200 5 "-" "curl"\n'
        )

    text = (
        line(1, 1)
        + "garbage one\n"  # between October lines: in the period
        + line(2, 2)
        + "garbage two\n"
        + line(3, 3)
        + line(31, 23)
    )
    log = tmp_path / "access.log"
    log.write_text(text + "trailing garbage\n", encoding="utf-8")  # after the last line
    (tmp_path / "plans.toml").write_text(PLANS, encoding="utf-8")
    store = str(tmp_path / "store")
    runner = CliRunner()
    # an accept window of one day flags every October line as outside it
    result = runner.invoke(
        main, ["ingest", "-q", "--store", store, "--accept-window", "1d:1d", str(log)]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        main,
        [
            "bill",
            "--period",
            "2026-10",
            "--plan",
            str(tmp_path / "plans.toml"),
            "--store",
            store,
            "-f",
            "json",
        ],
    )
    quality = json.loads(result.stdout)["quality"]
    assert quality["rejected_lines"] == 2
    assert quality["outside_window_lines"] == 4
    assert quality["requests"] == 4 and quality["anonymous_requests"] == 0


def test_re_rating_compares_the_invoice_sent_with_another_plan(setup: Path) -> None:
    sent = setup / "sent.csv"
    bill(setup, "-o", str(sent))
    cheaper = PLANS.replace('base_fee = "31.00"', 'base_fee = "15.50"').replace(
        'unit_price = "0.10"', 'unit_price = "0.05"'
    )
    (setup / "new.toml").write_text(cheaper, encoding="utf-8")
    result = bill(setup, "--compare", str(sent), "-f", "csv", plan="new.toml")
    got = lines(result.stdout)
    assert (
        got["key-umbrella", "requests"]["previous_amount"],
        got["key-umbrella", "requests"]["new_amount"],
        got["key-umbrella", "requests"]["difference"],
    ) == ("0.20", "0.10", "-0.10")
    assert got["key-umbrella", "TOTAL"]["difference"] == "-0.10"


def test_explain_shows_the_new_meters_evidence(setup: Path) -> None:
    result = bill(setup, "--accounts", str(_accounts(setup)), "--explain", "acme", "-f", "json")
    rows = json.loads(result.stdout)
    charges = {row["charge"] for row in rows}
    assert charges == {"requests", "kilobytes", "clients"}
    clients = [row["value"] for row in rows if row["charge"] == "clients"]
    assert clients == ["10.0.0.2", "10.0.0.3"]
    kilobytes = [(row["day"], row["total"]) for row in rows if row["charge"] == "kilobytes"]
    assert kilobytes == [("2026-10-15", "1500"), ("2026-10-20", "1")]


def test_quiet_bill_prints_nothing_but_errors(setup: Path) -> None:
    noisy = bill(setup, "--period", "2026-09", "-f", "csv")  # a month without requests
    assert "no requests in the billing period 2026-09" in noisy.stderr
    quiet = bill(setup, "--period", "2026-09", "-f", "csv", "-q")
    assert quiet.stderr == ""


def test_mau_and_peak_note_an_empty_result(setup: Path) -> None:
    for command in (["mau"], ["peak", "--window", "1d"]):
        result = CliRunner().invoke(
            main,
            [*command, "--month", "2026-08", "--store", str(setup / "store"), "-f", "csv"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0
        assert result.stdout.count("\n") == 1  # the header
        assert result.stderr == (
            "meterlog: note: no requests stored in 2026-08 (UTC): the store's data begins at "
            "2026-10-01T00:00:00+00:00 and ends at 2026-11-01T00:00:00+00:00; check --month "
            "and --tz\n"
        )
    listed = CliRunner().invoke(
        main,
        ["mau", "--month", "2026-11", "--list-users", "--store", str(setup / "store"), "-f", "csv"],
    )
    assert listed.stderr.startswith(  # its one request has no user
        "meterlog: note: every request is anonymous: 'remote_user' holds no user in them"
    )


def test_maintain_quiet(setup: Path) -> None:
    store = str(setup / "store")
    loud = CliRunner().invoke(main, ["maintain", "--store", store], catch_exceptions=False)
    assert loud.exit_code == 0 and loud.stdout
    quiet = CliRunner().invoke(main, ["maintain", "-q", "--store", store])
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_as_of_reproduces_an_invoice_of_the_new_meters(setup: Path) -> None:
    before = bill(setup, "-f", "csv").stdout
    from meterlog.store import Store
    from tests.support.billing import append_events

    append_events(
        Store(setup / "store"),
        [row("2026-10-20T13:00:00", remote_addr="10.0.0.77", bytes_sent=5000)],
    )
    after = bill(setup, "-f", "csv").stdout
    assert after != before
    assert bill(setup, "-f", "csv", "--as-of", "0").stdout == before


def test_mau_and_peak_take_endpoint_templates(tmp_path: Path) -> None:
    rows = [
        row("2026-10-02T10:00:00", path="/v1/items/1", remote_user="a"),
        row("2026-10-02T10:00:00", path="/v1/items/1/parts", remote_user="b"),
        row("2026-10-02T10:30:00", path="/v1/items/2", remote_user="c"),
    ]
    build_store(tmp_path / "store", rows)
    common = ["--month", "2026-10", "--store", str(tmp_path / "store"), "-f", "csv"]
    mau = CliRunner().invoke(main, ["mau", *common, "--endpoint", "/v1/items/{id}"])
    assert mau.stdout.splitlines()[1] == "default,2026-10,2"
    peak = CliRunner().invoke(main, ["peak", *common, "--endpoint", "/v1/items/{id}/parts"])
    assert peak.stdout.splitlines()[1].startswith("default,2026-10,1h,requests,1,")
    bad = CliRunner().invoke(main, ["mau", *common, "--endpoint", "items"])
    assert bad.exit_code == 2 and "'--endpoint': 'items' is not a path template" in bad.output


def test_a_charge_on_a_column_the_store_lacks_is_warned_about(setup: Path) -> None:
    plan = PLANS.replace('column = "bytes_sent"', 'column = "upstream_bytes"')
    (setup / "other.toml").write_text(plan, encoding="utf-8")
    result = bill(setup, "-f", "csv", plan="other.toml")
    assert (
        "meterlog: warning: plan pro, charge kilobytes: the store has no column upstream_bytes; "
        "the charge's quantity is 0"
    ) in result.stderr
    got = lines(result.stdout)
    assert got["key-umbrella", "requests"]["amount"] == "0.20"  # the rest is billed as usual


@pytest.mark.parametrize("width", [80, 160])
def test_amounts_in_tables_are_whole_and_right_aligned(setup: Path, width: int) -> None:
    from meterlog.output import compact_invoice, render_table

    result = bill(setup, "--accounts", str(_accounts(setup)), "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    import polars as pl

    frame = pl.read_csv(io.StringIO(result.stdout), infer_schema=False).with_columns(
        pl.col("quantity", "included", "billable_quantity", "store_version").cast(pl.Int64)
    )
    console = Console(record=True, width=width, force_terminal=False)
    keep = ("account", "charge", "quantity", "amount")  # as bill does
    render_table(compact_invoice(frame).frame, "Invoice", console=console, keep=keep)
    text = console.export_text()
    amount_width = max(len(row["amount"]) for row in rows)
    for row in rows:
        # every amount shown in full, ending at the column's right edge
        assert f" {row['amount'].rjust(amount_width)} │" in text, row["amount"]
