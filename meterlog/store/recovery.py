"""Recovery: data and commit files a stopped run left behind, and damage to a store's files
(``meterlog check``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import DeltaError

from meterlog.errors import StoreError
from meterlog.store.handle import StoreHandle
from meterlog.store.layout import (
    EVENTS_TABLE,
    EVENTS_WRITER_PROPERTIES,
    MARKER_SLACK_SECONDS,
    REJECTS_TABLE,
    SOURCES_TABLE,
    WRITING_MARKER,
    lines_app_id,
    offset_app_id,
)


@contextlib.contextmanager
def writing(store: StoreHandle) -> Iterator[list[str]]:
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


def cleanup_orphans(store: StoreHandle, since: float) -> list[str]:
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


# -- damage: what `meterlog check` finds and repairs --------------------------------------------
_COMMIT = re.compile(r"^(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.\d+\.\d+)?\.parquet$")


@dataclass
class Damage:
    """One damaged or missing file of a store, what it means and what repairing does."""

    table: str
    path: str
    problem: str
    #: What ``meterlog check --repair`` does about it (None: it cannot be repaired here).
    repair: str | None
    repaired: bool = False
    kind: str = ""
    #: For lost data files: the sources rewound, as ``{source_id: (offset, lines)}``.
    rewound: dict[str, tuple[int, int]] = field(default_factory=dict)


def damage_message(store: StoreHandle, name: str, detail: str) -> str:
    """One line for a table that cannot be opened: the damaged file, when it can be found, and
    what to do."""
    found = _log_damage(store, name) if store.is_local else []
    if found:
        first = found[0]
        action = (
            f"run 'meterlog check --store {store.uri} --repair' to {first.repair}"
            if first.repair
            else "restore it from a backup"
        )
        return f"{first.path}: {first.problem}; {action}"
    return (
        f"{store.table_uri(name)}: cannot open the store table: {_first_line(detail)}; "
        f"run 'meterlog check --store {store.uri}' to find the damaged file"
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def check_store(store: StoreHandle, repair: bool = False) -> list[Damage]:
    """Look for damage in every table of ``store``: a torn or unreadable commit file, a damaged
    checkpoint, data files that are missing or unreadable, rows beyond their source's progress.
    With ``repair``, repair what can be (hold the store's lock):

    * a torn *last* commit file is removed: that commit never happened (its rows are not read,
      its source's progress is the one before, so the next ingest reads those lines again);
    * a damaged checkpoint is removed and written again from the commit files, when they are
      all there (otherwise the log is read from the checkpoint before);
    * a lost or unreadable data file of ``events`` is removed from the table and each source
      that wrote rows in it is rewound, in the same commit, to before its first row there; the
      source's rows after that point in other files are then deleted, so the next ingest reads
      those lines again, each once (when the logs still exist). For ``rejects`` and ``sources``
      the file is removed from the table (those rows are lost).

    Object stores: only what opening the tables shows is reported; repairs need a local store.
    """
    found: list[Damage] = []
    for name in (EVENTS_TABLE, REJECTS_TABLE, SOURCES_TABLE):
        if store.is_local:
            log_damage = _log_damage(store, name)
            found += log_damage
            if repair:
                for damage in log_damage:
                    _repair_log(store, name, damage)
                store.forget(name)
        try:
            table = store.table(name)
        except StoreError as exc:
            found.append(Damage(name, store.table_uri(name), str(exc), None, kind="unreadable"))
            continue
        if table is None:
            continue
        file_damage = _data_file_damage(store, name, table)
        found += file_damage
        if repair and file_damage:
            _repair_data_files(store, name, table, file_damage)
        if name == EVENTS_TABLE:
            found += _rows_beyond_progress(store, repair)
    return found


def _parses(path: Path) -> bool:
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                json.loads(line)
    except (OSError, ValueError):
        return False
    return True


def _log_damage(store: StoreHandle, name: str) -> list[Damage]:
    """Damaged files of table ``name``'s log (local stores): the checkpoint pointer, the latest
    checkpoints, the commit files read after the last good checkpoint."""
    log = store.root / name / "_delta_log"
    try:
        entries = os.listdir(log)
    except OSError:
        return []
    commits = sorted(int(m[1]) for e in entries if (m := _COMMIT.match(e)))
    checkpoints = sorted({int(m[1]) for e in entries if (m := _CHECKPOINT.match(e))})
    found: list[Damage] = []
    pointer = log / "_last_checkpoint"
    if pointer.exists():
        try:
            int(json.loads(pointer.read_text(encoding="utf-8"))["version"])
        except (OSError, ValueError, KeyError, TypeError):
            found.append(
                Damage(
                    name,
                    str(pointer),
                    "damaged checkpoint pointer",
                    "remove it (the log is then read without it)",
                    kind="pointer",
                )
            )
    good: int | None = None
    for position in range(len(checkpoints) - 1, -1, -1):
        version = checkpoints[position]
        parts = sorted(log.glob(f"{version:020d}.checkpoint*.parquet"))
        try:
            for part in parts:
                pq.read_metadata(part)
            good = version
            break
        except (OSError, pa.ArrowException):
            before = checkpoints[position - 1] + 1 if position else 0
            rebuildable = all(
                v in commits and _parses(log / f"{v:020d}.json") for v in range(before, version + 1)
            )
            found.append(
                Damage(
                    name,
                    str(parts[0]),
                    "damaged checkpoint (unreadable Parquet)",
                    "remove it and write it again from the commit files" if rebuildable else None,
                    kind="checkpoint",
                )
            )
            if not rebuildable:
                return found
    first = 0 if good is None else good + 1
    for version in (v for v in commits if v >= first):
        path = log / f"{version:020d}.json"
        if _parses(path):
            continue
        last = version == commits[-1]
        found.append(
            Damage(
                name,
                str(path),
                "torn commit file (the last commit was cut short)"
                if last
                else "damaged commit file (later commits depend on it)",
                "remove it (that commit never happened: its lines are read again by the next "
                "ingest)"
                if last
                else None,
                kind="torn_commit" if last else "bad_commit",
            )
        )
    return found


def _repair_log(store: StoreHandle, name: str, damage: Damage) -> None:
    if damage.repair is None:
        return
    path = Path(damage.path)
    log = path.parent
    if damage.kind == "pointer":
        path.unlink(missing_ok=True)
    elif damage.kind == "torn_commit":
        path.rename(path.with_name(path.name + ".damaged"))
    elif damage.kind == "checkpoint":
        version = path.name[:20]
        for part in log.glob(f"{version}.checkpoint*.parquet"):
            part.rename(part.with_name(part.name + ".damaged"))
        (log / "_last_checkpoint").unlink(missing_ok=True)
        store.forget(name)
        table = store.table(name)
        if table is not None:
            table.create_checkpoint()
    damage.repaired = True


def missing_data_files(store: StoreHandle, name: str) -> list[str]:
    """Data files the current version of table ``name`` uses that are not there (local stores;
    empty for object stores, where looking costs a request a file)."""
    if not store.is_local:
        return []
    table = store.table(name)
    if table is None:
        return []
    return [uri for uri in table.file_uris() if not os.path.exists(uri)]


def _data_file_damage(store: StoreHandle, name: str, table: DeltaTable) -> list[Damage]:
    if not store.is_local:
        return []
    repair = (
        "remove it from the table and rewind the sources that wrote it (the next ingest reads "
        "those lines again)"
        if name == EVENTS_TABLE
        else "remove it from the table (its rows are lost)"
    )
    found = []
    for uri in table.file_uris():
        if not os.path.exists(uri):
            found.append(Damage(name, uri, "data file is missing", repair, kind="missing"))
            continue
        try:
            pq.read_metadata(uri)
        except (OSError, pa.ArrowException):
            found.append(
                Damage(name, uri, "data file is damaged (unreadable Parquet)", repair, kind="bad")
            )
    return found


def _repair_data_files(
    store: StoreHandle, name: str, table: DeltaTable, damages: list[Damage]
) -> None:
    """Remove lost data files from the table; for ``events``, rewind their sources in the same
    commit, then delete those sources' rows after the rewound progress."""
    rewinds: dict[str, tuple[int, int]] = {}
    if name == EVENTS_TABLE:
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        folder = os.path.normpath(store.table_uri(name))
        actions = actions.with_columns(
            pl.col("path").map_elements(
                lambda p: os.path.normpath(os.path.join(folder, unquote(p))), pl.String
            )
        )
        known = sorted(store.known_source_ids())
        for damage in damages:
            row = actions.filter(pl.col("path") == os.path.normpath(damage.path))
            first = row.row(0, named=True) if row.height else {}
            low, high = first.get("min.source_id"), first.get("max.source_id")
            offset, line = first.get("min.source_offset"), first.get("min.source_line")
            if low is not None and low == high and offset is not None and line is not None:
                damage.rewound = {low: (int(offset), int(line) - 1)}
            else:  # rows of several sources, or no statistics: read those sources again
                damage.rewound = {
                    sid: (0, 0)
                    for sid in known
                    if (low is None or sid >= low) and (high is None or sid <= high)
                }
            for sid, point in damage.rewound.items():
                rewinds[sid] = min(point, rewinds.get(sid, point))
    for damage in damages:
        if damage.kind == "bad" and os.path.exists(damage.path):
            os.rename(damage.path, damage.path + ".damaged")
    transactions = [
        action
        for sid, (offset, lines) in sorted(rewinds.items())
        for action in (
            Transaction(offset_app_id(sid), offset),
            Transaction(lines_app_id(sid), lines),
        )
    ]
    try:
        table.repair(
            commit_properties=CommitProperties(
                app_transactions=transactions or None,
                custom_metadata={"meterlog.operation": "repair"},
            )
        )
        for damage in damages:
            damage.repaired = True
        if rewinds:
            _delete_beyond(table, rewinds)
    except (DeltaError, OSError) as exc:
        raise StoreError(f"{store.table_uri(name)}: cannot repair: {exc}") from None


def _delete_beyond(table: DeltaTable, points: dict[str, tuple[int, int]]) -> None:
    """Delete the rows of each source at or after its progress in ``points``."""
    predicate = " OR ".join(
        f"(source_id = '{sid}' AND source_offset >= {offset})"
        for sid, (offset, _) in sorted(points.items())
        if re.fullmatch(r"[0-9a-f]+", sid)  # ids are hex digests: nothing to quote
    )
    if predicate:
        table.delete(
            predicate,
            writer_properties=EVENTS_WRITER_PROPERTIES,
            commit_properties=CommitProperties(custom_metadata={"meterlog.operation": "repair"}),
        )


def _rows_beyond_progress(store: StoreHandle, repair: bool) -> list[Damage]:
    """Rows stored after their source's progress (left by an interrupted repair): the next
    ingest would store them again. Deleted when repairing."""
    table = store.table(EVENTS_TABLE)
    if table is None or missing_data_files(store, EVENTS_TABLE):
        return []
    try:
        ends = (
            store.scan_events()
            .group_by("source_id")
            .agg(pl.col("source_offset").max().alias("last"), pl.len().alias("rows"))
            .collect()
        )
    except Exception:  # reading fails on damage reported above
        return []
    beyond: dict[str, tuple[int, int]] = {}
    for sid, last, _ in ends.iter_rows():
        progress = store.progress(sid)
        if sid is not None and last is not None and last >= progress.offset:
            beyond[sid] = (progress.offset, progress.lines)
    if not beyond:
        return []
    damage = Damage(
        EVENTS_TABLE,
        store.table_uri(EVENTS_TABLE),
        f"rows of {len(beyond)} source(s) lie after the source's stored progress "
        "(an interrupted repair?)",
        "delete them (the next ingest reads those lines again)",
        kind="beyond",
        rewound=beyond,
    )
    if repair:
        try:
            _delete_beyond(table, beyond)
        except (DeltaError, OSError) as exc:
            raise StoreError(f"{store.table_uri(EVENTS_TABLE)}: cannot repair: {exc}") from None
        damage.repaired = True
    return [damage]
