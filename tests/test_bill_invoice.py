"""Invoice computation details: periods per time zone, currencies, comparing CSV round trips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from meterlog.billing import Identity, adjustments, compute_invoice, load_previous_invoice
from meterlog.billing.plans import load_plan_file
from meterlog.output import frame_to_csv
from tests.support.billing import build_store

UTC_ZONE = ZoneInfo("UTC")
IDENTITY = Identity(account_field="http_x_api_key")

PLANS = """
default_plan = "euro"

[accounts]
yen = "yen"
berlin = { plan = "euro", tz = "Europe/Berlin" }

[plans.euro]
currency = "EUR"
[[plans.euro.charges]]
meter = "mau"
pricing = "per_unit"
unit_price = "1.005"

[plans.yen]
currency = "JPY"
base_fee = "1000"
[[plans.yen.charges]]
meter = "mau"
pricing = "per_unit"
unit_price = "150.5"
"""


def setup(tmp_path: Path, rows: list[dict]):
    path = tmp_path / "plans.toml"
    path.write_text(PLANS, encoding="utf-8")
    return build_store(tmp_path / "store", rows), load_plan_file(path)


def test_each_currency_rounds_to_its_own_minor_unit(tmp_path: Path) -> None:
    rows = [
        {"ts": "2026-10-03T10:00:00", "remote_user": user, "http_x_api_key": key}
        for key in ("yen", "euro-customer")
        for user in ("u1", "u2", "u3")
    ]
    store, plans = setup(tmp_path, rows)
    invoice = compute_invoice(store, plans, "2026-10", UTC_ZONE, IDENTITY)
    amounts = {
        (account, charge): str(amount)
        for account, charge, amount in invoice.lines.select(
            "account", "charge", "amount"
        ).iter_rows()
    }
    # EUR: 3 x 1.005 = 3.015 -> 3.02; JPY: 3 x 150.5 = 451.5 -> 452 (half-even), + 1000.
    assert amounts[("euro-customer", "mau")] == "3.02"
    assert amounts[("yen", "mau")] == "452"  # each amount in its own currency's decimals
    assert amounts[("yen", "TOTAL")] == "1452"
    assert amounts[("berlin", "TOTAL")] == "0.00"  # listed, no traffic


def test_previous_is_resolved_in_each_accounts_time_zone(tmp_path: Path) -> None:
    rows = [
        {"ts": "2026-09-15T10:00:00", "remote_user": "a", "http_x_api_key": "berlin"},
        {"ts": "2026-10-15T10:00:00", "remote_user": "b", "http_x_api_key": "berlin"},
        {"ts": "2026-10-31T22:45:00", "remote_user": "c", "http_x_api_key": "other"},
    ]
    store, plans = setup(tmp_path, rows)
    # 1 Nov 00:30 in Berlin is still 31 Oct in UTC: "previous" is October in Berlin,
    # September in UTC. Bill after every zone has entered the new month (see docs/billing.md).
    now = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    invoice = compute_invoice(store, plans, "previous", UTC_ZONE, IDENTITY, now=now)
    starts = dict(invoice.lines.select("account", "period_start").unique().iter_rows())
    assert starts["berlin"] == "2026-10-01T00:00:00+02:00"
    assert starts["yen"] == "2026-09-01T00:00:00+00:00"
    current = compute_invoice(store, plans, "current", UTC_ZONE, IDENTITY, now=now)
    starts = dict(current.lines.select("account", "period_start").unique().iter_rows())
    assert starts == {
        "berlin": "2026-11-01T00:00:00+01:00",
        "other": "2026-10-01T00:00:00+00:00",
        "yen": "2026-10-01T00:00:00+00:00",
    }


def test_formula_guarded_names_survive_a_compare_round_trip(tmp_path: Path) -> None:
    rows = [{"ts": "2026-10-03T10:00:00", "remote_user": "u", "http_x_api_key": "=cmd"}]
    store, plans = setup(tmp_path, [*rows, {"ts": "2026-11-02T00:00:00"}])
    invoice = compute_invoice(store, plans, "2026-10", UTC_ZONE, IDENTITY)
    csv_path = tmp_path / "invoice.csv"
    csv_path.write_text(frame_to_csv(invoice.lines), encoding="utf-8")
    assert "'=cmd,euro,mau" in csv_path.read_text(encoding="utf-8")
    previous = load_previous_invoice(csv_path)
    assert {line["account"] for line in previous} >= {"=cmd"}
    assert adjustments(previous, invoice.lines, str(csv_path)).height == 0
