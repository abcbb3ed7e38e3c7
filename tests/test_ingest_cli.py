"""``meterlog ingest``/``status`` from the command line: exit codes and one-line errors."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from meterlog.store import Store
from tests.support import (
    cli,
    combined,
    events,
    meterlog_process,
    running_as_root,
    write_lines,
)


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "access.log", [combined(i) for i in range(20)])


def test_ingest_then_status(tmp_path: Path, log: Path) -> None:
    store = str(tmp_path / "store")
    result = cli("ingest", "--store", store, str(log))
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "files: 1 (1 new, 0 grown, 0 unchanged, 0 duplicate)" in result.stdout
    assert "lines: 20 read, 20 stored, 0 rejected" in result.stdout
    status = cli("status", "--store", store, "--format", "table")
    assert status.exit_code == 0
    assert "rows: 20" in status.stdout
    assert "time range: 2026-10-10T00:00:00+00:00 .. 2026-10-10T00:00:19+00:00" in status.stdout
    quiet = cli("ingest", "--store", store, "-q", str(log))
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")


def test_store_from_the_environment(
    tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERLOG_STORE", str(tmp_path / "env-store"))
    assert cli("ingest", str(log)).exit_code == 0
    assert events(tmp_path / "env-store").height == 20


def test_missing_path(tmp_path: Path) -> None:
    result = cli("ingest", "--store", str(tmp_path / "s"), str(tmp_path / "nope.log"))
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"meterlog: error: {tmp_path / 'nope.log'}: no such file or directory; check the path"
    ]
    assert not (tmp_path / "s" / "events").exists()


@pytest.mark.skipif(running_as_root(), reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path, log: Path) -> None:
    log.chmod(0)
    try:
        result = cli("ingest", "--store", str(tmp_path / "s"), str(log))
    finally:
        log.chmod(0o644)
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"meterlog: error: {log}: cannot read: Permission denied; check the file's permissions"
    ]


def test_directory_as_nginx_conf_is_a_usage_error(tmp_path: Path, log: Path) -> None:
    result = cli(
        "ingest", "--store", str(tmp_path / "s"), "--nginx-conf", str(tmp_path),
        "--log-format-name", "main", str(log),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "is a directory" in result.stderr


def test_truncated_gzip_keeps_lines_before_the_damage(tmp_path: Path) -> None:
    text = "".join(combined(i) + "\n" for i in range(4000)).encode()
    packed = gzip.compress(text)
    path = tmp_path / "old.log.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    store = tmp_path / "s"
    result = cli("ingest", "--store", str(store), str(path))
    assert result.exit_code == 1
    [message] = error_lines(result.stderr)
    assert message.startswith(f"meterlog: error: {path}: corrupt or truncated gzip data after ")
    assert message.endswith(
        "lines before it were kept; if the file is still being written (logrotate compressing "
        "it, a copy arriving) a later run reads the rest, so leave it; otherwise repair or "
        "replace it"
    )
    stored = events(store)
    assert 1000 < stored.height < 4000
    assert stored.get_column("source_line").to_list() == list(range(1, stored.height + 1))
    again = cli("ingest", "--store", str(store), str(path))  # nothing doubled, still an error
    assert again.exit_code == 1
    assert events(store).height == stored.height


def test_corrupt_gzip_header(tmp_path: Path) -> None:
    path = tmp_path / "bad.log.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 64)
    result = cli("ingest", "--store", str(tmp_path / "s"), str(path))
    assert result.exit_code == 1
    [message] = error_lines(result.stderr)
    assert "corrupt or truncated gzip data" in message


def test_unknown_variable_in_log_format(tmp_path: Path, log: Path) -> None:
    result = cli(
        "ingest", "--store", str(tmp_path / "s"),
        "--log-format", "$remote_addr $bogus [$time_local]", str(log),
    )  # fmt: skip
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        "meterlog: error: log format 'custom': unknown nginx variable $bogus; "
        "check the spelling against the log_format in your nginx config (a variable "
        "your config defines with map or set is accepted with --nginx-conf)"
    ]


def test_bad_nginx_config(tmp_path: Path, log: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n  log_format main '$remote_addr [$time_local]';\n}\n")
    result = cli(
        "ingest", "--store", str(tmp_path / "s"), "--nginx-conf", str(conf),
        "--log-format-name", "api", str(log),
    )  # fmt: skip
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"meterlog: error: {conf}: no log_format named 'api' "
        "(log formats in the config and its includes: main)"
    ]
    conf.write_text("log_format main '$remote_addr [$time_local]' \"unterminated;\n")
    broken = cli(
        "ingest", "--store", str(tmp_path / "s"), "--nginx-conf", str(conf),
        "--log-format-name", "main", str(log),
    )  # fmt: skip
    assert broken.exit_code == 1
    assert error_lines(broken.stderr) == [
        f"meterlog: error: {conf}:1: cannot read the nginx config: a quoted string that starts "
        "here is never closed (looking for log_format main)"
    ]


def test_garbage_file_gets_the_log_format_hint(tmp_path: Path) -> None:
    path = tmp_path / "noise.log"
    path.write_bytes(os.urandom(2000).replace(b"\n", b"") + b"\n" + b"hello world\n" * 20)
    result = cli("ingest", "--store", str(tmp_path / "s"), str(path))
    assert result.exit_code == 1
    [message] = error_lines(result.stderr)
    assert message.startswith(f"meterlog: error: {path}: no line matches a known log format")
    assert "--log-format" in message
    assert "--nginx-conf" in message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Missing argument 'PATHS...'"),
        (["--format", "xml", "a.log"], "'xml' is not one of"),
        (["--log-format", "$msec", "--nginx-conf", "n.conf", "a.log"], "not both"),
        (["--nginx-conf", "n.conf", "a.log"], "go together"),
        (["--format", "json", "--json-field", "nokey", "a.log"], "use COLUMN=KEY"),
        (["--chunk-size", "10", "a.log"], "10 is not in the range x>=1024"),
        (["--max-reject-ratio", "2", "a.log"], "not in the range"),
        (["--format", "combined", "--log-format", "$msec", "a.log"], "conflicts"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a.log").write_text(combined(1) + "\n")
    (tmp_path / "n.conf").write_text("log_format main '$msec';\n")
    result = cli("ingest", "--store", str(tmp_path / "s"), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "s" / "events").exists()


def test_store_under_a_regular_file(tmp_path: Path, log: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("ingest", "--store", str(blocker / "store"), str(log))
    assert result.exit_code == 1
    [message] = error_lines(result.stderr)
    assert message.startswith(f"meterlog: error: {blocker / 'store'}: ")
    assert "Not a directory" in message
    status = cli("status", "--store", str(blocker / "store"))
    assert status.exit_code == 1
    assert "Not a directory" in status.stderr


def test_lock_timeout_zero_fails_clearly_while_another_run_writes(
    tmp_path: Path, log: Path
) -> None:
    store = Store(tmp_path / "s")
    with store.lock():
        result = cli("ingest", "--store", str(tmp_path / "s"), "--lock-timeout", "0", str(log))
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"meterlog: error: {tmp_path / 's'}: another meterlog run is writing to this store; "
        "try again later or wait longer with --lock-timeout SECONDS"
    ]
    assert cli("ingest", "--store", str(tmp_path / "s"), str(log)).exit_code == 0


def test_errors_from_a_real_process_have_no_traceback(tmp_path: Path) -> None:
    missing = meterlog_process("ingest", "--store", str(tmp_path / "s"), "nope.log", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr == (
        "meterlog: error: nope.log: no such file or directory; check the path\n"
    )
    usage = meterlog_process("ingest", cwd=tmp_path)
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr
