"""Cutting chunks into lines: newline positions, UTF-8 checks, over-long lines cut, blank lines
dropped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

#: Lines longer than this are rejected as ``line_too_long`` (nginx lines are a few KiB at most).
DEFAULT_MAX_LINE_BYTES = 64 * 1024


_UTF8_LINE = (
    r"^(?:[\x00-\x7F]|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]"
    r"|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}|\xED[\x80-\x9F][\x80-\xBF]"
    r"|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2})*$"
)


class CutLine(bytes):
    """A line longer than the longest line kept (``max_line_bytes``): its first bytes with a
    newline, and ``size``, the bytes the whole line spans in the source."""

    size: int

    def __new__(cls, head: bytes, size: int) -> CutLine:
        line = super().__new__(cls, head)
        line.size = size
        return line


def span_of(data: bytes | bytearray) -> int:
    """The bytes of the source a chunk from :meth:`LineReader.chunks` covers."""
    return data.size if isinstance(data, CutLine) else len(data)


@dataclass
class LineBatch:
    """Lines of a chunk: ``lines`` (line, source_offset, source_line) of valid UTF-8 text and
    the positions of the lines that are not (``invalid``: source_offset, source_line, raw)."""

    lines: pl.DataFrame
    invalid: pl.DataFrame
    too_long: pl.DataFrame


_NEWLINE_SCAN_BLOCK = 1 << 20


def line_ends(data: bytes | bytearray | memoryview) -> np.ndarray:
    """The offset just past each line of ``data``: after each newline, and the end of ``data``
    when its last line has no newline."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    # a block at a time: the comparison's temporary array stays small and in cache
    ends = np.concatenate(
        [np.empty(0, dtype=np.int64)]
        + [
            np.flatnonzero(buffer[begin : begin + _NEWLINE_SCAN_BLOCK] == 10) + (begin + 1)
            for begin in range(0, len(buffer), _NEWLINE_SCAN_BLOCK)
        ]
    )
    if len(ends) == 0 or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    return ends


def split_lines(
    data: bytes,
    start_offset: int,
    first_line_number: int,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ends: np.ndarray | None = None,
) -> LineBatch:
    """Cut ``data`` (complete lines) into a frame of lines without copying line by line.

    Line boundaries are found with NumPy and the lines are an Arrow binary array over the same
    buffer. UTF-8 is validated for the whole chunk at once; only a chunk that fails is checked
    line by line (with one vectorised regular expression over binary values).
    """
    if ends is None:
        ends = line_ends(data)
    starts = np.concatenate(([0], ends[:-1])).astype(np.int64)
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    numbers = np.arange(first_line_number, first_line_number + len(ends), dtype=np.int64)
    positions = pl.DataFrame(
        {"source_offset": starts + start_offset, "source_line": numbers, "length": ends - starts}
    )
    try:
        text = pc.cast(binary, pa.large_string())
        valid_mask = None
    except pa.ArrowInvalid:
        valid_mask = pc.match_substring_regex(binary, _UTF8_LINE).to_numpy(zero_copy_only=False)
        text = pc.cast(
            pc.if_else(valid_mask, binary, pa.scalar(b"", pa.large_binary())), pa.large_string()
        )
    frame = positions.with_columns(line=pl.from_arrow(text).str.strip_chars_end("\r\n"))  # type: ignore[union-attr]
    invalid = (
        frame.clear()
        .select("source_offset", "source_line")
        .with_columns(raw=pl.lit(None, pl.Binary))
    )
    if valid_mask is not None:
        bad = ~valid_mask
        invalid = (
            positions.filter(pl.Series(bad))
            .select("source_offset", "source_line")
            .with_columns(raw=pl.Series(binary.filter(pa.array(bad)).to_pylist(), dtype=pl.Binary))
        )
        frame = frame.filter(pl.Series(valid_mask))
    if len(ends) and int((ends - starts).max()) > max_line_bytes:
        too_long_mask = pl.col("length") > max_line_bytes
        too_long = frame.filter(too_long_mask).select("source_offset", "source_line", "line")
        frame = frame.filter(~too_long_mask)
    else:  # the usual case: no line to take out
        too_long = frame.clear().select("source_offset", "source_line", "line")
    return LineBatch(lines=frame.drop("length"), invalid=invalid, too_long=too_long)


def drop_blank_lines(lines: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``lines`` (a :class:`LineBatch`'s) without the empty ones, and how many there were."""
    blank = lines.select((pl.col("line").str.len_bytes() == 0).sum()).item()
    if not blank:
        return lines, 0
    return lines.filter(pl.col("line").str.len_bytes() > 0), int(blank)
