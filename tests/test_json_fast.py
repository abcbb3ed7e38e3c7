"""JSON lines through Arrow's reader (issue 24): the fast path gives what the precise path gives,
row for row and byte for byte, on generated chunks holding every reject reason, odd numbers,
odd keys and odd values; where the two could differ the chunk is read the precise way."""

from __future__ import annotations

import random
import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from meterlog.formats import JsonLinesFormat, jsonlines
from meterlog.ingest import IngestOptions, ingest
from meterlog.schema import REJECT_REASONS
from meterlog.sources import split_lines
from meterlog.store import Store
from tests.support import events, rejects

METHODS = ("GET", "POST", "PUT", "DELETE")
AGENTS = (
    "curl/8.5.0",
    'Mozilla/5.0 (X11; Linux x86_64) \\"quoted\\" \\u00e9t\\u00e9',
    "Go-http-client/2.0",
)

#: Both time keys the mappings below read (``time`` by default, ``time_iso8601`` by preset).
T2 = '{"time":"2026-10-01T00:00:00Z","time_iso8601":"2026-10-01T00:00:00+00:00",'
#: Lines each rejected for one reason (``no_match`` needs a preset naming a required key).
REJECTED = {
    "bad_json": [
        '{"time":"2026-10-01T00:00:00Z","status":200',  # cut short
        "[1,2,3]",
        '{"time":"2026-10-01T00:00:00Z","status":200,,}',  # invalid between braces
        '{"time":"2026-10-01T00:00:00Z","remote_user":"\\ud800"}',  # lone surrogate
        '{"time":"2026-10-01T00:00:00Z","status":01}',
        '{"time":"2026-10-01T00:00:00Z"} {"time":"2026-10-01T00:00:00Z"}',  # two objects
        '{"time":"2026-10-01T00:00:00Z","request_time":NaN}',
        '{"time":"2026-10-01T00:00:00Z","request_time":1e999}',
        "\ufeff{}",
        "{" * 300 + "}" * 300,  # nested too deep
    ],
    "bad_timestamp": ['{"time":"not a time","status":200}', '{"status":200}'],
    "bad_number": [
        T2 + '"status":1000}',
        T2 + '"status":200.5}',
        T2 + '"body_bytes_sent":-1.5}',
    ],
}
#: Lines Arrow decodes otherwise (or refuses though they are JSON): their chunk goes the
#: precise way.
READ_APART = {
    "-0": '"status":-0',
    "beyond 64 bits": '"body_bytes_sent":18446744073709551616',
    "beyond 64 bits, nested": '"x":{"y":[-9223372036854775809]}',
    "duplicate key": '"status":200,"status":404',
    "text among numbers": '"status":"200"',
    "dashes among numbers": '"request_time":"-","body_bytes_sent":"-"',
    "boolean among numbers": '"status":true',
    "object among text": '"remote_user":{"id":1}',
}
#: Values both read alike (the chunk stays fast).
ALIKE = {
    "a float status": '"status":200.0',
    "17 digits": '"request_time":0.12345678901234567',
    "exponents": '"request_time":1e-30,"x":[1.7976931348623157e308,5e-324,1E+2]',
    "19 digits": '"body_bytes_sent":9223372036854775807,"n":-9223372036854775808',
    "a float beyond 64 bits": '"big":1e19',
    "an exponent": '"status":2e2',
    "a float among byte counts": '"body_bytes_sent":1.5',
    "escaped key": '"st\\u0061tus_text":"x"',
    "empty key": '"":1',
    "nested extra": '"upstream":{"addr":["10.0.0.1:80",null],"timing":{"connect":0.001,"x":{}}}',
    "null and bool extras": '"cache":null,"hit":true',
    "empty list": '"tags":[]',
    "spaces": ' "remote_addr" : "192.0.2.9" ',
    "a time-like extra": '"expires":"2026-12-01T00:00:00Z"',
    "msec time": '"msec":1791622536.123',
}

#: All of them in one chunk but a 19-digit integer (where a float in its column may be one beyond
#: 64 bits, the chunk is read the precise way).
ALIKE_TOGETHER = [value for name, value in ALIKE.items() if name != "19 digits"]


def generated(count: int, seed: int, odd: list[str] = (), rejected: list[str] = ()) -> list[str]:
    """``count`` JSON access log lines (keys in varying order, some missing, extra keys), with
    each ``odd`` key:value fragment added to one line and each ``rejected`` line inserted."""
    rnd = random.Random(seed)
    lines: list[list[tuple[str, str]]] = []
    for i in range(count):
        path = f"/v1/items/{rnd.randrange(1000)}"
        if rnd.random() < 0.3:
            path += f"?page={rnd.randrange(5)}"
        keys = [
            ("time", f'"2026-10-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+0{i % 3}:00"'),
            ("remote_addr", f'"203.0.113.{rnd.randrange(256)}"'),
            ("remote_user", rnd.choice(['"-"', f'"user{rnd.randrange(50)}"'])),
            ("request", f'"{rnd.choice(METHODS)} {path} HTTP/1.1"'),
            ("status", str(rnd.choice((200, 200, 201, 304, 404, 500)))),
            ("body_bytes_sent", str(rnd.randrange(100_000))),
            ("request_time", rnd.choice(("0.034", "1", "0", "12.5", "0.000"))),
            ("http_referer", '"-"'),
            ("http_user_agent", f'"{rnd.choice(AGENTS)}"'),
            ("host", f'"api{rnd.randrange(3)}.example.com"'),
        ]
        if rnd.random() < 0.1:
            keys.pop(rnd.randrange(1, len(keys)))
        if rnd.random() < 0.1:
            rnd.shuffle(keys)
        if rnd.random() < 0.05:
            keys.append(("request_id", f'"{rnd.getrandbits(64):016x}"'))
        lines.append([(key, f'"{key}":{value}') for key, value in keys])
    for fragment in odd:  # replaces the keys it writes
        at = rnd.randrange(count)
        written = set(re.findall(r'"((?:[^"\\]|\\.)*)"\s*:', fragment))
        kept = [entry for key, entry in lines[at] if key not in written]
        lines[at] = [("", fragment), *[("", entry) for entry in kept]]
    out = ["{" + ",".join(entry for _, entry in line) + "}" for line in lines]
    for line in rejected:
        out.insert(rnd.randrange(count), line)
    return out


def both_ways(lines: list[str], **mapping: object) -> bool:
    """Parse ``lines`` as one chunk with the fast path and the precise path; assert the same
    events, rejects and notes; whether the fast path read the chunk."""
    batch = split_lines(("\n".join(lines) + "\n").encode(), 0, 1).lines
    fast = JsonLinesFormat(**mapping)  # type: ignore[arg-type]
    precise = JsonLinesFormat(fast=False, **mapping)  # type: ignore[arg-type]
    took = fast._decode_fast(batch) is not None
    got, expected = fast.parse(batch), precise.parse(batch)
    assert_frame_equal(got.events, expected.events, check_exact=True)
    assert_frame_equal(got.rejects, expected.rejects, check_exact=True)
    assert got.notes == expected.notes
    return took


MAPPINGS = [
    {},
    {"preset": "nginx"},
    {"field_overrides": {"ts": "time", "tenant": "host", "user_agent": "http_user_agent"}},
    {"max_extra_keys": 1},
    {"naive_zone": "Europe/Paris"},
]


@pytest.mark.parametrize("mapping", MAPPINGS, ids=lambda m: ",".join(map(str, m)) or "default")
@pytest.mark.parametrize("seed", [1, 2])
def test_fast_and_precise_paths_agree_with_every_reject_reason(
    mapping: dict[str, object], seed: int
) -> None:
    rejected = [line for lines in REJECTED.values() for line in lines]
    lines = generated(600, seed, odd=ALIKE_TOGETHER, rejected=rejected)
    assert both_ways(lines, **mapping)
    result = JsonLinesFormat(**mapping).parse(split_lines(("\n".join(lines)).encode(), 0, 1).lines)  # type: ignore[arg-type]
    reasons = set(result.rejects.get_column("reason"))
    assert {"bad_json", "bad_timestamp", "bad_number"} <= reasons <= set(REJECT_REASONS)


@pytest.mark.parametrize("preset", ["caddy", "traefik"])
def test_presets_with_a_required_key_reject_other_lines_alike(preset: str) -> None:
    """``no_match``: lines without the preset's required key (a server's own messages)."""
    if preset == "caddy":
        request = (
            '{"level":"info","ts":1791622536.25,"logger":"http.log.access","msg":"handled",'
            '"request":{"remote_ip":"192.0.2.1","client_ip":"192.0.2.1","proto":"HTTP/2.0",'
            '"method":"GET","host":"example.com","uri":"/a?b=%d","headers":{"User-Agent":'
            '["curl/8"],"Accept":["*/*"]}},"bytes_read":0,"user_id":"","duration":0.0012,'
            '"size":%d,"status":200,"resp_headers":{"Server":["Caddy"]}}'
        )
        other = '{"level":"info","ts":1791622536.5,"logger":"tls","msg":"cleaning storage unit"}'
    else:
        request = (
            '{"ClientHost":"192.0.2.1","RequestMethod":"GET","RequestPath":"/a?b=%d",'
            '"RequestProtocol":"HTTP/1.1","DownstreamStatus":200,"DownstreamContentSize":%d,'
            '"Duration":1500000,"StartUTC":"2026-10-01T00:00:00.123456789Z",'
            '"StartLocal":"2026-10-01T02:00:00.123456789+02:00","level":"info"}'
        )
        other = '{"level":"info","msg":"Configuration loaded","time":"2026-10-01T00:00:00Z"}'
    lines = [request % (i, i * 3) for i in range(300)]
    lines[17] = other
    lines[200] = "not json"
    assert both_ways(lines, preset=preset)
    result = JsonLinesFormat(preset=preset).parse(
        split_lines("\n".join(lines).encode(), 0, 1).lines
    )
    assert result.rejects.get_column("reason").to_list() == ["no_match", "bad_json"]


@pytest.mark.parametrize("name", list(READ_APART))
def test_values_arrow_reads_otherwise_send_the_chunk_the_precise_way(name: str) -> None:
    lines = generated(300, 3, odd=[READ_APART[name]], rejected=REJECTED["bad_json"][:2])
    assert not both_ways(lines)


@pytest.mark.parametrize("name", list(ALIKE))
def test_values_both_read_alike_stay_fast(name: str) -> None:
    assert both_ways(generated(300, 4, odd=[ALIKE[name]]))


@pytest.mark.parametrize("name", list(REJECTED["bad_json"]))
def test_a_line_that_is_not_json_is_rejected_alone_and_the_chunk_stays_fast(name: str) -> None:
    assert both_ways(generated(300, 5, rejected=[name]))


def test_slices_read_on_threads_typed_apart_are_read_again_as_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Integers in one slice, a float in the other: the chunk's column is a float, as Polars
    types it over the whole chunk."""
    monkeypatch.setattr(jsonlines, "_DECODE_THREADS", 2)
    monkeypatch.setattr(jsonlines, "_MIN_DECODE_SLICE", 100)
    lines = generated(400, 6)
    assert both_ways(lines)  # alike slices
    lines[350] = lines[350].replace('"request_time":', '"latency":2.5,"request_time":')
    lines[10] = lines[10].replace('"request_time":', '"latency":1,"request_time":')
    lines[390] = lines[390].replace('"request_time":', '"late":{"a":2.5,"b":[]},"request_time":')
    lines[11] = lines[11].replace('"request_time":', '"late":{"a":1,"b":[1]},"request_time":')
    assert both_ways(lines)
    lines[20] = lines[20].replace('"status":', '"status":-0,"was":')
    assert not both_ways(lines)


def test_ingest_stores_the_same_rows_either_way(tmp_path: Path) -> None:
    """The whole pipeline, with invalid UTF-8 and a line too long among the rest."""
    lines = generated(3_000, 7, odd=ALIKE_TOGETHER, rejected=REJECTED["bad_json"])
    data = "\n".join(lines).encode()
    data = data.replace(b'"user7"', b'"user\xff7"', 1)
    long_line = b'{"time":"2026-10-01T00:00:00Z","pad":"' + b"x" * 5_000 + b'"}'
    log = tmp_path / "api.jsonl"
    log.write_bytes(data + b"\n" + long_line + b"\n")
    stored = []
    for fast in (True, False):
        store = Store(tmp_path / f"store-{fast}")
        options = IngestOptions(
            log_format=JsonLinesFormat(fast=fast), chunk_bytes=64 * 1024, max_line_bytes=4_096
        )
        ingest(store, [str(log)], options)
        stored.append((events(store), rejects(store).drop("ingested_at")))
    assert_frame_equal(stored[0][0], stored[1][0], check_exact=True)
    assert_frame_equal(stored[0][1], stored[1][1], check_exact=True)
    reasons = set(stored[0][1].get_column("reason"))
    assert {"invalid_utf8", "line_too_long", "bad_json"} <= reasons
    assert stored[0][0].height > 2_900
    assert pl.Series(stored[0][0].columns).is_in(["upstream", "expires", "_"]).sum() == 3


def test_nested_objects_of_varying_keys_keep_the_keys_in_the_order_first_seen() -> None:
    """Polars orders the keys of such objects by a hash, differently from run to run; the fast
    path keeps them in the order first seen, so one input always gives one text."""
    lines = generated(50, 8)
    lines[3] = lines[3][:-1] + ',"upstream":{"addr":"10.0.0.1:80"}}'
    lines[9] = lines[9][:-1] + ',"upstream":{"status":502,"addr":"10.0.0.2:80"}}'
    lines[12] = lines[12][:-1] + ',"upstream":{"cache":"HIT"}}'
    batch = split_lines(("\n".join(lines) + "\n").encode(), 0, 1).lines
    got = JsonLinesFormat().parse(batch).events.get_column("upstream").drop_nulls().to_list()
    assert got == [
        '{"addr":"10.0.0.1:80","status":null,"cache":null}',
        '{"addr":"10.0.0.2:80","status":502,"cache":null}',
        '{"addr":null,"status":null,"cache":"HIT"}',
    ]


def test_lines_with_spaces_around_or_crlf_endings_stay_fast() -> None:
    lines = generated(300, 9, rejected=REJECTED["bad_json"])
    assert both_ways([f" {line}\r" if i % 7 == 0 else line for i, line in enumerate(lines)])
    assert both_ways([f"{line}\r" for line in lines])


def test_request_lines_split_as_the_general_grammar_splits_them() -> None:
    """The usual request lines are split by one regex, the others by the general grammar: the
    same columns either way, on request lines of every shape."""
    rnd = random.Random(10)
    words = ["GET", "post", "X", "", " ", "/a", "/a?b=1", "/a?b=1?c", "?", "/ä", "HTTP/1.1"]
    words += ["HTTP/2.0", "HTTP/", "/1.1", "-", "\n", "a\nb", "\t", "HTTP/1.1\n", "SEARCH", "H/9"]
    requests: list[str | None] = [None, "", "GET  HTTP/1.1", "GET / -", "\x16\x03\x01"]
    for _ in range(3_000):
        picked = [rnd.choice(words) for _ in range(rnd.randrange(0, 5))]
        requests.append(" ".join(picked) if rnd.random() < 0.7 else "".join(picked))
    frame = pl.DataFrame({"r": requests}, schema={"r": pl.String})
    assert_frame_equal(
        jsonlines._with_request_split(frame, "r", "__rq_"),
        jsonlines.with_request_split(frame, "r", "__rq_"),
    )


def test_nested_objects_of_varying_keys_give_one_text_every_run_on_either_path() -> None:
    """Caddy's ``resp_headers`` vary in keys from line to line: Polars' ``json_decode`` orders
    such keys by a hash that differs from call to call. Each path, run again and again, stores
    one text, the same on both: keys by the first line holding a value, as written there; a key
    only ever null last."""
    lines = generated(40, 11)
    extras = {
        2: ',"resp_headers":{"Server":["Caddy"]}',
        5: ',"resp_headers":{"Content-Type":["text/html"],"Server":["Caddy"],"Etag":null}',
        7: ',"resp_headers":{"Alt-Svc":["h3"],"Vary":["Accept"],"Etag":["x1"],"Age":["3"]}',
        9: ',"upstreams":[{"b":1},{"a":2,"c":{"z":1,"y":2}}],"never":{"n":null}',
        11: ',"upstreams":[{"c":{"x":1}}],"never":{"m":null}',
    }
    for at, extra in extras.items():
        lines[at] = lines[at][:-1] + extra + "}"
    batch = split_lines(("\n".join(lines) + "\n").encode(), 0, 1).lines
    columns = ["resp_headers", "upstreams", "never"]
    stored = {
        (fast, tuple(JsonLinesFormat(fast=fast).parse(batch).events.select(columns).rows()))
        for fast in (True, False)
        for _ in range(8)
    }
    assert len({rows for _, rows in stored}) == 1, stored
    rows = next(iter(stored))[1]
    assert [row for row in rows if any(row)] == [
        (
            '{"Server":["Caddy"],"Content-Type":null,"Alt-Svc":null,"Vary":null,"Etag":null,'
            '"Age":null}',
            None,
            None,
        ),
        (
            '{"Server":["Caddy"],"Content-Type":["text/html"],"Alt-Svc":null,"Vary":null,'
            '"Etag":null,"Age":null}',
            None,
            None,
        ),
        (
            '{"Server":null,"Content-Type":null,"Alt-Svc":["h3"],"Vary":["Accept"],'
            '"Etag":["x1"],"Age":["3"]}',
            None,
            None,
        ),
        (
            None,
            '[{"b":1,"a":null,"c":null},{"b":null,"a":2,"c":{"z":1,"y":2,"x":null}}]',
            '{"m":null,"n":null}',
        ),
        (None, '[{"b":null,"a":null,"c":{"z":null,"y":null,"x":1}}]', '{"m":null,"n":null}'),
    ]


def test_ingest_with_every_reject_reason_stores_the_same_rows_either_way(tmp_path: Path) -> None:
    """All six reject reasons in one file (Traefik's preset names a required key, so a line
    without it is ``no_match``), through the whole pipeline, in chunks of several slices."""
    rnd = random.Random(12)
    lines = []
    for i in range(2_000):
        lines.append(
            f'{{"ClientHost":"192.0.2.{rnd.randrange(256)}","RequestMethod":'
            f'"{rnd.choice(METHODS)}","RequestPath":"/a/{i}?p={rnd.randrange(9)}",'
            f'"RequestProtocol":"HTTP/1.1","DownstreamStatus":{rnd.choice((200, 404, 500))},'
            f'"DownstreamContentSize":{rnd.randrange(10_000)},"Duration":{rnd.randrange(10**9)},'
            f'"StartUTC":"2026-10-0{1 + i % 9}T0{i % 10}:00:00.{i:06d}Z","level":"info"}}'
        )
    odd = {
        "no_match": '{"level":"info","msg":"Configuration loaded","time":"2026-10-01T00:00:00Z"}',
        "bad_timestamp": lines[0].replace("2026-10-01T00", "2026-13-01T00"),
        "bad_number": lines[1].replace('"DownstreamStatus":', '"DownstreamStatus":1000,"x":'),
        "bad_json": lines[2][:-9],
    }
    for reason, line in odd.items():
        for _ in range(3):
            lines.insert(rnd.randrange(len(lines)), line)
    data = "\n".join(lines).encode().replace(b'"192.0.2.7"', b'"192.0.2.\xff7"', 1)
    long_line = b'{"ClientHost":"192.0.2.1","pad":"' + b"x" * 5_000 + b'"}'
    log = tmp_path / "traefik.jsonl"
    log.write_bytes(data + b"\n" + long_line + b"\n")
    stored = []
    for fast in (True, False):
        store = Store(tmp_path / f"store-{fast}")
        options = IngestOptions(
            log_format=JsonLinesFormat(preset="traefik", fast=fast),
            chunk_bytes=96 * 1024,
            max_line_bytes=4_096,
        )
        ingest(store, [str(log)], options)
        stored.append((events(store), rejects(store).drop("ingested_at")))
    assert_frame_equal(stored[0][0], stored[1][0], check_exact=True)
    assert_frame_equal(stored[0][1], stored[1][1], check_exact=True)
    assert set(stored[0][1].get_column("reason")) == set(REJECT_REASONS)
    assert stored[0][0].height == 2_000 - 1  # the odd lines are copies; one has a bad byte


@pytest.mark.parametrize(
    "odd",
    [
        [],  # integers decoded as integers
        ALIKE_TOGETHER,  # floats among integers (status 200.0 and 2e2, bytes 1.5)
        [ALIKE["19 digits"], '"status":-5', '"request_time":1e300'],
        ['"status":200.5', '"body_bytes_sent":9007199254740993.0', '"request_time":7'],
    ],
    ids=["integers", "floats among", "edges", "fractions"],
)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "precise"])
def test_numbers_used_as_decoded_are_what_their_text_reads(
    monkeypatch: pytest.MonkeyPatch, odd: list[str], fast: bool
) -> None:
    """Status, bytes and request time decoded as numbers are used as such; reading each line's
    text of them instead (as when some line's value is read again) gives the same rows."""
    lines = generated(600, 13, odd=odd, rejected=REJECTED["bad_number"])
    batch = split_lines(("\n".join(lines) + "\n").encode(), 0, 1).lines
    direct = JsonLinesFormat(fast=fast).parse(batch)
    original = jsonlines._numbers_as_written

    def all_read_again(*args: object) -> tuple[pl.DataFrame, set[str]]:
        texts, _ = original(*args)  # type: ignore[arg-type]
        return texts, set(texts.columns)

    monkeypatch.setattr(jsonlines, "_numbers_as_written", all_read_again)
    as_text = JsonLinesFormat(fast=fast).parse(batch)
    assert_frame_equal(direct.events, as_text.events, check_exact=True)
    assert_frame_equal(direct.rejects, as_text.rejects, check_exact=True)
    assert direct.notes == as_text.notes
    assert direct.rejects.get_column("reason").to_list().count("bad_number") >= 3


def caddy_lines(count: int, seed: int) -> list[str]:
    """Caddy access log lines with nested values of every kind the mapping reads."""
    rnd = random.Random(seed)
    agents = ['["curl/8"]', "[]", "[null]", '["[x]"]', '["a\\"b","c"]', "null", '["\\u00e9"]']
    hosts = ['"example.com"', '"[1,2]"', '"[abc]"', "null", '"h\\u00e9"']
    lines = []
    for i in range(count):
        headers = {"User-Agent": rnd.choice(agents)}
        if rnd.random() < 0.5:
            headers["Referer"] = rnd.choice(['["https://a.example/"]', '["-"]'])
        request = {
            "remote_ip": '"192.0.2.1"',
            "client_ip": f'"192.0.2.{rnd.randrange(256)}"',
            "proto": '"HTTP/2.0"',
            "method": rnd.choice(['"GET"', '"POST"']),
            "host": rnd.choice(hosts),
            "uri": f'"/a?b={i}"',
            "headers": "{" + ",".join(f'"{k}":{v}' for k, v in headers.items()) + "}",
            "port": str(rnd.randrange(65536)),
            "tls": rnd.choice(["true", "false", "null"]),
            "weight": rnd.choice(["0.5", "1.25"]),
        }
        if rnd.random() < 0.2:
            del request["host"]
        body = ",".join(f'"{k}":{v}' for k, v in request.items())
        lines.append(
            f'{{"level":"info","ts":1791622536.{i % 1000:03d},"logger":"http.log.access",'
            f'"request":{{{body}}},"user_id":"","duration":0.0012,"size":{i * 3},'
            f'"status":200,"resp_headers":{{"Server":["Caddy"]}}}}'
        )
    return lines


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "precise"])
def test_nested_values_read_from_decoded_objects_are_what_their_json_text_gives(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """Caddy's nested keys (texts, lists of texts, integers, booleans, missing keys, text
    starting with ``[``) are read from the decoded objects; reading them from the JSON text of
    their top-level key, as a float or an object still is, gives the same rows."""
    lines = caddy_lines(400, 14)
    lines[50] = lines[50].replace('"proto":', '"meta":{"x":[1]},"proto":')  # an object
    batch = split_lines(("\n".join(lines) + "\n").encode(), 0, 1).lines
    mapping = {
        "preset": "caddy",
        "field_overrides": {
            "port": "request.port",
            "tls": "request.tls",
            "weight": "request.weight",
            "missing": "request.nothing.here",
            "agents": "request.headers",
            "meta": "request.meta",
        },
    }
    assert (JsonLinesFormat(**mapping)._decode_fast(batch) is not None) is True  # type: ignore[arg-type]
    direct = JsonLinesFormat(fast=fast, **mapping).parse(batch)  # type: ignore[arg-type]
    monkeypatch.setattr(jsonlines, "_struct_path", lambda dtype, path: None)
    as_text = JsonLinesFormat(fast=fast, **mapping).parse(batch)  # type: ignore[arg-type]
    assert_frame_equal(direct.events, as_text.events, check_exact=True)
    assert_frame_equal(direct.rejects, as_text.rejects, check_exact=True)
    assert direct.notes == as_text.notes
    assert direct.events.height > 300
    assert set(direct.events.get_column("user_agent")) >= {"curl/8", None, "[x]", 'a"b', "é"}
    assert set(direct.events.get_column("host")) >= {"example.com", "1", None, "hé"}
    assert direct.events.get_column("meta").drop_nulls().to_list() == ['{"x":[1]}']


def test_epoch_times_read_as_the_capturing_regex_reads_them() -> None:
    """``msec_to_datetime`` checks its shape without captures and cuts at the dot: the same
    times as reading seconds and up to six fraction digits with one capturing regex (of ASCII
    digits: ``\\d`` also matched other scripts' digits, and a fraction of them failed the whole
    chunk)."""
    from meterlog.formats.times import msec_to_datetime

    def by_captures(text: pl.Expr) -> pl.Expr:
        pieces = text.str.strip_chars().str.extract_groups(
            r"^(?P<s>[0-9]{1,19})(?:\.(?P<f>[0-9]{1,6})[0-9]*)?$"
        )
        digits, fraction_digits = pieces.struct.field("s"), pieces.struct.field("f")
        value, width = digits.cast(pl.Int64, strict=False), digits.str.len_bytes()
        fraction = fraction_digits.fill_null("").str.pad_end(6, "0").cast(pl.Int64)
        whole = fraction_digits.is_null()
        micros = (
            pl.when(width <= 12)
            .then(value * 1_000_000 + fraction)
            .when(whole & (width == 13))
            .then(value * 1_000)
            .when(whole & (width == 16))
            .then(value)
            .when(whole & (width == 19))
            .then(value // 1_000)
            .otherwise(None)
        )
        return micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")

    rnd = random.Random(15)
    pieces = ["1", "7", "0", "17916225361234", ".", ".5", "1234567", " ", "-", "e3", "٣", "x", ""]
    texts = ["1791622536.123", "1791622536123", "1791622536123456", "1791622536123456789", "1."]
    texts += ["".join(rnd.choice(pieces) for _ in range(rnd.randrange(5))) for _ in range(3_000)]
    texts += [str(rnd.randrange(10 ** rnd.randrange(1, 21))) for _ in range(1_000)]
    frame = pl.DataFrame({"t": texts})
    got = frame.select(msec_to_datetime(pl.col("t"))).to_series()
    expected = frame.select(by_captures(pl.col("t"))).to_series()
    assert got.equals(expected, check_names=False)
    assert got.null_count() < len(texts) - 1_000
    other_digits = frame.get_column("t").str.contains("٣")
    assert got.filter(other_digits).is_null().all()
    assert frame.filter(pl.col("t").str.contains(r"\.[0-9]*٣")).height > 0  # read, as null


def test_an_epoch_time_with_other_digits_is_a_bad_timestamp_not_a_failure() -> None:
    """``"1791622536.٣"``: another script's digit in the fraction failed the whole chunk with a
    Polars error; it is a bad timestamp of its own line."""
    lines = generated(300, 16)
    lines[7] = '{"time":"1791622536.\u0663","status":200}'
    lines[8] = '{"time":"1791622536.5","status":200}'
    assert both_ways(lines)
    result = JsonLinesFormat().parse(split_lines("\n".join(lines).encode(), 0, 1).lines)
    assert result.rejects.select("source_line", "reason").rows() == [(8, "bad_timestamp")]
