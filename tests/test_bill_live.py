"""``bill --require-complete`` on a live-looking log folder: nginx still appending, logrotate
renaming and compressing between the ingest and the bill, half-written last lines."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from meterlog.cli import main

PLAN = """
default_plan = "basic"
currency = "EUR"

[plans.basic]
[[plans.basic.charges]]
name = "users"
meter = "mau"
pricing = "per_unit"
unit_price = "1.00"
"""


def line(moment: datetime, user: str) -> bytes:
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'10.0.0.1 - {user} [{stamp}] "GET /api HTTP/1.1" 200 100 "-" "curl/8"\n'.encode()


def lines(start: str, count: int, user_prefix: str, step_minutes: int = 7) -> bytes:
    first = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return b"".join(
        line(first + timedelta(minutes=step_minutes * n), f"{user_prefix}{n}") for n in range(count)
    )


@pytest.fixture
def live(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "plans.toml").write_text(PLAN, encoding="utf-8")
    return tmp_path


def cli(tmp_path: Path, *args: str, expect: int = 0):
    result = CliRunner().invoke(
        main, [*args, "--store", str(tmp_path / "store")], catch_exceptions=False
    )
    assert result.exit_code == expect, result.output
    return result


def ingest(tmp_path: Path) -> None:
    cli(tmp_path, "ingest", "-q", str(tmp_path / "logs"))


def bill(tmp_path: Path, expect: int = 0):
    return cli(
        tmp_path,
        "bill",
        "--period",
        "2026-10",
        "--plan",
        str(tmp_path / "plans.toml"),
        "--require-complete",
        "--format",
        "csv",
        expect=expect,
    )


def billed_users(csv_text: str) -> int:
    header, *rows = csv_text.strip().splitlines()
    names = header.split(",")
    for row in rows:
        cells = dict(zip(names, row.split(","), strict=True))
        if cells["charge"] == "users":
            return int(cells["quantity"])
    raise AssertionError(csv_text)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def test_lines_appended_after_the_period_do_not_block(live: Path) -> None:
    log = live / "logs" / "access.log"
    log.write_bytes(lines("2026-10-31T20:00:00", 30, "oct") + lines("2026-11-01T00:01:00", 2, "n"))
    ingest(live)
    append(log, lines("2026-11-01T01:00:00", 50, "nov"))  # still being written
    result = bill(live)
    assert result.stderr == ""
    assert billed_users(result.stdout) == 30


def test_an_unterminated_last_line_never_blocks(live: Path) -> None:
    log = live / "logs" / "access.log"
    log.write_bytes(lines("2026-10-31T23:00:00", 5, "oct") + lines("2026-11-01T00:00:30", 1, "n"))
    ingest(live)
    # nginx is half-way through an October-looking line (it cannot be: it has no end yet)
    append(log, line(datetime(2026, 10, 31, 23, 59, tzinfo=UTC), "half")[:40])
    result = bill(live)
    assert result.stderr == ""
    assert billed_users(result.stdout) == 5


def test_a_rotation_between_the_ingest_and_the_bill(live: Path) -> None:
    logs = live / "logs"
    log = logs / "access.log"
    log.write_bytes(lines("2026-10-31T21:00:00", 20, "oct") + lines("2026-11-01T00:02:00", 3, "n"))
    ingest(live)
    append(log, lines("2026-11-01T00:30:00", 10, "late"))  # written before the rotation
    log.rename(logs / "access.log.1")  # logrotate; nginx reopens a new access.log
    (logs / "access.log").write_bytes(lines("2026-11-01T06:00:00", 4, "new"))
    result = bill(live)
    assert result.stderr == ""
    assert billed_users(result.stdout) == 20
    # The next night access.log.1 is compressed to access.log.2.gz: still nothing blocks.
    (logs / "access.log.2.gz").write_bytes(gzip.compress((logs / "access.log.1").read_bytes()))
    (logs / "access.log.1").unlink()
    (logs / "access.log").rename(logs / "access.log.1")
    (logs / "access.log").write_bytes(lines("2026-11-02T00:00:10", 2, "next"))
    assert bill(live).stderr == ""


def test_a_rotated_file_with_unread_october_lines_blocks_naming_it(live: Path) -> None:
    logs = live / "logs"
    log = logs / "access.log"
    log.write_bytes(lines("2026-10-31T21:00:00", 10, "early"))
    ingest(live)  # the last hourly ingest of October
    append(log, lines("2026-10-31T23:20:00", 5, "missed"))  # never ingested...
    log.rename(logs / "access.log.1")  # ...because logrotate came first
    (logs / "access.log").write_bytes(lines("2026-11-01T00:00:05", 3, "nov"))
    cli(live, "ingest", "-q", str(log))  # a careless ingest of access.log alone
    result = bill(live, expect=1)
    rotated = logs / "access.log.1"
    assert (
        f"meterlog: warning: source {rotated} has lines from 2026-10-31T23:20:00+00:00 not "
        "ingested yet (after byte "
    ) in result.stderr
    assert (
        "; its stored lines end at 2026-10-31T22:03:00+00:00, before the end of period 2026-10 "
        "(2026-11-01T00:00:00+00:00, UTC)"
    ) in result.stderr
    assert f"run 'meterlog ingest {logs}' first" in result.stderr
    assert "nothing written because of --require-complete" in result.stderr
    assert result.stdout == ""
    ingest(live)  # as the message says
    result = bill(live)
    assert result.stderr == ""
    assert billed_users(result.stdout) == 15


def test_a_file_never_ingested_with_october_lines_blocks(live: Path) -> None:
    logs = live / "logs"
    (logs / "access.log").write_bytes(
        lines("2026-10-31T23:59:00", 1, "oct") + lines("2026-11-01T00:00:05", 3, "nov")
    )
    cli(live, "ingest", "-q", str(logs / "access.log"))
    (logs / "access.log-20261101.gz").write_bytes(
        gzip.compress(lines("2026-10-30T10:00:00", 4, "oct"))
    )
    result = bill(live, expect=1)
    assert (
        f"{logs / 'access.log-20261101.gz'} was never ingested and holds lines from "
        "2026-10-30T10:00:00+00:00, before the end of period 2026-10"
    ) in result.stderr
    # A file never ingested that only holds lines after the period does not block.
    (logs / "access.log-20261101.gz").write_bytes(
        gzip.compress(lines("2026-11-01T00:00:01", 4, "later"))
    )
    assert bill(live).stderr == ""


def test_reproducing_an_old_invoice_does_not_look_at_todays_files(live: Path) -> None:
    logs = live / "logs"
    (logs / "access.log").write_bytes(
        lines("2026-10-31T23:59:00", 1, "oct") + lines("2026-11-01T00:00:05", 3, "nov")
    )
    ingest(live)
    (logs / "access.log.1").write_bytes(lines("2026-10-30T10:00:00", 4, "oct"))
    bill(live, expect=1)
    assert (
        cli(
            live,
            "bill",
            "--period",
            "2026-10",
            "--plan",
            str(live / "plans.toml"),
            "--require-complete",
            "--as-of",
            "1",  # the first ingest's commit (version 0 creates the empty table)
            "-f",
            "csv",
        ).stderr
        == ""
    )


def test_a_period_without_requests_says_where_the_data_is(live: Path) -> None:
    (live / "logs" / "access.log").write_bytes(lines("2026-11-01T00:00:05", 3, "nov"))
    ingest(live)
    result = bill(live)  # complete (the store reaches past October), but October is empty
    assert result.stderr == (
        "meterlog: warning: no requests in the billing period 2026-10 "
        "(2026-10-01T00:00:00+00:00 to 2026-11-01T00:00:00+00:00): the store's data begins at "
        "2026-11-01T00:00:05+00:00 and ends at 2026-11-01T00:14:05+00:00; check --month, or "
        "ingest the logs of that month\n"
    )
    assert result.stdout.count("\n") == 1  # the header: nobody to bill


def test_status_shows_where_each_source_is_now(live: Path) -> None:
    logs = live / "logs"
    log = logs / "access.log"
    log.write_bytes(lines("2026-10-31T21:00:00", 3, "oct"))
    ingest(live)
    log.rename(logs / "access.log.1")  # logrotate, then nothing new in the rotated file
    (logs / "access.log.2.gz").write_bytes(gzip.compress((logs / "access.log.1").read_bytes()))
    (logs / "access.log.1").unlink()
    log.write_bytes(lines("2026-11-01T00:00:05", 2, "nov"))
    ingest(live)
    status = cli(live, "status", "--format", "csv").stdout
    header, *rows = status.strip().splitlines()
    paths = sorted(
        dict(zip(header.split(","), row.split(","), strict=True))["path"] for row in rows
    )
    assert paths == [str(log), str(logs / "access.log.2.gz")]


def test_files_last_written_long_before_the_period_are_not_opened(live: Path) -> None:
    import os

    logs = live / "logs"
    (logs / "access.log").write_bytes(
        lines("2026-10-31T23:59:00", 1, "oct") + lines("2026-11-01T00:00:05", 3, "nov")
    )
    ingest(live)
    old = logs / "access.log.9"  # unread lines, but written in August: not October's
    old.write_bytes(lines("2026-08-30T10:00:00", 4, "aug"))
    august = datetime(2026, 8, 30, 12, tzinfo=UTC).timestamp()
    os.utime(old, (august, august))
    assert bill(live).stderr == ""
    os.utime(old, None)  # touched now: it is read, and its lines (timed in August) block
    assert "access.log.9 was never ingested and holds lines from 2026-08-30" in (
        bill(live, expect=1).stderr
    )


def test_a_gzip_file_of_several_members_is_read_to_its_end(live: Path) -> None:
    logs = live / "logs"
    first = lines("2026-10-30T10:00:00", 3, "a")
    (logs / "access.log.2.gz").write_bytes(gzip.compress(first))
    (logs / "access.log").write_bytes(lines("2026-11-01T00:00:05", 1, "nov"))
    ingest(live)
    # more October lines appended as a second gzip member: the trailer records only its length
    with (logs / "access.log.2.gz").open("ab") as handle:
        handle.write(gzip.compress(lines("2026-10-31T10:00:00", 2, "b")))
    assert "access.log.2.gz has lines from 2026-10-31T10:00:00+00:00 not ingested" in (
        bill(live, expect=1).stderr
    )
