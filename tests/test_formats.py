"""Each log format on hand-written lines, with the exact value of every column."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from meterlog.errors import FormatError
from meterlog.formats import (
    JsonLinesFormat,
    NginxLogFormat,
    builtin_format,
    detect_format,
    read_log_format_from_config,
)
from meterlog.formats.base import LogFormat
from meterlog.formats.jsonlines import decode_objects
from meterlog.formats.nginx import COMBINED
from meterlog.sources import split_lines
from tests.support import utc

CANONICAL = {
    "ts": None,
    "remote_addr": None,
    "remote_user": None,
    "method": None,
    "path": None,
    "query": None,
    "protocol": None,
    "status": None,
    "bytes_sent": None,
    "referer": None,
    "user_agent": None,
    "request_time": None,
    "source_id": None,
}


def parse(fmt: LogFormat, text: str | bytes) -> tuple[list[dict[str, object]], list[tuple]]:
    data = text.encode() if isinstance(text, str) else text
    batch = split_lines(data, 0, 1)
    result = fmt.parse(batch.lines)
    reject_rows = result.rejects.select("source_line", "reason").rows()
    return result.events.to_dicts(), reject_rows


def row(**values: object) -> dict[str, object]:
    """An expected event: every canonical column, null unless given."""
    expected = dict(CANONICAL)
    expected.update(values)
    return expected


def assert_rows(actual: list[dict[str, object]], expected: list[dict[str, object]]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got == want


# -- nginx combined, common, main -----------------------------------------------------------


def test_combined_every_column_nginx_escapes_utf8_and_ipv6() -> None:
    line = (
        '2001:db8::1 - alice [10/Oct/2026:13:55:36 +0000] "GET /a%20b?x=1&y=2 HTTP/1.1" 200 2326 '
        '"https://example.com/start" "Mozilla/5.0 \\x22quoted\\x22 caf\\xC3\\xA9"\n'
    )
    events, rejected = parse(builtin_format("combined"), line)
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2026, 10, 10, 13, 55, 36),
                remote_addr="2001:db8::1",
                remote_user="alice",
                method="GET",
                path="/a%20b",
                query="x=1&y=2",
                protocol="HTTP/1.1",
                status=200,
                bytes_sent=2326,
                referer="https://example.com/start",
                user_agent='Mozilla/5.0 "quoted" café',
                source_offset=0,
                source_line=1,
            )
        ],
    )


def test_combined_apache_escapes_and_dash_bytes() -> None:
    line = (
        '192.0.2.7 - - [17/May/2015:10:05:03 +0000] "GET /x\\"y HTTP/1.0" 304 - "-" '
        '"Agent \\"with quotes\\" and \\\\ backslash"\n'
    )
    events, rejected = parse(builtin_format("combined"), line)
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2015, 5, 17, 10, 5, 3),
                remote_addr="192.0.2.7",
                method="GET",
                path='/x"y',
                protocol="HTTP/1.0",
                status=304,
                bytes_sent=0,
                user_agent='Agent "with quotes" and \\ backslash',
                source_offset=0,
                source_line=1,
            )
        ],
    )


def test_non_utc_offsets_become_exact_utc_instants() -> None:
    text = (
        '1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        '1.2.3.4 - - [22/Jan/2019:03:56:14 -0700] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        '1.2.3.4 - - [01/Jan/2020:00:30:00 +0100] "GET / HTTP/1.1" 200 1 "-" "-"\n'
    )
    events, _ = parse(builtin_format("combined"), text)
    assert [e["ts"] for e in events] == [
        utc(2019, 1, 22, 0, 26, 14),
        utc(2019, 1, 22, 10, 56, 14),
        utc(2019, 12, 31, 23, 30, 0),
    ]


def test_empty_request_and_tls_junk_are_kept_with_null_method_and_path() -> None:
    text = (
        '203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "" 400 0 "-" "-"\n'
        '203.0.113.9 - - [10/Oct/2026:13:55:37 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"\n'
    )
    events, rejected = parse(builtin_format("combined"), text)
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2026, 10, 10, 13, 55, 36),
                remote_addr="203.0.113.9",
                status=400,
                bytes_sent=0,
                source_offset=0,
                source_line=1,
            ),
            row(
                ts=utc(2026, 10, 10, 13, 55, 37),
                remote_addr="203.0.113.9",
                status=400,
                bytes_sent=157,
                source_offset=len(text.splitlines(keepends=True)[0]),
                source_line=2,
            ),
        ],
    )


def test_common_format() -> None:
    line = '10.1.1.1 - bob [01/Feb/2026:00:00:01 +0000] "POST /v1/orders HTTP/2.0" 201 17\n'
    events, rejected = parse(builtin_format("common"), line)
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2026, 2, 1, 0, 0, 1),
                remote_addr="10.1.1.1",
                remote_user="bob",
                method="POST",
                path="/v1/orders",
                protocol="HTTP/2.0",
                status=201,
                bytes_sent=17,
                source_offset=0,
                source_line=1,
            )
        ],
    )


def test_main_format_keeps_x_forwarded_for_as_its_own_column() -> None:
    line = (
        '10.1.1.1 - - [22/Jan/2019:03:56:14 +0330] "GET /image/1 HTTP/1.1" 200 5 "-" "bot" '
        '"198.51.100.1, 10.0.0.1"\n'
    )
    events, rejected = parse(builtin_format("main"), line)
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2019, 1, 22, 0, 26, 14),
                remote_addr="10.1.1.1",
                method="GET",
                path="/image/1",
                protocol="HTTP/1.1",
                status=200,
                bytes_sent=5,
                user_agent="bot",
                http_x_forwarded_for="198.51.100.1, 10.0.0.1",
                source_offset=0,
                source_line=1,
            )
        ],
    )
    canonical = list(CANONICAL)[:-1]  # extra columns come after the canonical ones
    provenance = ["source_id", "source_offset", "source_line"]
    assert list(events[0]) == [*canonical, "http_x_forwarded_for", *provenance]


# -- custom log_format ----------------------------------------------------------------------


def test_custom_format_iso_time_method_uri_and_extra_variables() -> None:
    fmt = NginxLogFormat(
        '$remote_addr [$time_iso8601] "$request_method $request_uri" $status $body_bytes_sent '
        '$request_time "$http_x_api_key" $upstream_status'
    )
    line = '192.0.2.1 [2026-10-10T13:55:36+03:30] "POST /v1/x?k=v" 201 512 0.005 "key-1" -\n'
    events, rejected = parse(fmt, line)
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2026, 10, 10, 10, 25, 36),
                remote_addr="192.0.2.1",
                method="POST",
                path="/v1/x",
                query="k=v",
                status=201,
                bytes_sent=512,
                request_time=0.005,
                http_x_api_key="key-1",
                upstream_status=None,
                source_offset=0,
                source_line=1,
            )
        ],
    )
    frame = fmt.parse(split_lines(line.encode(), 0, 1).lines).events
    assert frame.schema["http_x_api_key"] == pl.String
    assert frame.schema["upstream_status"] == pl.String


def test_custom_format_msec_and_bytes_sent() -> None:
    fmt = NginxLogFormat('$msec $remote_addr "$request" $status $bytes_sent')
    events, rejected = parse(fmt, '1791622536.123 192.0.2.1 "GET /x HTTP/2.0" 200 5\n')
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2026, 10, 10, 8, 55, 36).replace(microsecond=123000),
                remote_addr="192.0.2.1",
                method="GET",
                path="/x",
                protocol="HTTP/2.0",
                status=200,
                bytes_sent=5,
                source_offset=0,
                source_line=1,
            )
        ],
    )


def test_custom_format_uri_and_args() -> None:
    fmt = NginxLogFormat("$time_local|$request_method|$uri|$args|$status")
    events, _ = parse(fmt, "10/Oct/2026:00:00:00 +0000|GET|/a|b=1|204\n")
    assert_rows(
        events,
        [
            row(
                ts=utc(2026, 10, 10),
                method="GET",
                path="/a",
                query="b=1",
                status=204,
                source_offset=0,
                source_line=1,
            )
        ],
    )


def test_duplicated_variable_keeps_the_first_value() -> None:
    fmt = NginxLogFormat("$remote_addr $remote_addr [$time_local] $status")
    events, rejected = parse(fmt, "1.2.3.4 5.6.7.8 [10/Oct/2026:13:55:36 -0700] 200\n")
    assert rejected == []
    assert events[0]["remote_addr"] == "1.2.3.4"
    assert events[0]["status"] == 200


@pytest.mark.parametrize(
    ("format_string", "message"),
    [
        ("$remote_addr $bogus [$time_local]", "unknown nginx variable $bogus"),
        ("$remote_addr $status", "no time variable"),
        ("plain text", "no $variables"),
        ("$remote_addr $ [$time_local]", "'$' that is not a variable"),
    ],
)
def test_bad_log_format_strings_are_refused(format_string: str, message: str) -> None:
    with pytest.raises(FormatError, match=message.replace("$", r"\$").replace("(", r"\(")):
        NginxLogFormat(format_string)


def test_reject_reasons() -> None:
    text = (
        '1.2.3.4 - - [99/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        '1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 2x0 1 "-" "-"\n'
        '1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 12ab "-" "-"\n'
        '1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 99999 1 "-" "-"\n'
        '1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 '
        '99999999999999999999999 "-" "-"\n'
        "this is not a log line\n"
        '1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "unterminated\n'
    )
    events, rejected = parse(builtin_format("combined"), text)
    assert events == []
    assert rejected == [
        (1, "bad_timestamp"),
        (2, "bad_number"),
        (3, "bad_number"),
        (4, "bad_number"),
        (5, "bad_number"),
        (6, "no_match"),
        (7, "no_match"),
    ]


def test_request_time_dash_is_null_but_garbage_is_a_bad_number() -> None:
    fmt = NginxLogFormat("[$time_local] $status $request_time")
    events, rejected = parse(
        fmt, "[10/Oct/2026:00:00:00 +0000] 200 -\n[10/Oct/2026:00:00:00 +0000] 200 fast\n"
    )
    assert [e["request_time"] for e in events] == [None]
    assert rejected == [(2, "bad_number")]


def test_escape_json_format_unescapes_json_style() -> None:
    fmt = NginxLogFormat('[$time_local] "$http_user_agent"', escape="json")
    events, _ = parse(fmt, '[10/Oct/2026:00:00:00 +0000] "say \\"hi\\" \\u00e9\\\\"\n')
    assert events[0]["user_agent"] == 'say "hi" é\\'


# -- nginx config ---------------------------------------------------------------------------

NGINX_CONF = r"""
# main context
user nginx;
http {
    # log_format fake '$nothing';
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      "\"$http_user_agent\" \"$http_x_forwarded_for\"";   # trailing comment
    log_format api escape=json '{"ts":"$time_iso8601","ip":"$remote_addr",'
        '"status":"$status","key":"$http_x_api_key"}';
    log_format plain escape=none '$msec $status';
    access_log /var/log/nginx/access.log main;
}
"""


def test_nginx_config_reading(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF)
    main = read_log_format_from_config(conf, "main")
    assert main.format_string == COMBINED + ' "$http_x_forwarded_for"'
    assert main.escape == "default"
    api = read_log_format_from_config(conf, "api")
    assert api.escape == "json"
    assert api.format_string == (
        '{"ts":"$time_iso8601","ip":"$remote_addr","status":"$status","key":"$http_x_api_key"}'
    )
    events, _ = parse(
        api, '{"ts":"2026-10-10T00:00:00+00:00","ip":"::1","status":"200","key":"k\\"1"}\n'
    )
    assert events[0]["ts"] == utc(2026, 10, 10)
    assert events[0]["remote_addr"] == "::1"
    assert events[0]["http_x_api_key"] == 'k"1'
    assert read_log_format_from_config(conf, "plain").escape == "none"


def test_nginx_config_missing_name_lists_the_names(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF)
    with pytest.raises(FormatError, match=r"no log_format named 'nope' \(.*main, api, plain\)"):
        read_log_format_from_config(conf, "nope")


def test_nginx_config_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("http { log_format x '$remote_addr $oops [$time_local]'; }\n")
    with pytest.raises(FormatError, match=r"bad\.conf:1: .*unknown nginx variable \$oops"):
        read_log_format_from_config(bad, "x")
    latin = tmp_path / "latin.conf"
    latin.write_bytes(b"# caf\xe9\n")
    with pytest.raises(FormatError, match="not UTF-8"):
        read_log_format_from_config(latin, "x")
    with pytest.raises(FormatError, match="cannot read nginx config"):
        read_log_format_from_config(tmp_path / "absent.conf", "x")
    escaped = tmp_path / "escape.conf"
    escaped.write_text("log_format x escape=yaml '$time_local';\n")
    with pytest.raises(FormatError, match="escape=yaml"):
        read_log_format_from_config(escaped, "x")


# -- JSON lines -----------------------------------------------------------------------------


def test_json_default_mapping_unknown_keys_and_nested_values() -> None:
    line = (
        '{"time":"2026-10-10T13:55:36+02:00","remote_addr":"192.0.2.1","remote_user":"u1",'
        '"request":"GET /a?b=1 HTTP/1.1","status":200,"body_bytes_sent":"12",'
        '"request_time":"0.250","http_user_agent":"curl","http_referer":"-",'
        '"tenant":"acme","extra":{"a":[1,2]},"n":5}\n'
    )
    events, rejected = parse(JsonLinesFormat(), line)
    assert rejected == []
    assert_rows(
        events,
        [
            row(
                ts=utc(2026, 10, 10, 11, 55, 36),
                remote_addr="192.0.2.1",
                remote_user="u1",
                method="GET",
                path="/a",
                query="b=1",
                protocol="HTTP/1.1",
                status=200,
                bytes_sent=12,
                user_agent="curl",
                request_time=0.25,
                tenant="acme",
                extra='{"a":[1,2]}',
                n="5",
                source_offset=0,
                source_line=1,
            )
        ],
    )


def test_json_override_and_time_forms() -> None:
    text = (
        '{"@timestamp":"2026-10-10T13:55:36.5Z","time":"not a time","status":"204"}\n'
        '{"@timestamp":"10/Oct/2026:13:55:36 +0100","status":200}\n'
        '{"@timestamp":"1791622536.25","status":200}\n'
    )
    events, rejected = parse(JsonLinesFormat({"ts": "@timestamp"}), text)
    assert rejected == []
    assert [e["ts"] for e in events] == [
        utc(2026, 10, 10, 13, 55, 36).replace(microsecond=500000),
        utc(2026, 10, 10, 12, 55, 36),
        utc(2026, 10, 10, 8, 55, 36).replace(microsecond=250000),
    ]
    assert events[0]["time"] == "not a time"  # unmapped keys are kept
    for column in ("source_id", "day", "a b", ""):
        with pytest.raises(FormatError, match="cannot be a column name"):
            JsonLinesFormat({column: "x"})


def test_json_rejects_arrays_non_objects_and_cut_lines() -> None:
    text = (
        '[1,2]\n"just a string"\n42\n{"time": \n{"time":"2026-10-10T00:00:00Z"} trailing\n'
        + "{" * 300
        + "\n"
        + '{"time":"2026-10-10T00:00:00Z","status":"abc"}\n'
        + '{"status":200}\n'
    )
    events, rejected = parse(JsonLinesFormat(), text)
    assert events == []
    assert rejected == [
        (1, "bad_json"),
        (2, "bad_json"),
        (3, "bad_json"),
        (4, "bad_json"),
        (5, "bad_json"),
        (6, "bad_json"),
        (7, "bad_number"),
        (8, "bad_timestamp"),
    ]


def test_json_key_with_values_of_different_kinds_across_lines() -> None:
    """An ``error`` key that is text in one line and an object in another (common in
    application logs) must not stop the chunk."""
    stamp = '"time":"2026-10-10T00:00:00Z"'
    text = (
        f'{{{stamp},"error":"timeout"}}\n'
        f'{{{stamp},"error":{{"code":7,"why":"x"}}}}\n'
        f'{{{stamp},"error":[1,"two"]}}\n'
        f'{{{stamp},"error":["a",{{"b":1}}]}}\n'
        f"{{{stamp}}}\n"
    )
    events, rejected = parse(JsonLinesFormat(), text)
    assert rejected == []
    assert [e["error"] for e in events] == [
        "timeout",
        '{"code":7,"why":"x"}',
        '["1","two"]',
        '["a",{"b":1}]',
        None,
    ]
    assert [e["source_line"] for e in events] == [1, 2, 3, 4, 5]


def test_decode_objects_keeps_row_order_and_all_keys() -> None:
    texts = pl.Series(['{"a":1}', '{"a":{"b":1},"c":true}', "{}", '{"a":"x","d":null}'])
    frame = decode_objects(texts)
    assert frame.columns[0] == "a"
    assert set(frame.columns) == {"a", "c", "d"}
    assert frame.get_column("a").to_list() == ["1", '{"b":1}', None, "x"]
    assert frame.get_column("c").to_list() == [None, "true", None, None]


def test_json_key_names_that_clash_with_store_columns() -> None:
    text = '{"time":"2026-10-10T00:00:00Z","day":"x","source_id":"y","a b":"1","a_b":"2"}\n'
    events, _ = parse(JsonLinesFormat(), text)
    assert events[0]["json_day"] == "x"
    assert events[0]["json_source_id"] == "y"
    assert events[0]["a_b"] == "1"
    assert events[0]["json_a_b"] == "2"
    assert events[0]["source_id"] is None


# -- format detection -----------------------------------------------------------------------


def test_detection_picks_the_format_that_parses_most_lines() -> None:
    from meterlog.formats import auto_candidates

    sample = split_lines(
        b'1.2.3.4 - - [10/Oct/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" "-"\n', 0, 1
    ).lines
    assert detect_format(sample, auto_candidates()).format.name == "main"
    json_sample = split_lines(b'{"time":"2026-10-10T00:00:00Z"}\n', 0, 1).lines
    assert detect_format(json_sample, auto_candidates()).format.name == "json"
    common = split_lines(b'1.2.3.4 - - [10/Oct/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1\n', 0, 1)
    assert detect_format(common.lines, auto_candidates()).format.name == "common"


def test_nginx_config_variables_defined_by_map_set_and_geo_are_accepted(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "http {\n"
        '  map $http_authorization $api_client { default "-"; ~^Bearer\\s+(?<t>\\S+) $t; }\n'
        "  geo $remote_addr $office { default 0; 10.0.0.0/8 1; }\n"
        "  log_format k8s '$remote_addr - $remote_user [$time_local] \"$request\" $status '\n"
        "                 '$body_bytes_sent [$proxy_upstream_name] $api_client $office $tenant';\n"
        '  server { set $tenant "acme"; }\n'
        "}\n"
    )
    log_format = read_log_format_from_config(conf, "k8s")
    line = '10.1.2.3 - - [01/Oct/2026:00:00:00 +0000] "GET /a HTTP/1.1" 200 5 [default-api-80] tok123 1 acme'
    events, rejects = parse(log_format, line + "\n")
    assert rejects == []
    assert [
        (e["proxy_upstream_name"], e["api_client"], e["office"], e["tenant"]) for e in events
    ] == [("default-api-80", "tok123", "1", "acme")]
    with pytest.raises(FormatError, match=r"unknown nginx variable \$api_client"):
        NginxLogFormat("$remote_addr [$time_local] $api_client")


def test_epoch_numbers_and_zulu_times() -> None:
    fmt = NginxLogFormat('$time_iso8601 "$request" $status')
    events, rejects = parse(
        fmt,
        '2026-10-01T00:00:00Z "GET / HTTP/1.1" 200\n'
        '2026-10-01T02:00:00+02:00 "GET / HTTP/1.1" 200\n'
        '2026-10-01T00:00:00.250Z "GET / HTTP/1.1" 200\n'
        '2026-10-01 00:00:00 "GET / HTTP/1.1" 200\n',
    )
    assert [e["ts"] for e in events] == [
        utc(2026, 10, 1),
        utc(2026, 10, 1),
        utc(2026, 10, 1, 0, 0, 0, 250000),
    ]
    assert rejects == [(4, "no_match")]
    json_events, json_rejects = parse(
        JsonLinesFormat(),
        '{"ts": 1790812800123, "status": 200}\n'
        '{"ts": "1790812800.5", "status": 200}\n'
        '{"ts": 1790812800123456, "status": 200}\n',
    )
    assert json_rejects == []
    assert [e["ts"] for e in json_events] == [
        utc(2026, 10, 1, 0, 0, 0, 123000),
        utc(2026, 10, 1, 0, 0, 0, 500000),
        utc(2026, 10, 1, 0, 0, 0, 123456),
    ]


def test_times_outside_years_1_to_9999_are_bad_timestamps() -> None:
    events, rejects = parse(
        builtin_format("combined"),
        '1.2.3.4 - - [01/Aug/-026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n'
        '1.2.3.4 - - [01/Aug/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n',
    )
    assert rejects == [(1, "bad_timestamp")]
    assert [e["ts"] for e in events] == [utc(2026, 8, 1)]
