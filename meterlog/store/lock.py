"""The writers' lock of a local store (a ``flock`` on ``.meterlog.lock``)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from meterlog.errors import StoreBusyError, StoreError
from meterlog.store.layout import LOCK_FILE


@contextlib.contextmanager
def hold_lock(root: Path, timeout: float = 0.0) -> Iterator[None]:
    """Hold the writer lock of the local store at ``root``; wait up to ``timeout`` seconds,
    then fail clearly."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise StoreError(
            f"{root}: cannot open the store for writing: {exc.strerror}; "
            "check the path and permissions"
        ) from None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"{root}: another meterlog run is writing to this store; "
                        "try again later or wait longer with --lock-timeout SECONDS"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)
