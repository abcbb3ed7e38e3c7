"""JSON lines through Arrow's JSON reader, against meterlog's JSON-lines parser (the trial that
led to the parser's fast path; ``meterlog`` is the parser as it is, fast path included, and
``meterlog precise path`` the parser without it).

usage: python bench/json_reader.py ACCESS_LOG.jsonl [MAX_LINES] [--runs N]   (prints JSON)

The file (generated JSON lines, :mod:`bench.generate`) is cut into chunks of 16 MiB of whole
lines, as ``meterlog ingest`` cuts JSON lines, and each chunk's lines are parsed into events and
rejects by:

* ``meterlog``: :class:`meterlog.formats.jsonlines.JsonLinesFormat` as it is (validate and
  normalise each line with ``json_path_match``, then ``json_decode`` with an inferred schema);
* ``arrow``: the same class with its decoding step replaced by ``pyarrow.json.read_json`` on the
  chunk's bytes with an explicit schema (the generated keys and their JSON types; a key not in
  it is an error), falling back to meterlog's own decoding for any chunk Arrow refuses or whose
  row count differs from its line count. Everything after decoding (times, numbers, request
  split, rejects) is meterlog's;
* ``arrow after shape check``: as ``arrow``, but lines that are not ``{...}`` (meterlog's own
  first check) are rejected first and only the others handed to Arrow, so a line cut short does
  not send its whole chunk to the fallback.

Each is timed over all chunks (wall and CPU seconds, median of ``--runs``) on the file as
generated (about one line in 10,000 cut short) and on its clean lines only, and its events and
rejects are compared with meterlog's. Decoding alone (``read_json`` of a chunk's bytes against
meterlog's validate-and-decode step) is timed the same way on the clean lines. Finally, small
chunks with one odd line each (a duplicate key, a big integer, an invalid line, ...) show where
the two readers differ and what the fallback makes of it.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.json as pa_json

from meterlog.formats.base import ParseResult
from meterlog.formats.jsonlines import JsonLinesFormat
from meterlog.sources import split_lines

CHUNK_BYTES = 16 * 1024 * 1024

#: The keys of bench/generate.py's JSON lines, in their order, with their JSON types.
SCHEMA = pa.schema(
    [
        ("time_iso8601", pa.string()),
        ("remote_addr", pa.string()),
        ("remote_user", pa.string()),
        ("request", pa.string()),
        ("status", pa.int64()),
        ("body_bytes_sent", pa.int64()),
        ("request_time", pa.float64()),
        ("http_referer", pa.string()),
        ("http_user_agent", pa.string()),
    ]
)
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="error")


def arrow_decode(data: bytes) -> pl.DataFrame:
    """Arrow's JSON reader over ``data`` (one object per line), as one text column per key (the
    form meterlog's decoding step gives). Raises ``pa.ArrowInvalid`` when Arrow refuses it."""
    table = pa_json.read_json(io.BytesIO(data), parse_options=_PARSE_OPTIONS)
    return pl.from_arrow(table).select(pl.all().cast(pl.String))  # type: ignore[union-attr]  # a Table gives a DataFrame


class ArrowJsonLines(JsonLinesFormat):
    """meterlog's JSON-lines parser with Arrow's reader as the decoding step."""

    def __init__(self, shape_check: bool = False) -> None:
        super().__init__(fast=False)  # its fallback is the precise path
        self.shape_check = shape_check
        self.chunks = 0
        self.fallbacks = 0
        self.reasons: list[str] = []

    def _decode(self, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        self.chunks += 1
        bad = pl.DataFrame(
            schema={
                "source_offset": pl.Int64,
                "source_line": pl.Int64,
                "reason": pl.String,
                "line": pl.String,
            }
        )
        objects = lines
        if self.shape_check:
            text = pl.col("line").str.strip_chars()
            shaped = text.str.starts_with("{") & text.str.ends_with("}")
            objects = lines.filter(shaped)
            bad = lines.filter(~shaped).select(
                "source_offset", "source_line", pl.lit("bad_json").alias("reason"), "line"
            )
        data = objects.get_column("line").str.join("\n").item().encode()
        try:
            decoded = arrow_decode(data)
        except pa.ArrowInvalid as error:
            self.fallbacks += 1
            self.reasons.append(str(error).split(" in row")[0])
            return super()._decode(lines)
        if decoded.height != objects.height:
            self.fallbacks += 1
            self.reasons.append(f"{decoded.height} rows from {objects.height} lines")
            return super()._decode(lines)
        # the parser reads a line's own JSON text again where a neighbour changed its numbers
        return bad, objects.with_columns(pl.col("line").str.strip_chars().alias("__json")), decoded


def chunks_of(data: bytes, size: int = CHUNK_BYTES) -> list[tuple[int, bytes]]:
    """``data`` cut into pieces of about ``size`` bytes ending at a line end."""
    pieces = []
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + size) + 1 if start + size < len(data) else len(data)
        if end <= start:
            end = data.index(b"\n", start + size) + 1
        pieces.append((start, data[start:end]))
        start = end
    return pieces


def batches(data: bytes) -> list[tuple[bytes, pl.DataFrame]]:
    """Each chunk's bytes and its frame of lines (as ``meterlog ingest`` makes it)."""
    out = []
    line = 1
    for start, chunk in chunks_of(data):
        batch = split_lines(chunk, start, line)
        out.append((chunk, batch.lines))
        line += chunk.count(b"\n")
    return out


def parse_all(fmt: JsonLinesFormat, chunks: list[tuple[bytes, pl.DataFrame]]) -> ParseResult:
    results = [fmt.parse(lines) for _, lines in chunks]
    return ParseResult(
        events=pl.concat([r.events for r in results], how="diagonal_relaxed"),
        rejects=pl.concat([r.rejects for r in results]),
    )


def timed(call: Callable[[], Any], runs: int) -> tuple[dict[str, float], Any]:
    walls, cpus = [], []
    result = None
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}, result


def same(a: ParseResult, b: ParseResult) -> bool:
    return a.events.equals(b.events) and a.rejects.equals(b.rejects)


CLEAN = (
    '{"time_iso8601":"2026-10-01T12:00:00+00:00","remote_addr":"203.0.113.9","remote_user":"u1",'
    '"request":"GET /api/v1/items/1?page=2 HTTP/1.1","status":200,"body_bytes_sent":512,'
    '"request_time":0.034,"http_referer":"-","http_user_agent":"curl/8.5.0"}'
)

#: One odd line each, placed among clean ones.
ODD_LINES = {
    "duplicate key": CLEAN.replace('"status":200', '"status":200,"status":404'),
    "integer beyond 64 bits": CLEAN.replace(
        '"body_bytes_sent":512', '"body_bytes_sent":123456789012345678901234'
    ),
    "-0 as status": CLEAN.replace('"status":200', '"status":-0'),
    "status as text": CLEAN.replace('"status":200', '"status":"200"'),
    "status as 200.0": CLEAN.replace('"status":200', '"status":200.0'),
    "lone surrogate": CLEAN.replace('"u1"', '"\\ud800"'),
    "line cut short": CLEAN[:40],
    "invalid JSON between braces": CLEAN.replace('"status":200', '"status":200,,'),
    "a JSON array": "[1,2,3]",
    "a key not in the schema": CLEAN.replace("}", ',"upstream":"10.0.0.1:80"}'),
    "nested value": CLEAN.replace('"u1"', '{"id":1}'),
    "key missing": CLEAN.replace('"remote_user":"u1",', ""),
    "null value": CLEAN.replace('"u1"', "null"),
    "empty line": "",
    'escapes (\\u00e9, \\")': CLEAN.replace('"u1"', '"\\u00e9\\"x"'),
    "leading spaces": "   " + CLEAN,
}


def differences() -> list[dict[str, object]]:
    """Each odd line among 20 clean lines, through both parsers."""
    rows = []
    for name, odd in ODD_LINES.items():
        data = ("\n".join([CLEAN] * 10 + [odd] + [CLEAN] * 10) + "\n").encode()
        lines = split_lines(data, 0, 1).lines
        meter = JsonLinesFormat().parse(lines)
        arrow = ArrowJsonLines()
        try:
            direct = arrow_decode(data)
            direct_outcome = f"{direct.height} rows"
        except pa.ArrowInvalid as error:
            direct_outcome = "refused: " + str(error).split(" in row")[0].removeprefix(
                "JSON parse error: "
            )
        result = arrow.parse(lines)
        rows.append(
            {
                "case": name,
                "meterlog": f"{meter.events.height} events, {meter.rejects.height} rejected",
                "arrow_reader": direct_outcome,
                "fell_back": arrow.fallbacks > 0,
                "same_result": same(meter, result),
            }
        )
    return rows


VARIANTS: dict[str, Callable[[], JsonLinesFormat]] = {
    "meterlog": JsonLinesFormat,
    "meterlog precise path": lambda: JsonLinesFormat(fast=False),
    "arrow": ArrowJsonLines,
    "arrow after shape check": lambda: ArrowJsonLines(shape_check=True),
}


def compare_variants(chunks: list[tuple[bytes, pl.DataFrame]], runs: int) -> dict[str, Any]:
    """Each variant over ``chunks``: times, rates, counts, fallbacks, and whether its events and
    rejects equal meterlog's."""
    count = sum(lines.height for _, lines in chunks)
    variants: dict[str, Any] = {}
    reference: ParseResult | None = None
    for name, make in VARIANTS.items():
        formats: list[JsonLinesFormat] = []

        def run(
            make: Callable[[], JsonLinesFormat] = make, formats: list[JsonLinesFormat] = formats
        ) -> ParseResult:
            fmt = make()
            formats.append(fmt)
            return parse_all(fmt, chunks)

        timing, result = timed(run, runs)
        reference = reference or result
        last = formats[-1]
        variants[name] = {
            **timing,
            "lines_per_s": count / timing["wall"],
            "cpu_us_per_line": timing["cpu"] / count * 1e6,
            "events": result.events.height,
            "rejects": result.rejects.height,
            "same_as_meterlog": same(reference, result),
            "chunks": len(chunks),
            "fallbacks": getattr(last, "fallbacks", None),
            "fallback_reasons": sorted(set(getattr(last, "reasons", []))),
        }
    return {"lines": count, "variants": variants}


def decode_only(chunks: list[tuple[bytes, pl.DataFrame]], runs: int) -> dict[str, Any]:
    """Decoding alone: Arrow's reader on each chunk's bytes against meterlog's validate-and-
    decode step on its lines."""
    count = sum(lines.height for _, lines in chunks)
    arrow, _ = timed(lambda: [arrow_decode(chunk) for chunk, _ in chunks], runs)
    meter, _ = timed(lambda: [JsonLinesFormat()._decode(lines) for _, lines in chunks], runs)
    return {
        "lines": count,
        "arrow read_json": {**arrow, "lines_per_s": count / arrow["wall"]},
        "meterlog validate + decode": {**meter, "lines_per_s": count / meter["wall"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("max_lines", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    raw = Path(args.path).read_bytes()
    cut = 0
    for _ in range(args.max_lines):
        found = raw.find(b"\n", cut)
        if found < 0:
            cut = len(raw)
            break
        cut = found + 1
    raw = raw[:cut]
    lines_all = raw.splitlines(keepends=True)
    clean = b"".join(line for line in lines_all if line.rstrip().endswith(b"}"))
    out: dict[str, object] = {"path": Path(args.path).name, "chunk_bytes": CHUNK_BYTES}
    for label, data in (("generated", raw), ("clean", clean)):
        chunks = batches(data)
        out[label] = {"bytes": len(data), **compare_variants(chunks, args.runs)}
        if label == "clean":
            out["decode_only"] = decode_only(chunks, args.runs)
    out["differences"] = differences()
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
