"""The HTML report kept up to date while ``meterlog watch`` runs (``watch --report FILE``).

A thread rewrites the report of the month of the newest stored request (month to date, in
the report's time zone) once a minute when the store has a new version, and as soon as the
first requests are stored. Each rewrite is atomic (:func:`write_html_report` renames a
finished file over the old one), so a browser or a web server never reads half a page. A
report that cannot be written is a one-line message, and the next minute tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from meterlog.errors import MeterlogError
from meterlog.query.settings import ReportSettings
from meterlog.report.html import HtmlReportQuery, write_html_report
from meterlog.store import Store

#: Seconds between rewrites of the report.
REFRESH_SECONDS = 60.0
#: Seconds between looks at the store until its first requests are there.
FIRST_LOOK_SECONDS = 1.0


@dataclass
class ReportRefresher:
    """Rewrites ``output`` from the store every ``every`` seconds while the store changes."""

    settings: ReportSettings
    output: Path
    plan: str | Path | None = None
    every: float = REFRESH_SECONDS
    log: Callable[[str], None] | None = None
    written_version: int | None = None
    _last_error: str | None = field(default=None, repr=False)

    def newest_month(self, store: Store) -> str | None:
        """The month (``YYYY-MM`` in the report's time zone) of the newest stored request."""
        newest = store.scan_events().select(pl.col("ts").max()).collect().item()
        return None if newest is None else f"{newest.astimezone(self.settings.tz):%Y-%m}"

    def refresh(self) -> bool:
        """Write the report if the store has a version it was not written from; False when
        there was nothing to write or it could not be written (the reason is logged once)."""
        store = Store(self.settings.store)
        try:
            version = store.version() if store.is_store() else None
            if version is None or version == self.written_version:
                return False
            month = self.newest_month(store)
            if month is None:
                return False
            query = HtmlReportQuery(month=month, plan=self.plan)
            write_html_report(self.settings, query, self.output)
        except (MeterlogError, OSError) as exc:
            message = f"report {self.output} not written: {exc}"
            if message != self._last_error and self.log is not None:
                self.log(message)
            self._last_error = message
            return False
        if self.written_version is None and self.log is not None:
            self.log(f"writing the report {self.output} every {self.every:g} s")
        self.written_version = version
        self._last_error = None
        return True

    def run(self, stop: threading.Event) -> None:
        """Refresh until ``stop`` is set: soon after the first requests, then every minute
        (and a minute after a failed attempt)."""
        while not stop.is_set():
            self.refresh()
            waiting = self.written_version is None and self._last_error is None
            stop.wait(FIRST_LOOK_SECONDS if waiting else self.every)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="report", daemon=True)
        thread.start()
        return thread
