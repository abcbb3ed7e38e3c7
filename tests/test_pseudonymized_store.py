"""A pseudonymised store takes only data pseudonymised the same way (same key, same columns),
and a raw store takes no digests: mixed identifiers would count one person twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result

from meterlog.ingest.pseudonymize import KEY_ENV, Pseudonymizer
from tests.support import cli, combined, events, write_lines

KEY = "k" * 32
OTHER_KEY = "o" * 32


def logs(tmp_path: Path) -> tuple[Path, Path]:
    first = write_lines(tmp_path / "a.log", [combined(i, user=f"u{i % 5}") for i in range(40)])
    second = write_lines(
        tmp_path / "b.log", [combined(10_000 + i, user=f"u{i % 5}") for i in range(30)]
    )
    return first, second


def ingest(store: Path, log: Path, *options: str) -> Result:
    return cli("ingest", "--store", str(store), *options, str(log))


def test_a_run_without_pseudonymize_is_refused_on_a_pseudonymised_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = logs(tmp_path)
    store = tmp_path / "store"
    monkeypatch.setenv(KEY_ENV, KEY)
    assert ingest(store, first, "--pseudonymize").exit_code == 0
    before = events(store)
    key_id = Pseudonymizer(KEY.encode()).key_id[:15]

    monkeypatch.delenv(KEY_ENV)
    raw = ingest(store, second)
    assert raw.exit_code == 1
    assert raw.stderr.startswith(
        f"meterlog: error: {store}: the store is pseudonymised (key id {key_id}): "
        "run with --pseudonymize and the same METERLOG_HMAC_KEY"
    )
    assert raw.stderr.count("\n") == 1
    assert events(store).equals(before)


def test_a_run_with_another_key_or_other_columns_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = logs(tmp_path)
    store = tmp_path / "store"
    monkeypatch.setenv(KEY_ENV, KEY)
    assert ingest(store, first, "--pseudonymize").exit_code == 0
    before = events(store)

    monkeypatch.setenv(KEY_ENV, OTHER_KEY)
    other = ingest(store, second, "--pseudonymize")
    assert other.exit_code == 1
    assert "pseudonymised with another key" in other.stderr
    assert Pseudonymizer(OTHER_KEY.encode()).key_id[:15] in other.stderr
    assert KEY not in other.stderr and OTHER_KEY not in other.stderr  # never the key itself

    monkeypatch.setenv(KEY_ENV, KEY)
    columns = ingest(store, second, "--pseudonymize-field", "remote_addr")
    assert columns.exit_code == 1
    assert "with other columns than remote_addr" in columns.stderr
    assert events(store).equals(before)

    same = ingest(store, second, "--pseudonymize")  # the same key and columns: accepted
    assert same.exit_code == 0, same.stderr
    assert events(store).height == 70
    assert events(store).get_column("remote_user").str.len_chars().unique().to_list() == [64]


def test_digests_are_refused_on_a_raw_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = logs(tmp_path)
    store = tmp_path / "store"
    assert ingest(store, first).exit_code == 0
    monkeypatch.setenv(KEY_ENV, KEY)
    hashed = ingest(store, second, "--pseudonymize")
    assert hashed.exit_code == 1
    assert "the store holds raw user identifiers" in hashed.stderr
    monkeypatch.delenv(KEY_ENV)
    assert ingest(store, second).exit_code == 0  # raw into raw: fine
    users = events(store).get_column("remote_user")
    assert sorted(users.unique().to_list()) == [f"u{n}" for n in range(5)]
    assert users.len() == 70
