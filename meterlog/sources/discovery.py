"""Finding input files: the paths named, folders walked with --include/--exclude, globs,
symbolic links, standard input."""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from meterlog.errors import InputError
from meterlog.sources.display import STDIN, path_text

#: File names read from directories unless ``--include`` says otherwise (``*log-*``: names
#: logrotate's ``dateext`` gives, such as ``access.log-20261001.gz``).
DEFAULT_INCLUDE = (
    "*log",
    "*logs",
    "*log.*",
    "*logs.*",
    "*log-*",
    "*logs-*",
    "*.jsonl",
    "*.jsonl.*",
    "*.ndjson",
    "*.ndjson.*",
)


#: File names skipped in directories unless ``--exclude`` says otherwise.
DEFAULT_EXCLUDE = ("*error*",)


@dataclass(frozen=True)
class InputFile:
    """A path to read (``-`` is standard input). ``name``, when given, is the path shown and
    recorded for it instead (``watch`` reads a file through its open descriptor,
    ``/proc/self/fd/N``, so that a file deleted after it was seen can still be read to its end).
    """

    path: str
    name: str | None = None

    @property
    def is_stdin(self) -> bool:
        return self.path == STDIN

    @property
    def display(self) -> str:
        """The path shown and recorded for this input."""
        return self.name or self.path


def _name_matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


@dataclass
class Discovery:
    """The inputs found, and for each directory or glob given from which no file is read
    although it holds files, those files with why each was skipped."""

    inputs: list[InputFile]
    #: ``(argument, [(file, reason), ...])``, in the order the arguments were given.
    unread: list[tuple[str, list[tuple[str, str]]]]
    #: Symbolic links found in folders or by globs that lead outside the places named: not
    #: read (see ``follow_symlinks``).
    outside_links: list[str] = field(default_factory=list)

    def outside_link_notes(self) -> list[str]:
        return [
            f"{path_text(path)}: not read: a symbolic link to a file outside the folders "
            "named; give --follow-symlinks to read it"
            for path in self.outside_links
        ]

    #: ``(file, reason)`` of the files skipped by name in the directories and globs from
    #: which other files were read (those of :attr:`unread` arguments are named there).
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def unread_messages(
        self, include: Sequence[str], exclude: Sequence[str], limit: int = 4
    ) -> list[str]:
        """One line per :attr:`unread` argument: what was skipped, why, and what to do."""
        messages = []
        for argument, skipped in self.unread:
            shown = [
                f"{path_text(os.path.relpath(path, argument) if os.path.isdir(argument) else path)}"
                f" ({reason})"
                for path, reason in skipped[:limit]
            ]
            if len(skipped) > limit:
                shown.append(f"and {len(skipped) - limit} more")
            messages.append(
                f"{path_text(argument)}: no file read; {len(skipped)} skipped: "
                + ", ".join(shown)
                + f"; files in directories are read when their names match --include "
                f"({' '.join(include)}) and not --exclude ({' '.join(exclude)}): "
                "give --include GLOB or name the files"
            )
        return messages


def discover_inputs(
    paths: Sequence[str],
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    follow_symlinks: bool = False,
    named: Sequence[str] | None = None,
) -> list[InputFile]:
    """Expand files, directories (recursively) and glob patterns into input files (see
    :func:`discover`)."""
    return discover(paths, include, exclude, follow_symlinks, named).inputs


def _named_places(paths: Sequence[str]) -> tuple[list[str], set[str]]:
    """The folders (resolved) and files (resolved) the arguments name; a glob names the
    folder its fixed part leads to."""
    folders: list[str] = []
    files: set[str] = set()
    for path in paths:
        if path == STDIN:
            continue
        if glob.has_magic(path):
            fixed = []
            for part in path.split(os.sep):
                if glob.has_magic(part):
                    break
                fixed.append(part)
            path = os.sep.join(fixed) or (os.sep if path.startswith(os.sep) else os.curdir)
        real = os.path.realpath(path)
        if os.path.isdir(real):
            folders.append(real.rstrip(os.sep) + os.sep)
        else:
            files.add(real)
    return folders, files


def discover(
    paths: Sequence[str],
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    follow_symlinks: bool = False,
    named: Sequence[str] | None = None,
) -> Discovery:
    """Expand files, directories (recursively) and glob patterns into input files.

    Files named explicitly are always read; files found in directories must match ``include``
    and not ``exclude``, files matched by a glob must not match ``exclude``. Hidden files and
    folders are skipped. Symbolic links to directories are not followed (no loops). A symbolic
    link found in a folder or by a glob is read only when it leads to a file inside the folders
    or files named (``named``, default ``paths``), unless ``follow_symlinks``. Order is
    deterministic: sorted per directory.
    """
    folders, files = _named_places(paths if named is None else named)

    def outside(path: str) -> bool:
        """A link found inside a folder that leads out of every place named."""
        if follow_symlinks or not os.path.islink(path):
            return False
        real = os.path.realpath(path)
        return real not in files and not any(real.startswith(folder) for folder in folders)

    found: list[InputFile] = []
    seen: set[str] = set()
    skipped: list[tuple[str, str]] = []
    chosen = [0]  # files of the current argument that pass the filters (even if seen before)

    def add(path: str) -> None:
        chosen[0] += 1
        key = path if path == STDIN else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.append(InputFile(path))

    def walk(directory: str) -> None:
        for root, dirs, files in os.walk(directory, onerror=None, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(root, name)
                if name.startswith("."):
                    skipped.append((full, "hidden"))
                elif not _name_matches(name, include):
                    skipped.append((full, "not matching --include"))
                elif _name_matches(name, exclude):
                    skipped.append((full, "matches --exclude"))
                elif not os.path.isfile(full):
                    skipped.append((full, "not a regular file"))
                elif outside(full):
                    skipped.append((full, _OUTSIDE))
                else:
                    add(full)

    unread: list[tuple[str, list[tuple[str, str]]]] = []
    all_skipped: list[tuple[str, str]] = []
    skipped_by_name: list[tuple[str, str]] = []
    for path in paths:
        chosen[0] = 0
        skipped = []
        if path == STDIN:
            add(STDIN)
        elif os.path.isdir(path):
            walk(path)
        elif os.path.lexists(path):
            add(path)
        elif glob.has_magic(path):
            matches = _glob(path)
            if not matches:
                raise InputError(f"{path_text(path)}: no file matches this pattern; check the path")
            for match in matches:
                if os.path.isdir(match):
                    walk(match)
                elif _name_matches(os.path.basename(match), exclude):
                    skipped.append((match, "matches --exclude"))
                elif outside(match):
                    skipped.append((match, _OUTSIDE))
                else:
                    add(match)
        else:
            raise InputError(f"{path_text(path)}: no such file or directory; check the path")
        if not chosen[0] and skipped:
            unread.append((path, skipped))
        elif skipped:
            skipped_by_name += skipped
        all_skipped.extend(skipped)
    # a file skipped in a directory but named on its own is read, not skipped; links leading
    # outside the places named are said apart (outside_link_notes)
    skipped_by_name = [
        (p, why)
        for p, why in skipped_by_name
        if os.path.realpath(p) not in seen and why != _OUTSIDE
    ]
    links = [path for path, reason in all_skipped if reason == _OUTSIDE]
    return Discovery(found, unread, outside_links=links, skipped=skipped_by_name)


_OUTSIDE = "a symbolic link leading outside the folders named; --follow-symlinks reads it"


def _glob(pattern: str) -> list[str]:
    """The paths ``pattern`` matches, sorted, as ``glob.glob(pattern, recursive=True)`` gives
    them except that ``**`` does not follow symbolic links to directories (``glob`` does, so a
    link such as ``dir/l1 -> .`` made ``'dir/**'`` run for ever): the rule directories follow.
    Hidden names match only a pattern segment that starts with a dot, as in ``glob``."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split(os.sep)
    fixed = 0
    while fixed < len(parts) and not glob.has_magic(parts[fixed]):
        fixed += 1
    base = os.sep.join(parts[:fixed]) or (os.sep if pattern.startswith(os.sep) else "")
    wanted = [part for part in parts[fixed:] if part]
    if not wanted or not os.path.isdir(base or os.curdir):
        return sorted(glob.glob(pattern))  # nothing recursive below a directory to walk
    dotted = any(part.startswith(".") for part in wanted)
    found = [base] if all(part == "**" for part in wanted) and base else []
    for root, dirs, files in os.walk(base or os.curdir, followlinks=False):
        if not dotted:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        relative = os.path.relpath(root, base or os.curdir)
        prefix = [] if relative == os.curdir else relative.split(os.sep)
        for name in (*dirs, *files):
            if _segments_match([*prefix, name], wanted):
                found.append(os.path.join(base, *prefix, name))
    return sorted(found)


def _segments_match(names: list[str], patterns: list[str]) -> bool:
    """Whether the path segments ``names`` match the glob segments ``patterns`` (``**``: any
    number of segments)."""
    if not patterns:
        return not names
    head, rest = patterns[0], patterns[1:]
    if head == "**":
        for skip in range(len(names) + 1):
            if skip and names[skip - 1].startswith("."):
                return False
            if _segments_match(names[skip:], rest):
                return True
        return False
    if not names or (names[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], head) and _segments_match(names[1:], rest)
