"""The fast paths give the same results as the general ones: the nginx regex for plain lines
against the general regex with unescaping, the request split without a lazy regex, parsing in
slices on threads against parsing whole chunks, JSON decoded in slices; the read-ahead thread;
maintenance and compaction keep rows, progress and (within the retention) older versions."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meterlog.formats.jsonlines as jsonlines
import meterlog.ingest.pipeline as ingest_module
from meterlog.formats import JsonLinesFormat, NginxLogFormat
from meterlog.formats.base import split_request, with_request_split
from meterlog.formats.nginx import COMBINED, MAIN
from meterlog.formats.times import TIME_LOCAL_FORMAT, time_local_to_datetime
from meterlog.ingest import IngestOptions, ingest
from meterlog.sources import line_ends, read_ahead
from meterlog.store import AUTO_COMPACT_FILES, Store

REQUEST_PIECES = [
    "GET", "POST", "get", "M-SEARCH", " ", "  ", "/", "/a", "/ü", "?", "?q=1", "&", "HTTP/1.1",
    "HTTP/2.0", "HTTP/", "x", "\t", "\r", "-", "*", "%20",
]  # fmt: skip
FIELD_PIECES = [
    "-", "", " ", "a", "ü", "\\x22", '\\"', "\\\\", "\\x5C", "\\xZZ", "\\xc3\\xbc", "\\xff", '"',
    "]", "[", "curl/8", "Mozilla/5.0 (X11)", "\\n", "\t",
]  # fmt: skip
TIMES = [
    "10/Oct/2026:13:55:36 +0000", "10/Oct/2026:13:55:36 -0330", "31/Feb/2026:00:00:00 +0000",
    "10/Foo/2026:13:55:36 +0000", "10/Oct/2026:25:00:00 +0000", "bad", "",
]  # fmt: skip


def text_from(pieces: list[str], max_size: int = 8) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), max_size=max_size).map("".join)


requests = st.one_of(
    text_from(REQUEST_PIECES),
    st.builds(
        lambda m, p, q, v: f"{m} {p}{q} {v}",
        st.sampled_from(["GET", "POST", "PUT", "get", "GE T"]),
        text_from(["/", "/v1", "/ü", "/%20", "/a b", "x"], 4),
        text_from(["", "?", "?a=1", "&b", "?x?y"], 2),
        st.sampled_from(["HTTP/1.1", "HTTP/2.0", "HTTP/", "http/1.0", "X"]),
    ),
)


def combined_lines() -> st.SearchStrategy[str]:
    return st.builds(
        lambda addr, user, time, request, status, size, referer, agent: (
            f'{addr} - {user} [{time}] "{request}" {status} {size} "{referer}" "{agent}"'
        ),
        st.sampled_from(["10.0.0.1", "2001:db8::1", "-", "a\\b"]),
        st.sampled_from(["-", "alice", "", "b\\x22b", "ü"]),
        st.sampled_from(TIMES),
        requests,
        st.sampled_from(["200", "404", "999", "-", "abc", "1000"]),
        st.sampled_from(["0", "512", "-", "x", "99999999999999999999"]),
        text_from(FIELD_PIECES, 4),
        text_from(FIELD_PIECES, 4),
    )


def frame(lines: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "line": lines,
            "source_offset": list(range(len(lines))),
            "source_line": list(range(1, len(lines) + 1)),
        }
    )


def general(log_format: NginxLogFormat) -> NginxLogFormat:
    """The same format without its fast regex: every line takes the general path."""
    slow = NginxLogFormat(log_format.format_string, log_format.name, log_format.escape)
    slow._fast_regex = None
    return slow


REGEX = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(REGEX, max_examples=30)
@given(st.lists(combined_lines(), min_size=1, max_size=40))
def test_fast_nginx_regex_parses_like_the_general_path(lines: list[str]) -> None:
    check_fast_regex(lines)


@pytest.mark.slow
@settings(REGEX, max_examples=150)
@given(st.lists(combined_lines(), min_size=1, max_size=40))
def test_fast_nginx_regex_parses_like_the_general_path_many_examples(lines: list[str]) -> None:
    check_fast_regex(lines)


def check_fast_regex(lines: list[str]) -> None:
    for format_string in (COMBINED, MAIN + ""):
        fast = NginxLogFormat(format_string, "combined")
        expected = general(fast).parse(frame(lines))
        got = fast.parse(frame(lines))
        assert got.events.equals(expected.events)
        assert got.rejects.equals(expected.rejects)


@pytest.mark.parametrize(
    ("format_string", "line"),
    [
        ('$remote_addr [$time_local] "$request_uri" $status', '1.2.3.4 [10/Oct/2026:00:00:00 +0000] "/a?b" 200'),
        ('"$time_local" $request_method $uri?$args $status $body_bytes_sent $http_x_key', '"10/Oct/2026:00:00:00 +0000" GET /x?a=1 200 5 k\\x41'),
        ("$msec $status $body_bytes_sent $request_time", "1785542400.123 200 5 0.010"),
    ],
)  # fmt: skip
def test_fast_regex_for_other_formats(format_string: str, line: str) -> None:
    fast = NginxLogFormat(format_string, "custom")
    lines = frame([line, line.replace("200", "abc"), "garbage"])
    expected = general(fast).parse(lines)
    got = fast.parse(lines)
    assert got.events.equals(expected.events)
    assert got.rejects.equals(expected.rejects)
    assert got.events.height == 1


TIME_PIECES = [
    "0", "1", "2", "3", "5", "9", "10", "23", "24", "59", "60", "99", "2026", "-026", "12026", "/",
    ":", " ", "  ", "+", "-", "Oct", "oct", "OCT", "Feb", "Foo", "ü", "Z", "\t", ":00",
]  # fmt: skip


def time_local_values() -> st.SearchStrategy[str]:
    offsets = st.builds(
        lambda sign, hours, minutes: f"{sign}{hours:02d}{minutes:02d}",
        st.sampled_from(["+", "-", "", "++", " "]),
        st.integers(0, 99),
        st.integers(0, 99),
    )
    return st.one_of(
        st.builds(
            lambda day, month, year, clock, gap, offset: (
                f"{day}/{month}/{year}:{clock}{gap}{offset}"
            ),
            st.sampled_from(["01", "1", "29", "31", "00", "32"]),
            st.sampled_from(["Oct", "oct", "Feb", "Foo", "Mär"]),
            st.sampled_from(["2026", "2024", "-026", "0000", "9999", "12026"]),
            st.sampled_from(["00:00:00", "23:59:59", "24:00:00", "12:60:00", "00:00:60", "1:2:3"]),
            st.sampled_from([" ", "  ", "", "\t"]),
            st.one_of(offsets, text_from(TIME_PIECES, 3)),
        ),
        text_from(TIME_PIECES, 12),
        st.sampled_from(TIMES),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), time_local_values()), max_size=30))
def test_time_local_parses_like_strptime(values: list[str | None]) -> None:
    texts = pl.Series("t", values, dtype=pl.String)
    expected = texts.str.strptime(pl.Datetime("us", "UTC"), TIME_LOCAL_FORMAT, strict=False)
    parsed = time_local_to_datetime(texts)
    assert parsed.cast(pl.Int64).to_list() == expected.cast(pl.Int64).to_list()  # years < 1 too


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), requests, text_from([*REQUEST_PIECES, "\n"])), max_size=30))
def test_request_split_without_the_lazy_regex(values: list[str | None]) -> None:
    requests_frame = pl.DataFrame({"r": values}, schema={"r": pl.String})
    expected = requests_frame.select(**split_request(pl.col("r")))
    got = with_request_split(requests_frame, "r", "x_").select(
        pl.col(f"x_{name}").alias(name) for name in ("method", "path", "query", "protocol")
    )
    assert got.equals(expected)


def write_combined(path: Path, lines: int) -> Path:
    rows = []
    for i in range(lines):
        agent = "curl/8" if i % 97 else "a \\x22quoted\\x22 agent"
        request = f"GET /v1/items/{i}?p={i % 5} HTTP/1.1" if i % 53 else "\\x16\\x03"
        rows.append(
            f"10.0.{i % 7}.{i % 250} - user{i % 13} [{1 + i // 5000 % 28:02d}/Oct/2026:"
            f'{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} +0200] "{request}" '
            f'{200 + i % 4} {i} "-" "{agent}"'
        )
        if i % 1000 == 999:
            rows.append("not a log line")
    path.write_text("\n".join(rows) + "\n")
    return path


def stored(store: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    opened = Store(store)
    events = opened.scan_events().collect().sort("source_offset")
    rejects = opened.scan_rejects().collect().drop("ingested_at").sort("source_offset")
    return events, rejects


def test_slices_on_threads_store_what_whole_chunks_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = write_combined(tmp_path / "access.log", 20_000)
    whole = tmp_path / "whole"
    monkeypatch.setattr(ingest_module, "SLICE_BYTES", 1 << 30)
    ingest(Store(whole), [str(log)], IngestOptions(threads=1, chunk_bytes=600_000))
    sliced = tmp_path / "sliced"
    monkeypatch.setattr(ingest_module, "SLICE_BYTES", 37_000)
    ingest(Store(sliced), [str(log)], IngestOptions(threads=3, chunk_bytes=600_000))
    (events, rejects), (events2, rejects2) = stored(whole), stored(sliced)
    assert events.height == 20_000 - 20_000 // 53 + 20_000 // 53  # TLS lines are events too
    assert rejects.height == 20
    assert events.equals(events2)
    assert rejects.equals(rejects2)


def test_json_decoded_in_slices_as_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = ["1", "2.5", '"s"', "null"]
    uniform = [
        f'{{"time": "2026-10-10T00:00:{i % 60:02d}Z", "remote_user": "u{i % 9}", '
        f'"status": {200 + i % 3}, "x": {kinds[i % 4]}}}'
        for i in range(3000)
    ]
    mixed = [*uniform, "not json", '{"a": [1, {"b": 2}]}', '{"a": "text"}']
    json_format = JsonLinesFormat()
    calls: list[int] = []
    decode_objects = jsonlines.decode_objects

    def counted(texts: pl.Series) -> pl.DataFrame:
        calls.append(texts.len())
        return decode_objects(texts)

    monkeypatch.setattr(jsonlines, "decode_objects", counted)
    for lines, at_once in ((uniform, False), (mixed, True)):
        monkeypatch.setattr(jsonlines, "_MIN_DECODE_SLICE", 10**9)
        whole = json_format.parse(frame(lines))
        monkeypatch.setattr(jsonlines, "_MIN_DECODE_SLICE", 500)
        monkeypatch.setattr(jsonlines, "_DECODE_THREADS", 4)
        calls.clear()
        sliced = json_format.parse(frame(lines))
        assert bool(calls) == at_once  # slices that disagree: decoded at once instead
        assert sliced.events.equals(whole.events)
        assert sliced.rejects.equals(whole.rejects)


def test_read_ahead_keeps_order_and_raises_where_the_error_was() -> None:
    def items() -> object:
        yield from range(5)
        raise ValueError("damaged")

    got = []
    with pytest.raises(ValueError, match="damaged"):
        for item in read_ahead(iter(items())):  # type: ignore[call-overload]
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_stops_its_thread_when_closed() -> None:
    produced: list[int] = []

    def items() -> object:
        for i in range(10_000):
            produced.append(i)
            yield i

    before = threading.active_count()
    ahead = read_ahead(iter(items()), depth=1)  # type: ignore[call-overload]
    assert next(ahead) == 0
    ahead.close()
    assert threading.active_count() == before
    assert len(produced) <= 3


def test_maintain_keeps_rows_progress_and_versions_within_retention(tmp_path: Path) -> None:
    first = write_combined(tmp_path / "a.log", 3000)
    second = write_combined(tmp_path / "b.log", 4000)
    store = Store(tmp_path / "store")
    ingest(store, [str(first)], IngestOptions(chunk_bytes=20_000, compact=False))
    version = store.version()
    at_version = store.scan_events().select(pl.len()).collect().item()
    ingest(store, [str(second)], IngestOptions(chunk_bytes=20_000, compact=False))
    rows = store.scan_events().select(pl.len()).collect().item()
    progress = {sid: store.progress(sid) for sid in store.sources()["source_id"]}
    kept = {r.table: r for r in store.maintain(timedelta(days=30))}
    assert kept["events"].files_after < kept["events"].files_before
    assert kept["events"].files_deleted == 0  # files of younger versions stay
    assert store.scan_events(version=version).select(pl.len()).collect().item() == at_version
    store.maintain(timedelta(0))
    fresh = Store(tmp_path / "store")
    assert fresh.scan_events().select(pl.len()).collect().item() == rows
    assert {sid: fresh.progress(sid) for sid in progress} == progress
    assert ingest(fresh, [str(first), str(second)], IngestOptions()).parsed == 0


def test_ingest_compacts_crowded_day_partitions(tmp_path: Path) -> None:
    # 600 lines of one UTC day in 2,000-byte chunks: about 30 commits, so more files in that
    # day's partition than AUTO_COMPACT_FILES
    log = write_combined(tmp_path / "access.log", 600)
    store = Store(tmp_path / "store")
    summary = ingest(store, [str(log)], IngestOptions(chunk_bytes=2_000))
    assert log.stat().st_size // 2_000 > AUTO_COMPACT_FILES
    assert summary.compacted_days == 1
    assert max(store.files_per_day().values()) <= AUTO_COMPACT_FILES
    assert store.scan_events().select(pl.len()).collect().item() == summary.parsed


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"\n", b"a", b"bc", b"long line " * 3, b"\r\n"]), min_size=1, max_size=60
    ).map(b"".join),
    st.integers(0, 40),
)
def test_chunk_plan_cuts_at_line_ends(data: bytes, slice_bytes: int) -> None:
    plan = ingest_module._plan_chunk(1000, data, slice_bytes)
    assert plan.lines == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    position = lines_before = 0
    for (begin, end, before), ends in zip(plan.slices, plan.slice_ends, strict=True):
        assert (begin, before) == (position, lines_before)
        assert end == len(data) or data[end - 1 : end] == b"\n"
        if slice_bytes and end < len(data):  # the first line end at or after the slice size
            assert end >= begin + slice_bytes
            assert b"\n" not in data[begin + slice_bytes - 1 : end - 1]
        assert list(ends - begin) == list(line_ends(data[begin:end]))
        position, lines_before = end, before + len(ends)
    assert position == len(data) and lines_before == plan.lines
