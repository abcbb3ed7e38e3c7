"""A lone unterminated line in a stream that cannot grow (issue 10)."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.support import combined, events, meterlog_process

# -- (a) a lone unterminated line in a stream that cannot grow -------------------------------


def test_a_lone_unterminated_line_on_stdin_is_complete(tmp_path: Path) -> None:
    store = tmp_path / "store"
    line = combined(1)
    result = meterlog_process(
        "ingest", "--store", str(store), "--format", "combined", "-", input=line
    )
    assert result.returncode == 0, result.stderr
    stored = events(store)
    assert stored.height == 1
    assert stored.item(0, "path") == "/v1/items/1"
    # the same under --format auto
    auto_store = tmp_path / "auto"
    result = meterlog_process("ingest", "--store", str(auto_store), "-", input=line)
    assert result.returncode == 0, result.stderr
    assert events(auto_store).height == 1


def test_a_gzip_holding_one_unterminated_line_is_ingested(tmp_path: Path) -> None:
    log = tmp_path / "access.log.1.gz"
    log.write_bytes(gzip.compress(combined(7).encode()))
    store = tmp_path / "store"
    result = meterlog_process("ingest", "--store", str(store), str(log))
    assert result.returncode == 0, result.stderr
    stored = events(store)
    assert stored.get_column("path").to_list() == ["/v1/items/7"]
    # counted once: a second run adds nothing
    again = meterlog_process("ingest", "--store", str(store), str(log))
    assert again.returncode == 0, again.stderr
    assert events(store).height == 1


def test_an_unterminated_line_in_a_plain_file_still_waits(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(combined(1))
    store = tmp_path / "store"
    result = meterlog_process("ingest", "--store", str(store), "--format", "combined", str(log))
    assert result.returncode == 0, result.stderr
    assert "waiting" in result.stdout
    log.write_text(combined(1) + "\n")
    result = meterlog_process("ingest", "--store", str(store), "--format", "combined", str(log))
    assert result.returncode == 0, result.stderr
    assert events(store).height == 1
