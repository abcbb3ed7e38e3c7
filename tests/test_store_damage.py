"""A damaged, missing or unreadable store: one line naming the file and what to do, and
``meterlog check [--repair]`` repairing what can be repaired without losing or doubling lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from meterlog.cli import main
from meterlog.ingest import IngestOptions, ingest
from meterlog.store import EVENTS_TABLE, Progress, Store, check_store
from tests.support import REPO, cli, combined, events, process_env, write_lines

READING_COMMANDS = [
    ["status"],
    ["usage"],
    ["mau", "--month", "2026-10"],
    ["peak", "--month", "2026-10"],
    ["maintain"],
    ["check"],
]


def make_store(tmp_path: Path, lines: int = 900, chunk: int = 16 * 1024) -> tuple[Path, Path]:
    log = write_lines(tmp_path / "access.log", [combined(i) for i in range(lines)])
    store = tmp_path / "store"
    summary = ingest(Store(store), [str(log)], IngestOptions(chunk_bytes=chunk, compact=False))
    assert summary.failed == []
    return store, log


def log_dir(store: Path, table: str = EVENTS_TABLE) -> Path:
    return store / table / "_delta_log"


def commits(store: Path) -> list[Path]:
    return sorted(log_dir(store).glob("*.json"))


def keys(store: Path) -> pl.DataFrame:
    return events(store).select("source_id", "source_line")


# -- a mistyped --store ------------------------------------------------------------------------


@pytest.mark.parametrize("command", READING_COMMANDS, ids=lambda c: c[0])
def test_a_missing_store_is_named_for_every_reading_command(
    tmp_path: Path, command: list[str]
) -> None:
    typo = tmp_path / "stroe"
    result = cli(*command, "--store", str(typo))
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"meterlog: error: no meterlog store at {typo} (check --store / METERLOG_STORE)\n"
    )
    assert not typo.exists()  # nothing created at the typo


def test_bill_on_a_missing_store_says_so(tmp_path: Path) -> None:
    plan = REPO / "sample_logs" / "plans.toml"
    result = cli(
        "bill", "--store", str(tmp_path / "none"), "--period", "2026-10", "--plan", str(plan)
    )
    assert result.exit_code == 1, result.output
    assert "no meterlog store at" in result.stderr


def test_an_empty_store_folder_made_by_ingest_is_a_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (tmp_path / "empty.log").write_bytes(b"")
    made = cli("ingest", "--store", str(store), str(tmp_path / "empty.log"))
    assert made.exit_code == 0, made.stderr
    assert not (store / "events").exists()
    result = cli("status", "--store", str(store), "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "empty: nothing ingested yet" in result.stdout


# -- permission denied -------------------------------------------------------------------------


def test_an_unreadable_store_says_permission_denied(request: pytest.FixtureRequest) -> None:
    """The store belongs to root and only root may read it; ``status`` and ``usage`` run as
    another user (a subprocess that drops to uid/gid 65534 before running meterlog)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run meterlog as another user")
    home = Path(tempfile.mkdtemp(prefix="meterlog-perm-", dir="/tmp"))  # others may enter
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    os.chmod(home, 0o755)
    store, _ = make_store(home, lines=50)
    for path in [store, *store.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    # everything imported first: the Python installation may be readable by root only
    script = (
        "import os, sys, ctypes\n"
        "from meterlog.cli import run\n"
        "import meterlog.commands.status, meterlog.commands.usage, meterlog.query.settings\n"
        "import meterlog.query.usage, meterlog.config, meterlog.output, meterlog.text\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "sys.argv = ['meterlog', *sys.argv[1:]]; run()\n"
    )
    for command in (["status", "--format", "table"], ["usage"]):
        done = subprocess.run(
            [sys.executable, "-c", script, *command, "--store", str(store)],
            cwd="/",
            env=process_env({"HOME": "/nonexistent"}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert done.stderr.startswith(f"meterlog: error: permission denied: {store}"), done.stderr
        assert "Traceback" not in done.stderr
        assert "empty" not in done.stdout


# -- damage ------------------------------------------------------------------------------------


def test_a_torn_last_commit_is_named_and_dropped_by_repair(tmp_path: Path) -> None:
    store, log = make_store(tmp_path)
    reference = keys(store)
    last = commits(store)[-1]
    last.write_bytes(last.read_bytes()[: len(last.read_bytes()) // 2])

    status = cli("status", "--store", str(store), "--format", "table")
    assert status.exit_code == 1
    assert status.stderr == (
        f"meterlog: error: {last}: torn commit file (the last commit was cut short); run "
        f"'meterlog check --store {store} --repair' to remove it (that commit never happened: "
        "its lines are read again by the next ingest)\n"
    )

    checked = cli("check", "--store", str(store))
    assert checked.exit_code == 1
    assert f"{last}: torn commit file" in checked.stdout
    repaired = cli("check", "--store", str(store), "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert not last.exists()
    assert cli("check", "--store", str(store)).exit_code == 0
    # the next ingest reads the lines of the dropped commit again, once
    again = cli("ingest", "--store", str(store), str(log))
    assert again.exit_code == 0, again.stderr
    assert keys(store).sort("source_line").equals(reference.sort("source_line"))


def test_a_damaged_checkpoint_is_rebuilt(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path)
    Store(store).table(EVENTS_TABLE).create_checkpoint()  # type: ignore[union-attr]
    reference = keys(store)
    checkpoint = next(log_dir(store).glob("*.checkpoint.parquet"))
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])

    usage = cli("usage", "--store", str(store))
    assert usage.exit_code == 1
    assert usage.stderr.startswith(f"meterlog: error: {checkpoint}: damaged checkpoint")
    assert "check --store" in usage.stderr and "--repair" in usage.stderr

    repaired = cli("check", "--store", str(store), "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert f"{checkpoint}: damaged checkpoint (unreadable Parquet); repaired" in repaired.stdout
    assert keys(store).equals(reference)
    assert cli("check", "--store", str(store)).exit_code == 0


def test_a_lost_data_file_rewinds_its_source_and_ingest_restores_the_lines(
    tmp_path: Path,
) -> None:
    store, log = make_store(tmp_path)
    reference = keys(store).sort("source_line")
    table = Store(store).table(EVENTS_TABLE)
    assert table is not None
    # the files in line order (their names are random)
    files = sorted(table.file_uris(), key=lambda f: pl.read_parquet(f)["source_line"].min())
    assert len(files) > 3
    lost = files[len(files) // 2]  # one chunk in the middle of the log
    lost_lines = pl.read_parquet(lost).get_column("source_line")
    os.unlink(lost)

    usage = CliRunner().invoke(main, ["usage", "--store", str(store)])  # the program's handler
    assert usage.exit_code == 1
    assert usage.stderr.startswith("meterlog: error: ") and usage.stderr.count("\n") == 1
    assert Path(lost).name in usage.stderr and "check --repair" in usage.stderr
    refused = cli("ingest", "--store", str(store), str(log))  # says so instead of "unchanged"
    assert refused.exit_code == 1
    assert "data file is missing" in refused.stderr and "--repair" in refused.stderr

    found = check_store(Store(store))
    assert [(d.path, d.kind) for d in found] == [(lost, "missing")]
    repaired = cli("check", "--store", str(store), "--repair")
    assert repaired.exit_code == 0, repaired.output
    source_id = reference.get_column("source_id")[0]
    first = int(lost_lines.min())  # type: ignore[arg-type]
    assert f"source {source_id[:16]}: rewound to" in repaired.stdout
    assert Store(store).progress(source_id).lines == first - 1
    # the rows after the rewound point are gone from the other files too: nothing doubles
    assert keys(store).get_column("source_line").max() == first - 1
    again = cli("ingest", "--store", str(store), str(log))
    assert again.exit_code == 0, again.stderr
    assert keys(store).sort("source_line").equals(reference)
    assert Store(store).progress(source_id) == Progress(log.stat().st_size, 900)


def test_check_on_a_healthy_store(tmp_path: Path) -> None:
    store, _ = make_store(tmp_path, lines=30)
    result = cli("check", "--store", str(store))
    assert result.exit_code == 0
    assert result.stdout == f"store: {store}: no damage found\n"


@pytest.mark.slow
def test_bill_while_maintain_deletes_old_files_does_not_crash(tmp_path: Path) -> None:
    """``maintain --retention 0h`` deletes every file older versions used; a report reading
    meanwhile prints the same invoice or ends with one line, never with a traceback."""
    store, _ = make_store(tmp_path, lines=3000, chunk=4096)
    plan = REPO / "sample_logs" / "plans.toml"
    env = process_env()
    bill_command = [sys.executable, "-m", "meterlog", "bill", "--store", str(store), "--period",
                    "2026-10", "--plan", str(plan), "--format", "csv"]  # fmt: skip

    def without_version(csv_text: str) -> list[str]:  # maintain commits versions of its own
        lines = csv_text.splitlines()
        assert lines[0].endswith(",store_version"), lines[0]
        return [line.rsplit(",", 1)[0] for line in lines]

    before = subprocess.run(bill_command, cwd=REPO, env=env, capture_output=True, text=True)
    assert before.returncode == 0, before.stderr
    maintain = subprocess.Popen(
        [sys.executable, "-m", "meterlog", "maintain", "--store", str(store), "--retention", "0h"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outcomes = []
    while maintain.poll() is None or not outcomes:
        bill = subprocess.run(
            bill_command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        outcomes.append(bill)
    maintain.communicate(timeout=120)
    assert maintain.returncode == 0
    for bill in outcomes:
        assert "Traceback" not in bill.stderr, bill.stderr
        if bill.returncode == 0:  # the same invoice as before maintain
            assert without_version(bill.stdout) == without_version(before.stdout)
        else:  # or one line saying why
            assert bill.returncode == 1, bill.stderr
            assert bill.stderr.count("\n") == 1 and bill.stderr.startswith("meterlog: error: ")
