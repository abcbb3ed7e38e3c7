"""The command group: commands load on demand, errors map to exit codes in one place, and
importing meterlog changes nothing process-wide."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from meterlog.cli import main
from meterlog.commands import COMMANDS
from meterlog.commands.options import OUTPUT_FORMATS

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("polars", "pyarrow", "deltalake", "numpy", "rich")


def _modules_after(code: str) -> set[str]:
    """Top-level modules loaded by a fresh interpreter after running ``code``."""
    probe = code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


@pytest.mark.parametrize("args", [["--help"], ["--version"], *[[n, "--help"] for n in COMMANDS]])
def test_help_and_version_load_no_data_library(args: list[str]) -> None:
    code = (
        "import sys\nfrom meterlog.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as exit:\n    assert not exit.code, exit.code"
    )
    loaded = _modules_after(code)
    assert not loaded & set(HEAVY), f"meterlog {' '.join(args)} imported {loaded & set(HEAVY)}"


def test_importing_meterlog_changes_nothing_process_wide() -> None:
    code = (
        # Polars sets its own allocator default when imported: compare with the state after it.
        "import gc, os, json\nimport polars, pyarrow, deltalake\nbefore = dict(os.environ)\n"
        "import meterlog, meterlog.cli, meterlog.query.usage, meterlog.ingest, meterlog.billing\n"
        "print(json.dumps({'env': {k: v for k, v in os.environ.items() if before.get(k) != v},"
        " 'frozen': gc.get_freeze_count()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"},
    )
    changes = json.loads(result.stdout.splitlines()[-1])
    assert changes == {"env": {}, "frozen": 0}


def test_every_registered_command_loads_and_is_listed() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    context = click.Context(main)
    for name, module in COMMANDS.items():
        command = main.get_command(context, name)
        assert isinstance(command, click.Command), module
        assert command.name == name
        assert f"  {name} " in result.output


def test_output_formats_match_the_library() -> None:
    from meterlog.output import OUTPUT_FORMATS as LIBRARY_FORMATS

    assert tuple(LIBRARY_FORMATS) == OUTPUT_FORMATS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["usage", "--tz", "Europe/Berln"], "did you mean Europe/Berlin?"),
        (["usage", "--since", "yesterday"], "use a date (2026-10-01)"),
        (["usage", "--since", "2026-10-02", "--until", "2026-10-01"], "is not before"),
        (["mau", "--month", "2026-13"], "use YYYY-MM"),
        (
            ["bill", "--period", "last", "--plan", str(REPO / "sample_logs/plans.toml")],
            "or current",
        ),
        (["maintain", "--retention", "3 months"], "give a whole number with s, m, h, d or w"),
        (["ingest", "--accept-window", "1y:1d", "-"], "give a whole number"),
        (["usage", "--sort", "speed"], "'speed' is not one of requests"),
    ],
)
def test_usage_errors_exit_2_with_the_valid_forms(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, [*args, "--store", str(tmp_path / "store")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_ctrl_c_exits_130_without_a_traceback(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "meterlog", "ingest", "--store", str(tmp_path / "s"), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(b"x")  # the run is reading standard input
    process.stdin.flush()
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    assert b"interrupted" in stderr
