"""What the Delta writer's native code prints on standard error, kept off the terminal when
the operation fails (the failure itself is reported as one line)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_errors_held_back() -> Iterator[None]:
    """Hold back what the Delta writer's native threads print on stderr during a write.

    When a write fails (disk full), the writer's upload threads print a panic report while
    they abort; the failure itself reaches Python as an exception and is reported as one line.
    What was printed is passed on unless the write failed.
    """
    try:
        capture = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    except OSError:
        yield  # no room even for that: let native messages through
        return
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    try:
        os.dup2(capture.fileno(), 2)
        yield
    except BaseException:
        failed = True
        raise
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        if not failed:
            capture.seek(0)
            held = capture.read()
            if held:
                os.write(2, held)
        capture.close()
