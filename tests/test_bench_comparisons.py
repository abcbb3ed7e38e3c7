"""The benchmark's comparisons compare like with like: DuckDB's Parquet holds exactly meterlog's
events and rejects of the same file (nginx lines and JSON lines), and the Arrow JSON-reader trial parses exactly as meterlog
does (falling back to meterlog's decoding for a chunk Arrow refuses)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from bench.generate import write_log
from meterlog.ingest import IngestOptions, ingest
from meterlog.sources import split_lines
from meterlog.store import Store

ODD_COMBINED = [
    # a user agent with nginx's escaped quote, a request without query, a cut line, bytes "-"
    '198.51.100.7 - alice [05/Aug/2026:10:00:00 +0200] "GET /a/b HTTP/1.1" 304 - "-" '
    '"Mozilla/5.0 (compatible; \\x22Acme\\x22 Monitor/1.0)"',
    '198.51.100.8 - - [05/Aug/2026:10:00:01 +0000] "POST /api/v1/orders?id=7&x=1 HTTP/2.0" 201 '
    '12 "https://example.com/" "curl/8.5.0"',
    "198.51.100.9 - - [05/Aug/2026:10:00:0",
    "not a log line at all",
]


def test_duckdb_parquet_holds_meterlogs_events_and_rejects(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    from bench.duckdb_parquet import compare, convert

    log = write_log(tmp_path / "access.log", 3_000, "combined", seed=7)
    with open(log, "a", encoding="utf-8") as out:
        out.write("\n".join(ODD_COMBINED) + "\n")
    store = tmp_path / "store"
    ingest(Store(str(store)), [str(log)], IngestOptions())
    counts = convert(str(log), str(tmp_path / "out.parquet"))
    result = compare(str(tmp_path / "out.parquet"), str(store))

    assert counts["rows"] == 3_000 + len(ODD_COMBINED)
    assert result["same_rows"] is True
    assert result["same_bad_lines"] is True
    assert result["duckdb_bad_lines"] == result["rejects"] >= 2  # the two odd bad lines at least
    assert result["events"] + result["rejects"] == counts["rows"]
    parquet = pl.read_parquet(tmp_path / "out.parquet")
    assert parquet.schema["ts"] == pl.Datetime("us", "UTC")
    assert parquet.schema["status"] == pl.Int16
    assert parquet.schema["bytes_sent"] == pl.Int64
    offset = parquet.filter(pl.col("remote_user") == "alice")
    assert offset.get_column("ts").dt.hour().to_list() == [8]  # +0200 taken into account


def test_duckdb_comparison_notices_a_difference(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    from bench.duckdb_parquet import compare, convert

    log = write_log(tmp_path / "access.log", 500, "combined", seed=3)
    store = tmp_path / "store"
    ingest(Store(str(store)), [str(log)], IngestOptions())
    with open(log, "a", encoding="utf-8") as out:  # a line DuckDB sees and the store does not
        out.write(ODD_COMBINED[1] + "\n")
    convert(str(log), str(tmp_path / "out.parquet"))
    assert compare(str(tmp_path / "out.parquet"), str(store))["same_rows"] is False


def test_duckdb_read_json_parquet_holds_meterlogs_events(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    from bench.duckdb_parquet import compare_json, convert_json

    log = write_log(tmp_path / "access.jsonl", 3_000, "json", seed=7)
    with open(log, "a", encoding="utf-8") as out:
        out.write('{"time_iso8601":"2026-08-05T10:00:00+02:00","remote_add\n')
    store = tmp_path / "store"
    ingest(Store(str(store)), [str(log)], IngestOptions())
    counts = convert_json(str(log), str(tmp_path / "out.parquet"))
    result = compare_json(str(tmp_path / "out.parquet"), str(store))

    assert counts["rows"] == 3_001
    assert result["same_rows"] is True
    assert result["same_bad_lines"] is True
    assert result["duckdb_bad_lines"] == result["rejects"] >= 1
    parquet = pl.read_parquet(tmp_path / "out.parquet")
    assert parquet.schema["ts"] == pl.Datetime("us", "UTC")
    assert parquet.schema["status"] == pl.Int16
    assert parquet.schema["request_time"] == pl.Float64


def _lines(text: str) -> pl.DataFrame:
    return split_lines(text.encode(), 0, 1).lines


def test_arrow_json_trial_parses_as_meterlog_does(tmp_path: Path) -> None:
    from bench.json_reader import CLEAN, ArrowJsonLines
    from meterlog.formats.jsonlines import JsonLinesFormat

    log = write_log(tmp_path / "access.jsonl", 2_000, "json", seed=11)
    text = "".join(
        line for line in log.read_text().splitlines(keepends=True) if line.rstrip().endswith("}")
    )
    clean = _lines(text)
    arrow = ArrowJsonLines()
    expected = JsonLinesFormat().parse(clean)
    got = arrow.parse(clean)
    assert arrow.fallbacks == 0
    assert got.events.equals(expected.events)
    assert expected.events.height == clean.height

    # a line Arrow refuses sends the chunk to meterlog's decoding: the same result
    damaged = _lines(text + CLEAN[:40] + "\n")
    arrow = ArrowJsonLines()
    expected = JsonLinesFormat().parse(damaged)
    got = arrow.parse(damaged)
    assert arrow.fallbacks == 1
    assert got.events.equals(expected.events)
    assert got.rejects.equals(expected.rejects)
    assert expected.rejects.height == 1

    # with the shape check first, the cut line is rejected before Arrow sees the chunk
    shaped = ArrowJsonLines(shape_check=True)
    got = shaped.parse(damaged)
    assert shaped.fallbacks == 0
    assert got.events.equals(expected.events)
    assert got.rejects.equals(expected.rejects)
