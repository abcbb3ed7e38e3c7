"""Reading a source: opening and decompressing it (gzip, bzip2, zstd by their magic bytes), its
first line and identity head, and chunks of complete lines; a reader running ahead in a thread."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import queue
import stat
import sys
import threading
import zlib
from collections.abc import Generator, Iterator
from typing import BinaryIO, TypeVar, cast

import zstandard

from meterlog.errors import InputError
from meterlog.sources.discovery import InputFile
from meterlog.sources.display import path_for_display
from meterlog.sources.lines import DEFAULT_MAX_LINE_BYTES, CutLine, line_ends

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
    _GzipError = zlib.error  # type: ignore[assignment]


_GZIP_BLOCK = 128 * 1024


#: ISA-L's stubs declare its ``error`` as an instance; it is an exception class.
_GZIP_ERROR: type[Exception] = cast("type[Exception]", _GzipError)


FINGERPRINT_BYTES = 4096


#: Bytes read per chunk (complete lines are parsed and committed chunk by chunk). Peak memory
#: grows with it (a few chunks are in flight at once); 32 MiB keeps a run well under 1 GiB.
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024


#: A chunk holds at most one line per this many bytes (``LineReader.chunks``): a line costs
#: about a hundred bytes of memory once cut and parsed whatever its length, so chunks of very
#: short lines (say megabytes of newlines) would otherwise take many times their size.
MIN_BYTES_PER_LINE = 128


_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\x28\xb5\x2f\xfd": "zstd"}


def _open_raw(source: InputFile) -> BinaryIO:
    if source.is_stdin:
        return sys.stdin.buffer
    shown = path_for_display(source.display)
    try:
        mode = os.stat(source.path).st_mode
    except OSError as exc:
        raise InputError(f"{shown}: cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{shown}: is a directory")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise InputError(f"{shown}: not a regular file; give a log file")
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
            f"{shown}: cannot read: {exc.strerror}; check the file's permissions"
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
            self.stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
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
        #: The head a plain file must keep while it is read (see :meth:`guard_head`).
        self._guard: bytes | None = None
        #: The file was truncated or rewritten while it was read (see :meth:`guard_head`).
        self.rewritten = False

    def raw_position(self) -> int:
        """Bytes of the file read so far (compressed bytes for a compressed file, a little ahead
        of the chunks handed out); for a progress display."""
        if self.compression == "none":
            return self.position
        try:
            return self._raw.tell()
        except (OSError, ValueError):  # a pipe
            return self.position

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
                return self.stream.read1(size)  # type: ignore[attr-defined]
            return self.stream.read(size)
        except (OSError, EOFError, zlib.error, _GZIP_ERROR, zstandard.ZstdError) as exc:
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
        shown = path_for_display(self.source.display)
        if not what:
            self.damage = InputError(
                f"{shown}: read error ({exc}) after {at} bytes; lines before it were kept; "
                "check the disk and the file, a later run reads on from there"
            )
            return
        # logrotate compressing a file (or a copy still arriving) looks the same as damage:
        # nothing must be lost by following the advice
        self.damage = InputError(
            f"{shown}: corrupt or truncated {what} data after {at} bytes; lines before it were "
            "kept; if the file is still being written (logrotate compressing it, a copy "
            "arriving) a later run reads the rest, so leave it; otherwise repair or replace it"
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
        if self._guard is not None and have > len(self._pending) and not self._head_still():
            # Truncated and written again since the last read: the bytes just read may be
            # the new file's. Keep what was read (and checked) before, and stop here.
            have = len(self._pending)
            self._eof = True
            self.rewritten = True
        del buffer[have:]
        self._pending = buffer

    def fingerprint_candidates(self) -> list[str]:
        """Possible identities of this source, longest prefix first (empty: no complete line);
        see :meth:`identity_head`."""
        return [source_id for source_id, _ in self.identity_head()[1]]

    def identity_head(self) -> tuple[bytes, list[tuple[str, int]]]:
        """The source's head and its possible identities ``(id, bytes covered)``, longest first
        (empty: no complete line).

        A source's identity is the SHA-256 of the complete lines within its first
        FINGERPRINT_BYTES bytes (the first FINGERPRINT_BYTES bytes if its first line is longer).
        A file first seen when it was shorter was stored under a shorter prefix, so every
        line-boundary prefix is a candidate; :mod:`meterlog.ingest.source_identity` decides
        which stored source, if any, the file continues. The head returned is the bytes the
        longest candidate covers.
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
        candidates: list[tuple[str, int]] = []
        previous = 0
        for end in ends:
            digest.update(head[previous:end])
            previous = end
            candidates.append((digest.hexdigest()[:32], end))
        return bytes(head[:previous]), candidates[::-1]

    def file_key(self) -> tuple[int, int] | None:
        """``(device, inode)`` of the plain file read (None for standard input and pipes)."""
        if self.source.is_stdin:
            return None
        info = os.fstat(self._raw.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        return info.st_dev, info.st_ino

    def guard_head(self, head: bytes) -> None:
        """From now on, check after each read of a plain file that its first bytes are still
        ``head``: a file truncated in place (logrotate's ``copytruncate``) and written again
        while it is read would otherwise hand out the new file's lines as the old one's. When
        the check fails, what that read brought is dropped and the source ends there (the
        rest of the old file is in its rotated copy); :attr:`rewritten` is set."""
        if self.can_grow and head:
            self._guard = head

    def _head_still(self) -> bool:
        guard = self._guard
        if guard is None:
            return True
        try:
            fd = self._raw.fileno()
            return os.pread(fd, len(guard), 0) == guard
        except OSError:
            return True  # a read error is reported by the read itself

    def head_lines(self, max_lines: int = 200, max_bytes: int = 1 << 20) -> bytes:
        """The first complete lines (for format detection); does not consume them.

        A last line without a newline counts as complete when the source cannot grow (standard
        input, a compressed file), as it does when the lines are read."""
        self._fill(max_bytes)
        head = self._pending[:max_bytes]
        if (
            head
            and self._eof
            and not self.can_grow
            and self.damage is None
            and len(head) == len(self._pending)
            and head.count(b"\n") < max_lines
            and not head.endswith(b"\n")
        ):
            return bytes(head)
        cut = -1
        position = 0
        for _ in range(max_lines):
            found = head.find(b"\n", position)
            if found < 0:
                break
            cut = found
            position = found + 1
        return bytes(head[: cut + 1]) if cut >= 0 else b""

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
        self,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_lines: int | None = None,
    ) -> Iterator[tuple[int, bytes | bytearray]]:
        """``(start_offset, data)`` with ``data`` made of complete lines, until the end.

        A chunk holds at most ``chunk_bytes`` bytes (more only for a single line of up to
        ``max_line_bytes``) and at most ``max_lines`` lines (default: one per
        :data:`MIN_BYTES_PER_LINE` bytes of the chunk), so the memory a chunk takes once cut into
        lines stays bounded whatever the content. A line longer than ``max_line_bytes`` is
        handed out on its own as a :class:`CutLine` (its first bytes, and the bytes it spans),
        read past without being held in memory."""
        if max_lines is None:
            max_lines = max(1024, chunk_bytes // MIN_BYTES_PER_LINE)
        while True:
            self._fill(chunk_bytes)
            data = self._pending
            if not data:
                if self.damage is not None:
                    raise self.damage
                return
            cut = data.rfind(b"\n", 0, chunk_bytes)
            if cut < 0:  # a line longer than a chunk: take it whole up to max_line_bytes
                if len(data) <= max_line_bytes and not self._eof:
                    self._fill(max_line_bytes + 1)
                    data = self._pending
                cut = data.find(b"\n", 0, max_line_bytes + 1)
                if cut < 0 and len(data) > max_line_bytes:
                    cut_line = self._cut_line(max_line_bytes)
                    if cut_line is None:
                        return
                    yield cut_line
                    continue
            if cut < 0:
                if self.damage is not None:
                    raise self.damage  # the cut line at the damage is not a line
                if self.can_grow:
                    self.partial_line_bytes = len(data)
                    return
                cut = len(data) - 1
            if data.count(b"\n", 0, cut + 1) > max_lines:
                with memoryview(data) as view:
                    cut = int(line_ends(view[: cut + 1])[max_lines - 1]) - 1
            start = self.position
            if isinstance(data, bytearray):  # hand the buffer itself out, without the tail
                self._pending = bytes(data[cut + 1 :])
                del data[cut + 1 :]
                piece: bytes | bytearray = data
            else:  # a last piece left over when the data ended
                piece, self._pending = data[: cut + 1], data[cut + 1 :]
            self.position += len(piece)
            yield start, piece

    def _cut_line(self, max_line_bytes: int) -> tuple[int, CutLine] | None:
        """The over-long line starting at :attr:`position` (longer than ``max_line_bytes``):
        read to its end a block at a time, keeping only its first ``max_line_bytes + 1`` bytes
        (or up to three more, to end at a character boundary). None when it has no end yet in a
        source that can grow (it waits for the next run, as any incomplete last line)."""
        start = self.position
        pending = self._pending
        keep = min(len(pending), max_line_bytes + 4)
        while keep < len(pending) and keep > max_line_bytes + 1 and pending[keep] & 0xC0 == 0x80:
            keep -= 1  # not inside a UTF-8 character
        head = bytes(pending[:keep])
        span, block = 0, bytes(pending)
        self._pending = b""
        while True:
            found = block.find(b"\n")
            if found >= 0:
                span += found + 1
                self._pending = block[found + 1 :]
                break
            span += len(block)
            block = self._read(_CUT_LINE_BLOCK, start + span)
            if block:
                continue
            self._eof = True
            if self.damage is not None:
                raise self.damage
            if self.can_grow:
                self.partial_line_bytes = span
                self.position = start
                return None
            break
        self.position = start + span
        return start, CutLine(head + b"\n", span)


_CUT_LINE_BLOCK = 1 << 20


T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int = 1, wait: bool = True) -> Generator[T, None, None]:
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
