"""Text patterns every command reads the same way: path globs, endpoint templates, statuses.

Pure Python (no Polars), so option checking and the rejects file filter can use them cheaply.
The regexes are for Polars' ``str.contains`` (Rust regex syntax).
"""

from __future__ import annotations

import re

_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
_STATUS_CODE = re.compile(r"^[1-5]\d\d$")
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")
_TEMPLATE_PARAMETER = re.compile(r"\{[^{}/]*\}")


def regex_literal(text: str) -> str:
    """``text`` as a regex matching exactly itself."""
    return "".join("\\" + char if char in _REGEX_META else char for char in text)


def glob_to_regex(glob: str) -> str:
    """An anchored regex for a path glob: ``*`` is any run of characters, ``?`` one character,
    everything else matches itself.

    "Any character" means any: ``/``, and also a newline or other control character a
    hostile client put in its request path, so ``/health*`` matches ``/health\\nx`` too.
    """
    parts = []
    for char in glob:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(regex_literal(char))
    return "^(?s:" + "".join(parts) + ")$"


def template_to_regex(template: str) -> str:
    """An anchored regex for an endpoint template: ``{name}`` is one non-empty path segment,
    everything else matches itself."""
    parts = []
    position = 0
    for match in _TEMPLATE_PARAMETER.finditer(template):
        parts.append(regex_literal(template[position : match.start()]))
        parts.append("[^/]+")
        position = match.end()
    parts.append(regex_literal(template[position:]))
    return "^(?s:" + "".join(parts) + ")$"


def parse_status_spec(spec: str) -> tuple[str, int, int] | None:
    """A status class (``5xx``, any case) or code (``404``, 100-599) as
    ``(canonical text, lowest, highest)``; ``None`` when it is neither."""
    text = spec.strip()
    if match := _STATUS_CLASS.match(text):
        low = int(match.group(1)) * 100
        return f"{match.group(1)}xx", low, low + 99
    if _STATUS_CODE.match(text):
        return text, int(text), int(text)
    return None
