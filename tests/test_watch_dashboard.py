"""The dashboard rendered to fixed-size consoles (80 and 160 columns): it fits without
wrapping and shows the figures the watcher computed from the store."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from meterlog.billing import Identity
from meterlog.billing.plans import load_plan_file
from meterlog.ingest import IngestOptions
from meterlog.live import Watcher, WatchOptions
from meterlog.live.dashboard import dashboard_data, render, sparkline
from meterlog.store import Store
from tests.support import REPO

HOSTILE = "evil\x1b[2J\x1b]0;owned\x07[bold]key"


def lines(now: datetime) -> list[str]:
    out = []
    for i in range(600):
        moment = now - timedelta(seconds=i % 50)
        key = ["key_live_5c1faa9f52135cb13ccc38b7", "key_live_64551fdfa1cc719db7052664", HOSTILE][
            i % 3
        ]
        out.append(
            json.dumps(
                {
                    "time": moment.isoformat(),
                    "remote_user": f"u{i % 40}",
                    "request": f"GET /v1/users/{i}/orders HTTP/1.1",
                    "status": 500 if i % 10 == 0 else 200,
                    "body_bytes_sent": 100,
                    "request_time": 0.05 if i % 2 else 0.3,
                    "http_x_api_key": key,
                }
            )
        )
    return out


@pytest.fixture
def watch(tmp_path: Path) -> Watcher:
    logs = tmp_path / "logs"
    logs.mkdir()
    now = datetime.now(UTC)
    (logs / "api.log").write_text("\n".join(lines(now)) + "\n")
    from meterlog.query.identity import load_accounts_file

    watcher = Watcher(
        Store(tmp_path / "store"),
        [str(logs)],
        IngestOptions(),
        WatchOptions(
            identity=Identity(
                account_field="http_x_api_key",
                accounts=load_accounts_file(REPO / "sample_logs" / "accounts.csv"),
            ),
            plan=load_plan_file(REPO / "sample_logs" / "plans.toml"),
        ),
    )
    watcher.step()
    yield watcher
    watcher.close()


@pytest.mark.parametrize("width", [80, 160])
def test_dashboard_fits_and_shows_the_figures(watch: Watcher, width: int) -> None:
    data = dashboard_data(watch)
    console = Console(record=True, width=width, height=30, color_system=None, force_terminal=True)
    console.print(render(data, width, 30))
    text = console.export_text()
    shown = text.splitlines()
    assert all(len(line) <= width for line in shown), [ln for ln in shown if len(ln) > width]
    assert len(shown) <= 30
    # the plan's MAU (5xx requests do not make a user active): see test_independent_counts
    assert watch.mtd.mau()["acme"] == 36 and watch.mtd.requests()["acme"] == 200
    assert "acme" in text and "initech" in text
    row = [line for line in shown if line.lstrip().startswith("acme")][-1]
    assert row.split()[1:3] == ["200", "36"]
    assert "peak requests/1h p95" in text  # the first peak column, at every width
    # 600 requests in the last 50 s; 60 of them 5xx
    assert "req/s 10.0 (1 min)" in text
    assert "5xx 60" in text
    assert "p50 50 ms" in text and "p95 300 ms" in text  # half at 50 ms, half at 300 ms
    assert "/v1/users/{id}/orders" in text  # endpoints are templates, never raw paths
    assert "\x1b" not in text and "\x07" not in text
    # the hostile key is shown as plain text: control characters replaced, no markup read
    assert "evil\ufffd[2J\ufffd]0;owned\ufffd[bold]key" in text
    # included units used and the accrued amount, from sample_logs/plans.toml. acme (growth):
    # 200 of 1,000 included requests; 49.00 base fee + 26 users beyond the 10 free at 0.50
    # + 2.50 per started 100 of the p95 hourly peak (the row's peak column) + nothing for
    # requests (within the included 1,000) or transfer (20,000 bytes: 1 MB of the 10 free).
    peak = int(row.split()[3])
    accrued = Decimal("49.00") + 26 * Decimal("0.50") + Decimal("2.50") * -(-peak // 100)
    assert row.split()[-4:] == ["20%", "api_requests", f"{accrued:.2f}", "EUR"]
    # initech (starter): 36 users, 5 included, 0.40 each beyond: 31 x 0.40 = 12.40
    initech = [line for line in shown if line.lstrip().startswith("initech")][-1]
    assert initech.split()[1:3] == ["200", "36"]
    assert initech.split()[-4:] == ["720%", "active_users", "12.40", "EUR"]
    assert "store v" in text and "lag" in text


def test_independent_counts() -> None:
    """The numbers the dashboard test expects, counted from the generator itself."""
    generated = [json.loads(line) for line in lines(datetime.now(UTC))]
    acme = [g for g in generated if g["http_x_api_key"].endswith("38b7")]
    assert len(acme) == 200
    assert len({g["remote_user"] for g in acme if g["status"] < 500}) == 36
    assert sum(1 for g in generated if g["status"] == 500) == 60


def test_sparkline() -> None:
    # level = value * 8 // (largest + 1): 1, 2 -> 0; 3, 4 -> 1; ...; 16 -> 7; zero is blank
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7, 8, 16], 10) == " ▁▁▂▂▃▃▄▄█"
    assert sparkline([0, 0], 10) == "  "
    assert len(sparkline(list(range(100)), 60)) == 60


def test_narrow_terminal_has_no_wrapped_lines(watch: Watcher) -> None:
    console = Console(record=True, width=40, height=12, color_system=None, force_terminal=True)
    console.print(render(dashboard_data(watch, time.time()), 40, 12))
    assert all(len(line) <= 40 for line in console.export_text().splitlines())
