"""Which stored source a file continues, if any.

A source is identified by its content: the SHA-256 of the complete lines in its first 4 KiB
(see :meth:`meterlog.sources.LineReader.identity_head`). Lines never change once written, so a
renamed, compressed, grown or copied file keeps its identity. A file first seen when it was
shorter than 4 KiB (a *young* file) was stored under a shorter prefix, so every line-boundary
prefix of a file is a candidate; but two different files may start with the same lines (the
load balancer's health check, on several hosts after rotation), and a prefix alone cannot tell
a grown file from another file that starts alike. The rule:

1. The store records, with each commit, the source's *verified head* (its first bytes, up to
   4 KiB, as far as they were read) and the ``(device, inode)`` of the file they came from
   (:class:`meterlog.store.SourceHead`).
2. A file continues a stored source only if its own first bytes agree with that source's whole
   verified head. A file that differs anywhere in it is another source.
3. A file that agrees and holds nothing more within its first 4 KiB is that source, or a copy
   of it (it adds nothing). A file that agrees with a full 4 KiB head is that source (grown,
   renamed, compressed or copied).
4. A file that agrees with a *young* head and holds more is that source grown when it is the
   same file (same device and inode: grown in place or renamed). Another file (a copy, a
   compressed rotation, logrotate's ``copytruncate`` copy) continues it only when the source's
   own file no longer holds it (deleted, compressed away, truncated); while that file is still
   there and still starts with the source's head, the newcomer is a different file that
   happens to start the same way, and becomes a source of its own, read from its first line.
5. A file shorter than a source's verified head continues it only when it is exactly the
   source's first lines as first seen, or when the source's own file is there and starts
   with the whole of this file (an early copy).

What stays ambiguous: two different files whose first 4 KiB are identical are one source; and
a file that starts with all of a young source's lines while that source's own file is gone is
taken to be that source's rotated copy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from meterlog.sources import FINGERPRINT_BYTES
from meterlog.store import SourceHead, Store


def head_digest(data: bytes) -> int:
    """The 63-bit digest a :class:`SourceHead` records for ``data``."""
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") & (2**63 - 1)


def verified_head(head: bytes, end_offset: int, key: tuple[int, int] | None) -> SourceHead:
    """The head to record for a source stored up to ``end_offset`` from a file whose first
    bytes are ``head`` (complete lines, up to 4 KiB)."""
    length = min(end_offset, len(head))
    return SourceHead(length, head_digest(head[:length]), key)


@dataclass(frozen=True)
class Identity:
    """What a file was found to be: ``source_id``, and the stored source's head when it
    continues one (``known``)."""

    source_id: str
    known: bool
    stored: SourceHead | None = None

    def is_other_file(self, key: tuple[int, int] | None) -> bool:
        """Whether the file read is not the one the source was last read from (a copy)."""
        return self.stored is not None and self.stored.key is not None and key != self.stored.key


class SourceResolver:
    """Applies the module's rule against a store.

    ``live`` maps ``(device, inode)`` to a path for the files the run can see now (its
    inputs, or every file ``watch`` follows); ``last_paths`` is each source's last recorded
    path, where its own file is looked for too."""

    def __init__(
        self,
        store: Store,
        live: Mapping[tuple[int, int], str] | None = None,
        last_paths: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.live = dict(live or {})
        self.last_paths = last_paths or {}

    def resolve(
        self,
        head: bytes,
        candidates: Sequence[tuple[str, int]],
        key: tuple[int, int] | None,
    ) -> Identity:
        """The identity of a file whose head and candidates are ``head`` and ``candidates``
        (:meth:`meterlog.sources.LineReader.identity_head`, non-empty)."""
        available = candidates[0][1]
        for source_id, covered in candidates:
            if not self.store.progress(source_id).offset:
                continue
            stored = self.store.source_head(source_id)
            if stored is None:  # recorded before heads were: the prefix decides
                return Identity(source_id, True)
            if stored.length <= available:
                if head_digest(head[: stored.length]) != stored.digest:
                    continue  # differs within what the source holds: another file
                if (
                    stored.length >= FINGERPRINT_BYTES
                    or stored.length == available
                    or (key is not None and key == stored.key)
                    or not self._still_holds(source_id, stored)
                ):
                    return Identity(source_id, True, stored)
                continue  # the source's own file is still there: this is another file
            if covered == available or self._still_holds(source_id, stored, head):
                return Identity(source_id, True, stored)  # an earlier copy of the source
        return Identity(candidates[0][0], False)

    def _still_holds(self, source_id: str, stored: SourceHead, prefix: bytes = b"") -> bool:
        """Whether the source's own file is still there and starts with its verified head
        (and with ``prefix``, when given)."""
        if stored.key is None:
            return False
        paths = [path for key, path in self.live.items() if key == stored.key]
        last = self.last_paths.get(source_id)
        if last is not None:
            paths.append(last)
        for path in paths:
            data = _read_head(path, stored.key, max(stored.length, len(prefix)))
            if (
                data is not None
                and head_digest(data[: stored.length]) == stored.digest
                and data.startswith(prefix)
            ):
                return True
        return False


def _read_head(path: str, key: tuple[int, int], size: int) -> bytes | None:
    """The first ``size`` bytes of the plain file at ``path`` if it is the file ``key``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != key:
            return None
        return os.pread(fd, size, 0)
    except OSError:
        return None
    finally:
        os.close(fd)


def live_files(paths: Sequence[str]) -> dict[tuple[int, int], str]:
    """``(device, inode)`` of each plain file among ``paths`` (others are left out)."""
    found: dict[tuple[int, int], str] = {}
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue
        found.setdefault((info.st_dev, info.st_ino), path)
    return found
