"""Reading nginx configuration files: the ``log_format`` of a given name, with the variables
the configuration defines (``set``, ``map``, ``geo``, ...), through crossplane's parser, so a
custom format is read exactly as nginx reads it.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from meterlog.errors import FormatError, located, read_text_file
from meterlog.formats.nginx import NginxLogFormat

#: Directives that define a variable, and the position of the variable among their words.
_DEFINING_DIRECTIVES = {
    "set": 1,
    "perl_set": 1,
    "js_set": 1,
    "auth_request_set": 1,
    "map": 2,
    "split_clients": 2,
    "geo": -1,  # geo [$address] $variable
}


#: nginx's escapes in configuration words (``ngx_conf_read_token``); any other backslash stays.
_CONF_ESCAPE = re.compile(r"\\([\"'\\tnr])")
_CONF_ESCAPED = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _unescape_conf(word: str) -> str:
    """A configuration word as nginx reads it: ``\\t`` is a tab, ``\\n`` a newline, ``\\r`` a
    carriage return; ``\\"``, ``\\'`` and ``\\\\`` the character itself."""
    return _CONF_ESCAPE.sub(lambda match: _CONF_ESCAPED[match.group(1)], word)


Directive = tuple[str, int, str, list[str]]  # (file, line, name, arguments)


def _walk(payload: dict[str, Any]) -> list[Directive]:
    """The directives of crossplane's parse of a config, blocks and included files in the
    order nginx reads them."""
    found: list[Directive] = []
    files: list[dict[str, Any]] = payload["config"]

    def visit(file: str, directives: list[dict[str, Any]]) -> None:
        for directive in directives:
            args = [_unescape_conf(str(arg)) for arg in directive.get("args", [])]
            found.append((file, int(directive["line"]), str(directive["directive"]), args))
            for index in directive.get("includes", []):
                visit(str(files[index]["file"]), files[index]["parsed"])
            if "block" in directive:
                visit(file, directive["block"])

    if files:
        visit(str(files[0]["file"]), files[0]["parsed"])
    return found


def _defined_variables(directives: list[Directive]) -> set[str]:
    """Variables a config defines itself (``map``, ``set``, ``geo``, ``split_clients``, ...,
    and blocks such as ``geoip2`` whose entries start with a ``$variable``)."""
    defined: set[str] = set()
    for _, _, name, args in directives:
        words = [name, *args]
        position = _DEFINING_DIRECTIVES.get(name)
        if position is not None and len(words) > max(position, 1):
            defined.add(words[position].lstrip("$"))
        elif name.startswith("$"):
            defined.add(name.lstrip("$"))
    return defined


def _unclosed_quote_line(text: str) -> int | None:
    """The line of a quote that is never closed (comments and escapes skipped)."""
    quote, start, position = "", 0, 0
    while position < len(text):
        char = text[position]
        if char == "\\":
            position += 2
            continue
        if quote:
            quote = "" if char == quote else quote
        elif char == "#":
            end = text.find("\n", position)
            position = len(text) if end < 0 else end
            continue
        elif char in "\"'":
            quote, start = char, position
        position += 1
    return text.count("\n", 0, start) + 1 if quote else None


def read_log_format_from_config(path: str | Path, name: str) -> NginxLogFormat:
    """The ``log_format NAME [escape=...] 'string' 'string' ...;`` directive from an nginx config.

    The config is read with crossplane, nginx's own tokenising: ``include`` directives are
    followed (globs, relative paths from the main config's directory, as nginx does), escapes
    in quoted strings are nginx's (``\\t``, ``\\n``, ``\\"``, ...), and every error names the
    file and line of the directive. Concatenated strings are joined; ``escape=`` is honoured;
    variables the config defines (``map``, ``set``, ``geo``, ...) are accepted in the format.
    """
    import crossplane

    path = Path(path)
    read_text_file(path, "nginx config", FormatError)  # readable UTF-8, or a clear error
    try:
        payload = crossplane.parse(
            str(path), check_ctx=False, check_args=False, comments=False, catch_errors=True
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(located(path, None, f"cannot read the nginx config: {exc}")) from None
    directives = _walk(payload)
    found = []
    for file, line, directive, args in directives:
        if directive != "log_format" or len(args) < 2:
            continue
        found.append(args[0])
        if args[0] != name:
            continue
        escape = "default"
        rest = args[1:]
        if rest and rest[0].startswith("escape="):
            escape = rest[0].removeprefix("escape=")
            rest = rest[1:]
        try:
            return NginxLogFormat(
                "".join(rest),
                name=name,
                escape=escape,
                defined_variables=_defined_variables(directives),
            )
        except FormatError as exc:
            raise FormatError(located(file, line, str(exc))) from None
    for error in payload["errors"]:
        message = re.sub(r" in \S+:\d+$", "", str(error["error"]))
        error_line: int | None = error.get("line")
        if not message:  # crossplane's lexer ran out of text inside a quoted string
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = Path(error["file"]).read_text(encoding="utf-8")
                error_line = _unclosed_quote_line(text)
            message = "a quoted string that starts here is never closed"
        raise FormatError(
            located(
                error["file"],
                error_line,
                f"cannot read the nginx config: {message} (looking for log_format {name})",
            )
        )
    known = ", ".join(found) if found else "none"
    raise FormatError(
        located(
            path,
            None,
            f"no log_format named {name!r} (log formats in the config and its includes: {known})",
        )
    )
