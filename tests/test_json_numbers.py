"""JSON lines: one odd number is judged on its own line (issue 10's JSON defects).

Polars decodes a key into one column per chunk, so one ``"status": 200.0`` made the whole
column float and a number beyond 64 bits made it text; every line of the chunk was then
rejected as ``bad_number``. Expected values here come from Python's ``json`` module under the
documented rule: an integer as written, an integral float exactly held by a float (< 2**53),
anything else a bad number of that line alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from meterlog.formats import JsonLinesFormat
from meterlog.ingest import ingest
from meterlog.sources import split_lines
from meterlog.store import Store
from tests.support import cli, events, rejects

LINES = 2_001
ODD_LINE = 1_001  # 1-based
KEYS = {"status": "status", "bytes_sent": "body_bytes_sent", "request_time": "request_time"}


def line(i: int, **odd: str) -> str:
    values = {"status": str(200 + i % 3), "body_bytes_sent": str(i * 7), "request_time": "0.25"}
    values.update(odd)
    return (
        f'{{"time":"2026-10-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z","request":"GET /v1/{i} '
        f'HTTP/1.1","status":{values["status"]},"body_bytes_sent":{values["body_bytes_sent"]},'
        f'"request_time":{values["request_time"]}}}'
    )


def lines_with(key: str, value: str, *, mixed_kinds: bool = False) -> list[str]:
    out = [line(i) for i in range(LINES)]
    out[ODD_LINE - 1] = line(ODD_LINE - 1, **{key: value})
    if mixed_kinds:
        # a key holding text in one line and an object in another: Polars cannot decode the
        # chunk at once, so the per-shape fallback decoding runs
        out[0] = out[0][:-1] + ',"extra":"text"}'
        out[1] = out[1][:-1] + ',"extra":{"nested":1}}'
    return out


def expected_integer(text: str) -> int | None:
    """The rule, by Python's json module."""
    value = json.loads(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return None


def expected(column: str, text: str) -> object:
    if column == "request_time":
        value = float(json.loads(text))
        return value if math.isfinite(value) else None
    value = expected_integer(text)
    if column == "status" and value is not None and not 0 <= value <= 999:
        return None
    return value


CASES = [
    ("status", "200.0"),
    ("status", "-0"),
    ("status", "2e2"),
    ("status", "200.5"),
    ("status", "18446744073709551616"),
    ("status", "-9223372036854775809"),
    ("status", "1000"),
    ("bytes_sent", "1234.0"),
    ("bytes_sent", "-0"),
    ("bytes_sent", "-0.0"),
    ("bytes_sent", "1.5"),
    ("bytes_sent", "99999999999999999999"),
    ("bytes_sent", "9223372036854775807"),
    ("bytes_sent", "1e300"),
    ("request_time", "-0"),
    ("request_time", "18446744073709551616"),
    ("request_time", "3"),
]


def parse(lines: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    result = JsonLinesFormat().parse(split_lines(("\n".join(lines) + "\n").encode(), 0, 1).lines)
    return result.events, result.rejects


@pytest.mark.parametrize("mixed_kinds", [False, True], ids=["fast", "fallback"])
@pytest.mark.parametrize(("column", "text"), CASES)
def test_one_odd_number_is_judged_on_its_own_line(
    column: str, text: str, mixed_kinds: bool
) -> None:
    stored, rejected = parse(lines_with(KEYS[column], text, mixed_kinds=mixed_kinds))
    want = expected(column, text)
    if want is None:
        assert stored.height == LINES - 1
        assert rejected.select("source_line", "reason").rows() == [(ODD_LINE, "bad_number")]
    else:
        assert rejected.height == 0, rejected.rows()
        assert stored.height == LINES
        assert stored.get_column(column)[ODD_LINE - 1] == want
    # every other line keeps its own values
    others = stored.filter(pl.col("source_line") != ODD_LINE)
    good = [i for i in range(LINES) if i != ODD_LINE - 1]
    assert others.get_column("status").to_list() == [200 + i % 3 for i in good]
    assert others.get_column("bytes_sent").to_list() == [i * 7 for i in good]
    assert others.get_column("request_time").to_list() == [0.25] * len(good)


@pytest.mark.parametrize("mixed_kinds", [False, True], ids=["fast", "fallback"])
def test_an_exact_integer_beside_a_fraction_is_not_rounded(mixed_kinds: bool) -> None:
    """A fraction in one line makes the column float; 2**53 + 1 in another keeps its value."""
    lines = lines_with("body_bytes_sent", "1.5", mixed_kinds=mixed_kinds)
    lines[4] = line(4, body_bytes_sent=str(2**53 + 1))
    stored, rejected = parse(lines)
    assert rejected.select("source_line", "reason").rows() == [(ODD_LINE, "bad_number")]
    assert stored.filter(pl.col("source_line") == 5).get_column("bytes_sent").item() == 2**53 + 1


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400"])
def test_numbers_json_does_not_allow_are_rejected_alone(value: str) -> None:
    stored, rejected = parse(lines_with("request_time", value))
    assert stored.height == LINES - 1
    assert rejected.select("source_line", "reason").rows() == [(ODD_LINE, "bad_json")]
    assert stored.get_column("request_time").is_finite().all()


def test_a_text_value_that_is_not_finite_is_a_bad_number() -> None:
    stored, rejected = parse(lines_with("request_time", '"inf"'))
    assert rejected.select("source_line", "reason").rows() == [(ODD_LINE, "bad_number")]
    assert stored.height == LINES - 1


def test_ingest_keeps_every_good_line_of_the_chunk(tmp_path: Path) -> None:
    """A 2,001-line file with one odd line per numeric field: the good lines are stored."""
    log = tmp_path / "api.jsonl"
    lines = [line(i) for i in range(LINES)]
    lines[10] = line(10, status="200.0")
    lines[500] = line(500, body_bytes_sent="99999999999999999999")
    lines[1500] = line(1500, request_time="1.8e308e")  # not a number at all
    lines[1999] = line(1999, status="18446744073709551616")
    log.write_text("\n".join(lines) + "\n")
    store = Store(tmp_path / "store")
    ingest(store, [str(log)])
    assert events(store).height == LINES - 3
    assert rejects(store).select("source_line", "reason").rows() == [
        (501, "bad_number"),
        (1501, "bad_json"),
        (2000, "bad_number"),
    ]
    assert events(store).filter(pl.col("source_line") == 11).get_column("status").item() == 200


def test_cli_ingest_of_a_file_with_one_odd_number(tmp_path: Path) -> None:
    log = tmp_path / "api.jsonl"
    lines = [line(i) for i in range(LINES)]
    lines[ODD_LINE - 1] = line(ODD_LINE - 1, body_bytes_sent="18446744073709551616")
    lines[7] = line(7, status="-0")
    log.write_text("\n".join(lines) + "\n")
    store = str(tmp_path / "store")
    result = cli("ingest", "--store", store, "--format", "json", str(log))
    assert result.exit_code == 0, result.stderr
    assert "lines: 2,001 read, 2,000 stored, 1 rejected" in result.stdout
    assert rejects(store).select("source_line", "reason").rows() == [(ODD_LINE, "bad_number")]
    assert events(store).filter(pl.col("source_line") == 8).get_column("status").item() == 0


@pytest.mark.parametrize("mixed_kinds", [False, True], ids=["fast", "fallback"])
@pytest.mark.parametrize("column", ["status", "bytes_sent", "request_time"])
def test_a_boolean_among_numbers_is_a_bad_number(column: str, mixed_kinds: bool) -> None:
    """Polars reads ``true`` among integers as 1: the line is judged on what it wrote."""
    lines = lines_with(KEYS[column], "true", mixed_kinds=mixed_kinds)
    # written with spaces, and a nested key of the same name holding a boolean elsewhere
    lines[ODD_LINE - 1] = lines[ODD_LINE - 1].replace(
        f'"{KEYS[column]}":true', f'"{KEYS[column]}" : true'
    )
    lines[3] = lines[3][:-1] + f',"upstream":{{"{KEYS[column]}":false}}}}'
    stored, rejected = parse(lines)
    assert rejected.select("source_line", "reason").rows() == [(ODD_LINE, "bad_number")]
    assert stored.height == LINES - 1
    fourth = stored.filter(pl.col("source_line") == 4).row(0, named=True)
    assert (fourth["status"], fourth["bytes_sent"], fourth["request_time"]) == (
        200 + 3 % 3,
        3 * 7,
        0.25,
    )
