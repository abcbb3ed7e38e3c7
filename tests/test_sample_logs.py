"""The bundled sample logs: up to date with their generator, and what their README says they are.

The checks parse the files with their own regular expressions and ``json``, independently of the
generator and of meterlog's parsers.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import re
import subprocess
import sys
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
#: Files in sample_logs/ that the generator does not write.
HAND_WRITTEN = {"generate.py", "plans.toml", "openapi.yaml", "prometheus.yml", "alerts.yml"}
GENERATOR = SAMPLES / "generate.py"
TEXT_FILES = (
    "api1/access.log.2.gz",
    "api1/access.log.1",
    "api1/access.log",
    "api2/access.log",
)
JSON_FILES = ("app/requests.jsonl",)

API_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" '
    '$status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$http_x_api_key" $request_time'
)
JSON_KEYS = (
    "time",
    "remote_addr",
    "remote_user",
    "request_method",
    "request_uri",
    "status",
    "body_bytes_sent",
    "request_time",
    "http_user_agent",
    "http_referer",
    "http_x_api_key",
)

# A quoted value under nginx's default escaping: printable ASCII except `"` and `\`, or \xHH.
_Q = r"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\x[0-9A-F]{2})*"
TEXT_LINE = re.compile(
    r"(?P<addr>[0-9a-fA-F.:]+) - (?P<user>[^ ]+) \[(?P<time>[^\]]*)\] "
    rf'"(?P<request>{_Q})" (?P<status>\d{{3}}) (?P<bytes>\d+) "(?P<referer>{_Q})" '
    rf'"(?P<agent>{_Q})" "(?P<key>{_Q})" (?P<rtime>\d+\.\d{{3}})'
)
TIME_LOCAL = re.compile(
    r"(\d{2})/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(\d{4}):"
    r"(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}


@dataclass(frozen=True)
class Request:
    file: str
    line: int
    ts: datetime  # aware, in the offset the line was logged with
    user: str | None
    key: str | None
    status: int
    request: bytes
    agent: bytes


def unescape(value: str) -> bytes:
    return re.sub(
        rb"\\x([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode("ascii")
    )


def parse_time_local(text: str) -> datetime:
    m = TIME_LOCAL.fullmatch(text)
    if not m:
        raise ValueError(text)
    day, month, year, hour, minute, second, sign, oh, om = m.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    return datetime(
        int(year),
        MONTHS[month],
        int(day),
        int(hour),
        int(minute),
        int(second),
        tzinfo=timezone(offset),
    )


def parse_text(file: str, number: int, line: str) -> Request | None:
    m = TEXT_LINE.fullmatch(line)
    if not m:
        return None
    try:
        ts = parse_time_local(m["time"])
    except ValueError:
        return None
    return Request(
        file=file,
        line=number,
        ts=ts,
        user=None if m["user"] == "-" else m["user"],
        key=None if m["key"] == "-" else m["key"],
        status=int(m["status"]),
        request=unescape(m["request"]),
        agent=unescape(m["agent"]),
    )


def parse_json(file: str, number: int, line: str) -> Request | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    assert tuple(record) == JSON_KEYS, f"{file}:{number}"
    for name in ("status", "body_bytes_sent"):
        assert type(record[name]) is int, f"{file}:{number}: {name}"
    assert isinstance(record["request_time"], int | float), f"{file}:{number}"
    for name in set(JSON_KEYS) - {"status", "body_bytes_sent", "request_time"}:
        assert isinstance(record[name], str), f"{file}:{number}: {name}"
    ts = datetime.fromisoformat(record["time"])
    assert ts.utcoffset() is not None, f"{file}:{number}: time without offset"
    method, uri = record["request_method"], record["request_uri"]
    return Request(
        file=file,
        line=number,
        ts=ts,
        user=record["remote_user"] or None,
        key=record["http_x_api_key"] or None,
        status=record["status"],
        request=f"{method} {uri}".encode(),
        agent=record["http_user_agent"].encode(),
    )


def read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    assert data.endswith(b"\n"), f"{path} does not end with a newline"
    return data.decode("utf-8").split("\n")[:-1]


@dataclass
class Parsed:
    requests: list[Request]
    rejected: set[tuple[str, int]]
    lines: dict[str, list[str]]


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    requests: list[Request] = []
    rejected: set[tuple[str, int]] = set()
    lines: dict[str, list[str]] = {}
    for file in TEXT_FILES + JSON_FILES:
        lines[file] = read_lines(SAMPLES / file)
        parse = parse_json if file in JSON_FILES else parse_text
        for number, line in enumerate(lines[file], start=1):
            request = parse(file, number, line)
            if request is None:
                rejected.add((file, number))
            else:
                requests.append(request)
    return Parsed(requests, rejected, lines)


def readme_section(title: str) -> str:
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def table_rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header row


def accounts() -> dict[str, str]:
    with (SAMPLES / "accounts.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["key", "account"]
    return dict(rows[1:])


# --- the files are what the generator writes ---------------------------------------------------


def files_under(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)], check=True, capture_output=True
    )
    return out


def test_committed_samples_are_what_the_generator_writes(regenerated: Path) -> None:
    stale = "sample_logs/ is out of date: run `python sample_logs/generate.py` and commit"
    assert files_under(SAMPLES) - HAND_WRITTEN == files_under(regenerated), stale
    for name in sorted(files_under(regenerated)):
        new = (regenerated / name).read_bytes()
        old = (SAMPLES / name).read_bytes()
        if name.endswith(".gz"):
            # The gzip header is fixed; the deflate stream is whatever the local zlib makes.
            assert new[:10] == old[:10], name
            assert gzip.decompress(new) == gzip.decompress(old), f"{name}: {stale}"
            if "ng" not in zlib.ZLIB_RUNTIME_VERSION:
                assert new == old, f"{name}: {stale}"
        else:
            assert new == old, f"{name}: {stale}"


def test_generator_output_depends_on_the_seed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(tmp_path), "--seed", "7"],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / "api2/access.log").read_bytes() != (SAMPLES / "api2/access.log").read_bytes()
    assert "Seed: `7`" in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_gzip_header_has_no_time_or_name() -> None:
    header = (SAMPLES / "api1/access.log.2.gz").read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08"
    assert header[3] & 0x08 == 0, "no file name stored"
    assert header[4:8] == b"\0\0\0\0", "mtime is 0"


def test_size_in_git_stays_small() -> None:
    total = 0
    for name in files_under(SAMPLES):
        data = (SAMPLES / name).read_bytes()
        total += len(data) if name.endswith(".gz") else len(zlib.compress(data, 6))
    assert total < 5_000_000


# --- formats ------------------------------------------------------------------------------------


def test_nginx_conf_declares_the_formats() -> None:
    conf = (SAMPLES / "nginx.conf").read_text(encoding="utf-8")
    formats = {}
    for m in re.finditer(r"log_format\s+(\w+)((?:\s+escape=\w+)?)((?:\s+'[^']*')+)\s*;", conf):
        formats[m[1]] = (m[2].strip(), "".join(re.findall(r"'([^']*)'", m[3])))
    assert formats["api"] == ("", API_FORMAT)
    escape, json_format = formats["api_json"]
    assert escape == "escape=json"
    assert re.findall(r'"(\w+)":', json_format) == list(JSON_KEYS)
    assert re.search(r"access_log\s+\S+\s+api;", conf)
    assert re.search(r"access_log\s+\S+\s+api_json;", conf)


def test_only_the_listed_lines_are_malformed(parsed: Parsed) -> None:
    rows = table_rows(readme_section("Malformed lines"))
    listed = {(row[0], int(row[1])) for row in rows}
    assert 5 <= len(listed) <= 10
    assert parsed.rejected == listed
    assert {row[3] for row in rows} == {"no_match", "bad_timestamp", "bad_json"}
    assert len({file for file, _ in listed}) >= 4, "spread over the files"
    bad_time = [
        parsed.lines[file][number - 1]
        for file, number in listed
        if "[32/Oct/2026:25:61:00 +0000]" in parsed.lines[file][number - 1]
    ]
    assert len(bad_time) == 1 and TEXT_LINE.fullmatch(bad_time[0]), "well-formed but for the time"
    assert "[1,2]" in [parsed.lines[file][number - 1] for file, number in listed]


def test_text_logs_are_ascii_and_escaped(parsed: Parsed) -> None:
    for file in TEXT_FILES:
        for line in parsed.lines[file]:
            assert line.isascii() and line.isprintable(), f"{file}: {line!r}"
    requests = {r.request for r in parsed.requests}
    agents = {r.agent for r in parsed.requests}
    assert b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" in requests, "TLS handshake line"
    assert b"" in requests, "empty request line"
    assert any(b'"' in a for a in agents) and any(b"\\" in a for a in agents)
    assert any("\u00fc".encode() in a for a in agents), "UTF-8 user agent"
    assert any("caf\u00e9".encode() in r for r in requests), "UTF-8 path"
    text = "\n".join(parsed.lines["api2/access.log"])
    assert "\\x22" in text and "\\x5C" in text and "\\xC3" in text


def test_valid_lines_in_every_file_are_in_time_order(parsed: Parsed) -> None:
    by_file: dict[str, list[datetime]] = defaultdict(list)
    for r in parsed.requests:
        by_file[r.file].append(r.ts)
    for file, stamps in by_file.items():
        assert stamps == sorted(stamps), file
    rotated = [by_file[f] for f in TEXT_FILES[:3]]  # oldest first
    for older, newer in itertools.pairwise(rotated):
        assert max(older) < min(newer), "rotated files overlap"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        pytest.skip(f"no time zone data for {name}")


def test_utc_offsets_per_server(parsed: Parsed) -> None:
    expected = {
        "api1": UTC,
        "api2": zone("Europe/Berlin"),
        "app": zone("America/Los_Angeles"),
    }
    offsets: dict[str, set[timedelta | None]] = defaultdict(set)
    for r in parsed.requests:
        server = r.file.split("/")[0]
        assert r.ts.utcoffset() == r.ts.astimezone(expected[server]).utcoffset(), (r.file, r.line)
        offsets[server].add(r.ts.utcoffset())
    assert offsets["api1"] == {timedelta(0)}
    assert offsets["api2"] == {timedelta(hours=2), timedelta(hours=1)}, "DST change in the file"
    assert offsets["app"] == {timedelta(hours=-7)}


def test_traffic_facts(parsed: Parsed) -> None:
    stamps = [r.ts.astimezone(UTC) for r in parsed.requests]
    assert 30_000 <= len(parsed.requests) <= 60_000
    assert min(stamps).strftime("%Y-%m") == "2026-09"
    assert max(stamps).strftime("%Y-%m") == "2026-10"
    rush = datetime(2026, 9, 30, 22, tzinfo=UTC), datetime(2026, 10, 1, 2, tzinfo=UTC)
    in_rush = sum(rush[0] <= t < rush[1] for t in stamps)
    average = len(stamps) * 4 / (61 * 24)
    assert in_rush > 10 * average, "heavy traffic at the month boundary"
    assert len({r.user for r in parsed.requests if r.user}) >= 2_500
    assert sum(r.user is None for r in parsed.requests) > 1_000, "anonymous requests"
    keys = {r.key for r in parsed.requests if r.key}
    assert len(keys) == 6
    mapping = accounts()
    assert sorted(mapping.values()) == ["acme", "globex", "hooli", "initech", "umbrella"]
    assert len(keys - set(mapping)) == 1, "one key left unmapped"
    per_key: dict[str, int] = defaultdict(int)
    for r in parsed.requests:
        if r.key:
            per_key[r.key] += 1
    heaviest = max(per_key, key=per_key.__getitem__)
    assert mapping.get(heaviest) == "acme"
    assert per_key[heaviest] > 2 * sorted(per_key.values())[-2]
    statuses = {r.status for r in parsed.requests}
    assert {200, 201, 204, 400, 401, 404, 429, 500, 502} <= statuses
    assert any(b"Googlebot" in r.agent for r in parsed.requests)
    assert any(b"uptimerobot" in r.agent for r in parsed.requests)
    addrs = {line.split(" ", 1)[0] for f in TEXT_FILES for line in parsed.lines[f]}
    assert any(":" in a for a in addrs), "IPv6 clients"


def test_error_log_is_not_an_access_log() -> None:
    lines = read_lines(SAMPLES / "api2/error.log")
    assert lines
    for line in lines:
        assert not TEXT_LINE.fullmatch(line)
        assert re.match(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(error|warn|notice)\] ", line)


def test_reference_numbers_in_readme(parsed: Parsed) -> None:
    mapping = accounts()
    zones = {
        "UTC": UTC,
        "Europe/Berlin": zone("Europe/Berlin"),
        "America/Los_Angeles": zone("America/Los_Angeles"),
    }
    mau: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in parsed.requests:
        if r.key and r.user:
            account = mapping.get(r.key, r.key)
            for name, tz in zones.items():
                mau[(account, f"{r.ts.astimezone(tz):%Y-%m} {name}")].add(r.user)
    section = readme_section("Reference numbers")
    header = next(line for line in section.splitlines() if line.startswith("| account"))
    columns = [cell.strip() for cell in header.strip("|").split("|")][1:]
    rows = table_rows(section.split("distinct users in total")[0])
    assert len(rows) == 6
    for account, *counts in rows:
        for column, count in zip(columns, counts, strict=True):
            assert len(mau[(account, column)]) == int(count), (account, column)
    users = {r.user for r in parsed.requests if r.user and r.key}
    assert f"\n{len(users)} distinct users in total" in section
    # The month-end batch users make the zone matter for acme's monthly active users.
    acme = [int(c) for c in rows[0][1:]]
    assert acme[2] < acme[0] < acme[4], "September: Berlin < UTC < Los Angeles"


def test_unusual_lines_listed_in_readme_are_there(parsed: Parsed) -> None:
    rows = table_rows(readme_section("Unusual but valid lines"))
    signs = {
        "TLS handshake": ("\\x16\\x03\\x01",),
        "empty request": ('] "" 400 ',),
        'with `"`': ("\\x22", '\\"'),
        "backslashes": ("\\x5C", "\\\\"),
        "UTF-8 characters": ("\\xC3\\xBC", "\u00fc"),
        "UTF-8 character sent unencoded": ("caf\\xC3\\xA9", "caf\u00e9"),
        "summer time": (" +0200] ",),
        "winter time": (" +0100] ",),
    }
    seen = set()
    for file, number, what in rows:
        line = parsed.lines[file][int(number) - 1]
        assert (file, int(number)) not in parsed.rejected
        for sign, texts in signs.items():
            if sign in what:
                seen.add(sign)
                assert any(text in line for text in texts), (file, number, what)
    assert seen == set(signs)
