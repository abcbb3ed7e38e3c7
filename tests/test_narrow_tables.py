"""Terminal tables at 80 columns: what a person sees of ``peak``, ``status`` and ``rejects``."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from meterlog.cli import main
from meterlog.output import cut_middle, render_table
from tests.support import combined, write_lines
from tests.support.usage import build_store

ISOLATED = {"METERLOG_STORE": None, "METERLOG_CONFIG": None, "NO_COLOR": "1"}


def run(*args: str, columns: int = 80) -> Result:
    return CliRunner().invoke(main, list(args), env={**ISOLATED, "COLUMNS": str(columns)})


def flat(text: str) -> str:
    """The table's text with line breaks and runs of spaces as one space (captions wrap)."""
    return " ".join(text.split())


def test_peak_keeps_when_and_leaves_out_what_every_row_shares_first(tmp_path: Path) -> None:
    store = build_store(tmp_path / "store")
    (tmp_path / "accounts.csv").write_text(
        "key,account\nk1,acme-corporation-international-holdings-europe-gmbh\n"
    )
    result = run(
        "peak", "--store", store.uri, "--month", "2026-10", "--by", "account",
        "--account-field", "http_x_api_key", "--accounts", str(tmp_path / "accounts.csv"),
        "-f", "table",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "account" in line)
    assert "peak_start" in header and "peak " in header
    assert "window" not in header and "metric" not in header
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    caption = flat(result.stdout)
    assert "window (1h on every row), metric (requests on every row)" in caption
    # the same table at 160 columns has every column
    wide = run(
        "peak", "--store", store.uri, "--month", "2026-10", "--by", "account",
        "--account-field", "http_x_api_key", "--accounts", str(tmp_path / "accounts.csv"),
        "-f", "table", columns=160,
    )  # fmt: skip
    assert "window" in wide.stdout and "left out" not in wide.stdout


def test_status_shortens_paths_in_the_middle(tmp_path: Path) -> None:
    folder = tmp_path.joinpath(*(f"folder-number-{n}" for n in range(6)))
    folder.mkdir(parents=True)
    write_lines(folder / "the-access-log-of-api.log", [combined(i) for i in range(5)])
    store = tmp_path / "store"
    assert run("ingest", "-q", "--store", str(store), str(folder)).exit_code == 0
    result = run("status", "--store", str(store), "-f", "table")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "\u2026" in line)
    assert "/the-access-log-of-api.log" in row  # the file's name stays whole
    assert str(tmp_path)[:8] in row  # so does the start of the path
    assert str(folder / "the-access-log-of-api.log") not in result.stdout


def test_rejects_give_the_line_text_the_room_left(tmp_path: Path) -> None:
    folder = tmp_path / "logs-from-the-load-balancer-in-frankfurt"
    folder.mkdir()
    bad = "this line is not in any log format and says so at some length " * 3
    write_lines(folder / "access-log-of-the-public-api.log", [combined(1), bad])
    store = tmp_path / "store"
    assert run("ingest", "-q", "--store", str(store), str(folder)).exit_code == 0
    result = run("rejects", "--store", str(store), "-f", "table")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "no_match" in line)
    cells = [cell.strip() for cell in row.split("\u2502")[1:-1]]
    file_cell, _line, _reason, text_cell = cells
    assert "\u2026" in file_cell and file_cell.endswith("api.log")  # cut in the middle
    assert len(text_cell) >= 20 and bad.startswith(text_cell.rstrip("\u2026"))
    assert len(row) <= 80


@pytest.mark.parametrize("width", [5, 9, 20])
def test_cut_middle_keeps_both_ends(width: int) -> None:
    text = "/srv/logs/2026/10/access.log"
    cut = cut_middle(text, width)
    assert len(cut) == width and "\u2026" in cut
    head, tail = cut.split("\u2026")
    assert text.startswith(head) and text.endswith(tail) and tail
    assert cut_middle("short", 10) == "short"


def test_constant_columns_stay_when_they_fit() -> None:
    frame = pl.DataFrame({"a": ["x", "y"], "same": ["s", "s"], "n": [1, 2]})
    out = io.StringIO()
    render_table(frame, console=Console(file=out, width=80), drop_constant=True)
    assert "same" in out.getvalue() and "left out" not in out.getvalue()
