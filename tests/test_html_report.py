"""``meterlog report``: one light, self-contained HTML file, checked in a real headless Chromium.

The browser tests open the file with Chromium's DevTools protocol (over a pipe, see
``tests/chromium.py``) and check: no console error or exception, no network request besides
the file itself, and every chart drawn (each has marks of a visible size). They are skipped,
with the reason shown, only when Chromium is not installed (``.ci/run`` installs Debian's
``chromium``); the real Apache log test also when ``../shared/realdata`` is absent.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from meterlog.config import load_config
from meterlog.ingest import IngestOptions, ingest
from meterlog.query.settings import ReportSettings, resolve_settings
from meterlog.report.charts import human_bytes, shorten
from meterlog.report.data import (
    BROWSERS,
    CRAWLERS,
    NO_AGENT,
    OTHER,
    TOOLS,
    agent_group_expr,
    network_expr,
)
from meterlog.report.html import HtmlReportQuery, build_html_report, write_html_report
from meterlog.store import Store
from tests.support import realdata
from tests.support.chromium import Browser, chromium_path
from tests.support.usage import build_store, requests_frame

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
#: The page for a month of the sample data stays under this size (plotly.js alone was 4.8 MB).
MAX_REPORT_BYTES = 1_500_000

#: For each chart: its size and how many marks (bars, lines, dots, cells) it drew with a size.
CHART_STATE = """JSON.stringify([...document.querySelectorAll('.chart')].map(e => {
  const box = e.getBoundingClientRect();
  const selector = e.matches('svg')
    ? '.series rect, .series path, .series circle, rect[fill]' : '.track i';
  const marks = [...e.querySelectorAll(selector)];
  const drawn = marks.filter(m => {
    const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
  return {id: e.id, width: box.width, height: box.height, marks: marks.length,
          drawn: drawn.length};
}))"""
#: Everything a reader can see or hover: the page's text and every hover title.
PAGE_TEXT = """document.body.innerText + '\\n' +
  [...document.querySelectorAll('[title]')].map(e => e.title).join('\\n') + '\\n' +
  [...document.querySelectorAll('svg title')].map(e => e.textContent).join('\\n')"""


@pytest.fixture(scope="module")
def sample_store(sample_logs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = tmp_path_factory.mktemp("samples") / "store"
    return Store(shutil.copytree(sample_logs_store, path))


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


def browser(width: int = 1280) -> Browser:
    executable = chromium_path()
    if executable is None:
        pytest.skip("headless browser test: chromium not installed (apt-get install chromium)")
    return Browser(executable, width=width)


def check_in_browser(path: Path, charts: list[str], width: int = 1280) -> str:
    """Open ``path``: no error, no request but the file, every chart drawn; the page's text."""
    with browser(width) as page:
        page.open(path.as_uri())
        page.settle(0.5)
        state = json.loads(page.evaluate(CHART_STATE))
        text = page.evaluate(PAGE_TEXT)
        errors = page.console_errors()
        requests = page.requests()
    assert [chart["id"] for chart in state] == charts
    for chart in state:
        assert chart["width"] > 100 and chart["height"] > 20, chart
        assert chart["marks"] > 0 and chart["drawn"] == chart["marks"], chart
    assert errors == []
    assert requests == [path.as_uri()]  # the file itself, nothing from the network
    return str(text)


# -- the sample data ------------------------------------------------------------------------


def test_report_is_one_light_self_contained_file(october: tuple[Path, list[str]]) -> None:
    path, charts = october
    text = path.read_text(encoding="utf-8")
    assert charts == [
        "chart-requests",
        "chart-users",
        "chart-mau",
        *(f"chart-peak-{n}" for n in range(1, 6)),
        "chart-clients",
        "chart-networks",
        "chart-agent-groups",
        "chart-agents",
        "chart-referrers",
        "chart-status",
        "chart-endpoints",
        "chart-heat",
        "chart-latency",
        "chart-rejects",
    ]
    assert path.stat().st_size <= MAX_REPORT_BYTES
    assert "<link" not in text and "src=" not in text and "http-equiv" in text
    assert text.count("<script>") == 1  # the table sorting, allowed by its hash
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", text)
    assert "connect-src 'none'" in text and "default-src 'none'" in text


def test_report_shows_the_stores_numbers(
    sample_store: Store, october: tuple[Path, list[str]]
) -> None:
    text = october[0].read_text(encoding="utf-8")
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    counts = (
        sample_store.scan_events()
        .filter(pl.col("ts") >= start, pl.col("ts") < end)
        .select(
            pl.len(),
            (pl.col("status") >= 400).sum().alias("errors"),
            pl.col("bytes_sent").sum(),
            pl.col("remote_addr").n_unique(),
        )
        .collect()
        .row(0)
    )
    assert f"requests<b>{counts[0]:,}</b>" in text
    assert f"errors (4xx + 5xx)<b>{counts[1]:,}</b>" in text
    shown = re.search(r"bytes sent<b>([\d.]+) (KiB|MiB|GiB)</b>", text)
    assert shown is not None, "bytes in binary units"
    power = {"KiB": 1, "MiB": 2, "GiB": 3}[shown.group(2)]
    assert abs(float(shown.group(1)) * 1024**power - counts[2]) / counts[2] < 0.01
    assert f"client addresses<b>{counts[3]:,}</b>" in text
    rejected = sample_store.scan_rejects().select(pl.len()).collect().item()
    assert f"rejected lines (whole store)<b>{rejected:,}</b>" in text
    assert "Invoice 2026-10 (2026-10-01 to 2026-10-31" in text and "EUR" in text


def test_same_store_same_bytes(sample_store: Store, october: tuple[Path, list[str]]) -> None:
    query = HtmlReportQuery(month="2026-10", plan=SAMPLES / "plans.toml")
    again = build_html_report(sample_settings(sample_store), query)
    assert again.html == october[0].read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_every_chart_renders_offline_without_errors(
    october: tuple[Path, list[str]], width: int
) -> None:
    path, charts = october
    text = check_in_browser(path, charts, width)
    assert "acme" in text and "/v1/orders/{uuid}" in text


@pytest.mark.slow
def test_tables_sort_by_the_clicked_heading(october: tuple[Path, list[str]]) -> None:
    path, _charts = october
    column = """[...document.querySelectorAll('#clients table')[0].tBodies[0].rows]
        .map(r => +r.cells[3].dataset.v)"""
    click = """[...document.querySelectorAll('#clients table')[0].tHead.rows[0].cells][3]
        .click()"""
    with browser() as page:
        page.open(path.as_uri())
        before = page.evaluate(column)
        page.evaluate(click)
        descending = page.evaluate(column)
        page.evaluate(click)
        ascending = page.evaluate(column)
        errors = page.console_errors()
    assert before != descending  # the table starts ranked by requests, not by bytes
    assert descending == sorted(before, reverse=True)
    assert ascending == sorted(before)
    assert errors == []


# -- the real Apache log ------------------------------------------------------------------------

_COMBINED = re.compile(
    r'^(\S+) \S+ \S+ \[[^\]]+\] "(?:\S+ )?(\S*)[^"]*" (\d{3}) \S+ "([^"]*)" "([^"]*)"$'
)


def _most_common(values: list[str]) -> set[str]:
    """The most frequent values (all of them when several tie)."""
    counts = Counter(values).most_common()
    return {value for value, count in counts if count == counts[0][1]}


@pytest.mark.slow
def test_apache_log_report_names_its_top_values(tmp_path: Path) -> None:
    log = realdata("elastic-apache-10k", "apache_logs")
    rows = [
        match.groups()
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if (match := _COMBINED.match(line))
    ]
    addresses = _most_common([r[0] for r in rows])
    not_found = _most_common([r[1].split("?")[0] for r in rows if r[2] == "404"])
    referrers = _most_common([r[3] for r in rows if r[3] not in ("", "-")])
    agents = _most_common([r[4] for r in rows])

    store = Store(tmp_path / "store")
    ingest(store, [str(log)], IngestOptions())
    out = tmp_path / "apache.html"
    report = write_html_report(ReportSettings(store=store.uri), HtmlReportQuery(), out)
    assert out.stat().st_size <= MAX_REPORT_BYTES
    text = check_in_browser(out, report.charts)
    for name, values in (
        ("client address", addresses),
        ("404 path", not_found),
        ("referrer", referrers),
        ("user agent", agents),
    ):
        assert any(value in text for value in values), f"top {name} {values} not on the page"
    assert "2.56 GiB" in text  # 2,747,282,505 bytes sent
    assert "Requests per hour" in text  # three and a half days: charted by hour


# -- odd and hostile data ---------------------------------------------------------------------


def _line(
    when: str,
    *,
    address: str = "192.0.2.1",
    user: str = "ann",
    path: str = "/v1/a",
    status: int = 200,
    referrer: str = "-",
    agent: str = "curl/8.0",
) -> str:
    stamp = datetime.fromisoformat(when).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'{address} - {user} [{stamp}] "GET {path} HTTP/1.1" {status} 1234 "{referrer}" "{agent}"'
    )


def _report_of(tmp_path: Path, lines: list[str], query: HtmlReportQuery) -> tuple[Path, list[str]]:
    log = tmp_path / "access.log.gz"
    log.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    store = Store(tmp_path / "store")
    ingest(store, [str(log)], IngestOptions())
    out = tmp_path / "r.html"
    report = write_html_report(ReportSettings(store=store.uri), query, out)
    return out, report.charts


def test_odd_data_is_shown_honestly(tmp_path: Path) -> None:
    long_path = "/v1/accounts/" + "x" * 120 + "/invoices"
    lines = [
        _line("2026-01-10T10:00:00", path=long_path, status=404),
        _line("2026-01-10T10:30:00", user="bob"),
        _line("2026-04-10T11:00:00", user="bob"),
        "this line is not a log line",
    ]
    out, charts = _report_of(tmp_path, lines, HtmlReportQuery(month="2026-01"))
    text = out.read_text(encoding="utf-8")
    # the only hour of January with requests: numbers, not a one-bar chart
    assert "chart-requests" not in charts and "chart-users" not in charts
    assert "(2026-01-10 10:00)<b>2</b>" in text
    # months without requests (February, March) are gaps: no line joins January and April
    mau = re.search(r'<svg class="chart time" id="chart-mau".*?</svg>', text)
    assert mau is not None
    assert '<path class="line"' not in mau.group(0) and mau.group(0).count("<circle") == 2
    assert "No request is stored in 2 of these months" in text
    # one rejected line is a sentence, not a full-width bar; no referrer is said so
    assert "chart-rejects" not in charts and "Every rejected line has the reason no_match" in text
    assert "No request in this range names a referrer." in text
    # a long path is cut in the middle, the whole of it on hover
    assert f'title="{long_path}"' in text
    assert f">{shorten(long_path, 80)}<" in text and shorten(long_path, 80).endswith("/invoices")


def _evil_report(tmp_path: Path) -> tuple[Path, list[str]]:
    evil = "</script><script>window.pwned=1</script><img src=http://127.0.0.1:9/x>"
    lines = [
        _line(
            "2026-10-01T08:00:00",
            path="/x" + evil.replace(" ", "%20"),
            status=404,
            referrer="javascript:window.pwned=2",
            agent='Mozilla/5.0 \\"><svg onload=window.pwned=3>' + evil,
        ),
        _line("2026-10-01T09:00:00", referrer="'><b onmouseover=alert(1)>x", status=500),
    ]
    return _report_of(tmp_path, lines, HtmlReportQuery(since="2026-10-01"))


def test_log_values_cannot_inject_script(tmp_path: Path) -> None:
    out, _ = _evil_report(tmp_path)
    text = out.read_text(encoding="utf-8")
    assert "<script>window.pwned" not in text and "<svg onload" not in text
    assert "<b onmouseover" not in text and 'href="javascript' not in text


@pytest.mark.slow
def test_log_values_cannot_inject_script_in_a_browser(tmp_path: Path) -> None:
    out, charts = _evil_report(tmp_path)
    shown = check_in_browser(out, charts)
    with browser() as page:
        page.open(out.as_uri())
        page.settle(0.3)
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('a[href^=javascript], img').length") == 0
    assert "javascript:window.pwned=2" in shown  # shown as text
    assert "'><b onmouseover=alert(1)>x" in shown


def test_without_latency_or_plan_those_sections_are_left_out(tmp_path: Path) -> None:
    frame = requests_frame().with_columns(pl.lit(None, pl.Float64).alias("request_time"))
    store = build_store(tmp_path / "store", frame)
    report = build_html_report(ReportSettings(store=store.uri), HtmlReportQuery())
    assert "chart-latency" not in report.charts
    assert "Invoice" not in report.html
    assert "Requests per hour" not in report.html  # five days of data: charted per day
    assert "Requests per day" in report.html


# -- the pieces ---------------------------------------------------------------------------------


def test_networks_are_the_first_24_or_48_bits() -> None:
    addresses = [
        "192.0.2.17",
        "2001:db8::1",
        "2001:0DB8:85a3:0000:0000:8a2e:0370:7334",
        "2001:db8:85a3::8a2e",
        "::1",
        "unknown",
        None,
    ]
    frame = pl.DataFrame({"remote_addr": addresses}, schema={"remote_addr": pl.String})
    assert frame.select(network_expr()).to_series().to_list() == [
        "192.0.2.0/24",
        "2001:db8:0::/48",
        "2001:db8:85a3::/48",
        "2001:db8:85a3::/48",
        "0:0:0::/48",
        None,
        None,
    ]


def test_user_agents_are_grouped() -> None:
    agents = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/129.0": BROWSERS,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": CRAWLERS,
        "Prometheus-Blackbox-Exporter/0.25.0": CRAWLERS,
        "python-requests/2.32.3": TOOLS,
        "curl/8.5.0": TOOLS,
        "Go-http-client/1.1": TOOLS,
        "acme-billing-batch/1.8.0": OTHER,
        "-": NO_AGENT,
    }
    frame = pl.DataFrame({"user_agent": list(agents)})
    from meterlog.query.filters import DEFAULT_BOT_PATTERNS

    groups = frame.select(agent_group_expr(DEFAULT_BOT_PATTERNS)).to_series().to_list()
    assert dict(zip(agents, groups, strict=True)) == agents


def test_bytes_in_binary_units() -> None:
    assert human_bytes(2_747_282_505) == "2.56 GiB"
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536, 10 * 1024**2)] == [
        "0 B",
        "1,023 B",
        "1 KiB",
        "1.5 KiB",
        "10 MiB",
    ]
