"""Recovery from interrupted writes: data and commit files a stopped run left behind."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from meterlog.errors import StoreError
from meterlog.store.layout import (
    EVENTS_TABLE,
    MARKER_SLACK_SECONDS,
    REJECTS_TABLE,
    SOURCES_TABLE,
    WRITING_MARKER,
)

if TYPE_CHECKING:
    from meterlog.store.tables import Store


@contextlib.contextmanager
def writing(store: Store) -> Iterator[list[str]]:
    """Mark the store as being written to, for the length of the block (hold the lock).

    A run that is stopped before its end (killed, out of memory, power loss) leaves data
    files that no commit refers to: readers never see them (Delta reads only committed
    files), and the next run removes them here before writing (the list it yields). The
    mark stays when the block raises, so files of a failed write are removed next time.
    """
    if not store.is_local:
        yield []
        return
    marker = store.root / WRITING_MARKER
    removed: list[str] = []
    try:
        since = marker.stat().st_mtime
    except FileNotFoundError:
        since = None
    except OSError as exc:
        raise StoreError(f"{marker}: cannot read: {exc.strerror}") from None
    if since is not None:
        removed = cleanup_orphans(store, since)
    try:
        marker.touch()
        os.utime(marker)
    except OSError as exc:
        raise StoreError(
            f"{store.root}: cannot write to the store: {exc.strerror}; "
            "check free space and permissions"
        ) from None
    yield removed
    marker.unlink(missing_ok=True)


def cleanup_orphans(store: Store, since: float) -> list[str]:
    """Delete data files a stopped run wrote after ``since`` (a POSIX time) that no commit
    refers to, and its unfinished commit files; return their paths. Local stores only;
    call it holding the lock. Files committed and later removed by a commit (compaction)
    are left to the retention-based vacuum."""
    if not store.is_local:
        return []
    after = since - MARKER_SLACK_SECONDS
    removed: list[str] = []
    for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE):
        folder = store.root / name
        log = folder / "_delta_log"
        if not folder.is_dir():
            continue
        referenced: set[str] = set()
        for entry in os.scandir(log) if log.is_dir() else ():
            if entry.name.endswith(".tmp") and entry.stat().st_mtime >= after:
                os.unlink(entry.path)  # a commit that was being written, never renamed
                removed.append(entry.path)
            elif entry.name.endswith(".json") and entry.stat().st_mtime >= after:
                referenced |= paths_in_commit(folder, Path(entry.path))
        table = store.table(name)
        if table is not None:
            referenced |= {os.path.normpath(uri) for uri in table.file_uris()}
        for directory, subfolders, files in os.walk(folder):
            subfolders[:] = [d for d in subfolders if not d.startswith(("_", "."))]
            for file_name in files:
                path = os.path.normpath(os.path.join(directory, file_name))
                if (
                    file_name.endswith(".parquet")
                    and path not in referenced
                    and os.stat(path).st_mtime >= after
                ):
                    os.unlink(path)
                    removed.append(path)
    return sorted(removed)


def paths_in_commit(folder: Path, commit: Path) -> set[str]:
    """Data files a Delta commit file adds or removes, as normalised local paths."""
    paths: set[str] = set()
    try:
        text = commit.read_text(encoding="utf-8")
    except OSError:
        return paths
    for line in text.splitlines():
        try:
            action = json.loads(line)
        except ValueError:
            continue
        for kind in ("add", "remove"):
            if isinstance(action, dict) and isinstance(action.get(kind), dict):
                relative = unquote(str(action[kind].get("path", "")))
                paths.add(os.path.normpath(folder / relative))
    return paths
