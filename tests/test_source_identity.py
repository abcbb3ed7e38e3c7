"""A source's identity: files that start with the same lines are different sources; a grown,
renamed, compressed or copied file is still the same one. Each case checks what the store holds
against the lines written: every line exactly once."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from meterlog.formats.nginx import NginxLogFormat
from meterlog.ingest import IngestOptions, ingest
from meterlog.live import Watcher, WatchOptions
from meterlog.sources import InputFile, LineReader
from meterlog.store import Store
from tests.support import cli, combined, process_env

LF = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_api_key"'
)
HC = (
    '10.0.0.2 - - [07/Dec/2026:00:00:01 +0000] "GET /health HTTP/1.1" 200 2 "-" '
    '"ELB-HealthChecker/2.0" "-"'
)


def api(n: int, host: str) -> str:
    return (
        f'10.0.0.9 - u{n} [07/Dec/2026:00:00:{n % 60:02d} +0000] "GET /v1/{host}/{n} HTTP/1.1" '
        f'200 1 "-" "a" "k2"'
    )


def stored_paths(store: Path) -> Counter[str]:
    frame = Store(store).scan_events().select("path").collect()
    return Counter(frame.get_column("path").to_list())


def write(path: Path, *lines: str, mode: str = "w") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode) as handle:
        handle.write("".join(line + "\n" for line in lines))


def test_the_shared_first_line_example_stores_every_line(tmp_path: Path) -> None:
    """The two-host example: a file that is the first line of another is another file."""
    write(tmp_path / "A/h1/access.log", HC)
    write(tmp_path / "A/h2/access.log", HC, api(2, "h2"))
    result = cli("ingest", "--store", str(tmp_path / "S"), "--log-format", LF, str(tmp_path / "A"))
    assert result.exit_code == 0, result.output
    assert "(2 new, 0 grown, 0 unchanged, 0 duplicate)" in result.output
    assert sum(stored_paths(tmp_path / "S").values()) == 3
    assert stored_paths(tmp_path / "S")["/health"] == 2


def test_a_copy_is_one_source_and_two_files_sharing_a_prefix_are_two(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "a/access.log", HC)
    write(logs / "b/access.log", HC, api(2, "b"))
    (logs / "c").mkdir()
    shutil.copyfile(logs / "b/access.log", logs / "c/access.log")
    store = tmp_path / "S"
    options = IngestOptions(log_format=_custom())
    summary = ingest(Store(store), [str(logs)], options)
    statuses = sorted((s.path.split("logs/")[1], s.status) for s in summary.sources)
    assert statuses == [
        ("a/access.log", "new"),
        ("b/access.log", "new"),
        ("c/access.log", "duplicate"),
    ]
    assert sum(stored_paths(store).values()) == 3
    # they grow apart and together: still every line once
    write(logs / "a/access.log", api(3, "a"), mode="a")
    write(logs / "b/access.log", api(4, "b"), mode="a")
    shutil.copyfile(logs / "b/access.log", logs / "c/access.log")
    summary = ingest(Store(store), [str(logs)], options)
    assert sorted(s.status for s in summary.sources) == ["duplicate", "grown", "grown"]
    assert sum(stored_paths(store).values()) == 5
    again = ingest(Store(store), [str(logs)], options)
    assert sorted(s.status for s in again.sources) == ["duplicate", "unchanged", "unchanged"]


def test_hosts_ingested_one_at_a_time(tmp_path: Path) -> None:
    """Separate runs (one per host folder) tell the files apart as well."""
    write(tmp_path / "h1/access.log", HC)
    write(tmp_path / "h2/access.log", HC, api(2, "h2"))
    store = Store(tmp_path / "S")
    options = IngestOptions(log_format=_custom())
    ingest(store, [str(tmp_path / "h1")], options)
    second = ingest(store, [str(tmp_path / "h2")], options)
    assert [s.status for s in second.sources] == ["new"]
    write(tmp_path / "h1/access.log", api(5, "h1"), mode="a")
    third = ingest(store, [str(tmp_path / "h1")], options)
    assert [s.status for s in third.sources] == ["grown"]
    assert sum(stored_paths(tmp_path / "S").values()) == 4


def test_watch_sees_young_files_that_start_alike(tmp_path: Path) -> None:
    """``watch`` first sees two hosts' files when each holds only the health check line:
    identical content, one source; once the second grows it is read as a file of its own,
    from its first line."""
    logs = tmp_path / "logs"
    write(logs / "h1/access.log", HC)
    write(logs / "h2/access.log", HC)
    store = tmp_path / "S"
    watch = Watcher(Store(store), [str(logs)], IngestOptions(log_format=_custom()), WatchOptions())
    try:
        watch.step()
        write(logs / "h2/access.log", api(2, "h2"), mode="a")
        watch.step()
        write(logs / "h1/access.log", api(3, "h1"), mode="a")
        write(logs / "h2/access.log", api(4, "h2"), mode="a")
        watch.step()
        write(logs / "h3/access.log", HC, api(6, "h3"))  # a third host, already two lines long
        watch.step()
    finally:
        watch.close()
    paths = stored_paths(store)
    assert paths["/health"] == 3
    assert sum(paths.values()) == 3 + 4


def test_a_young_file_rotated_and_compressed_while_nothing_runs(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "access.log", HC, api(1, "x"))
    store = Store(tmp_path / "S")
    options = IngestOptions(log_format=_custom())
    ingest(store, [str(logs)], options)
    write(logs / "access.log", api(2, "x"), mode="a")  # written, not read, then rotated
    (logs / "access.log.1.gz").write_bytes(gzip.compress((logs / "access.log").read_bytes()))
    (logs / "access.log").unlink()
    write(logs / "access.log", HC.replace(":01 ", ":09 "), api(3, "x"))
    ingest(store, [str(logs)], options)
    assert sum(stored_paths(tmp_path / "S").values()) == 5


def test_a_young_file_rotated_by_copytruncate(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "access.log", HC, api(1, "x"))
    store = Store(tmp_path / "S")
    options = IngestOptions(log_format=_custom())
    ingest(store, [str(logs)], options)
    write(logs / "access.log", api(2, "x"), mode="a")
    shutil.copyfile(logs / "access.log", logs / "access.log.1")
    os.truncate(logs / "access.log", 0)
    write(logs / "access.log", HC.replace(":01 ", ":08 "), api(3, "x"), mode="a")
    ingest(store, [str(logs)], options)
    assert sum(stored_paths(tmp_path / "S").values()) == 5


def test_a_file_truncated_and_rewritten_while_it_is_read(tmp_path: Path) -> None:
    """The reader stops where the file was truncated under it: it never hands out the new
    content's lines as the old file's."""
    path = tmp_path / "access.log"
    old = [combined(n) for n in range(400)]
    write(path, *old)
    with LineReader(InputFile(str(path))) as reader:
        head, _ = reader.identity_head()
        reader.guard_head(head)
        chunks = reader.chunks(chunk_bytes=8192)
        first = next(chunks)[1]
        os.truncate(path, 0)  # copytruncate, then the writer goes on
        write(path, *(combined(n, path=f"/new/{n}") for n in range(2000)), mode="a")
        rest = b"".join(data for _, data in chunks)
    text = (bytes(first) + rest).decode()
    assert "/new/" not in text
    assert reader.rewritten
    assert text == "".join(line + "\n" for line in old)[: len(text)]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["copytruncate", "rename"])
def test_rotation_under_load_every_line_once(tmp_path: Path, mode: str) -> None:
    """The rotation harness (bench/rotation.py): a writer numbering its lines at 3,000 a
    second, rotated every 0.3 s while ``watch`` follows the folder, then a catch-up ingest."""
    harness = Path(__file__).resolve().parent.parent / "bench" / "rotation.py"
    done = subprocess.run(
        [sys.executable, str(harness), "--mode", mode, "--rate", "3000", "--every", "0.3",
         "--seconds", "6", "--work", str(tmp_path / "work")],
        env=process_env(), capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"duplicated": 0, "lost": 0' in done.stdout


def _custom() -> NginxLogFormat:
    return NginxLogFormat(LF)


def test_a_link_leading_outside_the_named_folder_is_not_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "access.log", api(1, "x"))
    secret = tmp_path / "elsewhere" / "private.txt"
    write(secret, "root:x:0:0:root:/root:/bin/bash", api(2, "y"))
    (logs / "private.log").symlink_to(secret)
    (logs / "inside.log").symlink_to(logs / "access.log")  # inside: the same file, read once
    store = tmp_path / "S"
    result = cli("ingest", "--store", str(store), "--log-format", LF, str(logs))
    assert result.exit_code == 0, result.output
    assert "root:x" not in result.output + result.stderr
    assert "private.log: not read: a symbolic link to a file outside the folders named" in (
        result.stderr
    )
    assert sum(stored_paths(store).values()) == 1
    assert Store(store).scan_rejects().collect().height == 0
    # asked for: read
    result = cli(
        "ingest", "--store", str(store), "--log-format", LF, "--follow-symlinks", str(logs)
    )
    assert result.exit_code == 0, result.output
    assert stored_paths(store)["/v1/y/2"] == 1
    # named on the command line: read
    assert cli("ingest", "--store", str(tmp_path / "T"), "--log-format", LF,
               str(logs / "private.log")).exit_code == 0  # fmt: skip


def test_watch_does_not_follow_a_link_leading_outside(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "access.log", api(1, "x"))
    secret = tmp_path / "elsewhere" / "private.log"
    write(secret, api(2, "y"))
    (logs / "private.log").symlink_to(secret)
    said: list[str] = []
    watch = Watcher(
        Store(tmp_path / "S"), [str(logs)], IngestOptions(log_format=_custom()), WatchOptions()
    )
    watch.log = said.append
    try:
        watch.step()
        watch.step()
    finally:
        watch.close()
    assert sum(stored_paths(tmp_path / "S").values()) == 1
    assert len([line for line in said if "symbolic link" in line]) == 1
