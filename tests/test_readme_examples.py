"""A newcomer's first hour, replayed: every example in the README's ``sh`` blocks runs as
written, in README order, from a copy of the checkout holding the bundled ``sample_logs/``,
with ``meterlog`` on the PATH and ``METERLOG_STORE=./store`` (as the README says for the
examples without ``--store``). ``make demo`` runs the same way and shows a complete invoice.

Each example runs in a shell, pipes and redirections included; ``watch`` examples are stopped
with SIGTERM once they have committed, and must exit 0 as the README promises.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO, process_env
from tests.test_docs import code_blocks

pytestmark = pytest.mark.slow

#: Seconds a ``watch`` example runs before it is sent SIGTERM (it commits every 2 s).
WATCH_SECONDS = 6.0
#: A block that sets an object-store URL describes several machines and an object store: its
#: examples are checked to parse, not run.
OBJECT_STORE = re.compile(r"METERLOG_STORE=(s3|gs|az|abfss?)://")


def readme_examples() -> list[tuple[str, bool]]:
    """``(command line, runnable)`` for every shell line of the README's ``sh`` blocks that
    runs ``meterlog`` (continuation lines joined, comments dropped), in README order."""
    examples = []
    for block in code_blocks("sh"):
        runnable = not OBJECT_STORE.search(block)
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if re.search(r"(^|\|\s*)meterlog\s", line):
                examples.append((line, runnable))
    return examples


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like the checkout: ``sample_logs/`` and a ``Makefile``."""
    folder = tmp_path_factory.mktemp("checkout")
    shutil.copytree(REPO / "sample_logs", folder / "sample_logs")
    shutil.copy(REPO / "Makefile", folder / "Makefile")
    shutil.copy(REPO / "pyproject.toml", folder / "pyproject.toml")
    shutil.copytree(REPO / "tests", folder / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, module in (("meterlog", "meterlog"), ("python", None)):
        command = f'exec "{sys.executable}"' + (f" -m {module}" if module else "")
        (bin_dir / name).write_text(f'#!/bin/sh\n{command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    (folder / ".venv" / ".installed").touch()
    return folder


def shell_env(folder: Path) -> dict[str, str]:
    env = process_env({"METERLOG_STORE": "./store"})
    env["PATH"] = f"{folder / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    env["COLUMNS"] = "160"
    return env


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def run_watch(line: str, folder: Path) -> tuple[int, str]:
    """Run a ``watch`` example for :data:`WATCH_SECONDS`, then SIGTERM it."""
    process = subprocess.Popen(
        ["bash", "-c", f"exec {line}"],
        cwd=folder,
        env=shell_env(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(WATCH_SECONDS)
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        return -1, f"did not exit within 60 s of SIGTERM\n{err}"
    return process.returncode, out + err


def run_example(line: str, folder: Path) -> tuple[int, str]:
    if re.match(r"meterlog watch\s", line):
        return run_watch(line, folder)
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=folder,
        env=shell_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def test_every_readme_example_runs_as_written_on_the_bundled_files(checkout: Path) -> None:
    examples = readme_examples()
    assert len(examples) > 40, "the README's examples were not found"
    failures = []
    skipped = []
    ran = 0
    for line, runnable in examples:
        if not runnable:
            continue
        ports = [int(p) for p in re.findall(r"--metrics \S*:(\d+)", line)]
        if any(port_in_use(port) for port in ports):
            skipped.append(f"port {ports} is taken on this machine, needed by: {line}")
            continue
        code, output = run_example(line, checkout)
        ran += 1
        if code != 0 or "Traceback" in output:
            failures.append(f"$ {line}\nexit {code}\n{output[-2000:]}")
    assert not failures, f"{len(failures)} of {ran} README examples failed:\n\n" + "\n\n".join(
        failures
    )
    if skipped:
        pytest.skip(f"{ran} examples ran; not run: {'; '.join(skipped)}")


def test_object_store_examples_parse(checkout: Path) -> None:
    """The examples that need an object store are at least valid command lines."""
    for line, runnable in readme_examples():
        if runnable or not line.startswith("meterlog "):
            continue
        words = line.split("#", 1)[0].split()
        result = subprocess.run(
            [*words[:2], "--help"],
            cwd=checkout,
            env=shell_env(checkout),
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, line


def test_make_demo_shows_a_complete_invoice_and_each_warning_once(checkout: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "--no-print-directory", "demo"],
        cwd=checkout,
        env=shell_env(checkout),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout
    assert "complete: yes" in result.stdout
    assert "complete: no" not in result.stdout
    assert "may be incomplete" not in result.stdout
    # make echoes each command before its output: each command says a warning once
    steps = re.split(r"^\.venv/bin/meterlog ", result.stdout, flags=re.MULTILINE)
    for step in steps:
        warnings = [line for line in step.splitlines() if "warning:" in line]
        assert len(warnings) == len(set(warnings)), step
    bill = next(step for step in steps if step.startswith("bill "))
    assert "Invoice 2026-09" in bill
    assert (checkout / "demo-out" / "report.html").stat().st_size > 0
