"""Running a :class:`~meterlog.live.watch.Watcher` as ``meterlog watch`` does: the metrics
server, the dashboard on a terminal or one log line per commit, until asked to stop.

Signal handlers are not installed here (the command does that): :func:`serve` stops when the
``stop`` event is set, after committing what was written up to then.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

from meterlog.live.watch import Watcher
from meterlog.text import printable


def serve(
    watcher: Watcher,
    stop: threading.Event,
    *,
    metrics: tuple[str, int] | None = None,
    dashboard: bool = False,
    quiet: bool = False,
    log_stream: TextIO | None = None,
    on_ready: Callable[[str | None], None] | None = None,
) -> None:
    """Watch until ``stop`` is set.

    ``metrics``: ``(host, port)`` to serve ``/metrics`` on. ``dashboard``: draw the live
    dashboard on standard output (a terminal); otherwise one line per commit, finding, note or
    error goes to ``log_stream`` (standard error), errors only with ``quiet``. ``on_ready`` is
    called with the metrics URL (or None) once the figures are loaded and the server listens.
    """
    from meterlog.live.metrics import MetricsServer

    stream = log_stream or sys.stderr

    def log(message: str) -> None:
        if dashboard or (quiet and not message.startswith("error:")):
            return
        if message.startswith(("error:", "note:")):  # as every command says them
            message = "meterlog: " + message
        print(printable(message), file=stream, flush=True)

    watcher.log = log
    server = None
    try:
        watcher.start()
        if metrics is not None:
            server = MetricsServer(watcher, metrics[0], metrics[1])
        url = server.url if server is not None else None
        if url and not quiet and not dashboard:
            print(f"serving metrics at {url}", file=stream, flush=True)
        if on_ready is not None:
            on_ready(url)
        if dashboard:
            _with_dashboard(watcher, stop)
        else:
            watcher.run(stop)
    finally:
        if server is not None:
            server.close()
        watcher.close()


def _with_dashboard(watcher: Watcher, stop: threading.Event) -> None:
    from rich.console import Console
    from rich.live import Live

    from meterlog.live.dashboard import dashboard_data, render

    console = Console()

    class _Screen:
        def __rich__(self) -> object:
            width, height = console.size
            return render(dashboard_data(watcher), width, max(10, height - 1))

    with Live(
        _Screen(),  # type: ignore[arg-type]  # rich renders any object with __rich__
        console=console,
        refresh_per_second=1,
        vertical_overflow="crop",
        redirect_stderr=False,
    ):
        watcher.run(stop)
