"""Errors that carry a message meant for the user (one line: what, where, what to do)."""

from __future__ import annotations

import enum
import tomllib
from pathlib import Path


class ExitStatus(enum.IntEnum):
    """What the ``meterlog`` program's exit code means (documented in the README): the one
    place the codes are defined."""

    OK = 0
    FAILURE = 1  # a bad file, a store error, a file whose lines mostly do not match
    USAGE = 2  # a bad option or value
    FINDINGS = 3  # --fail-on: a finding at or above the given severity
    INTERRUPTED = 130  # Ctrl-C (SIGINT)


class MeterlogError(Exception):
    """A failure the user can act on. The CLI prints ``str(error)`` and exits 1."""

    exit_code: ExitStatus = ExitStatus.FAILURE


class InputError(MeterlogError):
    """A log file, path or stream that cannot be read."""


class FormatError(MeterlogError):
    """A log format definition (``--log-format``, nginx config) that cannot be used."""


class ConfigError(MeterlogError):
    """A config, plan or accounts file with a mistake: names the file, the key and the reason."""


class StoreError(MeterlogError):
    """The store cannot be opened, locked or written."""


class StoreBusyError(StoreError):
    """Another run holds the store's writer lock (a routine wait for ``watch``, which tries
    again at its next batch)."""


def located(path: object, line: int | None, message: str) -> str:
    """Format ``path:line: message`` (line optional) for user-facing errors."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return f"{where}: {message}"


def read_text_file(path: object, what: str, error: type[MeterlogError] = ConfigError) -> str:
    """The UTF-8 text of a file the user named; ``error`` with the path and reason if not.

    ``what`` names the file in the message, e.g. ``"plan file"``.
    """
    try:
        return Path(str(path)).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise error(located(path, None, f"{what} is a directory; give a file")) from None
    except OSError as exc:
        raise error(located(path, None, f"cannot read {what}: {exc.strerror}")) from None
    except UnicodeDecodeError:
        raise error(located(path, None, f"{what} is not UTF-8 text")) from None


def read_toml_file(path: object, what: str) -> dict[str, object]:
    """A TOML file the user named, parsed; ConfigError with file, line and reason if not."""
    try:
        return tomllib.loads(read_text_file(path, what))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            located(path, getattr(exc, "lineno", None), f"not valid TOML: {exc}")
        ) from None


class UsageError(MeterlogError):
    """A value the user gave (an option, a period, a time zone) that has the wrong form.

    The message lists the valid forms; the program exits 2, as for any usage error.
    """

    exit_code = ExitStatus.USAGE


def vanished_file_error(exc: BaseException) -> StoreError | None:
    """A store data file that was removed while a report read it (``maintain`` deleting the
    files of older versions, with a short ``--retention``), as one line; None for any other
    error. Polars and Delta report it as a file not found when the query runs."""
    text = str(exc)
    if not isinstance(exc, FileNotFoundError) or ".parquet" not in text:
        return None
    name = text.rsplit(":", 1)[-1].split(" (set ")[0].strip()
    return StoreError(
        f"{name}: a data file of the store is missing: removed while it was read (by "
        "'meterlog maintain' with a short --retention: run the command again) or lost (run "
        "'meterlog check --repair')"
    )
