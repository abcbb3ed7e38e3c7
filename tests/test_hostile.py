"""Hostile input: property-based tests (any bytes never crash the parsers and every line is
accounted for; records written through a log_format parse back unchanged) and a catalogue of
bad inputs, each with its expected outcome."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterlog.formats import JsonLinesFormat, NginxLogFormat, builtin_format
from meterlog.ingest import FAILED, IngestOptions, ingest
from meterlog.sources import split_lines
from meterlog.store import Store
from tests.support import cli, combined, events, rejects, write_lines

FORMATS = [
    builtin_format("combined"),
    builtin_format("common"),
    builtin_format("main"),
    JsonLinesFormat(),
    NginxLogFormat('$remote_addr [$time_iso8601] "$request_method $request_uri" $status $msec'),
    NginxLogFormat('[$time_local] "$http_user_agent" $request_time', escape="json"),
]
SETTINGS = settings(
    max_examples=120,  # the slow tier; the round trips draw QUICK examples in the fast tier
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
QUICK = settings(SETTINGS, max_examples=30)

# -- any bytes ------------------------------------------------------------------------------

log_like = st.builds(
    lambda ip, user, stamp, request, status, size, agent: (
        f'{ip} - {user} [{stamp}] "{request}" {status} {size} "-" "{agent}"'
    ).encode("utf-8", "surrogatepass"),
    st.text(max_size=20),
    st.text(max_size=10),
    st.one_of(st.just("10/Oct/2026:13:55:36 +0000"), st.text(max_size=30)),
    st.text(max_size=60),
    st.one_of(st.integers(-(10**6), 10**25).map(str), st.text(max_size=5)),
    st.one_of(st.integers(-(10**6), 10**25).map(str), st.just("-"), st.text(max_size=5)),
    st.text(max_size=60),
)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
).map(lambda value: json.dumps(value).encode())
any_line = st.one_of(st.binary(max_size=200), log_like, json_like)


@SETTINGS
@given(st.lists(any_line, min_size=1, max_size=12))
def test_any_bytes_never_crash_and_every_line_is_accounted_for(lines: list[bytes]) -> None:
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n"
    batch = split_lines(data, 0, 1, max_line_bytes=150)
    total = batch.lines.height + batch.invalid.height + batch.too_long.height
    assert total == len(lines)
    for fmt in FORMATS:
        result = fmt.parse(batch.lines)
        assert result.events.height + result.rejects.height == batch.lines.height
        parsed = set(result.events.get_column("source_line").to_list())
        rejected = set(result.rejects.get_column("source_line").to_list())
        assert not parsed & rejected
        assert parsed | rejected == set(batch.lines.get_column("source_line").to_list())


@pytest.mark.parametrize(
    ("lines", "stored"),
    [
        ([b'{"":[null,null]}'], []),  # no time: a reject
        ([b'{"time":"2026-10-01T00:00:00Z","x":[null,null]}'], ["[null,null]"]),
        (
            [
                b'{"time":"2026-10-01T00:00:00Z","x":[null,null]}',
                b'{"time":"2026-10-01T00:00:01Z","x":[1,null]}',
            ],
            ["[null,null]", "[1,null]"],
        ),
        (
            [
                b'{"time":"2026-10-01T00:00:00Z","x":{"a":[null,null]}}',
                b'{"time":"2026-10-01T00:00:01Z","x":{"a":[2,3]}}',
            ],
            ['{"a":[null,null]}', '{"a":[2,3]}'],
        ),
    ],
)
def test_json_lists_of_nulls_are_stored_as_written(lines: list[bytes], stored: list[str]) -> None:
    """Found by the test above when it draws other examples: Arrow's JSON reader builds a list
    whose offsets overrun its values when a list of nulls comes before one of numbers, and
    Polars refused it with a traceback. Every line is now stored or rejected, the same on both
    paths."""
    data = b"\n".join(lines) + b"\n"
    batch = split_lines(data, 0, 1, max_line_bytes=250)
    fast = JsonLinesFormat().parse(batch.lines)
    precise = JsonLinesFormat(fast=False).parse(batch.lines)
    assert fast.events.height + fast.rejects.height == len(lines)
    assert fast.events.equals(precise.events) and fast.rejects.equals(precise.rejects)
    got = fast.events.get_column("x").to_list() if stored else []
    assert got == stored
    assert fast.rejects.height == len(lines) - len(stored)


# -- round trips through a log_format -------------------------------------------------------


def nginx_escape(value: str) -> str:
    """nginx's default escaping: ``"``, ``\\``, control bytes and bytes >= 0x7F as ``\\xHH``."""
    return "".join(
        f"\\x{b:02X}" if b in (0x22, 0x5C) or b < 0x20 or b >= 0x7F else chr(b)
        for b in value.encode("utf-8")
    )


def apache_escape(value: str) -> str:
    """Apache's ap_escape_logitem: ``\\"``, ``\\\\``, ``\\n`` etc., other bytes as ``\\xhh``."""
    named = {0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r"}
    return "".join(
        named.get(b) or (f"\\x{b:02x}" if b < 0x20 or b >= 0x7F else chr(b))
        for b in value.encode("utf-8")
    )


def json_escape(value: str) -> str:
    return json.dumps(value)[1:-1]


free_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40).filter(
    lambda v: v != "-"
)
token = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=1,
    max_size=20,
)
url_text = st.text(
    st.characters(
        codec="utf-8", exclude_categories=["Cs", "Zs", "Cc", "Zl", "Zp"], exclude_characters="?"
    ),
    min_size=0,
    max_size=30,
)
offsets = st.integers(-12 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
instants = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    offsets,
)
records = st.fixed_dictionaries(
    {
        "remote_addr": st.ip_addresses().map(str),
        "remote_user": st.none() | token.filter(lambda v: v != "-"),
        "ts": instants,
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
        "path": url_text.map(lambda p: "/" + p),
        "query": st.none() | url_text,
        "protocol": st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]),
        "status": st.integers(0, 999),
        "bytes_sent": st.integers(0, 2**63 - 1),
        "referer": st.none() | free_text,
        "user_agent": st.none() | free_text,
        "http_x_api_key": st.none() | free_text,
    }
)
ROUND_TRIP = NginxLogFormat(
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_api_key"'
)


def write_record(record: dict[str, object], escape: object) -> str:
    def quoted(value: object) -> str:
        return "-" if value is None else escape(value)  # type: ignore[operator]

    target = str(record["path"]) + ("" if record["query"] is None else f"?{record['query']}")
    request = f"{record['method']} {target} {record['protocol']}"
    stamp = record["ts"].strftime("%d/%b/%Y:%H:%M:%S %z")  # type: ignore[attr-defined]
    return (
        f"{record['remote_addr']} - {record['remote_user'] or '-'} [{stamp}] "
        f'"{quoted(request)}" {record["status"]} {record["bytes_sent"]} '
        f'"{quoted(record["referer"])}" "{quoted(record["user_agent"])}" '
        f'"{quoted(record["http_x_api_key"])}"'
    )


def expected_row(record: dict[str, object]) -> dict[str, object]:
    row = dict(record)
    row["ts"] = record["ts"].astimezone(UTC)  # type: ignore[attr-defined]
    return row


@pytest.mark.parametrize("escape", [nginx_escape, apache_escape], ids=["nginx", "apache"])
@QUICK
@given(st.lists(records, min_size=1, max_size=8))
def test_records_written_through_a_log_format_parse_back(
    escape: object, batch: list[dict[str, object]]
) -> None:
    check_records_parse_back(escape, batch)


@pytest.mark.slow
@pytest.mark.parametrize("escape", [nginx_escape, apache_escape], ids=["nginx", "apache"])
@SETTINGS
@given(st.lists(records, min_size=1, max_size=8))
def test_records_written_through_a_log_format_parse_back_many_examples(
    escape: object, batch: list[dict[str, object]]
) -> None:
    check_records_parse_back(escape, batch)


def check_records_parse_back(escape: object, batch: list[dict[str, object]]) -> None:
    text = "".join(write_record(r, escape) + "\n" for r in batch)
    result = ROUND_TRIP.parse(split_lines(text.encode(), 0, 1).lines)
    assert result.rejects.height == 0, result.rejects.to_dicts()
    got = result.events.select(list(records_columns())).to_dicts()
    assert got == [expected_row(r) for r in batch]


def records_columns() -> list[str]:
    return [
        "remote_addr", "remote_user", "ts", "method", "path", "query", "protocol", "status",
        "bytes_sent", "referer", "user_agent", "http_x_api_key",
    ]  # fmt: skip


ESCAPE_JSON_ROWS = st.lists(
    st.tuples(instants, free_text, st.integers(0, 999)), min_size=1, max_size=8
)
JSON_LINES_ROWS = st.lists(st.tuples(instants, free_text, free_text), min_size=1, max_size=8)


@QUICK
@given(ESCAPE_JSON_ROWS)
def test_escape_json_log_format_round_trip(rows: list[tuple[datetime, str, int]]) -> None:
    check_escape_json_round_trip(rows)


@pytest.mark.slow
@SETTINGS
@given(ESCAPE_JSON_ROWS)
def test_escape_json_log_format_round_trip_many_examples(
    rows: list[tuple[datetime, str, int]],
) -> None:
    check_escape_json_round_trip(rows)


def check_escape_json_round_trip(rows: list[tuple[datetime, str, int]]) -> None:
    fmt = NginxLogFormat('{"t":"$time_iso8601","ua":"$http_user_agent","s":$status}', escape="json")
    text = "".join(
        f'{{"t":"{t.isoformat()}","ua":"{json_escape(ua)}","s":{s}}}\n' for t, ua, s in rows
    )
    result = fmt.parse(split_lines(text.encode(), 0, 1).lines)
    assert result.rejects.height == 0
    assert result.events.select("ts", "user_agent", "status").rows() == [
        (t.astimezone(UTC), ua, s) for t, ua, s in rows
    ]


@QUICK
@given(JSON_LINES_ROWS)
def test_json_lines_round_trip(rows: list[tuple[datetime, str, str]]) -> None:
    check_json_lines_round_trip(rows)


@pytest.mark.slow
@SETTINGS
@given(JSON_LINES_ROWS)
def test_json_lines_round_trip_many_examples(rows: list[tuple[datetime, str, str]]) -> None:
    check_json_lines_round_trip(rows)


def check_json_lines_round_trip(rows: list[tuple[datetime, str, str]]) -> None:
    text = "".join(
        json.dumps({"time": t.isoformat(), "remote_user": u, "tenant": k}) + "\n"
        for t, u, k in rows
    )
    result = JsonLinesFormat().parse(split_lines(text.encode(), 0, 1).lines)
    assert result.rejects.height == 0
    assert result.events.select("ts", "remote_user", "tenant").rows() == [
        (t.astimezone(UTC), u, k) for t, u, k in rows
    ]


# -- the catalogue --------------------------------------------------------------------------


def run(tmp_path: Path, *paths: Path | str) -> tuple[list[str], pl.DataFrame]:
    """Ingest into a fresh store; statuses and the rejects by reason."""
    store = Store(tmp_path / "store")
    summary = ingest(store, [str(p) for p in paths], IngestOptions(max_reject_ratio=0.9))
    counts = rejects(store).group_by("reason").len().sort("reason") if store.exists() else None
    return [s.status for s in summary.sources], counts  # type: ignore[return-value]


def test_invalid_utf8_latin1_and_big5_are_counted_and_kept_visible(tmp_path: Path) -> None:
    good = [combined(i).encode() for i in range(6)]
    latin1 = combined(90, agent="Caf\xe9").encode("latin-1")
    big5 = combined(91, agent="\u4e2d\u6587").encode("big5")
    log = tmp_path / "a.log"
    log.write_bytes(b"\n".join([*good[:3], latin1, big5, *good[3:]]) + b"\n")
    statuses, _ = run(tmp_path, log)
    assert statuses == ["new"]
    stored = rejects(tmp_path / "store")
    assert stored.select("source_line", "reason").rows() == [
        (4, "invalid_utf8"),
        (5, "invalid_utf8"),
    ]
    assert "Caf\\xe9" in stored.item(0, "line")  # shown with the bad byte escaped
    assert events(tmp_path / "store").height == 6


def test_nul_bytes(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(
        combined(1, agent="a\x00b").encode() + b"\n\x00\x00\x00\n" + combined(2).encode() + b"\n"
    )
    run(tmp_path, log)
    stored = events(tmp_path / "store")
    assert stored.get_column("user_agent").to_list() == ["a\x00b", "curl/8.0"]
    assert rejects(tmp_path / "store").select("source_line", "reason").rows() == [(2, "no_match")]


def test_ten_megabyte_line(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    huge = combined(5, agent="x" * (10 * 1024 * 1024))
    log.write_text("\n".join([combined(1), huge, combined(2)]) + "\n")
    started = time.monotonic()
    run(tmp_path, log)
    assert time.monotonic() - started < 30
    assert events(tmp_path / "store").height == 2
    stored = rejects(tmp_path / "store")
    assert stored.select("source_line", "reason").rows() == [(2, "line_too_long")]
    assert len(stored.item(0, "line")) == 4096  # kept, cut for display


def test_binary_file_fails_with_the_format_hint(tmp_path: Path) -> None:
    blob = tmp_path / "core.log"
    blob.write_bytes(bytes(range(256)) * 400)
    result = cli("ingest", "--store", str(tmp_path / "store"), str(blob))
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert "--log-format" in line


def test_empty_file_empty_directory_and_whitespace(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    folder = tmp_path / "nothing"
    folder.mkdir()
    result = cli("ingest", "--store", str(tmp_path / "store"), str(empty), str(folder))
    assert result.exit_code == 0
    assert "files: 1 (0 new, 0 grown, 0 unchanged, 0 duplicate, 1 waiting)" in result.stdout
    blank = tmp_path / "blank.log"
    blank.write_text("\n\n\n")
    statuses, counts = run(tmp_path, blank)
    assert statuses == ["new"]  # three empty lines: skipped, nothing to store or explain
    assert counts.height == 0
    assert events(tmp_path / "store").height == 0


def test_symlink_loops(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_lines(logs / "a.log", [combined(1)])
    (logs / "loop.log").symlink_to(logs / "loop.log")
    (logs / "up").symlink_to(logs, target_is_directory=True)
    statuses, _ = run(tmp_path, logs)
    assert statuses == ["new"]  # the loop and the link back up are skipped
    result = cli("ingest", "--store", str(tmp_path / "s2"), str(logs / "loop.log"))
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("cannot read: Too many levels of symbolic links")


def test_fifo_in_a_directory_is_skipped_and_given_explicitly_does_not_hang(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_lines(logs / "a.log", [combined(1)])
    os.mkfifo(logs / "pipe.log")
    statuses, _ = run(tmp_path, logs)
    assert statuses == ["new"]
    result = cli("ingest", "--store", str(tmp_path / "s2"), str(logs / "pipe.log"))
    assert result.exit_code == 0  # nobody writes to it: read as empty
    assert f"unchanged {logs / 'pipe.log'}" in result.stdout


def test_file_deleted_while_being_read(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "a.log", [combined(i) for i in range(2000)])
    store = Store(tmp_path / "store")
    deleted: list[str] = []

    def delete(path: str, done: int) -> None:
        if not deleted:
            os.unlink(path)
            deleted.append(path)

    summary = ingest(store, [str(log)], IngestOptions(chunk_bytes=8192), on_chunk=delete)
    assert deleted
    assert summary.failed == []
    assert events(store).height == 2000  # the open file is read to its end


def test_log_format_with_unknown_or_duplicated_variables(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "a.log", ["1.2.3.4 5.6.7.8 [10/Oct/2026:13:55:36 +0000] 200"])
    unknown = cli(
        "ingest", "--store", str(tmp_path / "s"), "--log-format", "$remote_adr [$time_local]",
        str(log),
    )  # fmt: skip
    assert unknown.exit_code == 1
    assert "unknown nginx variable $remote_adr" in unknown.stderr
    twice = cli(
        "ingest", "--store", str(tmp_path / "s"),
        "--log-format", "$remote_addr $remote_addr [$time_local] $status", str(log),
    )  # fmt: skip
    assert twice.exit_code == 0
    assert events(tmp_path / "s").get_column("remote_addr").to_list() == ["1.2.3.4"]


def test_json_arrays_and_deep_nesting(tmp_path: Path) -> None:
    good = json.dumps({"time": "2026-10-10T00:00:00Z", "status": 200})
    log = tmp_path / "a.jsonl"
    log.write_text(
        "\n".join([good, "[1,2,3]", "[" * 100_000, '{"a":' + "[" * 60_000 + "}", good]) + "\n"
    )
    statuses, _ = run(tmp_path, log)
    assert statuses == ["new"]
    assert events(tmp_path / "store").height == 2
    assert rejects(tmp_path / "store").select("source_line", "reason").rows() == [
        (2, "bad_json"),
        (3, "line_too_long"),
        (4, "bad_json"),
    ]


def test_numbers_that_overflow(tmp_path: Path) -> None:
    lines = [
        combined(1, status=99999),
        combined(2).replace(" 102 ", " 99999999999999999999999 "),
        json.dumps({"time": "2026-10-10T00:00:00Z", "status": 10**30}),
        combined(3),
    ]
    fmt_lines = lines[:2] + lines[3:]
    log = write_lines(tmp_path / "a.log", fmt_lines)
    run(tmp_path, log)
    assert rejects(tmp_path / "store").select("source_line", "reason").rows() == [
        (1, "bad_number"),
        (2, "bad_number"),
    ]
    jsonl = write_lines(
        tmp_path / "b.jsonl", [lines[2], json.dumps({"time": "2026-10-10T00:00:00Z"})]
    )
    statuses, _ = run(tmp_path, jsonl)
    assert statuses == ["new"]
    assert rejects(tmp_path / "store").filter(
        pl.col("source_path").str.ends_with("b.jsonl")
    ).select("source_line", "reason").rows() == [(1, "bad_number")]


def test_truncated_gzip_keeps_earlier_lines(tmp_path: Path) -> None:
    import gzip

    packed = gzip.compress("".join(combined(i) + "\n" for i in range(3000)).encode())
    log = tmp_path / "a.log.gz"
    log.write_bytes(packed[: len(packed) // 2])
    statuses, _ = run(tmp_path, log)
    assert statuses == [FAILED]
    kept = events(tmp_path / "store").height
    assert kept > 500
    statuses, _ = run(tmp_path, log)  # the same store again: still an error, nothing doubled
    assert statuses == [FAILED]
    assert events(tmp_path / "store").height == kept
