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
import re
import stat
import sys
import threading
import zlib
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

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
    _GzipError = zlib.error  # type: ignore[assignment]

_GZIP_BLOCK = 128 * 1024
#: ISA-L's stubs declare its ``error`` as an instance; it is an exception class.
_GZIP_ERROR: type[Exception] = cast("type[Exception]", _GzipError)

FINGERPRINT_BYTES = 4096
#: Bytes read per chunk (complete lines are parsed and committed chunk by chunk). Peak memory
#: grows with it (a few chunks are in flight at once); 32 MiB keeps a run well under 1 GiB.
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
#: Lines longer than this are rejected as ``line_too_long`` (nginx lines are a few KiB at most).
DEFAULT_MAX_LINE_BYTES = 64 * 1024
#: A chunk holds at most one line per this many bytes (``LineReader.chunks``): a line costs
#: about a hundred bytes of memory once cut and parsed whatever its length, so chunks of very
#: short lines (say megabytes of newlines) would otherwise take many times their size.
MIN_BYTES_PER_LINE = 128
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


@dataclass
class Discovery:
    """The inputs found, and for each directory or glob given from which no file is read
    although it holds files, those files with why each was skipped."""

    inputs: list[InputFile]
    #: ``(argument, [(file, reason), ...])``, in the order the arguments were given.
    unread: list[tuple[str, list[tuple[str, str]]]]
    #: Symbolic links found in folders or by globs that lead outside the places named: not
    #: read (see ``follow_symlinks``).
    outside_links: list[str] = field(default_factory=list)

    def outside_link_notes(self) -> list[str]:
        return [
            f"{path_text(path)}: not read: a symbolic link to a file outside the folders "
            "named; give --follow-symlinks to read it"
            for path in self.outside_links
        ]

    #: ``(file, reason)`` of the files skipped by name in the directories and globs from
    #: which other files were read (those of :attr:`unread` arguments are named there).
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def unread_messages(
        self, include: Sequence[str], exclude: Sequence[str], limit: int = 4
    ) -> list[str]:
        """One line per :attr:`unread` argument: what was skipped, why, and what to do."""
        messages = []
        for argument, skipped in self.unread:
            shown = [
                f"{path_text(os.path.relpath(path, argument) if os.path.isdir(argument) else path)}"
                f" ({reason})"
                for path, reason in skipped[:limit]
            ]
            if len(skipped) > limit:
                shown.append(f"and {len(skipped) - limit} more")
            messages.append(
                f"{path_text(argument)}: no file read; {len(skipped)} skipped: "
                + ", ".join(shown)
                + f"; files in directories are read when their names match --include "
                f"({' '.join(include)}) and not --exclude ({' '.join(exclude)}): "
                "give --include GLOB or name the files"
            )
        return messages


def discover_inputs(
    paths: Sequence[str],
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    follow_symlinks: bool = False,
    named: Sequence[str] | None = None,
) -> list[InputFile]:
    """Expand files, directories (recursively) and glob patterns into input files (see
    :func:`discover`)."""
    return discover(paths, include, exclude, follow_symlinks, named).inputs


def _named_places(paths: Sequence[str]) -> tuple[list[str], set[str]]:
    """The folders (resolved) and files (resolved) the arguments name; a glob names the
    folder its fixed part leads to."""
    folders: list[str] = []
    files: set[str] = set()
    for path in paths:
        if path == STDIN:
            continue
        if glob.has_magic(path):
            fixed = []
            for part in path.split(os.sep):
                if glob.has_magic(part):
                    break
                fixed.append(part)
            path = os.sep.join(fixed) or (os.sep if path.startswith(os.sep) else os.curdir)
        real = os.path.realpath(path)
        if os.path.isdir(real):
            folders.append(real.rstrip(os.sep) + os.sep)
        else:
            files.add(real)
    return folders, files


def discover(
    paths: Sequence[str],
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    follow_symlinks: bool = False,
    named: Sequence[str] | None = None,
) -> Discovery:
    """Expand files, directories (recursively) and glob patterns into input files.

    Files named explicitly are always read; files found in directories must match ``include``
    and not ``exclude``, files matched by a glob must not match ``exclude``. Hidden files and
    folders are skipped. Symbolic links to directories are not followed (no loops). A symbolic
    link found in a folder or by a glob is read only when it leads to a file inside the folders
    or files named (``named``, default ``paths``), unless ``follow_symlinks``. Order is
    deterministic: sorted per directory.
    """
    folders, files = _named_places(paths if named is None else named)

    def outside(path: str) -> bool:
        """A link found inside a folder that leads out of every place named."""
        if follow_symlinks or not os.path.islink(path):
            return False
        real = os.path.realpath(path)
        return real not in files and not any(real.startswith(folder) for folder in folders)

    found: list[InputFile] = []
    seen: set[str] = set()
    skipped: list[tuple[str, str]] = []
    chosen = [0]  # files of the current argument that pass the filters (even if seen before)

    def add(path: str) -> None:
        chosen[0] += 1
        key = path if path == STDIN else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.append(InputFile(path))

    def walk(directory: str) -> None:
        for root, dirs, files in os.walk(directory, onerror=None, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(root, name)
                if name.startswith("."):
                    skipped.append((full, "hidden"))
                elif not _name_matches(name, include):
                    skipped.append((full, "not matching --include"))
                elif _name_matches(name, exclude):
                    skipped.append((full, "matches --exclude"))
                elif not os.path.isfile(full):
                    skipped.append((full, "not a regular file"))
                elif outside(full):
                    skipped.append((full, _OUTSIDE))
                else:
                    add(full)

    unread: list[tuple[str, list[tuple[str, str]]]] = []
    all_skipped: list[tuple[str, str]] = []
    skipped_by_name: list[tuple[str, str]] = []
    for path in paths:
        chosen[0] = 0
        skipped = []
        if path == STDIN:
            add(STDIN)
        elif os.path.isdir(path):
            walk(path)
        elif os.path.lexists(path):
            add(path)
        elif glob.has_magic(path):
            matches = _glob(path)
            if not matches:
                raise InputError(f"{path_text(path)}: no file matches this pattern; check the path")
            for match in matches:
                if os.path.isdir(match):
                    walk(match)
                elif _name_matches(os.path.basename(match), exclude):
                    skipped.append((match, "matches --exclude"))
                elif outside(match):
                    skipped.append((match, _OUTSIDE))
                else:
                    add(match)
        else:
            raise InputError(f"{path_text(path)}: no such file or directory; check the path")
        if not chosen[0] and skipped:
            unread.append((path, skipped))
        elif skipped:
            skipped_by_name += skipped
        all_skipped.extend(skipped)
    # a file skipped in a directory but named on its own is read, not skipped; links leading
    # outside the places named are said apart (outside_link_notes)
    skipped_by_name = [
        (p, why)
        for p, why in skipped_by_name
        if os.path.realpath(p) not in seen and why != _OUTSIDE
    ]
    links = [path for path, reason in all_skipped if reason == _OUTSIDE]
    return Discovery(found, unread, outside_links=links, skipped=skipped_by_name)


_OUTSIDE = "a symbolic link leading outside the folders named; --follow-symlinks reads it"


def _glob(pattern: str) -> list[str]:
    """The paths ``pattern`` matches, sorted, as ``glob.glob(pattern, recursive=True)`` gives
    them except that ``**`` does not follow symbolic links to directories (``glob`` does, so a
    link such as ``dir/l1 -> .`` made ``'dir/**'`` run for ever): the rule directories follow.
    Hidden names match only a pattern segment that starts with a dot, as in ``glob``."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split(os.sep)
    fixed = 0
    while fixed < len(parts) and not glob.has_magic(parts[fixed]):
        fixed += 1
    base = os.sep.join(parts[:fixed]) or (os.sep if pattern.startswith(os.sep) else "")
    wanted = [part for part in parts[fixed:] if part]
    if not wanted or not os.path.isdir(base or os.curdir):
        return sorted(glob.glob(pattern))  # nothing recursive below a directory to walk
    dotted = any(part.startswith(".") for part in wanted)
    found = [base] if all(part == "**" for part in wanted) and base else []
    for root, dirs, files in os.walk(base or os.curdir, followlinks=False):
        if not dotted:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        relative = os.path.relpath(root, base or os.curdir)
        prefix = [] if relative == os.curdir else relative.split(os.sep)
        for name in (*dirs, *files):
            if _segments_match([*prefix, name], wanted):
                found.append(os.path.join(base, *prefix, name))
    return sorted(found)


def _segments_match(names: list[str], patterns: list[str]) -> bool:
    """Whether the path segments ``names`` match the glob segments ``patterns`` (``**``: any
    number of segments)."""
    if not patterns:
        return not names
    head, rest = patterns[0], patterns[1:]
    if head == "**":
        for skip in range(len(names) + 1):
            if skip and names[skip - 1].startswith("."):
                return False
            if _segments_match(names[skip:], rest):
                return True
        return False
    if not names or (names[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], head) and _segments_match(names[1:], rest)


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


def decode_for_display(raw: bytes | None, limit: int = 4096) -> str:
    """Raw bytes shown as text: invalid UTF-8 as ``\\xHH`` escapes, cut at ``limit`` bytes."""
    if raw is None:
        return ""
    return raw[:limit].decode("utf-8", errors="backslashreplace").rstrip("\r\n")


def path_for_display(path: str) -> str:
    """How a source is named in the store and in messages (see :func:`path_text`)."""
    return "<stdin>" if path == STDIN else path_text(str(Path(path)))


_PATH_ESCAPE = re.compile(r"\\\\|\\x([0-9a-f]{2})")


def path_text(path: str) -> str:
    """A file name as valid UTF-8 text, losslessly.

    Names are bytes on Linux and Python holds the bytes that are not UTF-8 as lone surrogates
    (``surrogateescape``), which no UTF-8 column, JSON document or terminal takes. Such a name
    is written with those bytes as ``\\xHH`` and each backslash doubled; a name that is valid
    UTF-8 and has no backslash (nearly all) is unchanged. :func:`path_from_text` undoes it.
    """
    try:
        path.encode("utf-8")
        if "\\" not in path:
            return path
    except UnicodeEncodeError:
        pass
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        raw = path.encode("utf-8", "backslashreplace")
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def path_from_text(text: str) -> str:
    """The file name :func:`path_text` wrote as ``text``."""
    if "\\" not in text:
        return text
    # a byte that is not UTF-8 (0x80 and up) is the lone surrogate U+DC80.. (surrogateescape)
    return _PATH_ESCAPE.sub(
        lambda m: "\\" if m.group(1) is None else chr(0xDC00 + int(m.group(1), 16)), text
    )
