#!/usr/bin/env python3
"""Write meterlog's bundled sample logs. Same seed, same bytes.

    python sample_logs/generate.py [--out DIR] [--seed N]

Every value comes from ``random.Random(seed)`` and fixed calendar constants: no clock, no
environment, no locale, and only basic IEEE arithmetic (no math-library functions, whose last
digits can differ between platforms), so each run writes the same files on every machine. The
one exception is ``api1/access.log.2.gz``: its gzip header is fixed (mtime 0, no file name), but
the deflate stream is whatever the local zlib produces, so a different zlib build (e.g. zlib-ng)
may compress the same content to different bytes.

The generator also writes ``README.md``, including the list of malformed lines and reference
numbers (monthly active users per account), so the README always describes the files next to it.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Any

SEED = 20261001

DAY = 86_400
HOUR = 3_600


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Seconds since 1970-01-01T00:00Z for a UTC calendar time."""
    return calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0))


#: Midnight UTC of the first day; day indexes count from here.
T0 = epoch(2026, 9, 1)
#: Traffic window. Chosen so that every request falls in September or October 2026 in UTC,
#: Europe/Berlin and America/Los_Angeles alike: only the month boundary is zone-dependent.
START = epoch(2026, 9, 1, 7)
END = epoch(2026, 10, 31, 23)
#: Month-end rush (acme's invoice run and everybody's reports) across the month boundary.
BURST = (epoch(2026, 9, 30, 22), epoch(2026, 10, 1, 2))
#: api2 could not reach its upstream for a few minutes: 502s, and lines in api2/error.log.
OUTAGE = (epoch(2026, 10, 14, 7, 24), epoch(2026, 10, 14, 7, 37))
#: logrotate runs at 06:25 and rotated api1's log at these instants.
ROTATIONS = (epoch(2026, 9, 20, 6, 25), epoch(2026, 10, 11, 6, 25))
#: Europe/Berlin leaves summer time (+0200 -> +0100) at 01:00 UTC on the last Sunday of October.
BERLIN_WINTER = epoch(2026, 10, 25, 1)
#: America/Los_Angeles leaves summer time (-0700 -> -0800) on 2026-11-01 09:00 UTC, after END.
LOS_ANGELES_WINTER = epoch(2026, 11, 1, 9)

ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH_NAIVE = datetime(1970, 1, 1)


def utc_offset(zone: str, ts: int) -> int:
    """The zone's UTC offset in seconds at ``ts`` (the rules that apply inside the window)."""
    if zone == "UTC":
        return 0
    if zone == "Europe/Berlin":
        return 2 * HOUR if ts < BERLIN_WINTER else HOUR
    if zone == "America/Los_Angeles":
        if ts >= LOS_ANGELES_WINTER:
            raise ValueError("America/Los_Angeles offsets are only written down until 2026-11-01")
        return -7 * HOUR
    raise ValueError(f"unknown zone {zone}")


def local_time(ts: int, zone: str) -> tuple[datetime, str]:
    """Naive wall-clock time in ``zone`` and its offset as ``+HHMM``."""
    offset = utc_offset(zone, ts)
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return _EPOCH_NAIVE + timedelta(seconds=ts + offset), f"{sign}{hours:02d}{minutes:02d}"


def time_local(ts: int, zone: str) -> str:
    """nginx ``$time_local``: ``01/Oct/2026:01:30:00 +0200`` (English month names always)."""
    t, offset = local_time(ts, zone)
    month = MONTH_NAMES[t.month - 1]
    return f"{t.day:02d}/{month}/{t.year}:{t.hour:02d}:{t.minute:02d}:{t.second:02d} {offset}"


def time_iso8601(ts: int, zone: str) -> str:
    """nginx ``$time_iso8601``: ``2026-10-01T01:30:00+02:00``."""
    t, offset = local_time(ts, zone)
    date_part = f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
    return f"{date_part}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}{offset[:3]}:{offset[3:]}"


def month_of(ts: int, zone: str) -> str:
    t, _ = local_time(ts, zone)
    return f"{t.year:04d}-{t.month:02d}"


def utc_text(ts: int) -> str:
    """``2026-10-14 07:24`` (UTC), for prose."""
    t, _ = local_time(ts, "UTC")
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}"


def error_log_time(ts: int, zone: str) -> str:
    """nginx error-log time stamp: local wall-clock time, no offset."""
    t, _ = local_time(ts, zone)
    return f"{t.year:04d}/{t.month:02d}/{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


# --- nginx escaping ---------------------------------------------------------------------------

_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\\x7f-\xff]')
_ESCAPED_BYTE = tuple(
    f"\\x{b:02X}" if b < 0x20 or b >= 0x7F or b in (0x22, 0x5C) else chr(b) for b in range(256)
)
_JSON_SPECIAL = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_JSON_SPECIAL |= {"\b": "\\b", "\f": "\\f"}
_JSON_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def nginx_escape(value: str | bytes) -> str:
    """nginx's default ``escape``: ``"``, ``\\``, bytes < 0x20 and >= 0x7F as ``\\xHH``."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not _NEEDS_ESCAPE.search(raw):
        return raw.decode("ascii")
    return "".join(_ESCAPED_BYTE[b] for b in raw)


def json_escape(value: str) -> str:
    """nginx's ``escape=json``: ``"`` and ``\\`` backslashed, control characters as ``\\uXXXX``;
    everything else, UTF-8 included, is written as it is."""
    return _JSON_NEEDS_ESCAPE.sub(
        lambda m: _JSON_SPECIAL.get(m.group(), f"\\u{ord(m.group()):04x}"), value
    )


# --- log formats (the nginx.conf written next to the logs declares exactly these) -------------

TEXT_FORMAT_PARTS = (
    '$remote_addr - $remote_user [$time_local] "$request" ',
    '$status $body_bytes_sent "$http_referer" ',
    '"$http_user_agent" "$http_x_api_key" $request_time',
)
#: (JSON key, nginx variable, quoted) in the order of the ``api_json`` format.
JSON_FIELDS = (
    ("time", "$time_iso8601", True),
    ("remote_addr", "$remote_addr", True),
    ("remote_user", "$remote_user", True),
    ("request_method", "$request_method", True),
    ("request_uri", "$request_uri", True),
    ("status", "$status", False),
    ("body_bytes_sent", "$body_bytes_sent", False),
    ("request_time", "$request_time", False),
    ("http_user_agent", "$http_user_agent", True),
    ("http_referer", "$http_referer", True),
    ("http_x_api_key", "$http_x_api_key", True),
)


def nginx_conf() -> str:
    json_parts = []
    for i, (key, variable, quoted) in enumerate(JSON_FIELDS):
        value = f'"{variable}"' if quoted else variable
        opening = "{" if i == 0 else ""
        closing = "}" if i == len(JSON_FIELDS) - 1 else ","
        json_parts.append(f"'{opening}\"{key}\":{value}{closing}'")
    text_lines = "\n".join(f"{' ' * 19}'{part}'" for part in TEXT_FORMAT_PARTS).lstrip()
    json_lines = "\n".join(f"{' ' * 8}{part}" for part in json_parts)
    return f"""\
# Minimal nginx configuration of the servers that wrote the logs in this folder.
#   format "api":      api1/access.log*, api2/access.log
#   format "api_json": app/requests.jsonl
# Written by generate.py.

worker_processes 1;

events {{
    worker_connections 1024;
}}

http {{
    log_format api {text_lines};

    log_format api_json escape=json
{json_lines};

    access_log /var/log/nginx/access.log api;
    error_log /var/log/nginx/error.log;

    upstream backend {{
        server 127.0.0.1:9000;
    }}

    server {{
        listen 80;
        server_name api.example.com;

        location / {{
            proxy_pass http://backend;
        }}
    }}

    server {{
        listen 8080;
        server_name app.example.com;
        access_log /var/log/app/requests.jsonl api_json;

        location / {{
            proxy_pass http://backend;
        }}
    }}
}}
"""


# --- arithmetic helpers (IEEE only, so results do not depend on the platform's libm) ---------


def exp_neg(x: float) -> float:
    """``exp(-x)`` for ``x >= 0`` from a Taylor series and repeated squaring."""
    halvings = 0
    while x > 0.5:
        x /= 2
        halvings += 1
    term = total = 1.0
    for n in range(1, 18):
        term *= x / n
        total += term
    for _ in range(halvings):
        total *= total
    return 1.0 / total


def poisson(rng: Random, lam: float) -> int:
    """A Poisson(lam) draw (Knuth's method; lam stays below ~100 here)."""
    if lam <= 0:
        return 0
    limit = exp_neg(lam)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def skewed(rng: Random, median: float, spread: float) -> float:
    """A positive, right-skewed value around ``median`` (``spread`` stretches the tail)."""
    u = rng.random()
    v = rng.random()
    return median * (0.4 + 1.2 * u) * (1.0 + spread * v * v * v * v)


def millis(seconds: float) -> int:
    return max(0, int(seconds * 1000 + 0.5))


# --- the business: customers, their keys, their end users --------------------------------------


@dataclass(frozen=True)
class Customer:
    label: str  # account name in accounts.csv, or a description when the key is left unmapped
    mapped: bool
    share: float  # share of ordinary API traffic
    users: int
    email_users: bool
    home_hours: int  # UTC offset of its users' working day, shapes the daily rhythm
    first_day: int  # day index (0 = 2026-09-01) of its first request
    agents: tuple[str, ...]
    servers: tuple[float, float, float]  # traffic split over api1, api2, app
    domain: str


EUROPE = (0.55, 0.35, 0.10)  # share of a customer's calls going to api1, api2, app
AMERICA = (0.30, 0.20, 0.50)
CUSTOMERS = (
    Customer(
        label="acme",
        mapped=True,
        share=0.44,
        users=1300,
        email_users=False,
        home_hours=2,
        first_day=0,
        agents=(
            "acme-backend/4.2.0 python-requests/2.32.3",
            "acme-mobile-gateway/1.9.3 okhttp/4.12.0",
        ),
        servers=EUROPE,
        domain="acme.example",
    ),
    Customer(
        label="globex",
        mapped=True,
        share=0.15,
        users=450,
        email_users=True,
        home_hours=-7,
        first_day=0,
        agents=("Globex-Connector/2.3.1 node-fetch/3.3.2", "axios/1.7.7"),
        servers=AMERICA,
        domain="globex.example",
    ),
    Customer(
        label="initech",
        mapped=True,
        share=0.13,
        users=400,
        email_users=False,
        home_hours=-4,
        first_day=0,
        agents=("Go-http-client/1.1", "initech-sync/1.4.2"),
        servers=AMERICA,
        domain="initech.example",
    ),
    Customer(
        label="umbrella",
        mapped=True,
        share=0.12,
        users=350,
        email_users=False,
        home_hours=9,
        first_day=0,
        agents=("umbrella-etl/0.8.1 (Java/21.0.4)", "Apache-HttpClient/5.3.1 (Java/21.0.4)"),
        servers=EUROPE,
        domain="umbrella.example",
    ),
    Customer(
        label="hooli",
        mapped=True,
        share=0.10,
        users=300,
        email_users=True,
        home_hours=-7,
        first_day=0,
        agents=("hooli-api-client/3.0.0 ruby/3.3.4", "Faraday v2.10.1"),
        servers=AMERICA,
        domain="hooli.example",
    ),
    Customer(
        label="not mapped: a trial customer since 2026-10-12",
        mapped=False,
        share=0.06,
        users=120,
        email_users=False,
        home_hours=1,
        first_day=41,  # 2026-10-12
        agents=("curl/8.5.0", "PostmanRuntime/7.42.0"),
        servers=(0.50, 0.30, 0.20),
        domain="trial.example",
    ),
)
ACME = 0
INITECH = 2
#: acme's month-end invoice run touches this many end users who do nothing else all month.
BATCH_USERS = 200
BATCH_AGENT = "acme-billing-batch/1.8.0"
#: e-mail users of globex who also use hooli (same address, two customers).
SHARED_EMAIL_USERS = 25

BROWSER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
)
MONITOR_AGENT = "Prometheus-Blackbox-Exporter/0.25.0"
MONITOR_ADDR = "10.0.0.5"
UPTIMEROBOT_AGENT = "Mozilla/5.0+(http://www.uptimerobot.com/)"
GOOGLEBOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SCANNER_AGENT = "Mozilla/5.0 zgrab/0.x"
QUOTED_AGENT = 'initech-sync/1.5.0-rc1 "dev build"'
BACKSLASH_AGENT = "C:\\Tools\\poller.exe"
UTF8_AGENT = "Kaffeem\u00fchle/2.1 (Z\u00fcrich; macOS 14.6)"
UTF8_PATH = "/v1/tags/caf\u00e9"
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"

FIRST_NAMES = (
    "anna", "ben", "carla", "david", "elena", "felix", "grace", "hugo", "ines", "jonas",
    "kim", "lena", "marco", "nina", "omar", "paula", "quinn", "rosa", "sven", "tara",
    "uma", "victor", "wei", "xenia", "yusuf", "zoe", "li", "mei", "ravi", "sara",
)  # fmt: skip
LAST_NAMES = (
    "schmidt", "nguyen", "garcia", "smith", "kowalski", "rossi", "tanaka", "okafor", "jensen",
    "silva", "novak", "haddad", "murphy", "kim", "larsen", "dubois", "fischer", "patel",
    "cohen", "yilmaz", "moreau", "weber", "costa", "ito", "berg",
)  # fmt: skip
MAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")

#: Share of traffic by hour of the local working day (index 0 = midnight).
DAILY_PROFILE = (
    0.25, 0.2, 0.15, 0.15, 0.15, 0.2, 0.35, 0.6, 1.0, 1.5, 1.8, 1.7,
    1.4, 1.5, 1.7, 1.8, 1.6, 1.3, 1.0, 0.8, 0.65, 0.55, 0.45, 0.35,
)  # fmt: skip
WEEKEND_FACTOR = 0.45
#: Ordinary API requests per hour, all customers together, on an average weekday hour.
HOURLY_REQUESTS = 26.0
#: Extra acme requests per hour during the month-end rush (besides the invoice run).
RUSH_REQUESTS = 250.0


@dataclass(frozen=True)
class User:
    name: str
    customer: int
    weight: float
    first_day: int
    last_day: int
    addr: str
    db_id: int
    browser: str
    browser_share: float


def ipv4(rng: Random) -> str:
    prefix = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{prefix}.{rng.randrange(1, 255)}"


def ipv6(rng: Random) -> str:
    return f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"


def client_addr(rng: Random) -> str:
    return ipv6(rng) if rng.random() < 0.15 else ipv4(rng)


def make_keys(rng: Random) -> list[str]:
    return [f"key_live_{rng.getrandbits(96):024x}" for _ in CUSTOMERS]


def make_users(rng: Random) -> tuple[list[User], list[User]]:
    """Ordinary users of every customer, and the users of acme's month-end batch run."""
    id_count = sum(c.users for c in CUSTOMERS if not c.email_users) + BATCH_USERS
    ids = iter(f"u_{n:05d}" for n in rng.sample(range(100_000), id_count))
    taken: set[str] = set()

    def email() -> str:
        while True:
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            suffix = "" if rng.random() < 0.5 else str(rng.randrange(1, 100))
            address = f"{first}.{last}{suffix}@{rng.choice(MAIL_DOMAINS)}"
            if address not in taken:
                taken.add(address)
                return address

    def user(name: str, customer: int) -> User:
        c = CUSTOMERS[customer]
        u = rng.random()
        first_day = c.first_day
        if rng.random() < 0.25:
            first_day = rng.randrange(c.first_day, 61)
        last_day = 60
        if rng.random() < 0.15:
            last_day = rng.randrange(first_day, 61)
        return User(
            name=name,
            customer=customer,
            weight=2.0 + 0.3 / (0.02 + u * u),  # a few busy users, a long quiet tail
            first_day=first_day,
            last_day=last_day,
            addr=client_addr(rng),
            db_id=rng.randrange(1000, 100_000),
            browser=rng.choice(BROWSER_AGENTS),
            browser_share=0.0 if rng.random() < 0.6 else 0.35,
        )

    users: list[User] = []
    globex_emails: list[str] = []
    for index, customer in enumerate(CUSTOMERS):
        for n in range(customer.users):
            if not customer.email_users:
                name = next(ids)
            elif customer.label == "hooli" and n < SHARED_EMAIL_USERS:
                name = globex_emails[n * 7]
            else:
                name = email()
                if customer.label == "globex":
                    globex_emails.append(name)
            users.append(user(name, index))
    batch = [
        User(
            name=next(ids),
            customer=ACME,
            weight=1.0,
            first_day=29,
            last_day=30,
            addr="",
            db_id=rng.randrange(1000, 100_000),
            browser="",
            browser_share=0.0,  # always through acme's backend
        )
        for _ in range(BATCH_USERS)
    ]
    return users, batch


# --- requests -----------------------------------------------------------------------------------

SERVERS = ("api1", "api2", "app")


@dataclass
class Event:
    ts: int
    seq: int
    server: str
    addr: str
    user: str | None
    method: str
    uri: str
    protocol: str
    status: int
    size: int
    referer: str | None
    agent: str | None
    key: str | None
    millis: int
    raw_request: bytes | None = None  # request line as received, when it is not "METHOD URI PROTO"
    note: str | None = None  # what is unusual about this (valid) line, for the README


ENDPOINTS = {
    "user_orders": 20.0,
    "user": 9.0,
    "user_update": 2.0,
    "order": 14.0,
    "orders_list": 8.0,
    "order_create": 9.0,
    "order_update": 5.0,
    "order_delete": 2.0,
    "invoice": 5.0,
    "invoices_list": 3.0,
    "invoice_create": 0.5,
    "file": 5.0,
    "file_upload": 2.0,
    "file_delete": 0.5,
    "products": 7.0,
    "search": 4.0,
}
ENDPOINT_NAMES = tuple(ENDPOINTS)
ENDPOINT_CUM_WEIGHTS = list(accumulate(ENDPOINTS.values()))
BY_ID = {"user", "user_orders", "order", "order_update", "order_delete", "invoice", "file"}
SEARCH_TERMS = ("shoes", "red%20shoes", "caf%C3%A9", "k%C3%B6ln", "invoice+2026", "usb-c")
CATEGORIES = ("books", "tools", "garden", "kitchen", "toys", "sports")
INVOICE_MONTHS = tuple(f"2026-{m:02d}-01" for m in range(3, 11))

#: Body size of error answers: JSON errors from the application, HTML pages from nginx.
ERROR_BODIES = {
    400: 47,
    401: 41,
    404: 38,
    409: 44,
    422: 61,
    429: 64,
    500: 36,
    502: 157,
    503: 190,
    504: 167,
}


def uuid4(rng: Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def success(rng: Random, kind: str, user: User | None) -> tuple[str, str, int, int, float]:
    """(method, uri, status, bytes, seconds) of a successful call of endpoint ``kind``."""
    uid = user.db_id if user else rng.randrange(1000, 100_000)
    page = f"?page={rng.randrange(1, 13)}&limit={rng.choice((20, 50, 100))}"
    if kind == "user_orders":
        query = page if rng.random() < 0.3 else ""
        return "GET", f"/v1/users/{uid}/orders{query}", 200, rng.randrange(800, 12_000), 0.045
    if kind == "user":
        return "GET", f"/v1/users/{uid}", 200, rng.randrange(300, 900), 0.012
    if kind == "user_update":
        return "PUT", f"/v1/users/{uid}", 200, rng.randrange(300, 900), 0.030
    if kind == "order":
        return "GET", f"/v1/orders/{uuid4(rng)}", 200, rng.randrange(400, 2_500), 0.015
    if kind == "orders_list":
        query = page + ("&status=open" if rng.random() < 0.3 else "")
        return "GET", f"/v1/orders{query}", 200, rng.randrange(2_000, 25_000), 0.080
    if kind == "order_create":
        return "POST", "/v1/orders", 201, rng.randrange(300, 900), 0.060
    if kind == "order_update":
        return "PUT", f"/v1/orders/{uuid4(rng)}", 200, rng.randrange(300, 900), 0.040
    if kind == "order_delete":
        return "DELETE", f"/v1/orders/{uuid4(rng)}", 204, 0, 0.025
    if kind == "invoice":
        pdf = "/pdf" if rng.random() < 0.25 else ""
        size = rng.randrange(40_000, 180_000) if pdf else rng.randrange(1_000, 6_000)
        return "GET", f"/v1/invoices/{rng.choice(INVOICE_MONTHS)}{pdf}", 200, size, 0.050
    if kind == "invoices_list":
        status = rng.choice(("open", "paid", "overdue"))
        return (
            "GET",
            f"/v1/invoices?status={status}&page=1",
            200,
            rng.randrange(1_500, 15_000),
            0.07,
        )
    if kind == "invoice_create":
        return "POST", "/v1/invoices", 201, rng.randrange(400, 1_200), 0.110
    if kind == "file":
        size = rng.randrange(5_000, 2_000_000)
        return "GET", f"/v1/files/{rng.getrandbits(160):040x}", 200, size, 0.05 + size / 4e6
    if kind == "file_upload":
        return "POST", "/v1/files", 201, rng.randrange(150, 300), 0.400
    if kind == "file_delete":
        return "DELETE", f"/v1/files/{rng.getrandbits(160):040x}", 204, 0, 0.020
    if kind == "products":
        query = f"?category={rng.choice(CATEGORIES)}&page={rng.randrange(1, 6)}"
        return "GET", f"/v1/products{query}", 200, rng.randrange(3_000, 30_000), 0.035
    if kind == "search":
        query = f"?q={rng.choice(SEARCH_TERMS)}&limit=20"
        return "GET", f"/v1/search{query}", 200, rng.randrange(500, 10_000), 0.090
    raise ValueError(kind)


@dataclass
class World:
    rng: Random
    keys: list[str]
    users: list[User]
    batch: list[User]
    events: list[Event] = field(default_factory=list)
    backends: list[list[str]] = field(default_factory=list)

    def add(self, event_ts: int, server: str, **values: Any) -> Event:
        event = Event(ts=event_ts, seq=len(self.events), server=server, **values)
        self.events.append(event)
        return event


def outage(server: str, ts: int) -> bool:
    return server == "api2" and OUTAGE[0] <= ts < OUTAGE[1]


def api_request(
    world: World,
    ts: int,
    customer: int,
    user: User | None,
    kind: str,
    *,
    server: str | None = None,
    agent: str | None = None,
    rate_limited: float = 0.004,
) -> Event:
    """One API call by ``user`` (None: anonymous) of ``customer``; errors sprinkled in."""
    rng = world.rng
    c = CUSTOMERS[customer]
    if server is None:
        server = rng.choices(SERVERS, weights=c.servers)[0]
    method, uri, status, size, seconds = success(rng, kind, user)
    seconds = skewed(rng, seconds, 8.0)
    roll = rng.random()
    if outage(server, ts):
        status, seconds = 502, 0.001
    elif roll < rate_limited:
        status, seconds = 429, 0.001
    elif roll < rate_limited + 0.002:
        status = rng.choice((500, 500, 502, 503, 504))
        seconds = {500: seconds, 502: 0.003, 503: 0.001, 504: 60.0 + rng.random() / 50}[status]
    elif kind in BY_ID and roll < rate_limited + 0.035:
        status = 404
    elif method in ("POST", "PUT") and roll < rate_limited + 0.05:
        status = rng.choice((400, 409, 422))
    if status >= 400:
        size = ERROR_BODIES[status]
    browser = user is not None and rng.random() < user.browser_share
    if browser and user is not None:
        addr = user.addr
        agent = agent or user.browser
        referer: str | None = f"https://app.{c.domain}/{rng.choice(('orders', 'files', 'billing'))}"
        protocol = "HTTP/2.0" if rng.random() < 0.7 else "HTTP/1.1"
    else:
        addr = rng.choice(world.backends[customer])
        agent = agent or rng.choice(c.agents)
        referer = None
        protocol = "HTTP/1.1"
    return world.add(
        ts,
        server,
        addr=addr,
        user=user.name if user else None,
        method=method,
        uri=uri,
        protocol=protocol,
        status=status,
        size=size,
        referer=referer,
        agent=agent,
        key=world.keys[customer],
        millis=millis(seconds),
    )


def ordinary_traffic(world: World) -> None:
    """API calls hour by hour: daily rhythm per customer, quieter weekends, the month-end rush."""
    rng = world.rng
    profile_mean = sum(DAILY_PROFILE) / 24
    by_customer = [[u for u in world.users if u.customer == i] for i in range(len(CUSTOMERS))]
    #: (customer, day) -> the customer's users active that day, with cumulative weights
    active: dict[tuple[int, int], tuple[list[User], list[float]]] = {}
    for day in range(61):
        for index, users in enumerate(by_customer):
            chosen = [u for u in users if u.first_day <= day <= u.last_day]
            active[(index, day)] = (chosen, list(accumulate(u.weight for u in chosen)))
    customer_ids = range(len(CUSTOMERS))
    for hour_start in range(START, END, HOUR):
        day = (hour_start - T0) // DAY
        burst = BURST[0] <= hour_start < BURST[1]
        rates: list[float] = []
        for c in CUSTOMERS:
            local = hour_start + c.home_hours * HOUR
            weekday = (local // DAY + 3) % 7  # 1970-01-01 was a Thursday
            rate = HOURLY_REQUESTS * c.share * DAILY_PROFILE[(local // HOUR) % 24] / profile_mean
            if weekday >= 5:
                rate *= WEEKEND_FACTOR
            if day < c.first_day:
                rate = 0.0
            if burst:
                rate = rate + RUSH_REQUESTS if c is CUSTOMERS[ACME] else 3.0 * rate
            rates.append(rate)
        for _ in range(poisson(rng, sum(rates))):
            ts = hour_start + rng.randrange(HOUR)
            customer = rng.choices(customer_ids, weights=rates)[0]
            users, cum = active[(customer, day)]
            if not users:
                continue
            if rng.random() < 0.01:
                missing_key(world, ts, customer)
                continue
            kind = rng.choices(ENDPOINT_NAMES, cum_weights=ENDPOINT_CUM_WEIGHTS)[0]
            user: User | None = rng.choices(users, cum_weights=cum)[0]
            if kind in ("products", "search") and rng.random() < 0.5:
                user = None  # catalogue browsing without a signed-in user
            limited = 0.12 if burst and customer == ACME else 0.004
            api_request(world, ts, customer, user, kind, rate_limited=limited)


def missing_key(world: World, ts: int, customer: int) -> None:
    """A call without the X-Api-Key header: 401, no key, no user."""
    rng = world.rng
    c = CUSTOMERS[customer]
    method, uri, _, _, _ = success(rng, rng.choice(("user", "order", "orders_list")), None)
    world.add(
        ts,
        rng.choices(SERVERS, weights=c.servers)[0],
        addr=rng.choice(world.backends[customer]),
        user=None,
        method=method,
        uri=uri,
        protocol="HTTP/1.1",
        status=401,
        size=ERROR_BODIES[401],
        referer=None,
        agent=rng.choice(c.agents),
        key=None,
        millis=rng.randrange(0, 3),
    )


def batch_run(world: World) -> None:
    """acme's month-end invoice run: one short session per batch user across the boundary."""
    rng = world.rng
    for user in world.batch:
        ts = rng.randrange(BURST[0], BURST[1] - 900)
        server = rng.choice(("api1", "api2"))
        for kind in ("user", "user_orders", "invoice_create", "invoice")[: rng.randrange(2, 5)]:
            api_request(
                world, ts, ACME, user, kind, server=server, agent=BATCH_AGENT, rate_limited=0.0
            )
            ts += rng.randrange(2, 120)


def background(world: World) -> None:
    """Health checks, uptime monitoring, a search engine crawler and a vulnerability scanner."""
    rng = world.rng
    common = {"user": None, "protocol": "HTTP/1.1", "referer": None, "key": None}
    for n, server in enumerate(SERVERS):
        for ts in range(START + 7 + 4 * n, END, 1800):
            status = 502 if outage(server, ts) else 200
            world.add(
                ts,
                server,
                addr=MONITOR_ADDR,
                method="GET",
                uri="/health",
                status=status,
                size=ERROR_BODIES[502] if status == 502 else 2,
                agent=MONITOR_AGENT,
                millis=rng.randrange(0, 2),
                **common,
            )
    robots = [ipv4(rng) for _ in range(3)]
    for n, ts in enumerate(range(START + 41, END, HOUR)):
        world.add(
            ts,
            ("api1", "api2")[n % 2],
            addr=rng.choice(robots),
            method="HEAD",
            uri="/health",
            status=200,
            size=0,
            agent=UPTIMEROBOT_AGENT,
            millis=rng.randrange(0, 3),
            **common,
        )
    pages = (
        ("/", 200, 5_210),
        ("/robots.txt", 200, 67),
        ("/docs", 200, 48_118),
        ("/docs/authentication", 200, 21_734),
        ("/v1/openapi.json", 200, 96_410),
        ("/sitemap.xml", 404, 38),
    )
    for day_start in range(T0, END, DAY):
        for _ in range(rng.randrange(0, 6)):
            ts = rng.randrange(max(day_start, START), min(day_start + DAY, END))
            path, status, size = rng.choice(pages)
            world.add(
                ts,
                "api1",
                addr=f"66.249.66.{rng.randrange(1, 255)}",
                method="GET",
                uri=path,
                status=status,
                size=size,
                agent=GOOGLEBOT_AGENT,
                millis=rng.randrange(1, 40),
                **common,
            )
    probes = ("/.env", "/wp-login.php", "/.git/config", "/phpmyadmin/", "/admin", "/server-status")
    for ts in (epoch(2026, 9, 8, 3, 12), epoch(2026, 9, 27, 14, 2), epoch(2026, 10, 19, 23, 47)):
        addr = ipv4(rng)
        for server in ("api1", "api2"):
            for offset, path in enumerate(probes):
                world.add(
                    ts + offset,
                    server,
                    addr=addr,
                    method="GET",
                    uri=path,
                    status=404,
                    size=ERROR_BODIES[404],
                    agent=SCANNER_AGENT,
                    millis=rng.randrange(0, 3),
                    **common,
                )
            ts += 30


def odd_but_valid(world: World) -> None:
    """Lines that are valid but exercise the parser: escapes, odd requests."""
    rng = world.rng
    common = {"user": None, "referer": None, "key": None, "agent": None}
    junk = [("api1", ROTATIONS[1], END), ("api2", START, END)]
    for server, lo, hi in junk:
        world.add(
            rng.randrange(lo, hi),
            server,
            addr=ipv4(rng),
            method="",
            uri="",
            protocol="",
            status=400,
            size=157,
            millis=rng.randrange(50, 200),
            raw_request=TLS_HELLO,
            note="TLS handshake sent to the plain-HTTP port: request logged as \\x escapes",
            **common,
        )
    for server, lo, hi in [("api1", START, ROTATIONS[0]), ("api2", START, END)]:
        world.add(
            rng.randrange(lo, hi),
            server,
            addr=ipv6(rng),
            method="",
            uri="",
            protocol="",
            status=400,
            size=0,
            millis=0,
            raw_request=b"",
            note='empty request line `""` (client connected and sent nothing usable)',
            **common,
        )

    def pick(server: str, lo: int, hi: int, test: Callable[[Event], bool]) -> Event:
        candidates = [
            e
            for e in world.events
            if e.server == server and lo <= e.ts < hi and e.note is None and test(e)
        ]
        return rng.choice(candidates)

    def plain_get(e: Event) -> bool:
        return e.user is not None and e.method == "GET" and e.status == 200

    initech_key = world.keys[INITECH]
    for server in ("api2", "api2", "app"):
        e = pick(server, START, END, lambda e: plain_get(e) and e.key == initech_key)
        e.agent = QUOTED_AGENT
        e.note = 'user agent with `"` in it'
    for server, lo, hi in [("api2", START, END), ("api1", ROTATIONS[0], ROTATIONS[1])]:
        e = pick(server, lo, hi, plain_get)
        e.agent = BACKSLASH_AGENT
        e.note = "user agent with backslashes"
    for server, lo, hi in [
        ("api1", ROTATIONS[1], END),
        ("api1", ROTATIONS[1], END),
        ("app", START, END),
    ]:
        e = pick(server, lo, hi, plain_get)
        e.agent = UTF8_AGENT
        e.note = "user agent with UTF-8 characters"
    for server, lo, hi in [
        ("api1", ROTATIONS[0], ROTATIONS[1]),
        ("api2", START, END),
        ("app", START, END),
    ]:
        e = pick(server, lo, hi, plain_get)
        e.uri = UTF8_PATH
        e.note = "path with a UTF-8 character sent unencoded"

    api2 = sorted((e for e in world.events if e.server == "api2"), key=lambda e: (e.ts, e.seq))
    switch = next(i for i, e in enumerate(api2) if e.ts >= BERLIN_WINTER)
    for e, note in (
        (api2[switch - 1], "last line in summer time (`+0200`)"),
        (api2[switch], "first line in winter time (`+0100`): local time steps back an hour"),
    ):
        e.note = f"{e.note}; {note}" if e.note else note


# --- files ----------------------------------------------------------------------------------------


@dataclass
class Line:
    text: str
    event: Event | None = None
    malformed: str | None = None  # what is wrong with it
    reason: str | None = None  # the reject reason meterlog is expected to give


@dataclass
class LogFile:
    path: str  # relative to the output folder
    form: str  # "api" or "api_json"
    zone: str
    lines: list[Line] = field(default_factory=list)

    def data(self) -> bytes:
        return "".join(line.text + "\n" for line in self.lines).encode("utf-8")


def text_line(e: Event, zone: str) -> str:
    if e.raw_request is not None:
        request = nginx_escape(e.raw_request)
    else:
        request = nginx_escape(f"{e.method} {e.uri} {e.protocol}")

    def field_(value: str | None) -> str:
        return nginx_escape(value) if value else "-"

    return (
        f"{e.addr} - {field_(e.user)} [{time_local(e.ts, zone)}] "
        f'"{request}" {e.status} {e.size} "{field_(e.referer)}" '
        f'"{field_(e.agent)}" "{field_(e.key)}" {e.millis // 1000}.{e.millis % 1000:03d}'
    )


def json_line(e: Event, zone: str) -> str:
    values = {
        "time": time_iso8601(e.ts, zone),
        "remote_addr": e.addr,
        "remote_user": e.user or "",
        "request_method": e.method,
        "request_uri": e.uri,
        "status": str(e.status),
        "body_bytes_sent": str(e.size),
        "request_time": f"{e.millis // 1000}.{e.millis % 1000:03d}",
        "http_user_agent": e.agent or "",
        "http_referer": e.referer or "",
        "http_x_api_key": e.key or "",
    }
    parts = []
    for key, _, quoted in JSON_FIELDS:
        value = f'"{json_escape(values[key])}"' if quoted else values[key]
        parts.append(f'"{key}":{value}')
    return "{" + ",".join(parts) + "}"


def insert_at(rng: Random, log: LogFile, line: Line) -> None:
    """Insert ``line`` somewhere in the middle 80% of the file."""
    n = len(log.lines)
    log.lines.insert(rng.randrange(n // 10, n - n // 10), line)


def truncate_one(rng: Random, log: LogFile, what: str) -> None:
    """Cut an ordinary API line short, as a crash mid-write leaves it."""
    n = len(log.lines)
    while True:
        line = log.lines[rng.randrange(n // 10, n - n // 10)]
        if line.event is not None and line.event.key and line.event.note is None:
            break
    cut = line.text.index('" ', line.text.index("]")) + rng.randrange(8, 30)
    line.text = line.text[:cut]
    line.event = None
    line.malformed = what
    line.reason = "no_match"


def build_files(world: World) -> list[LogFile]:
    rng = world.rng
    ordered = sorted(world.events, key=lambda e: (e.ts, e.seq))
    api1 = [
        LogFile("api1/access.log.2.gz", "api", "UTC"),
        LogFile("api1/access.log.1", "api", "UTC"),
        LogFile("api1/access.log", "api", "UTC"),
    ]
    api2 = LogFile("api2/access.log", "api", "Europe/Berlin")
    app = LogFile("app/requests.jsonl", "api_json", "America/Los_Angeles")
    for e in ordered:
        if e.server == "api1":
            log = api1[sum(e.ts >= cut for cut in ROTATIONS)]
        else:
            log = api2 if e.server == "api2" else app
        render = json_line if log.form == "api_json" else text_line
        log.lines.append(Line(render(e, log.zone), e))

    truncate_one(rng, api1[0], "truncated: the write stopped inside the user agent")
    garbage = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789+/=#%&*", k=72))
    insert_at(rng, api1[1], Line(garbage, malformed="garbage text", reason="no_match"))
    lines = api1[2].lines
    at = rng.randrange(len(lines) // 10, len(lines) - len(lines) // 10)
    near = next(line.event for line in lines[at:] if line.event and line.event.key)
    bad_time = "32/Oct/2026:25:61:00 +0000"
    bad_text = text_line(near, "UTC").replace(time_local(near.ts, "UTC"), bad_time)
    lines.insert(
        at, Line(bad_text, malformed=f"bad timestamp `[{bad_time}]`", reason="bad_timestamp")
    )
    truncate_one(rng, api2, "truncated: the write stopped inside the user agent")
    stray = (
        f"{error_log_time(OUTAGE[0] - 3 * DAY, 'Europe/Berlin')} [warn] 1017#1017: *88213 an "
        "upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/4/02/"
        "0000000024 while reading upstream"
    )
    insert_at(
        rng, api2, Line(stray, malformed="an error-log line in the access log", reason="no_match")
    )
    insert_at(rng, app, Line("[1,2]", malformed="JSON array, not an object", reason="bad_json"))
    half = next(
        line
        for line in app.lines[len(app.lines) // 3 :]
        if line.event and line.event.key and line.event.note is None
    )
    half.text = half.text[: len(half.text) // 2]
    half.event = None
    half.malformed = "JSON object cut in half"
    half.reason = "bad_json"
    return [*api1, api2, app]


def error_log(world: World) -> str:
    """api2/error.log: what nginx said about api2's 5xx answers, plus two reloads."""
    rng = world.rng
    zone = "Europe/Berlin"
    entries: list[tuple[int, str]] = [
        (epoch(2026, 9, 14, 1, 3), "[notice] 1017#1017: signal process started"),
        (epoch(2026, 10, 5, 1, 2), "[notice] 1017#1017: signal process started"),
    ]
    connection = 1000
    for e in sorted(world.events, key=lambda e: (e.ts, e.seq)):
        if e.server != "api2" or e.status not in (502, 504):
            continue
        connection += rng.randrange(50, 5000)
        if e.status == 502:
            what = "connect() failed (111: Connection refused) while connecting to upstream"
        else:
            what = (
                "upstream timed out (110: Connection timed out) while reading response header "
                "from upstream"
            )
        request = nginx_escape(f"{e.method} {e.uri} {e.protocol}")
        entries.append(
            (
                e.ts,
                f"[error] 1017#1017: *{connection} {what}, client: {e.addr}, "
                f'server: api.example.com, request: "{request}", '
                f'upstream: "http://127.0.0.1:9000{e.uri}", host: "api.example.com"',
            )
        )
    entries.sort(key=lambda entry: entry[0])
    return "".join(f"{error_log_time(ts, zone)} {text}\n" for ts, text in entries)


def gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        out.write(data)
    return buffer.getvalue()


# --- README -------------------------------------------------------------------------------------


def reference_numbers(
    logs: Sequence[LogFile], accounts: dict[str, str]
) -> tuple[dict[str, dict[str, set[str]]], dict[str, dict[str, int]]]:
    """Monthly active users per account per (zone, month) and UTC requests per account."""
    mau: dict[str, dict[str, set[str]]] = {}
    requests: dict[str, dict[str, int]] = {}
    for log in logs:
        for line in log.lines:
            e = line.event
            if e is None:
                continue
            account = accounts.get(e.key, e.key) if e.key else "(no key)"
            per_month = requests.setdefault(account, {})
            utc_month = month_of(e.ts, "UTC")
            per_month[utc_month] = per_month.get(utc_month, 0) + 1
            if e.key and e.user:
                for zone in ZONES:
                    column = f"{month_of(e.ts, zone)} {zone}"
                    mau.setdefault(account, {}).setdefault(column, set()).add(e.user)
    return mau, requests


def readme(
    seed: int,
    logs: Sequence[LogFile],
    error_lines: int,
    keys: list[str],
    accounts: dict[str, str],
) -> str:
    months = ("2026-09", "2026-10")
    file_rows = []
    for log in logs:
        events = [line.event for line in log.lines if line.event]
        first = min(e.ts for e in events)
        last = max(e.ts for e in events)
        render = time_iso8601 if log.form == "api_json" else time_local
        offsets = sorted({local_time(e.ts, log.zone)[1] for e in events}, reverse=True)
        file_rows.append(
            f"| `{log.path}` | `{log.form}` | {log.zone} ({', '.join(offsets)}) | "
            f"{len(log.lines)} | `{render(first, log.zone)}` | `{render(last, log.zone)}` |"
        )
    total_lines = sum(len(log.lines) for log in logs)
    malformed_rows = []
    unusual_rows = []
    for log in logs:
        for number, line in enumerate(log.lines, start=1):
            if line.malformed:
                malformed_rows.append(
                    f"| `{log.path}` | {number} | {line.malformed} | `{line.reason}` |"
                )
            elif line.event is not None and line.event.note:
                unusual_rows.append(f"| `{log.path}` | {number} | {line.event.note} |")
    mau, requests = reference_numbers(logs, accounts)
    account_order = [accounts.get(k, k) for k in keys]
    columns = [f"{month} {zone}" for zone in ZONES for month in months]
    mau_rows = [
        f"| `{account}` | " + " | ".join(str(len(mau[account].get(c, ()))) for c in columns) + " |"
        for account in account_order
    ]
    request_rows = [
        f"| `{account}` | " + " | ".join(str(requests[account].get(m, 0)) for m in months) + " |"
        for account in [*account_order, "(no key)"]
    ]
    users = {user for per_account in mau.values() for s in per_account.values() for user in s}
    key_rows = [
        f"| `{key}` | `{accounts[key]}` |" if key in accounts else f"| `{key}` | *({c.label})* |"
        for key, c in zip(keys, CUSTOMERS, strict=True)
    ]
    nl = "\n"
    return f"""\
# Sample logs

Access logs of a small paid REST API, for trying meterlog (`make demo`) and for tests.
Everything in this folder except `generate.py` is written by `generate.py`; do not edit by hand.

## Regenerating

```sh
python sample_logs/generate.py            # writes into sample_logs/
python sample_logs/generate.py --out DIR  # writes into DIR
```

Seed: `{seed}`. The generator uses only the Python standard library, `random.Random(seed)` and
fixed dates (no clock), so regeneration is byte-identical. `api1/access.log.2.gz` is written with
a fixed gzip header (mtime 0, no file name); its compressed bytes depend only on the zlib in use.
`tests/test_sample_logs.py` regenerates into a temporary folder and fails if anything here differs.

## Files

| file | format | time zone (offsets) | lines | first | last |
|---|---|---|---|---|---|
{nl.join(file_rows)}

{total_lines} lines in these five access logs. Besides them: `api2/error.log` ({error_lines} lines
in nginx's error-log format; not an access log, ingest should skip it), `accounts.csv` and
`nginx.conf`.

- `nginx.conf` declares the two formats: `log_format api` (text, nginx's default escaping:
  `"`, `\\` and bytes below 0x20 or from 0x7F up written as `\\xHH`) and
  `log_format api_json escape=json` (one JSON object a line; UTF-8 written as is, missing values
  as `""`).
- `api1/` is one server logging in UTC (`+0000`), rotated by logrotate (`compress`,
  `delaycompress`): `access.log.2.gz` (oldest), `access.log.1`, `access.log` (newest).
  Their time ranges follow each other without overlap; the rotations happened at
  {utc_text(ROTATIONS[0])} and {utc_text(ROTATIONS[1])} UTC.
- `api2/` is a second server behind the same load balancer logging in Europe/Berlin time:
  `+0200` until {utc_text(BERLIN_WINTER)} UTC, `+0100` after, so `$time_local` steps back an
  hour there while the file stays in time order (see the lines listed below). From
  {utc_text(OUTAGE[0])} to {utc_text(OUTAGE[1])} UTC its upstream was down (502s, logged in
  `error.log`).
- `app/requests.jsonl` is an application server in America/Los_Angeles (`-07:00` throughout).
- No request appears in more than one file. Lines in every file are in time order and every
  file ends with a newline.

## Traffic

- Six customers, told apart by the API key in `$http_x_api_key`; `accounts.csv` maps five of
  them to account names and leaves the sixth unmapped on purpose:

| key | account |
|---|---|
{nl.join(key_rows)}

- End users in `$remote_user`: ids like `u_01234` (acme, initech, umbrella, the trial customer)
  or e-mail addresses (globex, hooli; {SHARED_EMAIL_USERS} addresses use both). Anonymous
  requests have `-` (text) or `""` (JSON): catalogue calls without a signed-in user, calls
  without a key (401), health checks, bots.
- All requests fall between {utc_text(START)} and {utc_text(END)} UTC, so in UTC,
  Europe/Berlin and America/Los_Angeles alike they belong to September or October; only the
  month boundary depends on the zone. Traffic follows each customer's working day, with quieter
  weekends.
- Month-end rush from {utc_text(BURST[0])} to {utc_text(BURST[1])} UTC: acme's invoice run
  (user agent `{BATCH_AGENT}`) touches {BATCH_USERS} users who make no other request all
  period, each in one session of a few minutes, so their month is September in
  America/Los_Angeles, October in Europe/Berlin, and in UTC whichever side of midnight the
  session fell on (both for a session spanning midnight). acme gets rate limited (429) during
  the rush.
- Besides API calls: `/health` checks every 30 minutes per server
  (`{MONITOR_AGENT}`), UptimeRobot (`HEAD /health`), Googlebot on the documentation
  pages, and a vulnerability scanner (`{SCANNER_AGENT}`) three times. Some clients use IPv6
  addresses.

## Malformed lines

These lines are broken on purpose; ingest should reject them (expected reason in the last
column) and keep every other line. Line numbers count from 1 in the decompressed file.

| file | line | what is wrong | reason |
|---|---|---|---|
{nl.join(malformed_rows)}

## Unusual but valid lines

| file | line | what |
|---|---|---|
{nl.join(unusual_rows)}

## Reference numbers

Computed by the generator from the lines it wrote (malformed lines excluded). Monthly active
users: distinct non-anonymous `remote_user` per account per calendar month, over every valid
line with a key whatever its status; the account is the `accounts.csv` name, or the raw key
when unmapped.

| account | {" | ".join(columns)} |
|---|{"---|" * len(columns)}
{nl.join(mau_rows)}

{len(users)} distinct users in total. Requests per UTC month (valid lines, any status):

| account | {" | ".join(months)} |
|---|---|---|
{nl.join(request_rows)}
"""


# --- main -----------------------------------------------------------------------------------------


def generate(out: Path, seed: int = SEED) -> tuple[dict[str, bytes], list[str]]:
    """Write every sample file into ``out``.

    Returns {relative path: bytes written} and a description of each malformed line.
    """
    rng = Random(seed)
    keys = make_keys(rng)
    users, batch = make_users(rng)
    world = World(rng=rng, keys=keys, users=users, batch=batch)
    world.backends = [
        [ipv6(rng) if c.label == "globex" else ipv4(rng) for _ in range(rng.randrange(2, 4))]
        for c in CUSTOMERS
    ]
    ordinary_traffic(world)
    batch_run(world)
    background(world)
    odd_but_valid(world)
    logs = build_files(world)
    errors = error_log(world)
    accounts = {key: c.label for key, c in zip(keys, CUSTOMERS, strict=True) if c.mapped}
    months = {
        month_of(line.event.ts, z)
        for log in logs
        for line in log.lines
        if line.event
        for z in ZONES
    }
    assert months == {"2026-09", "2026-10"}, months
    files: dict[str, bytes] = {
        "README.md": readme(seed, logs, errors.count("\n"), keys, accounts).encode("utf-8"),
        "nginx.conf": nginx_conf().encode("utf-8"),
        "accounts.csv": "".join(
            f"{k},{a}\n" for k, a in [("key", "account"), *accounts.items()]
        ).encode("utf-8"),
        "api2/error.log": errors.encode("utf-8"),
    }
    for log in logs:
        data = log.data()
        files[log.path] = gzip_bytes(data) if log.path.endswith(".gz") else data
    for relative, data in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    malformed = [
        f"{log.path}:{number}: {line.malformed}"
        for log in logs
        for number, line in enumerate(log.lines, start=1)
        if line.malformed
    ]
    return files, malformed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    files, malformed = generate(args.out, args.seed)
    for relative, data in sorted(files.items()):
        print(f"{len(data):>10}  {args.out / relative}")
    print("malformed lines (on purpose):")
    for description in malformed:
        print(f"  {description}")


if __name__ == "__main__":
    main()
