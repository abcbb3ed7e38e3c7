"""The ingest progress bar shown on a terminal (rich): bytes done of the total, percentage,
lines per second and time left; for standard input, bytes and rate."""

from __future__ import annotations

from types import TracebackType

from rich import filesize, get_console
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from meterlog.text import printable

#: Characters of a file name shown beside the bar at least (its end, where the name is).
NAME_WIDTH = 12
#: Cells the columns other than the name and the bar take, with the spaces between them.
_OTHER_COLUMNS = 62


class LinesPerSecond(ProgressColumn):
    """Lines read per second so far (the task's ``lines`` field over its elapsed time)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        lines = int(task.fields.get("lines", 0))
        rate = f"{lines / elapsed:,.0f}" if elapsed > 0 else "-"
        return Text(f"{rate} lines/s", style="progress.data.speed")


def binary_size(size: float) -> str:
    """``size`` bytes as ``3.0 MiB``."""
    unit, suffix = filesize.pick_unit_and_suffix(
        int(size), ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"], 1024
    )
    return f"{size / unit:,.1f} {suffix}" if unit > 1 else f"{int(size)} bytes"


class BytesRead(ProgressColumn):
    """Bytes read so far, when the total is not known (standard input)."""

    def render(self, task: Task) -> Text:
        return Text(binary_size(task.completed), style="progress.download")


class BytesPerSecond(ProgressColumn):
    """Bytes read per second over the whole run so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = binary_size(task.completed / elapsed) if elapsed > 0 else "-"
        return Text(f"{rate}/s", style="progress.data.speed")


def short_name(path: str, width: int = NAME_WIDTH) -> str:
    """The end of ``path``, at most ``width`` characters, made safe for a terminal."""
    shown = printable(path)
    return shown if len(shown) <= width else "\u2026" + shown[-(width - 1) :]


class IngestProgressBar:
    """An :class:`meterlog.ingest.RunMonitor` drawing a transient rich progress bar."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.name_width = NAME_WIDTH
        self.task: TaskID | None = None
        self.lines = 0

    def start(self, total_bytes: int | None) -> None:
        # Sized to the terminal so that no number wraps: the bar and the name take what is left.
        width = (self.console or get_console()).width
        bar_width = max(10, min(40, width - 80))
        self.name_width = max(NAME_WIDTH, width - bar_width - _OTHER_COLUMNS)
        name = TextColumn("{task.description}", style="progress.description")
        if total_bytes is None:  # standard input or a pipe: no total, no time left
            columns: list[ProgressColumn] = [
                name,
                BytesRead(),
                BytesPerSecond(),
                LinesPerSecond(),
                TimeElapsedColumn(),
            ]
        else:
            columns = [
                name,
                BarColumn(bar_width=bar_width),
                DownloadColumn(binary_units=True),
                TaskProgressColumn(),
                LinesPerSecond(),
                TimeRemainingColumn(),
            ]
        self.progress = Progress(*columns, console=self.console, transient=True, expand=False)
        self.progress.start()
        self.task = self.progress.add_task("ingesting", total=total_bytes, lines=0)

    def advance(self, path: str, size: int, lines: int) -> None:
        if self.progress is None or self.task is None:
            return
        self.lines += lines
        self.progress.update(
            self.task,
            advance=size,
            lines=self.lines,
            description=escape(short_name(path, self.name_width)),
        )

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __enter__(self) -> IngestProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
