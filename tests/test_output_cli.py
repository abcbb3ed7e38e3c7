"""What people see from the report commands: tables that fit, compact invoices, spreadsheet
timestamps, ``meterlog rejects`` and ``meterlog report``."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from meterlog.cli import main
from meterlog.schema import REJECT_REASONS
from tests.support import combined, write_lines
from tests.support.usage import ACCOUNTS_CSV, build_store

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
ISOLATED: dict[str, str | None] = {"METERLOG_CONFIG": None, "METERLOG_STORE": None}


def run(*args: str, columns: int | None = None) -> Result:
    env = dict(ISOLATED)
    env["COLUMNS"] = None if columns is None else str(columns)  # pytest-xdist sets COLUMNS
    return CliRunner().invoke(main, list(args), env=env)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    build_store(tmp_path / "store")
    (tmp_path / "accounts.csv").write_text(ACCOUNTS_CSV)
    return tmp_path / "store"


@pytest.mark.parametrize("width", [80, 120, 160])
def test_usage_table_fits_the_terminal(store_path: Path, width: int) -> None:
    args = ["usage", "--store", str(store_path), "--by", "hour,account", "--tz", "Europe/Berlin"]
    args += ["--since", "2026-10-01", "--until", "2026-10-02"]
    args += [
        "--account-field",
        "http_x_api_key",
        "--accounts",
        str(store_path.parent / "accounts.csv"),
    ]
    result = run(*args, "-f", "table", columns=width)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    frame = pl.read_csv(io.StringIO(run(*args, "-f", "csv").stdout))
    assert frame.height == 48 * 3  # two Berlin days of hours, zero-filled, for 3 accounts
    hours = {ts[5:16].replace("T", " ") for ts in frame.get_column("hour")}
    for hour in hours:  # "10-01 14:00": every label whole on one line
        assert any(hour in line for line in lines), hour
    assert "(no key)" in result.stdout  # requests without an API key (#9)
    note = " ".join(result.stdout.split())
    for count in frame.get_column("bytes_sent").unique():
        if f" {count:,} " not in result.stdout:  # left out only when named in the note
            assert "bytes_sent" in note.split("left out")[1]


def test_usage_by_user_labels_anonymous_and_drops_users(store_path: Path) -> None:
    result = run("usage", "--store", str(store_path), "--by", "user", "-f", "table")
    assert "(anonymous)" in result.stdout
    header = next(line for line in result.stdout.splitlines() if "┃" in line)
    assert "users" not in header.replace("user ", "")
    csv_result = run("usage", "--store", str(store_path), "--by", "user", "-f", "csv")
    assert csv_rows(csv_result.stdout)[-1]["user"] == ""  # CSV keeps the blank value


@pytest.mark.parametrize(
    ("time_format", "first"),
    [
        ("iso", "2026-10-01T00:00:00+02:00"),
        ("local", "2026-10-01 00:00:00"),
        ("epoch", str(int(datetime(2026, 9, 30, 22, tzinfo=UTC).timestamp()))),
    ],
)
def test_time_format_for_spreadsheets(store_path: Path, time_format: str, first: str) -> None:
    args = ["usage", "--store", str(store_path), "--by", "day", "--tz", "Europe/Berlin"]
    result = run(*args, "--time-format", time_format, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = csv_rows(result.stdout)
    assert rows[0]["day"] == first
    assert [row["requests"] for row in rows] == ["5", "4", "0", "0", "1"]  # 1 to 5 Oct, Berlin
    as_json = json.loads(run(*args, "--time-format", time_format, "-f", "json").stdout)
    assert str(as_json[0]["day"]) == first


def test_time_format_epoch_is_a_number_in_json(store_path: Path) -> None:
    args = ["usage", "--store", str(store_path), "--by", "hour", "--since", "2026-10-05"]
    rows = json.loads(run(*args, "--time-format", "epoch", "-f", "json").stdout)
    assert rows[0]["hour"] == int(datetime(2026, 10, 5, tzinfo=UTC).timestamp())


def test_bad_time_format_is_a_usage_error(store_path: Path) -> None:
    result = run("usage", "--store", str(store_path), "--time-format", "excel")
    assert result.exit_code == 2
    assert "iso" in result.stderr and "epoch" in result.stderr


# -- bill --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_store(sample_logs_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("samples") / "store"
    return Path(shutil.copytree(sample_logs_store, path))


def bill(store: Path, *args: str, columns: int | None = None) -> Result:
    return run(
        "bill", "--store", str(store), "--period", "2026-10", "--plan",
        str(SAMPLES / "plans.toml"), "--account-field", "http_x_api_key",
        "--accounts", str(SAMPLES / "accounts.csv"), *args, columns=columns,
    )  # fmt: skip


@pytest.mark.parametrize("width", [80, 120, 160])
def test_bill_on_a_terminal_is_a_compact_invoice(sample_store: Path, width: int) -> None:
    full = csv_rows(bill(sample_store, "-f", "csv").stdout)
    assert {"meter", "period_start", "billable_quantity", "store_version"} <= set(full[0])
    table = bill(sample_store, "-f", "table", columns=width)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "2026-10-01 to 2026-10-31" in table.stdout and "EUR" in table.stdout
    header = next(line for line in lines if "┃" in line)
    assert "meter" not in header and "store_version" not in header
    for row in full:  # every amount and quantity whole on one line, each account's TOTAL too
        amount = f"{Decimal(row['amount']):,}"
        assert any(amount in line and row["account"][:8] in line for line in lines), amount
        if row["quantity"]:
            quantity = f"{int(row['quantity']):,}"
            assert any(quantity in line for line in lines), quantity


# -- rejects -------------------------------------------------------------------------------


@pytest.fixture
def rejects_store(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    good = [combined(i) for i in range(20)]
    bad_a = [*good[:5], "garbage \x1b[31mred\x1b[0m \x1b]0;owned\x07", *good[5:10]]
    bad_b = [*good[10:], '1.2.3.4 - - [99/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"']
    write_lines(logs / "a.log", bad_a)
    write_lines(logs / "b.log", bad_b)
    store = tmp_path / "store"
    result = run("ingest", "-q", "--store", str(store), str(logs))
    assert result.exit_code == 0, result.stderr
    return store


def test_rejects_lists_file_line_reason_and_text(rejects_store: Path) -> None:
    result = run("rejects", "--store", str(rejects_store), "-f", "csv")
    assert result.exit_code == 0, result.stderr
    rows = csv_rows(result.stdout)
    assert list(rows[0]) == ["file", "line_number", "reason", "text", "ingested_at"]
    found = [(Path(r["file"]).name, r["line_number"], r["reason"]) for r in rows]
    assert found == [("a.log", "6", "no_match"), ("b.log", "11", "bad_timestamp")]
    assert rows[0]["text"].startswith("garbage \x1b[31mred")  # CSV: the line as stored


def test_rejects_filters(rejects_store: Path) -> None:
    def lines(*args: str) -> list[str]:
        out = run("rejects", "--store", str(rejects_store), "-f", "csv", *args).stdout
        return [Path(r["file"]).name for r in csv_rows(out)]

    assert lines("--reason", "bad_timestamp") == ["b.log"]
    assert lines("--file", "a.log") == ["a.log"]
    assert lines("--file", "*.log", "--limit", "1") == ["a.log"]
    assert lines("--since", "2000-01-01") == ["a.log", "b.log"]  # ingested just now
    assert lines("--until", "2000-01-01") == []
    bad = run("rejects", "--store", str(rejects_store), "--reason", "nope")
    assert bad.exit_code == 2
    assert all(reason in bad.stderr for reason in REJECT_REASONS)


def test_rejects_table_neutralises_escape_sequences(rejects_store: Path) -> None:
    result = run("rejects", "--store", str(rejects_store), "-f", "table", columns=120)
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "garbage \ufffd[31mred" in result.stdout
    assert "bad_timestamp" in result.stdout and "no_match" in result.stdout


# -- report --------------------------------------------------------------------------------


def test_report_command_writes_the_html_file(sample_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run(
        "report", "--store", str(sample_store), "--month", "2026-10", "--plan",
        str(SAMPLES / "plans.toml"), "--account-field", "http_x_api_key",
        "--accounts", str(SAMPLES / "accounts.csv"), "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"wrote {out}" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Invoice 2026-10" in text


def test_report_month_and_since_together_is_a_usage_error(sample_store: Path) -> None:
    result = run(
        "report", "--store", str(sample_store), "--month", "2026-10", "--since", "2026-10-01",
        "-o", "r.html",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "either --month or --since/--until" in result.stderr


def test_time_formats_match_the_library() -> None:
    from meterlog.commands.options import TIME_FORMATS as OPTION_VALUES
    from meterlog.output import TIME_FORMATS

    assert OPTION_VALUES == TIME_FORMATS


def test_report_and_rejects_help_loads_no_polars() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from meterlog.cli import main\n"
        "for name in ('report', 'rejects'):\n"
        "    try: main([name, '--help'])\n"
        "    except SystemExit: pass\n"
        "print('polars' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().endswith("False")
