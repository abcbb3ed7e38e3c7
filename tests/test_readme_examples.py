"""A newcomer's first hour, replayed: every example in the ``sh`` blocks of the README and of
each page of the manual (docs/) runs as written, in page order, from a copy of the checkout
holding the bundled ``sample_logs/``, with ``meterlog`` on the PATH and
``METERLOG_STORE=./store`` (as the pages say for the examples without ``--store``). The README
starts from no store (its quick start makes one); each manual page starts from a copy of the
store the quick start makes, ingested once for all pages, so the pages are independent of each
other and run in parallel under xdist. ``make demo`` runs the same way and shows a complete
invoice.

Each example runs in a shell, pipes and redirections included; ``watch`` examples are stopped
with SIGTERM once they have committed, and must exit 0 as the pages promise. An output block
shown right after a shell block is checked against what the command prints.
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
from tests.test_docs import README, code_blocks, example_pages

pytestmark = pytest.mark.slow

#: Seconds a ``watch`` example runs before it is sent SIGTERM (it commits every 2 s).
WATCH_SECONDS = 6.0
#: A block that sets an object-store URL describes several machines and an object store: its
#: examples are checked to parse, not run.
OBJECT_STORE = re.compile(r"METERLOG_STORE=(s3|gs|az|abfss?)://")


def page_examples(page: Path) -> list[tuple[str, bool]]:
    """``(command line, runnable)`` for every shell line of ``page``'s ``sh`` blocks that runs
    ``meterlog`` (continuation lines joined, comments dropped), in page order."""
    examples = []
    for block in code_blocks("sh", page=page):
        runnable = not OBJECT_STORE.search(block)
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if re.search(r"(^|\|\s*)meterlog\s", line):
                examples.append((line, runnable))
    return examples


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


#: The pages with examples, README first.
PAGES = [page for page in example_pages() if page_examples(page)]


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


def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "checkout"
    # what `make demo` (run in the same checkout) leaves is no part of the copy
    shutil.copytree(
        folder, copy, symlinks=True, ignore=shutil.ignore_patterns(".demo-store", "demo-out")
    )
    return copy


def quick_start_ingest() -> str:
    """The README quick start's first line: the ingest that makes ``./store``."""
    line = code_blocks("sh", "## Quick start")[0].splitlines()[0]
    assert line.startswith("meterlog ingest --store ./store "), line
    return line


@pytest.fixture(scope="module")
def ingested(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout whose ``./store`` holds what the README's quick start stores,
    ingested once for every page of the manual."""
    folder = copy_of(checkout, tmp_path_factory.mktemp("ingested"))
    code, output = run_example(quick_start_ingest(), folder)
    assert code == 0, output
    return folder


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


def test_the_examples_are_found() -> None:
    examples = [example for page in PAGES for example in page_examples(page)]
    assert len(examples) > 40, "the examples of the README and docs/ were not found"
    assert PAGES[0] == README
    assert len(PAGES) > 5, [page_id(page) for page in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_example_runs_as_written_on_the_bundled_files(
    page: Path, checkout: Path, ingested: Path, tmp_path: Path
) -> None:
    folder = copy_of(checkout if page == README else ingested, tmp_path)
    failures = []
    skipped = []
    ran = 0
    for line, runnable in page_examples(page):
        if not runnable:
            continue
        ports = [int(p) for p in re.findall(r"--metrics \S*:(\d+)", line)]
        if any(port_in_use(port) for port in ports):
            skipped.append(f"port {ports} is taken on this machine, needed by: {line}")
            continue
        code, output = run_example(line, folder)
        ran += 1
        if code != 0 or "Traceback" in output:
            failures.append(f"$ {line}\nexit {code}\n{output[-2000:]}")
    assert not failures, (
        f"{len(failures)} of {ran} examples of {page_id(page)} failed:\n\n" + "\n\n".join(failures)
    )
    if skipped:
        pytest.skip(f"{ran} examples ran; not run: {'; '.join(skipped)}")


def shown_outputs(page: Path) -> list[tuple[str, str]]:
    """``(command line, output)`` for each plain fenced block that follows a one-line ``sh``
    block directly: the output the page shows for that command (``...`` marks lines left
    out)."""
    text = page.read_text(encoding="utf-8")
    return re.findall(r"^```sh\n(meterlog [^\n]*)\n```\n\s*^```\n(.*?)^```$", text, re.M | re.S)


def test_shown_output_is_what_the_command_prints(ingested: Path, tmp_path: Path) -> None:
    """The output the README shows (an invoice) is what its command prints on the store the
    quick start makes."""
    shown = [pair for page in PAGES for pair in shown_outputs(page)]
    assert shown, "the README shows no command's output"
    folder = copy_of(ingested, tmp_path)
    for line, output in shown:
        code, printed = run_example(line, folder)
        assert code == 0, printed
        printed_lines = {row.strip() for row in printed.splitlines()}
        for row in output.splitlines():
            if row.strip() and row.strip() != "...":
                assert row.strip() in printed_lines, (
                    f"$ {line}\nshows {row!r}, not printed:\n{printed}"
                )


def test_object_store_examples_parse(checkout: Path) -> None:
    """The examples that need an object store are at least valid command lines."""
    for line, runnable in (example for page in PAGES for example in page_examples(page)):
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
