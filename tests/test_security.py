"""Security: spreadsheet formulas neutralised in CSV, nothing from a log evaluated,
pseudonymised user identifiers, file modes from the umask, no links out of the store."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import re
import stat
from pathlib import Path

import polars as pl
import pytest

from meterlog.errors import MeterlogError, StoreError
from meterlog.ingest import IngestOptions, ingest
from meterlog.ingest.pseudonymize import KEY_ENV, Pseudonymizer
from meterlog.output import write_report
from meterlog.query.identity import with_identity
from meterlog.store import Store
from tests.support import REPO, cli, combined, events, rejects, write_lines

KEY = "correct horse battery staple 2026"

# -- CSV formulas ---------------------------------------------------------------------------


def test_csv_neutralises_formulas_from_logged_fields(tmp_path: Path) -> None:
    hostile = [
        combined(1, user="=cmd|'/C'!A0", agent="=HYPERLINK(\\x22http://x\\x22)"),
        combined(2, user="+SUM(1,2)", path="-2+3", agent="@SUM(A1)"),
        combined(3, user="-1", agent="\\x09=1+1"),  # a tab (nginx writes it as \x09)
        combined(4, user="\\x0D=1", agent="plain agent"),
        combined(5, user="alice", agent="a=b is fine"),
    ]
    log = write_lines(tmp_path / "a.log", hostile)
    store = Store(tmp_path / "store")
    ingest(store, [str(log)], IngestOptions())
    frame = events(store).select("remote_user", "path", "user_agent").sort("remote_user")
    assert frame.height == 5
    agents = frame.get_column("user_agent").to_list()
    assert sum(a.startswith(("=", "+", "-", "@", "\t")) for a in agents) == 3
    target = tmp_path / "out.csv"
    assert write_report(frame, output=target) == "csv"
    text = target.read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["remote_user", "path", "user_agent"]
    cells = [cell for row in rows[1:] for cell in row]
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == []
    for original in frame.iter_rows():
        for value in original:
            if value and value[0] in "=+-@\t\r":
                assert "'" + value in cells
    assert "alice" in cells and "a=b is fine" in cells  # other values untouched
    stdout = io.StringIO()
    write_report(frame, "csv", stdout=stdout)
    assert stdout.getvalue() == text


# -- nothing evaluated ----------------------------------------------------------------------

# Python's eval/exec (not Polars' ``.list.eval``), shells and unpickling
FORBIDDEN = re.compile(
    r"(?<![\w.])eval\(|(?<![\w.])exec\(|shell\s*=\s*True|os\.system|os\.popen|pickle\.load"
)


def test_package_source_evaluates_nothing() -> None:
    sources = sorted((REPO / "meterlog").rglob("*.py"))
    assert len(sources) > 10
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if FORBIDDEN.search(line)
    ]
    assert found == []


def test_log_text_is_never_a_format_string(tmp_path: Path) -> None:
    log = write_lines(
        tmp_path / "a.log",
        [combined(1, user="{0.__class__}", agent="%s%s%n {__import__('os')}"), "{}"],
    )
    result = cli("ingest", "--store", str(tmp_path / "s"), str(log))
    assert result.exit_code == 0
    assert "line 2: no_match: {}" in result.stdout
    stored = events(tmp_path / "s")
    assert stored.get_column("remote_user").to_list() == ["{0.__class__}"]
    assert stored.get_column("user_agent").to_list() == ["%s%s%n {__import__('os')}"]


# -- pseudonymisation -----------------------------------------------------------------------

USERS = ["alice@example.com", "bob", "carol", "-", "dave"]


def user_log(tmp_path: Path) -> Path:
    lines = [combined(i, user=USERS[i % len(USERS)]) for i in range(70)]
    lines.append("broken line from user alice@example.com")
    return write_lines(tmp_path / "a.log", lines)


def test_pseudonymized_store_holds_no_raw_identifiers_and_mau_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = user_log(tmp_path)
    plain = tmp_path / "plain"
    assert cli("ingest", "--store", str(plain), str(log)).exit_code == 0
    monkeypatch.setenv(KEY_ENV, KEY)
    hashed = tmp_path / "hashed"
    result = cli("ingest", "--store", str(hashed), "--pseudonymize", str(log))
    assert result.exit_code == 0, result.stderr
    raw_users = {"alice@example.com", "bob", "carol", "dave"}
    # nowhere in the store: not in data files, statistics in the log, rejected lines
    for path in hashed.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for user in raw_users:
                assert user.encode() not in content, (path, user)
    assert rejects(hashed).get_column("line").to_list() == [None]
    assert rejects(hashed).get_column("source_line").to_list() == [71]

    def users(store: Path) -> pl.DataFrame:
        lazy = with_identity(Store(store).scan_events())
        return lazy.select("source_offset", "user").collect().sort("source_offset")

    raw, digests = users(plain), users(hashed)
    assert raw.get_column("user").n_unique() == digests.get_column("user").n_unique() == 5
    pairs = raw.join(digests, on="source_offset", suffix="_digest")
    assert (
        pairs.group_by("user")
        .agg(pl.col("user_digest").n_unique())
        .get_column("user_digest")
        .to_list()
        == [1] * 5
    )
    assert pairs.filter(pl.col("user").is_null()).get_column("user_digest").null_count() == 14
    # the customer's check: hash their own list with the same key
    mine = {
        hmac.new(KEY.encode(), user.strip().encode("utf-8"), hashlib.sha256).hexdigest()
        for user in ["alice@example.com", "bob", "carol", "dave"]
    }
    assert mine == set(digests.get_column("user").drop_nulls().to_list())


def test_pseudonymize_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = user_log(tmp_path)
    missing = cli("ingest", "--store", str(tmp_path / "s"), "--pseudonymize", str(log))
    assert missing.exit_code == 1
    assert missing.stderr.startswith(
        f"meterlog: error: --pseudonymize needs a secret key in the environment variable {KEY_ENV}"
    )
    assert not (tmp_path / "s").exists()
    monkeypatch.setenv(KEY_ENV, "short")
    short = cli("ingest", "--store", str(tmp_path / "s"), "--pseudonymize", str(log))
    assert short.exit_code == 1
    assert "is 5 bytes long" in short.stderr
    monkeypatch.setenv(KEY_ENV, KEY)
    number = cli(
        "ingest", "--store", str(tmp_path / "s"), "--pseudonymize-field", "status", str(log)
    )
    assert number.exit_code == 1
    assert "only text columns can be hashed" in number.stderr


def test_pseudonymize_extra_fields(tmp_path: Path) -> None:
    key = KEY.encode()
    pseudonymizer = Pseudonymizer(key, ("remote_user", "http_x_api_key", "absent"))
    frame = pl.DataFrame(
        {"remote_user": ["a", "a", None, "b"], "http_x_api_key": ["k1", "-", "k1", " k2"]}
    )
    out = pseudonymizer.apply(frame)

    def h(value: str) -> str:
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    assert out.get_column("remote_user").to_list() == [h("a"), h("a"), None, h("b")]
    assert out.get_column("http_x_api_key").to_list() == [h("k1"), None, h("k1"), h("k2")]
    with pytest.raises(MeterlogError, match="cannot be hashed"):
        Pseudonymizer(key, ("source_offset",))


# -- file modes -----------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_store_and_exports_follow_the_umask(tmp_path: Path, umask: int) -> None:
    log = write_lines(tmp_path / "a.log", [combined(i) for i in range(20)] + ["junk"])
    previous = os.umask(umask)
    try:
        store = Store(tmp_path / "store")
        ingest(store, [str(log)], IngestOptions())
        write_report(events(store).select("path"), output=tmp_path / "export.csv")
    finally:
        os.umask(previous)
    paths = [tmp_path / "store", *(tmp_path / "store").rglob("*"), tmp_path / "export.csv"]
    assert len(paths) > 10
    for path in paths:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & stat.S_IWOTH == 0, (path, oct(mode))  # never world-writable
        assert mode & umask == 0, (path, oct(mode))


# -- links out of the store -----------------------------------------------------------------


def test_table_linked_outside_the_store_is_refused(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "a.log", [combined(i) for i in range(5)])
    root = tmp_path / "store"
    ingest(Store(root), [str(log)], IngestOptions())
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "events").rename(outside / "events")
    (root / "events").symlink_to(outside / "events", target_is_directory=True)
    result = cli("ingest", "--store", str(root), str(log))
    assert result.exit_code == 1
    assert result.stderr == (
        f"meterlog: error: {root / 'events'}: is a symbolic link to {outside / 'events'}, "
        "outside the store; meterlog does not follow links out of the store: "
        "replace the link with the folder itself\n"
    )
    assert cli("status", "--store", str(root)).exit_code == 1
    with pytest.raises(StoreError, match="outside the store"):
        Store(root).scan_events()


def test_delta_log_linked_outside_is_refused_but_links_inside_are_fine(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "a.log", [combined(i) for i in range(5)])
    real = tmp_path / "real-store"
    ingest(Store(real), [str(log)], IngestOptions())
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)  # the store folder itself may be a link
    assert events(alias).height == 5
    (real / "rejects").mkdir()
    (real / "moved").mkdir()
    (real / "sources").rename(real / "moved" / "sources")
    (real / "sources").symlink_to(real / "moved" / "sources")  # inside the store: fine
    assert cli("ingest", "--store", str(alias), str(log)).exit_code == 0
    outside = tmp_path / "log-elsewhere"
    (real / "rejects" / "_delta_log").symlink_to(outside, target_is_directory=True)
    result = cli("ingest", "--store", str(real), str(log))
    assert result.exit_code == 1
    assert "_delta_log: is a symbolic link to" in result.stderr
    assert not outside.exists()
