"""``meterlog anomalies`` on a real store: logs written as nginx lines and ingested.

Five weeks of clean traffic for three accounts (one round the clock in UTC, one with office
hours in Europe/Berlin through the clock change of 25 October 2026, one that only starts on
27 October), then incidents of every kind on 27 October.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from meterlog.anomalies.base import SEVERITIES
from meterlog.anomalies.runner import AnomalyQuery, detect_recent, explain_finding, run_anomalies
from meterlog.commands.anomalies import SEVERITIES as COMMAND_SEVERITIES
from meterlog.query.settings import ReportSettings
from meterlog.store import Store
from tests.support import cli
from tests.support.anomalies import at, hourly, ingest, requests

START = at(2026, 9, 21)  # a Monday, five weeks before the incidents
INCIDENTS = at(2026, 10, 27)
END = at(2026, 10, 28)
IDENTITY = ("--account-field", "http_x_api_key")


def seconds_apart(start, count: int, step: float = 1.0) -> list:
    return [start + timedelta(seconds=i * step) for i in range(count)]


def _traffic() -> tuple[pl.DataFrame, dict[str, tuple]]:
    hours = int((END - START) / timedelta(hours=1))
    steady = hourly(START, hours, 40, seed=1, key="steady", users=30, networks=("10.1.1", "10.1.2"))
    berlin = hourly(
        START, hours, 60, seed=2, key="berlin", users=20, networks=("10.2.1",),
        tz="Europe/Berlin", office=True,
    )  # fmt: skip
    newbie = hourly(INCIDENTS, 24, 120, seed=3, key="newbie", users=15, networks=("10.3.1",))
    # spike: steady many times over from 10:00 to 12:00
    spike = hourly(INCIDENTS + timedelta(hours=10), 2, 700, seed=4, key="steady", users=30,
                   networks=("10.1.1", "10.1.2"))  # fmt: skip
    # drop: berlin silent from 09:00 to 14:00 local (08:00 to 13:00 UTC): remove its requests
    drop_start, drop_end = INCIDENTS + timedelta(hours=8), INCIDENTS + timedelta(hours=13)
    berlin = berlin.filter((pl.col("ts") < drop_start) | (pl.col("ts") >= drop_end))
    # error surge: half of berlin's answers are 500 from 14:00 to 16:00 UTC
    surge_start, surge_end = INCIDENTS + timedelta(hours=14), INCIDENTS + timedelta(hours=16)
    in_surge = (pl.col("ts") >= surge_start) & (pl.col("ts") < surge_end)
    berlin = berlin.with_columns(
        status=pl.when(in_surge & (pl.int_range(pl.len()) % 2 == 0))
        .then(500)
        .otherwise(pl.col("status"))
    )
    # auth failures: one address against newbie's login, 300 in five minutes
    brute = requests(
        seconds_apart(INCIDENTS + timedelta(hours=3), 300, 1.0), key="newbie",
        ip="203.0.113.7", method="POST", path="/v1/login", status=401, agent="hydra",
    )  # fmt: skip
    # key sharing: steady's key from 40 addresses in 40 new networks
    leak = requests(
        seconds_apart(INCIDENTS + timedelta(hours=16, minutes=5), 80, 30.0), key="steady",
        ip=[f"172.{16 + i % 40}.9.{i}" for i in range(80)], agent="Go-http-client/1.1",
    )  # fmt: skip
    # probing: a scanner asking for 60 made-up and sensitive paths in three minutes
    scan = requests(
        seconds_apart(INCIDENTS + timedelta(hours=18), 60, 3.0), key=None, ip="198.51.100.9",
        path=[f"/backup{i}/.env" if i % 3 == 0 else f"/old{i}/admin" for i in range(60)],
        status=404, agent="zgrab/0.x",
    )  # fmt: skip
    # scraping: one user of berlin walking through 900 orders in an hour
    walk = requests(
        seconds_apart(INCIDENTS + timedelta(hours=20), 900, 4.0), key="berlin",
        ip="10.2.1.99", user="berlin-u3", path=[f"/v1/orders/{5000 + i}" for i in range(900)],
    )  # fmt: skip
    expected = {
        "spike": ("account", "steady", INCIDENTS + timedelta(hours=10), INCIDENTS + timedelta(hours=12)),
        "drop": ("account", "berlin", drop_start, drop_end),
        "error_surge": ("account", "berlin", surge_start, surge_end),
        "auth_failures": ("ip", "203.0.113.7", INCIDENTS + timedelta(hours=3), INCIDENTS + timedelta(hours=3, minutes=5)),
        "key_sharing": ("key", "steady", INCIDENTS + timedelta(hours=16), INCIDENTS + timedelta(hours=17)),
        "probing": ("ip", "198.51.100.9", INCIDENTS + timedelta(hours=18), INCIDENTS + timedelta(hours=18, minutes=3)),
        "scraping": ("user", "berlin-u3", INCIDENTS + timedelta(hours=20), INCIDENTS + timedelta(hours=21)),
    }  # fmt: skip
    frame = pl.concat([steady, berlin, newbie, spike, brute, leak, scan, walk])
    return frame, expected


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple]]:
    frame, expected = _traffic()
    return ingest(tmp_path_factory.mktemp("anomalies"), frame), expected


def _settings(store: Path, tz: str = "UTC") -> ReportSettings:
    from zoneinfo import ZoneInfo

    return ReportSettings(store=str(store), account_field="http_x_api_key", tz=ZoneInfo(tz))


def _findings(store: Path, since: str, until: str, **query: object) -> pl.DataFrame:
    report = run_anomalies(_settings(store), AnomalyQuery(since=since, until=until, **query))
    return report.findings


@pytest.mark.parametrize(
    "kind", ["spike", "drop", "error_surge", "auth_failures", "key_sharing", "probing", "scraping"]
)
def test_injected_incident_is_found_with_its_entity_and_time(store, kind: str) -> None:
    path, expected = store
    entity_type, entity, start, end = expected[kind]
    findings = _findings(path, "2026-10-27", "2026-10-27", kinds=(kind,))
    match = findings.filter(
        (pl.col("entity_type") == entity_type)
        & (pl.col("entity") == entity)
        & (pl.col("start") < end)
        & (pl.col("end") > start)
    )
    assert match.height == 1, findings


def test_clean_days_raise_nothing_including_the_clock_change(store) -> None:
    # 25 October: Berlin's clocks go back; its office traffic moves an hour in UTC
    path, _ = store
    findings = _findings(path, "2026-10-24", "2026-10-26")
    assert findings.height == 0, findings


def test_the_day_after_the_clock_change_raises_no_spike_or_drop(store) -> None:
    path, _ = store
    findings = _findings(path, "2026-10-26", "2026-10-26", kinds=("spike", "drop"))
    assert findings.height == 0, findings


def test_an_account_without_history_gets_no_spike_or_drop_but_security_findings(store) -> None:
    path, _ = store
    findings = _findings(path, "2026-10-27", "2026-10-27", accounts=("newbie",))
    assert "auth_failures" in set(findings["kind"])
    assert not {"spike", "drop"} & set(findings["kind"])


def test_min_severity_and_kind_filters(store) -> None:
    path, _ = store
    everything = _findings(path, "2026-10-27", "2026-10-27")
    high = _findings(path, "2026-10-27", "2026-10-27", min_severity="high")
    assert set(high["id"]) < set(everything["id"])
    assert set(high["severity"]) <= {"high", "critical"}
    # the scanner's 404s (probing), sensitive paths and agent are one incident, named by the
    # most specific of them
    assert set(everything["kind"]) >= {"spike", "drop", "sensitive_paths"}
    scanner = everything.filter(pl.col("entity") == "198.51.100.9").row(0, named=True)
    assert scanner["kind"] == "sensitive_paths"
    assert "probing ip 198.51.100.9" in scanner["signals"]
    assert "mass_scanner ip 198.51.100.9" in scanner["signals"]


def test_explain_gives_the_requests_behind_a_finding(store) -> None:
    path, _ = store
    findings = _findings(path, "2026-10-27", "2026-10-27", kinds=("auth_failures",))
    finding = findings.filter(pl.col("entity") == "203.0.113.7").row(0, named=True)
    rows = explain_finding(
        _settings(path), AnomalyQuery(since="2026-10-27", until="2026-10-27"), finding["id"]
    )
    assert rows.height == 300
    assert set(rows["status"]) == {401}
    assert set(rows["ip"]) == {"203.0.113.7"}
    assert rows["source_line"].is_not_null().all()


def test_detect_recent_judges_fresh_events_against_the_store(store) -> None:
    path, _ = store
    fresh = requests(
        seconds_apart(at(2026, 10, 28, 1), 80, 2.0), key="steady", ip="192.0.2.44",
        method="POST", path="/v1/login", status=401,
    ).rename({"key": "http_x_api_key"})  # fmt: skip
    findings = detect_recent(fresh, Store(path), _settings(path))
    assert set(findings.filter(pl.col("entity_type") == "ip")["entity"]) == {"192.0.2.44"}


def test_severities_are_the_same_in_the_command_and_the_library() -> None:
    assert COMMAND_SEVERITIES == SEVERITIES


# -- the command -----------------------------------------------------------------------------


def test_cli_csv_and_exit_code_for_fail_on(store) -> None:
    path, _ = store
    args = ["anomalies", "--store", str(path), *IDENTITY, "--since", "2026-10-27"]
    result = cli(*args, "--until", "2026-10-27", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert header == (
        "id,kind,severity,entity_type,entity,account,start,end,observed,expected,score,evidence,"
        "signals"
    )
    failing = cli(*args, "--until", "2026-10-27", "--format", "csv", "--fail-on", "medium")
    assert failing.exit_code == 3
    assert failing.stdout == result.stdout


def test_cli_quiet_prints_nothing_without_findings(store) -> None:
    path, _ = store
    args = ["anomalies", "--store", str(path), *IDENTITY, "--since", "2026-10-24"]
    result = cli(*args, "--until", "2026-10-25", "-q", "--fail-on", "low")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    loud = cli(*args, "--until", "2026-10-25", "--format", "csv")
    assert loud.stdout.startswith("id,kind")
    assert "no findings" in loud.stderr


def test_cli_json_is_deterministic(store) -> None:
    path, _ = store
    args = ["anomalies", "--store", str(path), *IDENTITY, "--since", "2026-10-27", "--until",
            "2026-10-27", "--format", "json", "--tz", "Europe/Berlin"]  # fmt: skip
    first, second = cli(*args), cli(*args)
    assert first.stdout == second.stdout
    rows = json.loads(first.stdout)
    assert rows and rows[0]["start"].endswith("+01:00")


def test_cli_explain_and_unknown_id(store) -> None:
    path, _ = store
    args = ["anomalies", "--store", str(path), *IDENTITY, "--since", "2026-10-27", "--until",
            "2026-10-27"]  # fmt: skip
    rows = json.loads(cli(*args, "--kind", "probing", "--format", "json").stdout)
    explained = cli(*args, "--kind", "probing", "--explain", rows[0]["id"], "--format", "csv")
    assert explained.exit_code == 0
    assert explained.stdout.count("\n") == 61  # header and the 60 probes
    missing = cli(*args, "--explain", "000000000000")
    assert missing.exit_code == 1
    assert "no finding '000000000000'" in missing.stderr


@pytest.mark.parametrize("width", [80, 160])
def test_cli_table_at_terminal_widths(store, width: int) -> None:
    from rich.console import Console

    from meterlog.commands.anomalies import table_view
    from meterlog.output import render_table

    path, _ = store
    findings = _findings(path, "2026-10-27", "2026-10-27")
    console = Console(width=width, record=True, force_terminal=False)
    render_table(table_view(findings, width), "Anomalies", console=console)
    text = console.export_text()
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines)
    # every finding's id (for --explain) and the scanner's address are whole on one line
    for finding_id in findings["id"]:
        assert any(finding_id in line for line in lines)
    assert any("198.51.100.9" in line for line in lines)
    if width == 160:
        assert "expected" in text and "observed" in text
    else:
        assert any("10-27T18:00–18:02" in line for line in lines)


def test_cli_usage_errors(store) -> None:
    path, _ = store
    bad_kind = cli("anomalies", "--store", str(path), "--kind", "meteor")
    assert bad_kind.exit_code == 2
    bad_baseline = cli("anomalies", "--store", str(path), "--baseline", "lots")
    assert bad_baseline.exit_code == 2


def test_config_tables_tune_and_turn_off_detectors(store, tmp_path: Path) -> None:
    path, _ = store
    config = tmp_path / "meterlog.toml"
    config.write_text(
        f'store = "{path}"\naccount_field = "http_x_api_key"\n'
        "[anomalies.probing]\nenabled = false\n[anomalies.auth_failures]\ncapacity = 500\n"
    )
    result = cli("anomalies", "--config", str(config), "--since", "2026-10-27", "--until",
                 "2026-10-27", "--format", "json")  # fmt: skip
    kinds = {row["kind"] for row in json.loads(result.stdout)}
    assert "probing" not in kinds and "auth_failures" not in kinds
    assert "spike" in kinds
    config.write_text("[anomalies.probing]\nmin_not_fuond = 3\n")
    result = cli("anomalies", "--config", str(config))
    assert result.exit_code == 1
    assert "anomalies.probing.min_not_fuond" in result.stderr


#: Each kind's rule with its default thresholds, as ``--explain`` states it.
RULES = {
    "drop": "(100% gone; fires when hours losing at least 80% of their expected requests, with "
    "edges losing at least 50%, last 3 hours in a row and so few requests have a Poisson chance "
    "of at most 1e-07)\n",
    "spike": "(fires at ≥ 3× expected, ≥ 100 more and a robust z-score ≥ 6; highest z ",
    "error_surge": "(fires at ≥ 10 errors, ≥ 4× and +10% the usual share, z ≥ 6; z ",
    "key_sharing": "(fires at ≥ 10 new networks, ≥ 20 new addresses or ≥ 5 new agents, and ≥ 0.5× "
    "the baseline's; only requests the key was accepted on count)\n",
    "sensitive_paths": "distinct paths in one window (≥ 3 distinct paths in 24h)\n",
}


@pytest.mark.parametrize("kind", sorted(RULES))
def test_cli_explain_names_the_rule_and_thresholds_for_every_kind(store, kind: str) -> None:
    path, _ = store
    args = ["anomalies", "--store", str(path), *IDENTITY, "--since", "2026-10-27", "--until",
            "2026-10-27"]  # fmt: skip
    rows = json.loads(cli(*args, "--format", "json").stdout)
    finding = next(row for row in rows if row["kind"] == kind)
    explained = cli(*args, "--explain", finding["id"], "--format", "csv")
    assert explained.exit_code == 0, explained.stderr
    assert f"finding {finding['id']}: {kind}: " in explained.stderr
    assert RULES[kind] in explained.stderr


def test_accounts_the_models_could_not_judge_are_named(store) -> None:
    path, _ = store
    report = run_anomalies(_settings(path), AnomalyQuery(since="2026-10-27", until="2026-10-27"))
    assert any("could not judge 1 account(s)" in w and "newbie" in w for w in report.warnings)
