"""One report, one store version: a snapshot pins the events table for every section."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from meterlog.billing import compute_invoice, explain_account
from meterlog.billing.plans import load_plan_file
from meterlog.config import load_config
from meterlog.errors import StoreError
from meterlog.query.events import pin
from meterlog.query.identity import Identity
from meterlog.query.settings import resolve_settings
from meterlog.report.html import HtmlReportQuery, build_html_report
from meterlog.store import Snapshot, Store
from tests.support.billing import append_events, build_store

UTC_ZONE = ZoneInfo("UTC")
PLAN = """
default_plan = "basic"
currency = "EUR"
[plans.basic]
[[plans.basic.charges]]
name = "requests"
meter = "count"
pricing = "per_unit"
unit_price = "1.00"
"""

OCTOBER = [
    {"ts": f"2026-10-0{day}T10:00:00", "remote_user": f"u{day}", "http_x_api_key": "key-acme"}
    for day in range(1, 8)
]
LATE = [{"ts": "2026-10-09T10:00:00", "remote_user": "late", "http_x_api_key": "key-latecomer"}] * 5


def _pinned_then_grown(tmp_path: Path) -> tuple[Store, Snapshot]:
    store = build_store(tmp_path / "store", OCTOBER)
    snapshot = pin(store)
    append_events(store, LATE)  # committed after the snapshot was taken
    assert store.version() == snapshot.pinned + 1
    return store, snapshot


def test_a_report_reads_every_section_at_the_pinned_version(tmp_path: Path) -> None:
    store, snapshot = _pinned_then_grown(tmp_path)
    plan_path = tmp_path / "plans.toml"
    plan_path.write_text(PLAN)
    settings = resolve_settings(load_config(None), store=store.uri, account_field="http_x_api_key")
    report = build_html_report(
        settings, HtmlReportQuery(month="2026-10", plan=plan_path), store=snapshot
    )
    # the accounts chart, the request series, the invoice and the summary all stop at the
    # snapshot: the requests committed later appear nowhere
    assert "latecomer" not in report.html
    assert f"version {snapshot.pinned}." in report.html
    newest = build_html_report(settings, HtmlReportQuery(month="2026-10", plan=plan_path))
    assert "latecomer" in newest.html


def test_an_invoice_and_its_evidence_read_the_pinned_version(tmp_path: Path) -> None:
    store, snapshot = _pinned_then_grown(tmp_path)
    plan_path = tmp_path / "plans.toml"
    plan_path.write_text(PLAN)
    plans = load_plan_file(plan_path)
    identity = Identity(account_field="http_x_api_key")
    invoice = compute_invoice(snapshot, plans, "2026-10", UTC_ZONE, identity)
    assert set(invoice.lines.get_column("account")) == {"key-acme"}
    assert set(invoice.lines.get_column("store_version")) == {snapshot.pinned}
    evidence = explain_account(snapshot, plans, "key-latecomer", "2026-10", UTC_ZONE, identity)
    assert evidence.height == 0  # the latecomer's requests came after the pinned version
    newest = explain_account(store, plans, "key-latecomer", "2026-10", UTC_ZONE, identity)
    assert newest.get_column("requests").sum() == len(LATE)
    assert set(newest.get_column("store_version")) == {snapshot.pinned + 1}


def test_a_snapshot_refuses_writes(tmp_path: Path) -> None:
    _, snapshot = _pinned_then_grown(tmp_path)
    with pytest.raises(StoreError, match="read-only"):
        append_events(snapshot, LATE, source_id="another")
