"""Third-party logs (``shared/realdata`` beside the checkout): meterlog's counts against an
independent line-by-line reference parser written here with Python's ``re`` and ``datetime``."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from meterlog.formats import JsonLinesFormat, builtin_format
from meterlog.ingest import DUPLICATE, UNCHANGED, IngestOptions, ingest
from meterlog.sources import split_lines
from meterlog.store import Store
from tests.support import events, progress_table, realdata, rejects

# -- the reference: nginx/Apache combined and main, by the log_format's definition -----------

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_COMBINED = r"^(\S*) - (\S*) \[([^\]]*)\] " + _QUOTED + r" (\S*) (\S*) " + _QUOTED + " " + _QUOTED
REFERENCE = {
    "combined": re.compile(_COMBINED + "$"),
    "main": re.compile(_COMBINED + " " + _QUOTED + "$"),
}


def reference_accepts(line: bytes, fmt: str) -> bool:
    """Whether a line is a valid request line of ``fmt`` (decoded, fields checked)."""
    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return False
    match = REFERENCE[fmt].match(text)
    if match is None:
        return False
    try:
        datetime.strptime(match.group(3), "%d/%b/%Y:%H:%M:%S %z")
    except ValueError:
        return False
    status, size = match.group(5), match.group(6)
    if not (status.isdigit() and int(status) <= 999):
        return False
    return size == "-" or (size.isdigit() and int(size) < 2**63)


def reference_json_accepts(line: bytes) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return False
    if not isinstance(value, dict):
        return False
    stamp = next((value[k] for k in ("time", "msec", "timestamp", "ts") if k in value), None)
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        return 0 <= stamp < 10**12
    if isinstance(stamp, str):
        try:
            datetime.fromisoformat(stamp)
        except ValueError:
            return False
        return True
    return False


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


CASES = [
    ("elastic-apache-10k/apache_logs", "combined", 9999, 1),
    ("lnav-shop/shop_access_log", "main", 1000, 0),
    ("lnav-misc/logfile_access_log.0", "combined", 3, 0),
    ("lnav-misc/logfile_access_log.1", "combined", 1, 0),
    ("lnav-misc/logfile_bad_access_log.0", "combined", 2, 1),
    ("lnav-misc/playground_access_log.gz", "combined", 2492, 0),
    ("beats-nginx-edge/access_access.log", "combined", 12, 1),
    ("beats-nginx-edge/access_test.log", "combined", 2, 5),
    ("beats-nginx-edge/access_test-with-host.log", "combined", 0, 10),
    ("lnav-misc/logfile_caddy_log.0", "json", 0, 39),
    ("lnav-misc/logfile_caddy_log.1", "json", 4, 0),
]


@pytest.mark.parametrize(("name", "fmt", "parsed", "rejected"), CASES)
def test_counts_equal_the_reference_parser(name: str, fmt: str, parsed: int, rejected: int) -> None:
    data = read_bytes(realdata(*name.split("/")))
    lines = data.splitlines(keepends=True)
    if fmt == "json":
        expected = sum(reference_json_accepts(line) for line in lines)
    else:
        expected = sum(reference_accepts(line, fmt) for line in lines)
    batch = split_lines(data, 0, 1)
    result = (JsonLinesFormat() if fmt == "json" else builtin_format(fmt)).parse(batch.lines)
    got_rejected = result.rejects.height + batch.invalid.height + batch.too_long.height
    assert (result.events.height, got_rejected) == (expected, len(lines) - expected)
    assert (result.events.height, got_rejected) == (parsed, rejected)


def test_apache_10k_ingest(tmp_path: Path) -> None:
    path = realdata("elastic-apache-10k", "apache_logs")
    store = Store(tmp_path / "store")
    summary = ingest(store, [str(path)], IngestOptions())
    assert summary.failed == []
    stored = events(store)
    assert stored.height == 9999
    assert stored.get_column("bytes_sent").null_count() == 0
    assert rejects(store).select("source_line", "reason").rows() == [(8899, "no_match")]
    assert progress_table(store) == [(stored.item(0, "source_id"), 2370789, 10000)]


def test_directory_twice_and_the_byte_identical_copy(tmp_path: Path) -> None:
    folder = realdata("lnav-misc")
    store = Store(tmp_path / "store")
    first = ingest(store, [str(folder)], IngestOptions())
    names = sorted(Path(s.path).name for s in first.sources)
    assert "logfile_access_log_dupe.0" not in names  # its name does not match the defaults
    assert [Path(s.path).name for s in first.failed] == ["logfile_caddy_log.0"]
    rows = events(store).height
    assert rows == 3 + 1 + 2 + 4 + 2492
    second = ingest(store, [str(folder)], IngestOptions())
    assert {s.status for s in second.sources if s.error is None} == {UNCHANGED}
    assert events(store).height == rows
    dupe = folder / "logfile_access_log_dupe.0"
    third = ingest(store, [str(dupe)], IngestOptions())
    assert third.sources[0].status == DUPLICATE  # a copy of stored lines, in another file
    both = ingest(Store(tmp_path / "other"), [str(folder / "logfile_access_log.0"), str(dupe)])
    assert [s.status for s in both.sources][1] == DUPLICATE
    assert events(tmp_path / "other").height == 3


def test_shop_log_offsets_and_rotation_copy(tmp_path: Path) -> None:
    source = realdata("lnav-shop", "shop_access_log")
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(source, logs / "access.log")
    store = Store(tmp_path / "store")
    ingest(store, [str(logs)], IngestOptions())
    stored = events(store)
    assert stored.height == 1000
    assert str(stored.get_column("ts").min()) == "2019-01-22 00:26:14+00:00"  # +0330
    (logs / "access.log").rename(logs / "access.log.1")
    (logs / "access.log.1.gz").write_bytes(gzip.compress((logs / "access.log.1").read_bytes()))
    (logs / "access.log.1").unlink()
    ingest(store, [str(logs)], IngestOptions())
    assert events(store).height == 1000
