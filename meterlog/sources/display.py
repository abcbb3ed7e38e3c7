"""Paths and raw bytes as people see them: decoded for display, escaped so no control
character reaches a terminal, and read back."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: The path that names standard input.
STDIN = "-"


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
