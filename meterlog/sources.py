"""Log sources: finding input files, decompressing them, fingerprinting and cutting into lines.

A source is identified by its content, not its name: the SHA-256 of the complete lines in its
first :data:`FINGERPRINT_BYTES` bytes, after decompression. Lines never change once written, so
the identity survives renames, logrotate's gzip and growth; a byte-identical copy adds nothing,
while a file that differs within its first 4 KiB is a source of its own.
"""

from __future__ import annotations

import bz2
import fnmatch
import glob
import gzip
import hashlib
import os
import queue
import stat
import sys
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from meterlog.errors import InputError

try:  # ISA-L's gzip decompresses two to three times faster than zlib's; zlib is the fallback
    from isal.igzip import IGzipFile as _IsalGzipFile
    from isal.isal_zlib import error as _GzipError

    class _GzipFile(_IsalGzipFile):
        """ISA-L gzip handing out at most 128 KiB per ``read1``: it decompresses everything
        asked for in one go, so bigger reads would lose more good data before damage."""

        def read1(self, size: int = -1) -> bytes:
            return super().read1(_GZIP_BLOCK if size < 0 else min(size, _GZIP_BLOCK))

except ImportError:  # pragma: no cover - isal is a dependency, the fallback is for odd platforms
    _GzipFile = gzip.GzipFile  # type: ignore[misc,assignment]
    _GzipError = zlib.error  # type: ignore[misc,assignment]

_GZIP_BLOCK = 128 * 1024

FINGERPRINT_BYTES = 4096
#: Bytes read per chunk (complete lines are parsed and committed chunk by chunk). Peak memory
#: grows with it (a few chunks are in flight at once); 32 MiB keeps a run well under 1 GiB.
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
#: Lines longer than this are rejected as ``line_too_long`` (nginx lines are a few KiB at most).
DEFAULT_MAX_LINE_BYTES = 64 * 1024
#: File names read from directories unless ``--include`` says otherwise (``*log-*``: names
#: logrotate's ``dateext`` gives, such as ``access.log-20261001.gz``).
DEFAULT_INCLUDE = (
    "*log",
    "*logs",
    "*log.*",
    "*logs.*",
    "*log-*",
    "*logs-*",
    "*.jsonl",
    "*.jsonl.*",
    "*.ndjson",
    "*.ndjson.*",
)
#: File names skipped in directories unless ``--exclude`` says otherwise.
DEFAULT_EXCLUDE = ("*error*",)

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\x28\xb5\x2f\xfd": "zstd"}
_UTF8_LINE = (
    r"^(?:[\x00-\x7F]|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]"
    r"|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}|\xED[\x80-\x9F][\x80-\xBF]"
    r"|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2})*$"
)
STDIN = "-"


@dataclass(frozen=True)
class InputFile:
    """A path to read (``-`` is standard input). ``name``, when given, is the path shown and
    recorded for it instead (``watch`` reads a file through its open descriptor,
    ``/proc/self/fd/N``, so that a file deleted after it was seen can still be read to its end).
    """

    path: str
    name: str | None = None

    @property
    def is_stdin(self) -> bool:
        return self.path == STDIN

    @property
    def display(self) -> str:
        """The path shown and recorded for this input."""
        return self.name or self.path


def _name_matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def discover_inputs(
    paths: Sequence[str],
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
) -> list[InputFile]:
    """Expand files, directories (recursively) and glob patterns into input files.

    Files named explicitly are always read; files found in directories or by a glob must match
    ``include`` and not ``exclude``. Hidden files and folders are skipped. Symbolic links to
    directories are not followed (no loops). Order is deterministic: sorted per directory.
    """
    found: list[InputFile] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = path if path == STDIN else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.append(InputFile(path))

    def walk(directory: str) -> None:
        for root, dirs, files in os.walk(directory, onerror=None, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or not _name_matches(name, include):
                    continue
                if _name_matches(name, exclude):
                    continue
                full = os.path.join(root, name)
                if os.path.isfile(full):
                    add(full)

    for path in paths:
        if path == STDIN:
            add(STDIN)
        elif os.path.isdir(path):
            walk(path)
        elif os.path.lexists(path):
            add(path)
        elif glob.has_magic(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise InputError(f"{path}: no file matches this pattern; check the path")
            for match in matches:
                if os.path.isdir(match):
                    walk(match)
                elif _name_matches(os.path.basename(match), exclude):
                    continue
                else:
                    add(match)
        else:
            raise InputError(f"{path}: no such file or directory; check the path")
    return found


def _open_raw(source: InputFile) -> BinaryIO:
    if source.is_stdin:
        return sys.stdin.buffer
    try:
        mode = os.stat(source.path).st_mode
    except OSError as exc:
        raise InputError(f"{source.display}: cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{source.display}: is a directory")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise InputError(f"{source.display}: not a regular file; give a log file")
    try:
        if stat.S_ISFIFO(mode):
            # Opened without blocking, so a pipe nobody writes to reads as empty instead of
            # waiting forever; then reads block again as usual while a writer is attached.
            fd = os.open(source.path, os.O_RDONLY | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            return open(fd, "rb")
        return open(source.path, "rb")
    except OSError as exc:
        raise InputError(
            f"{source.display}: cannot read: {exc.strerror}; check the file's permissions"
        ) from None


class LineReader:
    """Reads a source's decompressed bytes and hands out chunks of complete lines.

    Usage: ``reader.first_line()`` (for the fingerprint and format detection), ``skip_to(offset)``
    then ``chunks(size)``. At the end, a last line without a newline is held back for the next
    run when the source can still grow (a plain file); a compressed file or standard input cannot
    grow, so its last line counts as complete.
    """

    def __init__(self, source: InputFile) -> None:
        self.source = source
        raw = _open_raw(source)
        self._raw = raw
        head = raw.peek(4) if hasattr(raw, "peek") else b""
        self.compression = "none"
        for magic, name in _MAGIC.items():
            if head[: len(magic)] == magic:
                self.compression = name
        self.stream: BinaryIO
        if self.compression == "gzip":
            self.stream = _GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        elif self.compression == "bzip2":
            self.stream = bz2.BZ2File(raw, mode="rb")  # type: ignore[assignment]
        elif self.compression == "zstd":
            self.stream = zstandard.ZstdDecompressor().stream_reader(  # type: ignore[assignment]
                raw, read_across_frames=True
            )
        else:
            self.stream = raw
        is_pipe = source.is_stdin or stat.S_ISFIFO(os.fstat(raw.fileno()).st_mode)
        self.can_grow = self.compression == "none" and not is_pipe
        #: Set when the data is damaged (corrupt or truncated compression): the complete lines
        #: before the damage are handed out, then this error is raised.
        self.damage: InputError | None = None
        self.position = 0  # offset in the decompressed stream of the next byte of _pending
        self._pending: bytes | bytearray = b""
        self._eof = False
        self.partial_line_bytes = 0

    def close(self) -> None:
        if not self.source.is_stdin:
            self._raw.close()

    def __enter__(self) -> LineReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, size: int, at: int) -> bytes:
        """Up to ``size`` bytes from decompressed offset ``at``; ``b""`` at the end or at damage
        (see :attr:`damage`). A compressed stream is read one decompressed block at a time
        (``read1``), so a read that hits damage loses nothing decompressed before it."""
        if self.damage is not None:
            return b""
        try:
            if self.compression != "none":
                return self.stream.read1(size)  # type: ignore[attr-defined,no-any-return]
            return self.stream.read(size)
        except (OSError, EOFError, zlib.error, _GzipError, zstandard.ZstdError) as exc:
            self._note_damage(exc, at)
            return b""

    def _read_into(self, target: memoryview, at: int) -> int:
        """Read uncompressed bytes from offset ``at`` into ``target``: how many (0 at the end or
        at a read error, see :attr:`damage`)."""
        if self.damage is not None:
            return 0
        try:
            return self.stream.readinto(target) or 0  # type: ignore[attr-defined]
        except OSError as exc:
            self._note_damage(exc, at)
            return 0

    def _note_damage(self, exc: Exception, at: int) -> None:
        what = {"gzip": "gzip", "bzip2": "bzip2", "zstd": "zstd"}.get(self.compression, "")
        detail = f"corrupt or truncated {what} data" if what else f"read error ({exc})"
        self.damage = InputError(
            f"{path_for_display(self.source.display)}: {detail} after {at} bytes; "
            "lines before the damage were kept, repair or remove the file"
        )

    def _fill(self, size: int) -> None:
        """Have at least ``size`` bytes pending, unless the data ends first.

        The data is read (or decompressed) into one buffer, which :meth:`chunks` hands out
        without copying it again."""
        have = len(self._pending)
        if self._eof or have >= size:
            return
        buffer = bytearray(size)
        buffer[:have] = self._pending
        with memoryview(buffer) as view:
            while have < size:
                if self.compression == "none":
                    count = self._read_into(view[have:], self.position + have)
                else:
                    block = self._read(size - have, self.position + have)
                    count = len(block)
                    view[have : have + count] = block
                if not count:
                    self._eof = True
                    break
                have += count
        del buffer[have:]
        self._pending = buffer

    def fingerprint_candidates(self) -> list[str]:
        """Possible identities of this source, longest prefix first (empty: no complete line).

        A source's identity is the SHA-256 of the complete lines within its first
        FINGERPRINT_BYTES bytes (the first FINGERPRINT_BYTES bytes if its first line is longer).
        A file first seen when it was shorter was stored under a shorter prefix, so every
        line-boundary prefix is a candidate; the ingest picks the longest one the store knows.
        """
        self._fill(FINGERPRINT_BYTES)
        head = self._pending[:FINGERPRINT_BYTES]
        ends = [index + 1 for index, byte in enumerate(head) if byte == 10]
        complete_at_end = not self.can_grow and self.damage is None
        if not ends and (len(head) >= FINGERPRINT_BYTES or (head and complete_at_end)):
            ends = [len(head)]
        elif (
            head
            and not head.endswith(b"\n")
            and complete_at_end
            and self._eof
            and len(self._pending) == len(head)
        ):
            ends.append(len(head))
        digest = hashlib.sha256()
        candidates: list[str] = []
        previous = 0
        for end in ends:
            digest.update(head[previous:end])
            previous = end
            candidates.append(digest.hexdigest()[:32])
        return candidates[::-1]

    def head_lines(self, max_lines: int = 200, max_bytes: int = 1 << 20) -> bytes:
        """The first complete lines (for format detection); does not consume them."""
        self._fill(max_bytes)
        head = self._pending[:max_bytes]
        cut = -1
        position = 0
        for _ in range(max_lines):
            found = head.find(b"\n", position)
            if found < 0:
                break
            cut = found
            position = found + 1
        return head[: cut + 1] if cut >= 0 else b""

    def skip_to(self, offset: int) -> bool:
        """Move to decompressed ``offset``; False if the source is shorter than that."""
        if offset <= self.position + len(self._pending):
            self._pending = self._pending[offset - self.position :]
            self.position = offset
            return True
        to_skip = offset - self.position - len(self._pending)
        self.position += len(self._pending)
        self._pending = b""
        if self.compression == "none" and not self.source.is_stdin and self._raw.seekable():
            size = os.fstat(self._raw.fileno()).st_size
            if size < offset:
                return False
            self._raw.seek(offset)
            self.position = offset
            return True
        while to_skip > 0:
            block = self._read(min(to_skip, 1 << 20), self.position)
            if not block:
                self._eof = True
                if self.damage is not None:
                    raise self.damage
                return False
            self.position += len(block)
            to_skip -= len(block)
        return True

    def chunks(
        self, chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> Iterator[tuple[int, bytes | bytearray]]:
        """``(start_offset, data)`` with ``data`` made of complete lines, until the end."""
        while True:
            self._fill(chunk_bytes)
            data = self._pending
            if not data:
                if self.damage is not None:
                    raise self.damage
                return
            cut = data.rfind(b"\n", 0, chunk_bytes)
            if cut < 0:
                cut = data.find(b"\n")  # a line longer than a chunk: take it whole
            if cut < 0:
                if not self._eof:
                    self._fill(len(data) + max(chunk_bytes, len(data)))
                    continue
                if self.damage is not None:
                    raise self.damage  # the cut line at the damage is not a line
                if self.can_grow:
                    self.partial_line_bytes = len(data)
                    return
                cut = len(data) - 1
            start = self.position
            if isinstance(data, bytearray):  # hand the buffer itself out, without the tail
                self._pending = bytes(data[cut + 1 :])
                del data[cut + 1 :]
                piece: bytes | bytearray = data
            else:  # a last piece left over when the data ended
                piece, self._pending = data[: cut + 1], data[cut + 1 :]
            self.position += len(piece)
            yield start, piece


T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int = 1, wait: bool = True) -> Iterator[T]:
    """``items``, produced by a background thread at most ``depth`` items ahead of the consumer.

    Reading and decompressing the next chunk then overlaps parsing and committing the current
    one (file reads, ISA-L/zlib, bzip2 and zstd release the GIL). The thread starts on an item
    only when fewer than ``depth`` produced items wait, so memory stays bounded. An exception
    from ``items`` is raised to the consumer after the items produced before it. Closing the
    generator stops the thread; ``wait=False`` does not wait for a read that may block forever
    (standard input).
    """
    slots: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
    room = threading.Semaphore(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                while not room.acquire(timeout=0.05):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(items, _END)
                if item is _END:
                    slots.put(("end", None))
                    return
                slots.put(("item", item))
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(("error", exc))

    thread = threading.Thread(target=produce, name="meterlog-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            room.release()
            if kind == "item":
                yield value  # type: ignore[misc]
            elif kind == "error":
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        stop.set()
        thread.join(None if wait else 0.1)


_END = object()


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


def decode_for_display(raw: bytes | None, limit: int = 4096) -> str:
    """Raw bytes shown as text: invalid UTF-8 as ``\\xHH`` escapes, cut at ``limit`` bytes."""
    if raw is None:
        return ""
    return raw[:limit].decode("utf-8", errors="backslashreplace").rstrip("\r\n")


def path_for_display(path: str) -> str:
    return "<stdin>" if path == STDIN else str(Path(path))
