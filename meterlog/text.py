"""Text shown to a person: log-derived values made safe for a terminal."""

from __future__ import annotations

import re

#: C0 and C1 control characters (ESC, BEL, CSI, ...) except tab; a newline is kept where the
#: caller joins lines itself, so every printed line is cleaned on its own.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with terminal control characters replaced by U+FFFD.

    A log line or file name can hold escape sequences that set the window title, clear the
    screen or hide text; nothing from a log reaches the terminal unchanged.
    """
    return _CONTROL.sub("\ufffd", text)
