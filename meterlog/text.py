"""Text shown to a person: log-derived values made safe for a terminal."""

from __future__ import annotations

import re

#: Characters that must not reach a terminal from a log line, a file name or a stored value:
#: C0 and C1 control characters (ESC, BEL, CSI, ...; tab is kept, and so is the newline that
#: :func:`printable` callers join lines with themselves), bidirectional overrides and isolates
#: that reorder what is shown (U+202A-U+202E, U+2066-U+2069), the Unicode line and paragraph
#: separators, and lone surrogates (bytes that were not UTF-8), which no terminal can print.
_BIDI_AND_SEPARATORS = r"\u2028\u2029\u202a-\u202e\u2066-\u2069"
#: The characters as a regular-expression class body (Python's ``re`` and Polars' regex both
#: read it); lone surrogates cannot occur in Polars strings and are added for ``re`` only.
UNSAFE_CHARACTERS = r"\x00-\x08\x0a-\x1f\x7f-\x9f" + _BIDI_AND_SEPARATORS
_UNSAFE = re.compile(f"[{UNSAFE_CHARACTERS}\ud800-\udfff]")
_UNSAFE_BUT_LINE_ENDS = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI_AND_SEPARATORS + "\ud800-\udfff]"
)


def printable(text: str) -> str:
    """``text`` with terminal control characters replaced by U+FFFD.

    A log line or file name can hold escape sequences that set the window title, clear the
    screen or hide text; nothing from a log reaches the terminal unchanged. Every line printed
    with log-derived text goes through this (tables use the same characters, see
    :func:`meterlog.output.printable_frame`).
    """
    return _UNSAFE.sub("\ufffd", text)


def printable_lines(text: str) -> str:
    """Like :func:`printable` for a block of lines (CSV to a terminal): line ends are kept."""
    return _UNSAFE_BUT_LINE_ENDS.sub("\ufffd", text)
