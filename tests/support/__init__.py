"""Helpers the tests share: paths, log line builders, CLI runners, store readers.

Feature helpers live beside this module: ``billing`` and ``usage`` (small stores built
through the real store code), ``anomalies`` (seeded traffic), ``watch`` (log writers and
process helpers for ``watch``), ``s3`` (a local S3 server), ``spark`` (a standalone
cluster), ``chromium`` (a headless browser), ``docs`` (README code blocks).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from meterlog.cli import main
from meterlog.store import Store

REPO = Path(__file__).resolve().parents[2]
#: Third-party logs beside the checkout (``<parent>/shared/realdata``); tests skip without them.
REALDATA = REPO.parent / "shared" / "realdata"


def realdata(*parts: str) -> Path:
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party logs not found at {path}")
    return path


def combined(
    index: int,
    *,
    day: int = 10,
    user: str = "-",
    path: str | None = None,
    status: int = 200,
    agent: str = "curl/8.0",
    offset: str = "+0000",
) -> str:
    """A combined-format line; ``index`` makes it unique (seconds and path)."""
    minute, second = divmod(index % 3600, 60)
    hour = (index // 3600) % 24
    stamp = f"{day:02d}/Oct/2026:{hour:02d}:{minute:02d}:{second:02d} {offset}"
    target = path if path is not None else f"/v1/items/{index}"
    return (
        f'10.0.{index % 250}.{index % 7} - {user} [{stamp}] "GET {target} HTTP/1.1" {status} '
        f'{100 + index} "-" "{agent}"'
    )


def write_lines(path: Path, lines: list[str], *, newline_at_end: bool = True) -> Path:
    text = "\n".join(lines) + ("\n" if newline_at_end and lines else "")
    path.write_bytes(text.encode())
    return path


def events(store: Store | str | Path) -> pl.DataFrame:
    """All stored events, in source then line order."""
    store = store if isinstance(store, Store) else Store(store)
    return store.scan_events().collect().sort("source_id", "source_offset")


def rejects(store: Store | str | Path) -> pl.DataFrame:
    store = store if isinstance(store, Store) else Store(store)
    return store.scan_rejects().collect().sort("source_id", "source_offset")


def progress_table(store: Store | str | Path) -> list[tuple[str, int, int]]:
    """(source_id, offset, lines) for every source the store knows, sorted."""
    store = store if isinstance(store, Store) else Store(store)
    frame = store.sources().select("source_id", "offset", "lines").sort("source_id")
    return [tuple(row) for row in frame.iter_rows()]  # type: ignore[misc]


def cli(*args: str, input: str | bytes | None = None) -> Result:
    """Run the CLI in-process (fast); stdout and stderr are kept apart."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def meterlog_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m meterlog`` as a separate process (for exit codes, signals, locks)."""
    return subprocess.run(
        [sys.executable, "-m", "meterlog", *args],
        cwd=cwd,
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("METERLOG_STORE", None)
    env.pop("METERLOG_CONFIG", None)
    env.pop("METERLOG_HMAC_KEY", None)
    env.update(extra or {})
    return env


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
