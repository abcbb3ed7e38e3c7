"""Following log files the way ``tail -F`` does, by polling.

Every poll expands the watched paths (files, directories, globs) and looks at each file's
``stat``. A file is handed out for reading when it is new or its size or modification time
changed since it was last read; a file that did not change is not opened, so an idle watch
costs a few ``stat`` calls per interval.

Which bytes of a file are new is not decided here: the store holds each source's progress
(see :mod:`meterlog.store`), so reading a file that has nothing new adds nothing. That is what
keeps rotation exactly-once:

* rename (``access.log`` -> ``access.log.1``): the same inode under a new name, the same
  content identity, read on from the stored progress;
* gzip of a rotated file: a new file whose decompressed content has the same identity;
* ``copytruncate``: the copy continues the old source, the truncated file starts a new one;
* delete and re-create: each plain file is kept open while it is followed, so when its name
  disappears (or now names another file) the lines written before that are still read,
  through the open descriptor (``/proc/self/fd/N`` on Linux), before it is closed.
"""

from __future__ import annotations

import glob
import os
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from meterlog.errors import InputError
from meterlog.sources import DEFAULT_EXCLUDE, DEFAULT_INCLUDE, InputFile, discover

#: gzip, bzip2 and zstd files start with these bytes (see :mod:`meterlog.sources`).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\x28\xb5\x2f\xfd")
#: Reading a file through its descriptor works where ``/proc/self/fd`` exists (Linux).
_PROC_FD = "/proc/self/fd"


def _fd_path(fd: int) -> str | None:
    return f"{_PROC_FD}/{fd}" if sys.platform.startswith("linux") else None


@dataclass
class _Tracked:
    """A followed file (one inode)."""

    path: str
    size: int
    mtime_ns: int
    fd: int | None
    #: ``(size, mtime_ns)`` when it was last read to the end; None: never read.
    read_at: tuple[int, int] | None = None
    #: Its name no longer leads to it: read it a last time, then close it.
    gone: bool = False


@dataclass(frozen=True)
class PollResult:
    """What a poll found: the inputs to read now and the paths that could not be looked at."""

    inputs: list[InputFile]
    #: ``(dev, inode)`` of each input, in the same order (for :meth:`Follower.done`).
    keys: list[tuple[int, int]]
    #: ``(size, mtime_ns)`` of each input as seen by the poll.
    seen: list[tuple[int, int]]
    missing: list[str]
    #: ``(dev, inode)`` -> a path to read it by, for every file followed (changed or not).
    live: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def pending_bytes(self) -> int:
        return sum(size for size, _ in self.seen)


class Follower:
    """Polls ``paths`` for files with new data (see the module doc).

    Use: ``result = follower.poll()``, read ``result.inputs`` (through
    :func:`meterlog.ingest.ingest_inputs`), then ``follower.done(result)`` once they were
    committed; inputs not marked done are handed out again by the next poll.
    """

    def __init__(
        self,
        paths: Sequence[str],
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = DEFAULT_EXCLUDE,
        hold_open: bool = True,
        follow_symlinks: bool = False,
    ) -> None:
        self.paths = list(paths)
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.follow_symlinks = follow_symlinks
        #: Symbolic links found that lead outside the paths followed (not read).
        self.outside_links: set[str] = set()
        self.hold_open = hold_open and _fd_path(0) is not None
        self._files: dict[tuple[int, int], _Tracked] = {}

    @property
    def followed(self) -> int:
        """Files followed right now."""
        return len(self._files)

    def _discover(self) -> tuple[list[InputFile], list[str]]:
        found: list[InputFile] = []
        missing: list[str] = []
        names: set[str] = set()
        for path in self.paths:
            try:
                discovery = discover(
                    [path], self.include, self.exclude, self.follow_symlinks, self.paths
                )
            except InputError:
                # not there (yet): a watched file between delete and re-create, an empty glob
                if not glob.has_magic(path):
                    missing.append(path)
                continue
            self.outside_links.update(discovery.outside_links)
            for item in discovery.inputs:
                if item.path not in names:
                    names.add(item.path)
                    found.append(item)
        return found, missing

    def poll(self) -> PollResult:
        """The files to read now (see the class doc)."""
        found, missing = self._discover()
        present: set[tuple[int, int]] = set()
        inputs: list[InputFile] = []
        keys: list[tuple[int, int]] = []
        seen: list[tuple[int, int]] = []
        for item in found:
            try:
                info = os.stat(item.path)
            except OSError:
                continue  # went away between the listing and now: next poll
            if not stat.S_ISREG(info.st_mode):
                continue
            key = (info.st_dev, info.st_ino)
            if key in present:
                continue  # a second name (hard link) of a file already looked at
            present.add(key)
            tracked = self._files.get(key)
            if tracked is None:
                tracked = _Tracked(item.path, info.st_size, info.st_mtime_ns, self._open(item.path))
                self._files[key] = tracked
            tracked.path, tracked.size, tracked.mtime_ns = item.path, info.st_size, info.st_mtime_ns
            if tracked.read_at != (info.st_size, info.st_mtime_ns):
                inputs.append(self._input(tracked))
                keys.append(key)
                seen.append((info.st_size, info.st_mtime_ns))
        for key, tracked in list(self._files.items()):
            if key in present:
                continue
            # Deleted, or its name now leads to another file: read what was written to it
            # before that, through the descriptor held open, then let it go.
            tracked.gone = True
            last = self._fstat(tracked)
            if last is None or tracked.read_at == (last.st_size, last.st_mtime_ns):
                self._forget(key)
                continue
            inputs.append(self._input(tracked))
            keys.append(key)
            seen.append((last.st_size, last.st_mtime_ns))
        live = {
            key: (_fd_path(tracked.fd) if tracked.fd is not None else None) or tracked.path
            for key, tracked in self._files.items()
        }
        return PollResult(inputs, keys, seen, missing, live)

    def done(self, result: PollResult) -> None:
        """The inputs of ``result`` were read and committed as far as they were then."""
        for key, state in zip(result.keys, result.seen, strict=True):
            tracked = self._files.get(key)
            if tracked is None:
                continue
            tracked.read_at = state
            if tracked.gone:
                self._forget(key)

    def unread_bytes(self) -> int:
        """Bytes added to the followed plain files since they were last read (a cheap
        estimate from ``fstat``; files that appeared since the last poll are not counted)."""
        total = 0
        for tracked in self._files.values():
            info = self._fstat(tracked)
            if info is not None and tracked.read_at is not None:
                total += max(0, info.st_size - tracked.read_at[0])
        return total

    def close(self) -> None:
        for key in list(self._files):
            self._forget(key)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------------
    def _open(self, path: str) -> int | None:
        """A descriptor held open for a plain file (compressed files cannot grow: they are
        read by name, so a folder of old rotated logs holds no descriptors)."""
        if not self.hold_open:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            head = os.pread(fd, 4, 0)
        except OSError:
            head = b""
        if head.startswith(_COMPRESSED_MAGIC):
            os.close(fd)
            return None
        return fd

    def _fstat(self, tracked: _Tracked) -> os.stat_result | None:
        if tracked.fd is None:
            return None
        try:
            return os.fstat(tracked.fd)
        except OSError:
            return None

    def _input(self, tracked: _Tracked) -> InputFile:
        """Read through the descriptor, so what is read is the file that was looked at."""
        via = _fd_path(tracked.fd) if tracked.fd is not None else None
        return InputFile(via, name=tracked.path) if via else InputFile(tracked.path)

    def _forget(self, key: tuple[int, int]) -> None:
        tracked = self._files.pop(key)
        if tracked.fd is not None:
            os.close(tracked.fd)
