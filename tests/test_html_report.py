"""``meterlog report``: one self-contained HTML file, checked in a real headless Chromium.

The browser tests open the file with Chromium's DevTools protocol (over a pipe, see
``tests/chromium.py``) and check: no console error or exception, no network request besides
the file itself, and every chart rendered (plotly drew an SVG trace for each of its series).
They are skipped, with the reason shown, only when Chromium is not installed
(``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from meterlog.config import load_config
from meterlog.formats import read_log_format_from_config
from meterlog.ingest import IngestOptions, ingest
from meterlog.report.html import HtmlReportQuery, build_html_report, write_html_report
from meterlog.reports import ReportSettings, resolve_settings
from meterlog.store import Store
from tests.chromium import Browser, chromium_path
from tests.usage_fixtures import build_store, requests_frame

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"

#: Count the traces plotly drew in each chart, and the series it was given.
CHART_STATE = """JSON.stringify([...document.querySelectorAll('.chart')].map(e => ({
  id: e.id,
  drawn: e.querySelectorAll('.main-svg .trace').length,
  series: (e._fullData || []).length,
  points: (e._fullData || []).reduce((n, t) => n + ((t.x || t.values || []).length), 0),
})))"""


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = tmp_path_factory.mktemp("samples") / "store"
    options = IngestOptions(
        custom_format=read_log_format_from_config(SAMPLES / "nginx.conf", "api")
    )
    ingest(Store(path), [str(SAMPLES)], options)
    return Store(path)


def sample_settings(store: Store) -> ReportSettings:
    return resolve_settings(
        load_config(None),
        store=store.uri,
        account_field="http_x_api_key",
        accounts=SAMPLES / "accounts.csv",
    )


@pytest.fixture(scope="module")
def october(
    sample_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    query = HtmlReportQuery(month="2026-10", plan=SAMPLES / "plans.toml")
    report = write_html_report(sample_settings(sample_store), query, out)
    return out, report.charts


def browser() -> Browser:
    executable = chromium_path()
    if executable is None:
        pytest.skip("headless browser test: chromium not installed (apt-get install chromium)")
    return Browser(executable)


def test_report_is_one_self_contained_file(october: tuple[Path, list[str]]) -> None:
    path, charts = october
    text = path.read_text(encoding="utf-8")
    assert charts == [
        "chart-requests",
        "chart-mau",
        "chart-peak",
        "chart-endpoints",
        "chart-status",
        "chart-latency",
        "chart-rejects",
    ]
    assert "<link" not in text
    assert not re.search(r"""<script[^>]+src=""", text)  # plotly.js is inlined
    assert "Content-Security-Policy" in text and "connect-src 'none'" in text
    assert text.count("Plotly.newPlot(") == len(charts)


def test_report_shows_the_stores_numbers(
    sample_store: Store, october: tuple[Path, list[str]]
) -> None:
    text = october[0].read_text(encoding="utf-8")
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    counts = (
        sample_store.scan_events()
        .filter(pl.col("ts") >= start, pl.col("ts") < end)
        .select(pl.len(), (pl.col("status") >= 400).sum().alias("errors"))
        .collect()
        .row(0)
    )
    assert f"requests<b>{counts[0]:,}</b>" in text
    assert f"errors (4xx + 5xx)<b>{counts[1]:,}</b>" in text
    rejected = sample_store.scan_rejects().select(pl.len()).collect().item()
    assert f"rejected lines (whole store)<b>{rejected:,}</b>" in text
    assert "Invoice 2026-10 (2026-10-01 to 2026-10-31" in text and "EUR" in text


def test_same_store_same_bytes(sample_store: Store, october: tuple[Path, list[str]]) -> None:
    query = HtmlReportQuery(month="2026-10", plan=SAMPLES / "plans.toml")
    again = build_html_report(sample_settings(sample_store), query)
    assert again.html == october[0].read_text(encoding="utf-8")


def test_every_chart_renders_offline_without_errors(october: tuple[Path, list[str]]) -> None:
    path, charts = october
    with browser() as page:
        page.open(path.as_uri())
        page.settle(1.0)
        state = page.evaluate(CHART_STATE)
        errors = page.console_errors()
        requests = page.requests()

    rendered = json.loads(state)
    assert [chart["id"] for chart in rendered] == charts
    for chart in rendered:
        assert chart["series"] > 0 and chart["drawn"] == chart["series"], chart
        assert chart["points"] > 0, chart
    assert errors == []
    assert requests == [path.as_uri()]  # the file itself, nothing from the network


def test_log_values_cannot_inject_script(tmp_path: Path) -> None:
    evil = "/x</script><script>window.pwned=1</script><img src=http://127.0.0.1:9/x>"
    rows = [
        (
            "2026-10-01T08:00",
            "ann",
            "<b onmouseover=alert(1)>k1</b>",
            "GET",
            evil,
            200,
            1,
            "c",
            0.1,
        ),
        ("2026-10-01T09:00", "bob", None, "GET", "/ok", 500, 1, "c", None),
    ]
    store = build_store(tmp_path / "store", requests_frame(rows), sources=1)
    settings = ReportSettings(store=store.uri, account_field="http_x_api_key")
    out = tmp_path / "r.html"
    write_html_report(settings, HtmlReportQuery(since="2026-10-01", until="2026-10-01"), out)
    assert "<script>window.pwned" not in out.read_text(encoding="utf-8")
    with browser() as page:
        page.open(out.as_uri())
        page.settle(0.5)
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.console_errors() == []
        assert page.requests() == [out.as_uri()]


def test_without_latency_or_plan_those_sections_are_left_out(tmp_path: Path) -> None:
    frame = requests_frame().with_columns(pl.lit(None, pl.Float64).alias("request_time"))
    store = build_store(tmp_path / "store", frame)
    report = build_html_report(ReportSettings(store=store.uri), HtmlReportQuery())
    assert "chart-latency" not in report.charts
    assert "Invoice" not in report.html
    assert "Requests per hour" not in report.html  # five days of data: charted per day
    assert "Requests per day" in report.html
