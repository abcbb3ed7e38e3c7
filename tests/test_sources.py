"""Finding inputs, decompressing, fingerprinting and cutting bytes into lines."""

from __future__ import annotations

import bz2
import gzip
import os
import threading
from pathlib import Path

import pytest
import zstandard

from meterlog.errors import InputError
from meterlog.sources import (
    FINGERPRINT_BYTES,
    InputFile,
    LineReader,
    discover_inputs,
    split_lines,
)
from tests.support import combined, write_lines

LINES = [combined(i) for i in range(40)]
TEXT = ("\n".join(LINES) + "\n").encode()


def names(inputs: list[InputFile], root: Path) -> list[str]:
    return [os.path.relpath(i.path, root) for i in inputs]


def read_all(path: Path, chunk: int = 1024) -> tuple[list[tuple[int, bytes]], LineReader]:
    with LineReader(InputFile(str(path))) as reader:
        reader.fingerprint_candidates()
        pieces = list(reader.chunks(chunk))
    return pieces, reader


# -- discovery ------------------------------------------------------------------------------


def test_directory_walk_filters_names_and_skips_hidden_and_special_files(tmp_path: Path) -> None:
    for name in [
        "access.log",
        "access.log.1",
        "access.log.2.gz",
        "access_log",
        "access.log-20261001.gz",
        "api.jsonl",
        "events.ndjson.zst",
        "error.log",
        "notes.txt",
        ".hidden.log",
    ]:
        (tmp_path / name).write_bytes(TEXT)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.log").write_bytes(TEXT)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.log").write_bytes(TEXT)
    os.mkfifo(tmp_path / "pipe.log")
    (tmp_path / "loop.log").symlink_to("loop.log")
    (tmp_path / "elsewhere").symlink_to(tmp_path / "sub", target_is_directory=True)
    found = names(discover_inputs([str(tmp_path)]), tmp_path)
    assert found == [
        "access.log",
        "access.log-20261001.gz",
        "access.log.1",
        "access.log.2.gz",
        "access_log",
        "api.jsonl",
        "events.ndjson.zst",
        "sub/b.log",
    ]


def test_include_exclude_and_explicit_files(tmp_path: Path) -> None:
    for name in ["a.log", "b.txt", "error.log"]:
        (tmp_path / name).write_bytes(TEXT)
    assert names(discover_inputs([str(tmp_path)], include=["*.txt"]), tmp_path) == ["b.txt"]
    assert names(discover_inputs([str(tmp_path)], exclude=["a*"]), tmp_path) == ["error.log"]
    # a file named explicitly is read whatever its name; the same file twice is read once
    explicit = discover_inputs([str(tmp_path / "b.txt"), str(tmp_path / "b.txt")])
    assert names(explicit, tmp_path) == ["b.txt"]
    assert names(discover_inputs([str(tmp_path / "*.log")]), tmp_path) == ["a.log"]
    assert discover_inputs(["-"]) == [InputFile("-")]


def test_missing_paths_are_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        discover_inputs([str(tmp_path / "absent.log")])
    with pytest.raises(InputError, match="no file matches this pattern"):
        discover_inputs([str(tmp_path / "*.nothing")])
    assert discover_inputs([str(tmp_path)]) == []


# -- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress", "name"),
    [
        ("", lambda b: b, "none"),
        (".gz", gzip.compress, "gzip"),
        (".bz2", bz2.compress, "bzip2"),
        (".zst", lambda b: zstandard.ZstdCompressor().compress(b), "zstd"),
    ],
)
def test_compressed_inputs_read_the_same_lines_and_identity(
    tmp_path: Path, suffix: str, compress: object, name: str
) -> None:
    path = tmp_path / f"access.log{suffix}"
    path.write_bytes(compress(TEXT))  # type: ignore[operator]
    pieces, reader = read_all(path)
    assert reader.compression == name
    assert b"".join(p for _, p in pieces) == TEXT
    ends = [start + len(piece) for start, piece in pieces]
    assert [start for start, _ in pieces] == [0, *ends[:-1]]  # contiguous offsets
    assert len(pieces) > 1
    assert all(p.endswith(b"\n") for _, p in pieces)
    plain = tmp_path / "plain.log"
    plain.write_bytes(TEXT)
    with LineReader(InputFile(str(path))) as a, LineReader(InputFile(str(plain))) as b:
        assert a.fingerprint_candidates()[0] == b.fingerprint_candidates()[0]


def test_fingerprint_prefixes_let_a_grown_file_keep_its_identity(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.log", LINES[:2])
    with LineReader(InputFile(str(path))) as reader:
        small = reader.fingerprint_candidates()
    assert len(small) == 2
    write_lines(path, LINES)
    with LineReader(InputFile(str(path))) as reader:
        grown = reader.fingerprint_candidates()
    assert small[0] in grown  # the identity it was first stored under is still a candidate
    assert len("".join(LINES[: len(grown)])) <= FINGERPRINT_BYTES + len(grown)


def test_partial_last_line_waits_in_a_plain_file_but_not_in_gzip(tmp_path: Path) -> None:
    cut = TEXT[:-10]
    plain = tmp_path / "a.log"
    plain.write_bytes(cut)
    pieces, reader = read_all(plain)
    assert b"".join(p for _, p in pieces) == TEXT[: TEXT.rfind(b"\n", 0, len(cut)) + 1]
    assert reader.partial_line_bytes == len(cut) - len(b"".join(p for _, p in pieces))
    packed = tmp_path / "a.log.gz"
    packed.write_bytes(gzip.compress(cut))
    pieces, reader = read_all(packed)
    assert b"".join(p for _, p in pieces) == cut
    assert reader.partial_line_bytes == 0


def test_truncated_gzip_gives_the_lines_before_the_damage_then_an_error(tmp_path: Path) -> None:
    big = b"".join((combined(i) + "\n").encode() for i in range(3000))
    packed = gzip.compress(big)
    path = tmp_path / "a.log.gz"
    path.write_bytes(packed[: len(packed) // 2])
    got = b""
    with LineReader(InputFile(str(path))) as reader:
        reader.fingerprint_candidates()
        with pytest.raises(InputError, match=r"corrupt or truncated gzip data after \d+ bytes"):
            for _, piece in reader.chunks(4096):
                got += piece
    assert got
    assert got.endswith(b"\n")
    assert big.startswith(got)  # only complete, undamaged lines
    assert got.count(b"\n") > 100


def test_skip_to_moves_past_stored_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.log.gz"
    path.write_bytes(gzip.compress(TEXT))
    offset = len(("\n".join(LINES[:25]) + "\n").encode())
    with LineReader(InputFile(str(path))) as reader:
        reader.fingerprint_candidates()
        assert reader.skip_to(offset)
        rest = b"".join(p for _, p in reader.chunks(512))
    assert rest == TEXT[offset:]
    with LineReader(InputFile(str(path))) as reader:
        assert not reader.skip_to(len(TEXT) + 1)


def test_a_pipe_without_writer_reads_as_empty_and_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    result: list[object] = []

    def read() -> None:
        with LineReader(InputFile(str(fifo))) as reader:
            result.append((reader.fingerprint_candidates(), list(reader.chunks(1024))))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "reading a pipe nobody writes to must not block"
    assert result == [([], [])]


def test_a_pipe_with_data_is_read_whole_and_its_last_line_counts(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    keeper = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # holds the pipe open for the writer
    try:
        writer = os.open(fifo, os.O_WRONLY)
        os.write(writer, TEXT[:-1])  # no newline at the end: a pipe cannot grow later
        os.close(writer)
        pieces, reader = read_all(fifo)
    finally:
        os.close(keeper)
    assert not reader.can_grow
    assert b"".join(p for _, p in pieces) == TEXT[:-1]


def test_special_paths_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        LineReader(InputFile(str(tmp_path)))
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(InputError, match="cannot read: Too many levels of symbolic links"):
        LineReader(InputFile(str(tmp_path / "loop")))
    with pytest.raises(InputError, match="not a regular file"):
        LineReader(InputFile("/dev/null"))


# -- cutting into lines ---------------------------------------------------------------------


def test_split_lines_offsets_numbers_crlf_and_last_line_without_newline() -> None:
    data = b"first\r\nsecond\n\nlast"
    batch = split_lines(data, 1000, 7)
    assert batch.lines.rows() == [
        (1000, 7, "first"),
        (1007, 8, "second"),
        (1014, 9, ""),
        (1015, 10, "last"),
    ]
    assert batch.invalid.height == 0
    assert batch.too_long.height == 0


def test_split_lines_separates_invalid_utf8_and_too_long_lines() -> None:
    data = b"ok\ncaf\xe9 latin-1\n\xa4\xa4\xb6\xb3 big5\n" + b"x" * 100 + b"\nend\n"
    batch = split_lines(data, 0, 1, max_line_bytes=50)
    assert batch.lines.get_column("line").to_list() == ["ok", "end"]
    assert batch.lines.get_column("source_line").to_list() == [1, 5]
    assert batch.invalid.select("source_line", "raw").rows() == [
        (2, b"caf\xe9 latin-1\n"),
        (3, b"\xa4\xa4\xb6\xb3 big5\n"),
    ]
    assert batch.too_long.get_column("source_line").to_list() == [4]


def test_a_complete_last_line_longer_than_a_chunk_is_read(tmp_path: Path) -> None:
    long_line = b"x" * 5000 + b"\n"
    path = tmp_path / "a.log"
    path.write_bytes(b"short\n" + long_line)
    with LineReader(InputFile(str(path))) as reader:
        pieces = list(reader.chunks(1024))
        assert b"".join(piece for _, piece in pieces) == b"short\n" + long_line
        assert [start for start, _ in pieces] == [0, 6]
        assert reader.partial_line_bytes == 0
