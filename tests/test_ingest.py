"""Exactly once: re-runs, rotation, renames, copies, growth, partial lines, chunking."""

from __future__ import annotations

import bz2
import gzip
import os
from pathlib import Path

import polars as pl
import pytest
import zstandard

from meterlog.ingest import DUPLICATE, GROWN, NEW, UNCHANGED, WAITING, IngestOptions, ingest
from meterlog.store import Store
from tests.support import combined, events, progress_table, rejects, write_lines


def run(store: Store, *paths: Path | str, **options: object) -> dict[str, str]:
    """Ingest and return {file name: status}."""
    summary = ingest(store, [str(p) for p in paths], IngestOptions(**options))  # type: ignore[arg-type]
    return {Path(s.path).name: s.status for s in summary.sources}


def lines(start: int, stop: int, **kwargs: object) -> list[str]:
    return [combined(i, **kwargs) for i in range(start, stop)]  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def test_ingesting_twice_stores_each_line_once(tmp_path: Path, store: Store) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_lines(logs / "a.log", lines(0, 50))
    write_lines(logs / "b.log", lines(50, 80))
    assert run(store, logs) == {"a.log": NEW, "b.log": NEW}
    first = events(store)
    version = store.version()
    assert run(store, logs) == {"a.log": UNCHANGED, "b.log": UNCHANGED}
    assert events(store).equals(first)
    assert store.version() == version  # a run with nothing new commits nothing
    assert first.height == 80
    assert first.get_column("source_line").to_list() == list(range(1, 51)) + list(range(1, 31))


def test_logrotate_rename_then_gzip_adds_only_new_lines(tmp_path: Path, store: Store) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_lines(logs / "access.log", lines(0, 30))
    run(store, logs)
    # rotation 1: access.log -> access.log.1 (after 10 more lines), a new access.log starts
    write_lines(logs / "access.log", lines(0, 40))
    os.rename(logs / "access.log", logs / "access.log.1")
    write_lines(logs / "access.log", lines(1000, 1005))
    statuses = run(store, logs)
    assert statuses == {"access.log": NEW, "access.log.1": GROWN}
    assert events(store).height == 45
    # rotation 2: access.log.1 -> access.log.2.gz, access.log -> access.log.1 (grown by 3)
    (logs / "access.log.2.gz").write_bytes(gzip.compress((logs / "access.log.1").read_bytes()))
    (logs / "access.log.1").unlink()
    write_lines(logs / "access.log", lines(1000, 1008))
    os.rename(logs / "access.log", logs / "access.log.1")
    write_lines(logs / "access.log", lines(2000, 2002))
    statuses = run(store, logs)
    assert statuses == {"access.log": NEW, "access.log.1": GROWN, "access.log.2.gz": UNCHANGED}
    stored = events(store)
    assert stored.height == 40 + 8 + 2
    assert stored.select(pl.struct("source_id", "source_offset").is_unique().all()).item()
    paths = sorted(stored.get_column("path").to_list())
    expected = sorted(f"/v1/items/{i}" for i in [*range(40), *range(1000, 1008), 2000, 2001])
    assert paths == expected


def test_the_same_file_under_another_name_or_compressed_adds_nothing(
    tmp_path: Path, store: Store
) -> None:
    original = write_lines(tmp_path / "a.log", lines(0, 20))
    copy = tmp_path / "copy-of-a.log"
    copy.write_bytes(original.read_bytes())
    packed = tmp_path / "a.log.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(original.read_bytes()))
    statuses = run(store, original, copy, packed)
    assert statuses == {"a.log": NEW, "copy-of-a.log": DUPLICATE, "a.log.zst": DUPLICATE}
    assert run(store, packed) == {"a.log.zst": UNCHANGED}
    assert events(store).height == 20


def test_growth_adds_exactly_the_appended_lines(tmp_path: Path, store: Store) -> None:
    path = write_lines(tmp_path / "a.log", lines(0, 10))
    run(store, path)
    with path.open("a") as handle:
        handle.write("\n".join(lines(10, 17)) + "\n")
    assert run(store, path) == {"a.log": GROWN}
    stored = events(store)
    assert stored.height == 17
    assert stored.get_column("source_line").to_list() == list(range(1, 18))
    offsets = stored.get_column("source_offset").to_list()
    text = path.read_bytes()
    assert offsets == [0] + [i + 1 for i, b in enumerate(text[:-1]) if b == 10]
    assert progress_table(store) == [(stored.item(0, "source_id"), len(text), 17)]


def test_partial_last_line_waits_until_it_is_complete(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "a.log"
    full = "\n".join(lines(0, 5)) + "\n"
    cut = full[:-15]
    path.write_text(cut)
    summary = ingest(store, [str(path)], IngestOptions())
    assert summary.sources[0].partial_line_bytes == len(cut) - len(cut[: cut.rfind("\n") + 1])
    assert events(store).height == 4
    assert rejects(store).height == 0  # the cut line is not rejected, it waits
    path.write_text(full)
    assert run(store, path) == {"a.log": GROWN}
    stored = events(store)
    assert stored.height == 5
    assert stored.get_column("path").to_list()[-1] == "/v1/items/4"


def test_a_file_without_a_complete_line_waits(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "a.log"
    path.write_text(combined(1))
    assert run(store, path) == {"a.log": WAITING}
    path.write_text(combined(1) + "\n")
    assert run(store, path) == {"a.log": NEW}
    assert events(store).height == 1


@pytest.mark.parametrize("packer", [gzip.compress, bz2.compress])
def test_compressed_inputs_store_the_same_rows(
    tmp_path: Path, store: Store, packer: object
) -> None:
    text = ("\n".join(lines(0, 30)) + "\n").encode()
    path = tmp_path / "a.log.x"
    path.write_bytes(packer(text))  # type: ignore[operator]
    plain = Store(tmp_path / "plain")
    run(store, path)
    (tmp_path / "p.log").write_bytes(text)
    run(plain, tmp_path / "p.log")
    assert events(store).equals(events(plain))


def test_small_chunks_make_many_commits_with_exact_numbers(tmp_path: Path, store: Store) -> None:
    body = lines(0, 300)
    body[17] = "garbage line"
    body[250] = "more garbage"
    path = write_lines(tmp_path / "a.log", body)
    run(store, path, chunk_bytes=2048)
    stored = events(store)
    assert stored.height == 298
    assert store.version() is not None and store.version() > 10  # many commits
    expected_lines = [n for n in range(1, 301) if n not in (18, 251)]
    assert stored.get_column("source_line").to_list() == expected_lines
    assert rejects(store).select("source_line", "reason").rows() == [
        (18, "no_match"),
        (251, "no_match"),
    ]
    one_chunk = Store(tmp_path / "one")
    run(one_chunk, path)
    assert events(one_chunk).drop("source_id").equals(stored.drop("source_id"))


def test_rejects_are_not_doubled_after_a_stop_between_the_two_commits(
    tmp_path: Path, store: Store
) -> None:
    """A run stopped after committing a chunk's rejected lines but before its events: the next
    run (here with another chunk size) reads the chunk again and stores each reject once."""
    body = lines(0, 200)
    for index in (5, 60, 61, 150):
        body[index] = f"garbage {index}"
    path = write_lines(tmp_path / "a.log", body)
    partial = Store(tmp_path / "first")
    run(partial, path, chunk_bytes=4096)
    first_chunk_rejects = rejects(partial).filter(pl.col("source_offset") < 4096)
    source_id = first_chunk_rejects.item(0, "source_id")
    cut = int(first_chunk_rejects.get_column("source_offset").max()) + 1
    store.commit_rejects(first_chunk_rejects, source_id, cut)
    run(store, path, chunk_bytes=64 * 1024)
    assert rejects(store).get_column("source_line").to_list() == [6, 61, 62, 151]
    assert events(store).height == 196


def test_sources_are_registered_when_a_stopped_run_committed_everything(
    tmp_path: Path, store: Store
) -> None:
    path = write_lines(tmp_path / "a.log", lines(0, 30))

    def stop(path: str, done: int) -> None:
        raise KeyboardInterrupt  # stands for a run killed after its last data commit

    with pytest.raises(KeyboardInterrupt):
        ingest(store, [str(path)], IngestOptions(), on_chunk=stop)
    assert events(store).height == 30
    assert progress_table(store) == []
    assert run(store, path) == {"a.log": UNCHANGED}
    source_id = events(store).item(0, "source_id")
    assert progress_table(store) == [(source_id, path.stat().st_size, 30)]


def test_a_file_mostly_not_in_the_format_is_not_ingested(tmp_path: Path, store: Store) -> None:
    good = write_lines(tmp_path / "good.log", lines(0, 10))
    bad = write_lines(tmp_path / "bad.log", [f"noise {i}" for i in range(10)])
    summary = ingest(store, [str(good), str(bad)], IngestOptions())
    failed = summary.failed
    assert [Path(f.path).name for f in failed] == ["bad.log"]
    assert (failed[0].error or "").startswith(
        f"{bad}: no line matches a known log format (json, main, combined, common); the file "
        "was not ingested. Give its format with --log-format "
    )
    assert events(store).height == 10


def test_a_file_turning_bad_later_stops_at_the_bad_chunk(tmp_path: Path, store: Store) -> None:
    body = lines(0, 100) + [f"noise {i}" * 5 for i in range(100)]
    path = write_lines(tmp_path / "a.log", body)
    summary = ingest(store, [str(path)], IngestOptions(chunk_bytes=2048))
    assert summary.sources[0].error is not None
    assert "most lines do not match the combined" in summary.sources[0].error
    stored = events(store)
    assert 0 < stored.height <= 100
    assert stored.get_column("source_line").to_list() == list(range(1, stored.height + 1))


def test_standard_input_is_a_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import cli

    text = "\n".join(lines(0, 12)) + "\n"
    store_path = tmp_path / "store"
    result = cli("ingest", "--store", str(store_path), "-", input=text)
    assert result.exit_code == 0, result.stderr
    assert "new       <stdin> [combined] +12 rows" in result.stdout
    again = cli("ingest", "--store", str(store_path), "-", input=text)
    assert again.exit_code == 0
    assert events(store_path).height == 12


def test_a_bad_line_appended_to_an_ingested_file_is_a_reject_not_a_wrong_format(
    tmp_path: Path,
) -> None:
    """One hostile line on a quiet log (its format judged on the lines stored before) is kept
    as a reject; the file does not fail as if it were in another format."""
    log = tmp_path / "access.log"
    write_lines(log, [combined(n) for n in range(20)])
    store = Store(tmp_path / "store")
    ingest(store, [str(log)])
    with log.open("a") as handle:
        handle.write("bad \x1b]0;title\x07 line\n")
    summary = ingest(store, [str(log)])
    assert [s.status for s in summary.sources] == [GROWN]
    assert summary.ok
    assert store.scan_rejects().collect().height == 1
