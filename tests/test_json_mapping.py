"""JSON lines mapping (issues 10 and 15): per-line keys, targets with a query, times without
an offset, any column name, nested keys, presets, empty mapped columns, very wide lines."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from meterlog.formats import JsonLinesFormat
from meterlog.formats.base import LogFormat
from meterlog.formats.jsonlines import MAX_EXTRA_KEYS
from meterlog.ingest import IngestOptions, ingest, summary_lines
from meterlog.schema import CANONICAL_COLUMNS, PROVENANCE_COLUMNS
from meterlog.sources import split_lines
from meterlog.store import Store
from tests.support import events, realdata, utc


def parse(fmt: LogFormat, lines: list[str]) -> pl.DataFrame:
    result = fmt.parse(split_lines(("\n".join(lines) + "\n").encode(), 0, 1).lines)
    assert result.rejects.height == 0, result.rejects.rows()
    return result.events


def test_each_line_is_mapped_on_its_own_keys() -> None:
    """One file, some lines with ``request``, some with ``uri``/``path``: every line keeps its
    path, query and method."""
    lines = [
        '{"time":"2026-10-01T00:00:00Z","request":"GET /health?probe=1 HTTP/1.1","status":200}',
        '{"time":"2026-10-01T00:00:01Z","uri":"/v1/a","args":"x=1","request_method":"POST",'
        '"status":201}',
        '{"time":"2026-10-01T00:00:02Z","path":"/v1/b","method":"PUT","status":204}',
        '{"time":"2026-10-01T00:00:03Z","request":"DELETE /v1/c HTTP/2.0","status":204}',
    ]
    got = parse(JsonLinesFormat(), lines).select("method", "path", "query", "protocol").rows()
    assert got == [
        ("GET", "/health", "probe=1", "HTTP/1.1"),
        ("POST", "/v1/a", "x=1", None),
        ("PUT", "/v1/b", None, None),
        ("DELETE", "/v1/c", None, "HTTP/2.0"),
    ]


def test_mixed_request_and_path_lines_are_excluded_by_path(tmp_path: Path) -> None:
    """What the defect cost: a ``request`` line stored without its path escaped
    ``--exclude-path``, so a health check was billed."""
    log = tmp_path / "api.jsonl"
    log.write_text(
        '{"time":"2026-10-01T00:00:00Z","request":"GET /health HTTP/1.1","status":200}\n'
        '{"time":"2026-10-01T00:00:01Z","path":"/v1/a","status":200}\n'
    )
    store = Store(tmp_path / "store")
    ingest(store, [str(log)])
    stored = events(store)
    assert stored.filter(~pl.col("path").str.starts_with("/health")).height == 1


def test_a_path_value_with_a_query_string_is_split() -> None:
    lines = [
        '{"time":"2026-10-01T00:00:00Z","path":"/a?x=1&y=2"}',
        '{"time":"2026-10-01T00:00:00Z","uri":"/b?z","query":"own=1"}',
        '{"time":"2026-10-01T00:00:00Z","request_uri":"/c?q=3"}',
        '{"time":"2026-10-01T00:00:00Z","path":"/d"}',
    ]
    got = parse(JsonLinesFormat(), lines).select("path", "query").rows()
    assert got == [("/a", "x=1&y=2"), ("/b", "own=1"), ("/c", "q=3"), ("/d", None)]


def test_a_request_line_with_a_bad_protocol_keeps_its_path() -> None:
    from meterlog.formats import builtin_format

    text = (
        '1.2.3.4 - - [01/Oct/2026:00:00:00 +0000] "SEARCH / -" 400 0 "-" "-"',
        '1.2.3.4 - - [01/Oct/2026:00:00:01 +0000] "GET /a?b=1 HTTP/1.1" 200 5 "-" "-"',
        '1.2.3.4 - - [01/Oct/2026:00:00:02 +0000] "GET /x junk" 400 0 "-" "-"',
    )
    got = parse(builtin_format("combined"), list(text)).select(
        "method", "path", "query", "protocol"
    )
    assert got.rows() == [
        ("SEARCH", "/", None, "-"),
        ("GET", "/a", "b=1", "HTTP/1.1"),
        ("GET", "/x", None, "junk"),
    ]
    json_line = '{"time":"2026-10-01T00:00:00Z","request":"SEARCH / -"}'
    assert parse(JsonLinesFormat(), [json_line]).select("path", "protocol").row(0) == ("/", "-")


# -- times without an offset -----------------------------------------------------------------


def test_times_without_an_offset_are_counted_and_read_in_the_given_zone(tmp_path: Path) -> None:
    log = tmp_path / "local.jsonl"
    log.write_text(
        '{"time":"2026-10-02T10:00:00","status":200}\n'
        '{"time":"2026-10-02T10:00:00+02:00","status":200}\n'
        '{"time":"2026-10-02 10:30:00.250","status":200}\n'
    )
    store = Store(tmp_path / "utc")
    summary = ingest(store, [str(log)])
    assert events(store).get_column("ts").to_list() == [
        utc(2026, 10, 2, 10),
        utc(2026, 10, 2, 8),
        utc(2026, 10, 2, 10, 30, 0, 250000),
    ]
    text = "\n".join(summary_lines(summary))
    assert "2 lines have a time without a UTC offset, read as UTC; give --json-tz ZONE" in text

    berlin = Store(tmp_path / "berlin")
    options = IngestOptions(json_format=JsonLinesFormat(naive_zone="Europe/Berlin"))
    summary = ingest(berlin, [str(log)], options)
    assert events(berlin).get_column("ts").to_list() == [
        utc(2026, 10, 2, 8),
        utc(2026, 10, 2, 8),
        utc(2026, 10, 2, 8, 30, 0, 250000),
    ]
    assert "2 lines have a time without a UTC offset, read as Europe/Berlin time" in "\n".join(
        summary_lines(summary)
    )


def test_local_times_at_clock_changes() -> None:
    fmt = JsonLinesFormat(naive_zone="Europe/Berlin")
    lines = [
        '{"time":"2026-10-25T02:30:00"}',  # shown twice: the earlier (summer time) is taken
        '{"time":"2026-10-25T03:30:00"}',
    ]
    assert parse(fmt, lines).get_column("ts").to_list() == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 2, 30),
    ]
    skipped = fmt.parse(split_lines(b'{"time":"2026-03-29T02:30:00"}\n', 0, 1).lines)
    assert skipped.rejects.get_column("reason").to_list() == ["bad_timestamp"]


def test_offset_and_naive_times_mixed_in_one_chunk() -> None:
    """Each value is read on its own (an inferred format does not reject the others)."""
    lines = [
        '{"time":"2026-10-01T00:00:00.5Z"}',
        '{"time":"2026-10-01T02:00:00+0200"}',
        '{"time":"2026-10-01T00:00:00"}',
        '{"time":"2026-10-01T01:00:00+01"}',
        '{"time":"01/Oct/2026:02:00:00 +0200"}',
        '{"time":1790812800}',
    ]
    got = parse(JsonLinesFormat(), lines).get_column("ts").to_list()
    assert got == [utc(2026, 10, 1, 0, 0, 0, 500000)] + [utc(2026, 10, 1)] * 5


# -- mapping to any column, nested keys, presets ---------------------------------------------


def test_a_key_maps_to_any_column_and_nested_keys_are_read() -> None:
    fmt = JsonLinesFormat(
        {
            "http_x_api_key": "api_key",
            "path": "req.uri",
            "remote_addr": "req.remote_ip",
            "user_agent": "req.headers.User-Agent",
        }
    )
    lines = [
        '{"time":"2026-10-01T00:00:00Z","api_key":"k1","req":{"uri":"/v1/x?a=1",'
        '"remote_ip":"10.0.0.1","headers":{"User-Agent":["curl/8.0"]}},"other":1}',
        '{"time":"2026-10-01T00:00:01Z","api_key":"-","req":{"uri":"/v1/y"}}',
    ]
    got = parse(fmt, lines)
    assert got.select("http_x_api_key", "path", "query", "remote_addr", "user_agent").rows() == [
        ("k1", "/v1/x", "a=1", "10.0.0.1", "curl/8.0"),
        (None, "/v1/y", None, None, None),
    ]
    assert "req" not in got.columns  # read through the mapping, not kept as JSON text
    assert "api_key" not in got.columns
    assert got.get_column("other").to_list() == ["1", None]


def test_caddy_preset_on_a_real_caddy_log(tmp_path: Path) -> None:
    source = realdata("lnav-misc", "logfile_caddy_log.0")
    # the file is docker compose output: "caddy  | " before each JSON object
    raw = [line.partition("| ")[2] for line in source.read_text().splitlines()]
    log = tmp_path / "caddy.log"
    log.write_text("\n".join(raw) + "\n")
    access = [json.loads(line) for line in raw if '"http.log.access"' in line]
    assert len(access) == 4
    store = Store(tmp_path / "store")
    options = IngestOptions(
        log_format=JsonLinesFormat(preset="caddy"), max_reject_ratio=1.0, accept_window=None
    )
    summary = ingest(store, [str(log)], options)
    stored = events(store)
    assert stored.height == 4
    assert summary.rejected == {"no_match": len(raw) - 4}  # caddy's own messages
    expected = [
        (
            r["request"]["method"],
            r["request"]["uri"].partition("?")[0],
            r["request"]["client_ip"],
            r["request"]["proto"],
            r["status"],
            r["size"],
            r["request"]["headers"]["User-Agent"][0],
            r["request"]["host"],
            pytest.approx(r["duration"]),
            pytest.approx(r["ts"], abs=1e-6),
        )
        for r in access
    ]
    got = stored.select(
        "method",
        "path",
        "remote_addr",
        "protocol",
        "status",
        "bytes_sent",
        "user_agent",
        "host",
        "request_time",
        pl.col("ts").dt.epoch("us") / 1e6,
    ).rows()
    assert got == expected


TRAEFIK = (
    '{"ClientAddr":"192.0.2.7:51234","ClientHost":"192.0.2.7","ClientUsername":"-",'
    '"DownstreamContentSize":512,"DownstreamStatus":200,"Duration":2500000,'
    '"RequestHost":"api.example.com","RequestMethod":"GET","RequestPath":"/v1/items?page=2",'
    '"RequestProtocol":"HTTP/1.1","StartLocal":"2026-10-01T01:59:59.900000000+02:00",'
    '"StartUTC":"2026-09-30T23:59:59.9Z","level":"info","msg":"","request_User-Agent":"curl/8",'
    '"time":"2026-10-01T00:00:00Z"}'
)


def test_traefik_preset_takes_the_start_time_and_nanosecond_durations() -> None:
    got = parse(JsonLinesFormat(preset="traefik"), [TRAEFIK])
    row = got.select(
        "ts",
        "remote_addr",
        "remote_user",
        "method",
        "path",
        "query",
        "status",
        "bytes_sent",
        "request_time",
        "user_agent",
        "host",
    ).row(0)
    assert row == (
        utc(2026, 9, 30, 23, 59, 59, 900000),  # the request's day, not the log line's
        "192.0.2.7",
        None,
        "GET",
        "/v1/items",
        "page=2",
        200,
        512,
        pytest.approx(0.0025),
        "curl/8",
        "api.example.com",
    )
    # without the preset the log line's "time" is taken: the next day
    assert parse(JsonLinesFormat(), [TRAEFIK]).item(0, "ts") == utc(2026, 10, 1)


def test_nginx_preset_reads_variable_names() -> None:
    line = (
        '{"time_iso8601":"2026-10-01T02:00:00+02:00","remote_addr":"::1","request":'
        '"GET /a?b=1 HTTP/1.1","status":"200","body_bytes_sent":"7","request_time":"0.010",'
        '"http_x_api_key":"k"}'
    )
    got = parse(JsonLinesFormat(preset="nginx"), [line])
    assert got.select("ts", "remote_addr", "path", "query", "bytes_sent", "http_x_api_key").row(
        0
    ) == (utc(2026, 10, 1), "::1", "/a", "b=1", 7, "k")


def test_json_field_works_under_auto_detection(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_text(
        '{"time":"2026-10-01T23:59:00Z","@timestamp":"2026-09-30T23:59:00Z","key":"a"}\n'
    )
    store = Store(tmp_path / "store")
    options = IngestOptions(json_format=JsonLinesFormat({"ts": "@timestamp", "account": "key"}))
    ingest(store, [str(log)], options)
    stored = events(store)
    assert stored.select("ts", "account").row(0) == (utc(2026, 9, 30, 23, 59), "a")


def test_a_mostly_empty_mapped_column_is_warned_about(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    log.write_text(
        "".join(
            f'{{"time":"2026-10-01T00:00:{i:02d}Z","X-Api-Key":"k{i}"}}\n'
            if i < 3
            else f'{{"time":"2026-10-01T00:00:{i:02d}Z"}}\n'
            for i in range(10)
        )
    )
    store = Store(tmp_path / "store")
    fmt = JsonLinesFormat({"http_x_api_key": "api_key"})  # the key is spelled differently
    summary = ingest(store, [str(log)], IngestOptions(log_format=fmt))
    text = "\n".join(summary_lines(summary))
    assert "column http_x_api_key (JSON key api_key) is empty in 10 of 10 stored lines" in text
    right = JsonLinesFormat({"http_x_api_key": "X-Api-Key"})
    summary = ingest(Store(tmp_path / "other"), [str(log)], IngestOptions(log_format=right))
    assert "column http_x_api_key (JSON key X-Api-Key) is empty in 7 of 10" in "\n".join(
        summary_lines(summary)
    )


# -- very wide lines -------------------------------------------------------------------------


def test_a_five_thousand_key_file_keeps_a_bounded_set_of_columns(tmp_path: Path) -> None:
    log = tmp_path / "wide.jsonl"
    lines = []
    for i in range(50):
        keys = {f"k{i * 100 + j}": j for j in range(100)}
        lines.append(json.dumps({"time": "2026-10-01T00:00:00Z", "status": 200, **keys}))
    log.write_text("\n".join(lines) + "\n")
    store = Store(tmp_path / "store")
    fmt = JsonLinesFormat({"wanted": "k4999"})
    summary = ingest(store, [str(log)], IngestOptions(log_format=fmt))
    stored = events(store)
    assert stored.height == 50
    fixed = {*CANONICAL_COLUMNS, *PROVENANCE_COLUMNS, "day"}
    extra = [c for c in stored.columns if c not in fixed]
    assert "wanted" in extra
    # the keys of the first line (the first seen), by name: k0, k1, k10, k11, ...
    first_line_keys = sorted(f"k{j}" for j in range(100))[:MAX_EXTRA_KEYS]
    assert sorted(extra) == sorted(["wanted", *first_line_keys])
    assert stored.get_column("wanted").drop_nulls().to_list() == ["99"]
    text = "\n".join(summary_lines(summary))
    assert f"{5000 - MAX_EXTRA_KEYS - 1:,} JSON keys were not stored (k100, k1000," in text


def test_presets_warn_only_about_columns_every_request_has(tmp_path: Path) -> None:
    log = tmp_path / "traefik.jsonl"
    log.write_text(TRAEFIK + "\n")  # no referer logged: not worth a warning
    summary = ingest(
        Store(tmp_path / "store"),
        [str(log)],
        IngestOptions(log_format=JsonLinesFormat(preset="traefik")),
    )
    assert not any("is empty" in line for line in summary_lines(summary))
    wrong = tmp_path / "nginx.jsonl"
    wrong.write_text('{"StartUTC":"2026-10-01T00:00:00Z","RequestMethod":"GET","status":200}\n')
    summary = ingest(
        Store(tmp_path / "other"),
        [str(wrong)],
        IngestOptions(log_format=JsonLinesFormat(preset="traefik"), accept_window=None),
    )
    text = "\n".join(summary_lines(summary))
    assert "column status (JSON key DownstreamStatus) is empty in 1 of 1" in text
