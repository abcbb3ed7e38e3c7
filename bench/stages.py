"""Where ingest time goes: one source ingested chunk by chunk on a single thread, with the CPU
time of each stage (and of each Polars step inside the parser) measured.

usage: python bench/stages.py ACCESS_LOG [FORMAT] [MAX_LINES]   (prints JSON)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import polars as pl

from meterlog.formats import builtin_format
from meterlog.ingest import IngestOptions
from meterlog.ingest.pipeline import _chunk_bytes, _plan_chunk, _rejects_frame
from meterlog.sources import DEFAULT_MAX_LINE_BYTES, InputFile, LineReader, split_lines
from meterlog.store import Progress, Store

spent: Counter[str] = Counter()


def timed(name: str, call: Callable[..., Any], *args: Any) -> Any:
    started = time.process_time()
    try:
        return call(*args)
    finally:
        spent[name] += time.process_time() - started


def watch_polars_steps() -> None:
    """Charge each DataFrame.with_columns/filter/select to the meterlog function calling it."""
    for method in ("with_columns", "filter", "select"):
        original = getattr(pl.DataFrame, method)

        def wrapper(self: pl.DataFrame, *a: Any, _o: Any = original, **k: Any) -> Any:
            caller = traceback.extract_stack(limit=2)[0]
            started = time.process_time()
            try:
                return _o(self, *a, **k)
            finally:
                where = f"{caller.name} ({caller.filename.rsplit('/', 2)[-1]}:{caller.lineno})"
                spent["  step " + where] += time.process_time() - started

        setattr(pl.DataFrame, method, wrapper)


def main(path: str, log_format_name: str = "combined", max_lines: int = 1_000_000) -> None:
    log_format = builtin_format(log_format_name)
    watch_polars_steps()
    lines = 0
    run_at = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder, LineReader(InputFile(path)) as reader:
        store = Store(folder)
        slice_bytes = 8 * 1024 * 1024 if log_format.lines_independent else 0
        chunks = reader.chunks(_chunk_bytes(IngestOptions(), log_format))
        while lines < max_lines:
            item = timed("read (and decompress)", next, chunks, None)
            if item is None:
                break
            start, data = item
            plan = timed("find lines, plan slices", _plan_chunk, start, data, slice_bytes)
            events, rejects = [], []
            view = memoryview(data)
            for (begin, end, before), ends in zip(plan.slices, plan.slice_ends, strict=True):
                batch = timed(
                    "split lines, check UTF-8",
                    split_lines,
                    view[begin:end],
                    start + begin,
                    lines + before + 1,
                    DEFAULT_MAX_LINE_BYTES,
                    ends - begin,
                )
                result = timed("parse", log_format.parse, batch.lines)
                rejects.append(
                    timed(
                        "rejects",
                        _rejects_frame,
                        batch,
                        result.rejects,
                        "x" * 32,
                        path,
                        run_at,
                    )
                )
                events.append(result.events)
            frame = pl.concat(events, how="diagonal_relaxed").with_columns(
                pl.lit("x" * 32).alias("source_id")
            )
            end_progress = Progress(start + len(data), lines + plan.lines)
            timed("commit (Parquet + Delta)", store.commit_events, frame, "x" * 32, end_progress)
            lines += plan.lines
    total = sum(value for name, value in spent.items() if not name.startswith(" "))
    print(
        json.dumps(
            {
                "lines": lines,
                "cpu_seconds": total,
                "stages": {
                    name: {"seconds": value, "us_per_line": value / max(lines, 1) * 1e6}
                    for name, value in spent.most_common()
                    if value / max(total, 1e-9) >= 0.005
                },
            }
        )
    )


if __name__ == "__main__":
    main(
        sys.argv[1],
        sys.argv[2] if len(sys.argv) > 2 else "combined",
        int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000,
    )
