"""Hostile input that used to exhaust memory, block a file or crash a run: decompression bombs,
megabytes of blank lines, lines longer than a chunk, file names that are not UTF-8, glob loops,
terminal escape sequences, a gzip file still being written."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from meterlog.ingest import IngestOptions, ingest
from meterlog.sources import InputFile, LineReader, path_from_text, path_text, span_of
from meterlog.store import Store
from tests.support import cli, combined, events, process_env, progress_table, rejects, write_lines

MIB = 1 << 20


def peak_rss_of(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``python -m meterlog ARGS`` through a small parent that reports the peak resident
    memory of that one child (``ru_maxrss`` of RUSAGE_CHILDREN, in bytes)."""
    parent = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'meterlog', *sys.argv[1:]],"
        " capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(json.dumps([done.returncode, done.stdout, done.stderr, peak]))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", parent, *args],
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    code, out, err, peak = json.loads(ran.stdout)
    return subprocess.CompletedProcess(args, code, out, err), peak


def gzip_bomb(path: Path, head: list[str], zero_mib: int, tail: list[str]) -> Path:
    """A gzip file: ``head`` lines, ``zero_mib`` MiB of zero bytes (no newline), a newline and
    the ``tail`` lines. The zeros are compressed once and the compressed block repeated (a full
    flush makes each block independent), so a GiB takes a second to write, not a minute."""
    first = ("\n".join(head) + "\n").encode()
    last = ("\n" + "\n".join(tail) + "\n").encode()
    zeros = bytes(MIB)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(first)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        out.write(packer.compress(first) + packer.flush(zlib.Z_FULL_FLUSH))
        for _ in range(zero_mib):
            out.write(block)
            crc = zlib.crc32(zeros, crc)
        out.write(packer.compress(last) + packer.flush())
        crc = zlib.crc32(last, crc)
        size = len(first) + zero_mib * MIB + len(last)
        out.write(crc.to_bytes(4, "little") + (size % (1 << 32)).to_bytes(4, "little"))
    return path


def test_the_bomb_helper_writes_a_valid_gzip(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "b.gz", ["a", "b"], 3, ["c"])
    assert gzip.decompress(bomb.read_bytes()) == b"a\nb\n" + bytes(3 * MIB) + b"\nc\n"


@pytest.mark.slow
def test_gzip_bomb_keeps_memory_bounded_and_stores_every_valid_line(tmp_path: Path) -> None:
    bomb = gzip_bomb(
        tmp_path / "access.log.gz",
        [combined(i) for i in range(300)],
        1024,  # 1 GiB of zeros: one line of a GiB
        [combined(i) for i in range(300, 310)],
    )
    assert bomb.stat().st_size < 2 * MIB
    done, peak = peak_rss_of("ingest", "--store", str(tmp_path / "store"), str(bomb))
    assert done.returncode == 0, done.stderr
    assert peak < 1 << 30, f"peak RSS {peak / MIB:.0f} MiB"
    assert events(tmp_path / "store").height == 310
    stored = rejects(tmp_path / "store")
    assert stored.select("source_line", "reason").rows() == [(301, "line_too_long")]
    assert stored.item(0, "line") == "\x00" * 4096  # kept, cut to 4 KiB
    [(_, offset, lines)] = progress_table(tmp_path / "store")
    assert (offset, lines) == (len(gzip.decompress(bomb.read_bytes())), 311)


def test_megabytes_of_blank_lines_keep_memory_bounded_and_lose_no_line(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with log.open("wb") as out:
        out.write(("\n".join(combined(i) for i in range(300)) + "\n").encode())
        out.write(b"\n" * (4 * MIB))
        out.write(("\n".join(combined(i) for i in range(300, 600)) + "\n").encode())
    done, peak = peak_rss_of("ingest", "--store", str(tmp_path / "store"), str(log))
    assert done.returncode == 0, done.stderr
    assert peak < 1 << 30, f"peak RSS {peak / MIB:.0f} MiB"
    assert events(tmp_path / "store").height == 600
    assert f"lines: {600 + 4 * MIB:,} read, 600 stored, 0 rejected, {4 * MIB:,} blank" in (
        done.stdout
    )
    assert progress_table(tmp_path / "store")[0][2] == 600 + 4 * MIB  # line numbers stay true


def test_chunks_hold_a_bounded_number_of_lines(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"x\n" * 5000)
    with LineReader(InputFile(str(log))) as reader:
        pieces = list(reader.chunks(1 << 20, max_lines=1024))
    assert [piece.count(b"\n") for _, piece in pieces] == [1024] * 4 + [904]
    assert b"".join(piece for _, piece in pieces) == log.read_bytes()


# -- lines longer than a chunk ----------------------------------------------------------------


def test_a_line_longer_than_the_chunk_is_rejected_and_the_rest_of_the_file_read(
    tmp_path: Path,
) -> None:
    lines = [combined(i) for i in range(10)]
    huge = "A" * (3 * MIB)
    log = write_lines(tmp_path / "a.log", [*lines, huge, *(combined(i) for i in range(10, 20))])
    store = Store(tmp_path / "store")
    summary = ingest(store, [str(log)], IngestOptions(chunk_bytes=MIB))
    assert [s.status for s in summary.sources] == ["new"]
    assert events(store).height == 20
    stored = rejects(store)
    assert stored.select("source_line", "reason").rows() == [(11, "line_too_long")]
    assert stored.item(0, "line") == "A" * 4096
    # a later run goes on after it
    write_lines(log, [*lines, huge, *(combined(i) for i in range(10, 25))])
    summary = ingest(store, [str(log)], IngestOptions(chunk_bytes=MIB))
    assert [s.status for s in summary.sources] == ["grown"]
    assert events(store).height == 25


def test_max_line_bytes_option(tmp_path: Path) -> None:
    long = combined(1, agent="x" * 3000)
    log = write_lines(tmp_path / "a.log", [combined(0), long, combined(2)])
    store = Store(tmp_path / "store")
    ingest(store, [str(log)], IngestOptions(max_line_bytes=2048, chunk_bytes=1024))
    assert events(store).height == 2
    assert rejects(store).select("source_line", "reason").rows() == [(2, "line_too_long")]
    store2 = Store(tmp_path / "store2")
    ingest(store2, [str(log)], IngestOptions(max_line_bytes=4096, chunk_bytes=1024))
    assert events(store2).height == 3  # longer than the chunk but allowed: read whole


def test_an_over_long_last_line_of_a_growing_file_waits_and_is_read_once_complete(
    tmp_path: Path,
) -> None:
    log = tmp_path / "a.log"
    log.write_bytes((combined(0) + "\n").encode() + b"B" * (200 * 1024))
    store = Store(tmp_path / "store")
    summary = ingest(store, [str(log)], IngestOptions(chunk_bytes=64 * 1024))
    assert summary.sources[0].partial_line_bytes == 200 * 1024
    assert events(store).height == 1
    with log.open("ab") as out:
        out.write(b"B\n" + (combined(1) + "\n").encode())
    ingest(store, [str(log)], IngestOptions(chunk_bytes=64 * 1024))
    assert events(store).height == 2
    assert rejects(store).select("source_line", "reason").rows() == [(2, "line_too_long")]
    assert progress_table(store)[0][1:] == (log.stat().st_size, 3)


def test_a_cut_line_spans_its_bytes_and_ends_at_a_character_boundary(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"ok\n" + "\u00e9".encode() * 50_000 + b"\nend\n")
    with LineReader(InputFile(str(log))) as reader:
        pieces = list(reader.chunks(1024, max_line_bytes=1001))
    assert [start for start, _ in pieces] == [0, 3, 100_004]
    assert [span_of(piece) for _, piece in pieces] == [3, 100_001, 4]
    head = pieces[1][1]
    assert 1003 <= len(head) <= 1006 and head.endswith(b"\n")
    head[:-1].decode("utf-8")  # no character cut in two


def test_max_line_bytes_from_the_command_line(tmp_path: Path) -> None:
    log = write_lines(tmp_path / "a.log", [combined(0), combined(1, agent="y" * 5000)])
    result = cli("ingest", "--store", str(tmp_path / "s"), "--max-line-bytes", "2048", str(log))
    assert result.exit_code == 0, result.stderr
    assert "rejected by reason: line_too_long 1" in result.stdout
    result = cli("ingest", "--store", str(tmp_path / "s"), "--max-line-bytes", "10", str(log))
    assert result.exit_code == 2


# -- file names -------------------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_ingested_stored_losslessly_and_shown_escaped(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    bad = os.fsdecode(bytes(logs) + b"/a\xff\\x.log")
    write_lines(Path(bad), [combined(0)])
    write_lines(logs / "b.log", [combined(1)])
    result = cli("ingest", "--store", str(tmp_path / "store"), str(logs))
    assert result.exit_code == 0, result.stderr
    assert f"new       {logs}/a\\xff\\\\x.log [combined] +1 rows" in result.stdout
    assert f"new       {logs}/b.log" in result.stdout
    assert events(tmp_path / "store").height == 2
    paths = Store(tmp_path / "store").sources().get_column("path").to_list()
    assert sorted(paths) == [f"{logs}/a\\xff\\\\x.log", f"{logs}/b.log"]
    assert path_from_text(paths[0] if "xff" in paths[0] else paths[1]) == bad
    again = cli("ingest", "--store", str(tmp_path / "store"), str(logs))
    assert again.exit_code == 0
    assert "files: 2 (0 new, 0 grown, 2 unchanged, 0 duplicate)" in again.stdout


def test_path_text_round_trips() -> None:
    for raw in [b"plain.log", b"a\\b.log", b"caf\xc3\xa9.log", b"x\xff\xfe.log", b"\\xff.log"]:
        name = os.fsdecode(raw)
        text = path_text(name)
        text.encode("utf-8")  # any UTF-8 column or terminal takes it
        assert path_from_text(text) == name
    assert path_text("plain.log") == "plain.log"
    assert path_text("caf\u00e9.log") == "caf\u00e9.log"


# -- globs --------------------------------------------------------------------------------------


def test_a_glob_over_symbolic_link_loops_ends(tmp_path: Path) -> None:
    logs = tmp_path / "dir"
    (logs / "sub").mkdir(parents=True)
    write_lines(logs / "a.log", [combined(0)])
    write_lines(logs / "sub" / "b.log", [combined(1)])
    (logs / "l1").symlink_to(".")
    (logs / "sub" / "up").symlink_to("..")
    (logs / "sub" / "l2").symlink_to(logs)
    script = (
        "import sys\n"
        "from meterlog.sources import discover_inputs\n"
        "for pattern in sys.argv[1:]:\n"
        "    print(sorted(i.path for i in discover_inputs([pattern])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"{logs}/**", f"{logs}/**/*.log", "dir/**/b.log"],
        cwd=tmp_path,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        str(sorted([f"{logs}/a.log", f"{logs}/sub/b.log"])),
        str(sorted([f"{logs}/a.log", f"{logs}/sub/b.log"])),
        str(["dir/sub/b.log"]),
    ]
    result = cli("ingest", "--store", str(tmp_path / "store"), f"{logs}/**")
    assert result.exit_code == 0, result.stderr
    assert events(tmp_path / "store").height == 2


# -- a directory where nothing matches ----------------------------------------------------------


def test_a_directory_where_no_file_matches_fails_and_names_the_skipped_files(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_lines(logs / "access.txt", [combined(0)])
    write_lines(logs / "error.log", [combined(1)])
    result = cli("ingest", "-q", "--store", str(tmp_path / "store"), str(logs))
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"meterlog: error: {logs}: no file read; 2 skipped: ")
    assert "access.txt (not matching --include)" in line
    assert "error.log (matches --exclude)" in line
    assert "give --include GLOB" in line
    ok = cli("ingest", "-q", "--store", str(tmp_path / "s2"), "--include", "*.txt", str(logs))
    assert ok.exit_code == 0, ok.stderr
    assert ok.stderr == ""
    # a directory whose files were read through another argument is not an error
    (tmp_path / "other").mkdir()
    write_lines(tmp_path / "other" / "a.log", [combined(2)])
    twice = cli("ingest", "-q", "--store", str(tmp_path / "s3"), *[str(tmp_path / "other")] * 2)
    assert twice.exit_code == 0, twice.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = cli("ingest", "-q", "--store", str(tmp_path / "s4"), str(empty))
    assert nothing.exit_code == 0  # an empty directory skipped nothing: logs not written yet


# -- a compressed file still being written ------------------------------------------------------


def test_a_gzip_file_still_being_written_is_read_on_by_a_later_run(tmp_path: Path) -> None:
    text = "".join(combined(i) + "\n" for i in range(4000)).encode()
    packed = gzip.compress(text)
    path = tmp_path / "access.log.1.gz"
    path.write_bytes(packed[: len(packed) // 3])  # logrotate is compressing it
    store = tmp_path / "store"
    first = cli("ingest", "--store", str(store), str(path))
    assert first.exit_code == 1
    assert "if the file is still being written" in first.stderr
    assert "a later run reads the rest, so leave it" in first.stderr
    kept = events(store).height
    assert 0 < kept < 4000
    path.write_bytes(packed)  # compression done
    second = cli("ingest", "--store", str(store), str(path))
    assert second.exit_code == 0, second.stderr
    assert f"grown     {path} [combined] +{4000 - kept:,} rows" in second.stdout
    stored = events(store)
    assert stored.get_column("source_line").to_list() == list(range(1, 4001))
    assert stored.get_column("path").to_list() == [f"/v1/items/{i}" for i in range(4000)]


# -- terminal escape sequences ------------------------------------------------------------------

ESCAPES = ["\x1b]0;pwned\x07", "\x1b[2J", "\x9b31m", "\u202e"]


def assert_no_escapes(text: str) -> None:
    for bad in ["\x1b", "\x07", "\x9b", "\u202e"]:
        assert bad not in text, f"{bad!r} reached the terminal: {text!r}"


def test_escape_sequences_from_logs_and_names_never_reach_the_terminal(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    named = logs / "a\x1b]0;pwned\x07.log"
    write_lines(named, [combined(0), "\x1b[2J\x1b]0;title\x07 not a log line", combined(1)])
    junk = logs / "b\x1b[2J.log"
    write_lines(junk, ["\x1b]0;x\x07 junk"] * 5)
    result = cli("ingest", "--store", str(tmp_path / "store"), str(logs))
    assert result.exit_code == 1  # b...log does not match any format
    assert_no_escapes(result.stdout)
    assert_no_escapes(result.stderr)
    assert "a\ufffd]0;pwned\ufffd.log [combined] +2 rows, 1 rejected" in result.stdout
    assert "line 2: no_match: \ufffd[2J\ufffd]0;title\ufffd not a log line" in result.stdout
    [error] = result.stderr.splitlines()
    assert error.startswith(f"meterlog: error: {logs}/b\ufffd[2J.log: ")
    # usage: a warning naming raw account keys taken from the logs
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("key,account\ncurl/8.0,curl\n")
    write_lines(logs / "c.log", [combined(i, agent=f"evil{ESCAPES[i % 4]}") for i in range(2, 9)])
    cli("ingest", "--store", str(tmp_path / "store"), str(logs / "c.log"))
    usage = cli(
        "usage", "--store", str(tmp_path / "store"), "--by", "account",
        "--account-field", "user_agent", "--accounts", str(accounts), "--format", "csv",
    )  # fmt: skip
    assert usage.exit_code == 0, usage.stderr
    assert "not in" in usage.stderr and "evil\ufffd" in usage.stderr
    assert_no_escapes(usage.stderr)


def test_escape_sequences_in_bill_warnings(tmp_path: Path) -> None:
    from tests.support.billing import build_store

    rows = [
        {"ts": "2026-10-10T12:00:00", "remote_user": "u1", "http_x_api_key": "key-acme"},
        {"ts": "2026-10-10T12:00:00", "remote_user": "u2", "http_x_api_key": "\x1b]2;x\x07"},
    ]
    build_store(tmp_path / "store", rows)
    (tmp_path / "accounts.csv").write_text("key,account\nkey-acme,acme\n")
    (tmp_path / "plans.toml").write_text(
        'default_plan = "p"\ncurrency = "EUR"\n[plans.p]\n[[plans.p.charges]]\n'
        'name = "users"\nmeter = "mau"\npricing = "per_unit"\nunit_price = "1.00"\n'
    )
    result = cli(
        "bill", "--period", "2026-10", "--plan", str(tmp_path / "plans.toml"),
        "--store", str(tmp_path / "store"), "--account-field", "http_x_api_key",
        "--accounts", str(tmp_path / "accounts.csv"), "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "not in the accounts file (\ufffd]2;x\ufffd...)" in result.stderr
    assert_no_escapes(result.stderr)


def test_report_text_to_a_terminal_is_cleaned_but_files_keep_the_data(tmp_path: Path) -> None:
    import io

    import polars as pl

    from meterlog.output import write_report

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    frame = pl.DataFrame({"user_agent": ["ok", "a\x1b[2Jb\u202e"], "requests": [1, 2]})
    for fmt in ("csv", "json", "ndjson", "table"):
        screen = Terminal()
        write_report(frame, fmt, stdout=screen)
        if fmt == "table":  # rich styles the header itself; the data must not
            assert "\x1b[2J" not in screen.getvalue() and "\u202e" not in screen.getvalue()
        else:
            assert_no_escapes(screen.getvalue())
        shown = "a\\u001b[2Jb\ufffd" if "json" in fmt else "a\ufffd[2Jb\ufffd"  # JSON escapes ESC
        assert shown in screen.getvalue()
    write_report(frame, "csv", tmp_path / "out.csv")
    assert "a\x1b[2Jb\u202e" in (tmp_path / "out.csv").read_text()


# -- the progress bar ---------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def screen_text(console_file: io.StringIO) -> list[str]:
    """The frames a terminal was sent, without colours and cursor moves."""
    return [ANSI.sub("", frame) for frame in console_file.getvalue().split("\r")]


@pytest.mark.parametrize("width", [80, 160])
def test_progress_bar_shows_bytes_of_the_total_percentage_rate_and_time_left(
    tmp_path: Path, width: int
) -> None:
    from rich.console import Console

    from meterlog.commands.progress_bar import IngestProgressBar

    plain = write_lines(tmp_path / "access.log", [combined(i) for i in range(4000)])
    packed = tmp_path / "access.log.1.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes().replace(b"/v1/", b"/v2/")))
    total = plain.stat().st_size + packed.stat().st_size
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system="standard")
    with IngestProgressBar(console) as bar:
        ingest(
            Store(tmp_path / "s"),
            [str(tmp_path)],
            IngestOptions(chunk_bytes=64 * 1024),
            monitor=bar,
        )
        assert bar.progress is not None and bar.task is not None
        task = bar.progress.tasks[0]
        assert (task.total, task.completed) == (total, total)
        assert task.fields["lines"] == 8000
        bar.progress.refresh()
    frames = [f for f in screen_text(out) if "lines/s" in f]
    assert frames, out.getvalue()
    last = frames[-1].strip()
    assert len(last) <= width
    assert re.search(r"\d+\.\d/\d+\.\d KiB", last), last
    assert "100%" in last
    assert re.search(r"[\d,]+ lines/s", last)
    assert re.search(r"\d:\d\d:\d\d", last)  # time left


def test_progress_bar_for_standard_input_shows_bytes_and_rate() -> None:
    from rich.console import Console

    from meterlog.commands.progress_bar import IngestProgressBar

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system="standard")
    with IngestProgressBar(console) as bar:
        bar.start(None)
        bar.advance("<stdin>", 3 * MIB, 20_000)
        assert bar.progress is not None
        bar.progress.refresh()
    last = [f for f in screen_text(out) if "lines/s" in f][-1]
    assert "<stdin>" in last and "3.0 MiB" in last
    assert re.search(r"[\d.,]+ (bytes|[KMG]iB)/s", last)  # bytes per second
    assert "%" not in last


def test_progress_bar_names_are_escaped_for_rich_and_the_terminal() -> None:
    from meterlog.commands.progress_bar import short_name

    assert short_name("/var/log/[bold]x\x1b[2J.log", 40) == "/var/log/[bold]x\ufffd[2J.log"
    assert short_name("/" + "a" * 50 + "/access.log", 20) == "\u2026" + "a" * 8 + "/access.log"


# -- report memory: quantiles from counts -------------------------------------------------------


def test_quantiles_from_counts_equal_numpy_percentiles_per_group() -> None:
    import numpy as np
    import polars as pl

    from meterlog.query.metrics import METRICS, with_quantiles

    rng = np.random.default_rng(7)
    rows = 5000
    times = np.round(rng.lognormal(-2, 1, rows), 3)  # millisecond resolution, many repeats
    frame = pl.DataFrame(
        {
            "account": rng.choice(["a", "b", "c", None], rows).tolist(),
            "request_time": [None if i % 11 == 0 else float(t) for i, t in enumerate(times)],
        }
    ).vstack(pl.DataFrame({"account": ["only"], "request_time": [0.25]}))
    frame = frame.vstack(pl.DataFrame({"account": ["none"], "request_time": [None]}))
    metrics = [METRICS["requests"], METRICS["latency_p50"], METRICS["latency_p95"]]
    metrics.append(METRICS["latency_p99"])
    keys = [pl.col("account")]
    grouped = frame.lazy().group_by(keys).agg(pl.len().cast(pl.Int64).alias("requests"))
    result = with_quantiles(grouped, frame.lazy(), keys, metrics).collect()
    assert result.columns == ["account", "requests", "latency_p50", "latency_p95", "latency_p99"]
    for account, _, *got in result.iter_rows():
        values = frame.filter(pl.col("account").eq_missing(account))["request_time"].drop_nulls()
        if values.is_empty():
            assert got == [None, None, None]
            continue
        expected = np.round(np.percentile(values.to_numpy(), [50, 95, 99]), 6)  # linear
        assert got == pytest.approx(expected.tolist(), abs=1e-9), account
    totals = with_quantiles(
        frame.lazy().select(pl.len().cast(pl.Int64).alias("requests")), frame.lazy(), [], metrics
    ).collect()
    everything = frame["request_time"].drop_nulls().to_numpy()
    assert totals.row(0)[1:] == pytest.approx(
        np.round(np.percentile(everything, [50, 95, 99]), 6).tolist(), abs=1e-9
    )
    empty = frame.clear().lazy()
    none = with_quantiles(empty.select(pl.len().alias("requests")), empty, [], metrics).collect()
    assert none.rows() == [(0, None, None, None)]
