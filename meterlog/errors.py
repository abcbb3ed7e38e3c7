"""Errors that carry a message meant for the user (one line: what, where, what to do)."""

from __future__ import annotations


class MeterlogError(Exception):
    """A failure the user can act on. The CLI prints ``str(error)`` and exits 1."""

    exit_code = 1


class InputError(MeterlogError):
    """A log file, path or stream that cannot be read."""


class FormatError(MeterlogError):
    """A log format definition (``--log-format``, nginx config) that cannot be used."""


class ConfigError(MeterlogError):
    """A config, plan or accounts file with a mistake: names the file, the key and the reason."""


class StoreError(MeterlogError):
    """The store cannot be opened, locked or written."""


def located(path: object, line: int | None, message: str) -> str:
    """Format ``path:line: message`` (line optional) for user-facing errors."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return f"{where}: {message}"
