"""The security detectors on live data: after each batch ``meterlog watch`` commits.

:class:`LiveAnomalies` is a batch callback (:attr:`meterlog.live.watch.Watcher.on_batch`). It
keeps the events of the last ``lookback`` (default 15 minutes), runs the detectors that need no
whole hours (:data:`~meterlog.anomalies.runner.LIVE_KINDS`: ``auth_failures``,
``key_sharing``, ``probing``, ``scraping``) on them after each batch, and reports each *new*
finding once: as one line on the watch's log, in ``meterlog_anomalies_total{kind,severity}``
and in the gauge of open findings (those whose end is within the lookback). To keep a batch
cheap, live findings are judged against the detectors' absolute thresholds, without the
store's baseline (as for an entity without history); ``meterlog anomalies`` judges the same
time against each entity's history.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from meterlog.anomalies.runner import LIVE_KINDS, detect_recent
from meterlog.reports import ReportSettings

DEFAULT_LOOKBACK = timedelta(minutes=15)
#: How many of the newest findings the ``watch`` dashboard lists.
SHOWN = 3


def finding_line(finding: Mapping[str, Any]) -> str:
    """One line for a finding: when, severity, kind, entity, observed and evidence."""
    start = finding["start"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{start} anomaly {finding['severity']} {finding['kind']} "
        f"{finding['entity_type']} {finding['entity']} (account {finding['account'] or '-'}): "
        f"observed {finding['observed']:g}, expected {finding['expected']:g}; "
        f"{finding['evidence']} [id {finding['id']}]"
    )


class LiveAnomalies:
    """Batch callback running the live detectors (see the module doc)."""

    def __init__(
        self,
        settings: ReportSettings,
        overrides: Mapping[str, Mapping[str, object]] | None = None,
        *,
        lookback: timedelta = DEFAULT_LOOKBACK,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.overrides = overrides
        self.lookback = lookback
        self.log = log
        self.lock = threading.Lock()
        self.totals: Counter[tuple[str, str]] = Counter()
        self.recent_findings: list[dict[str, Any]] = []
        self._events: pl.DataFrame | None = None
        self._reported: dict[tuple[str, str, str], datetime] = {}

    def __call__(self, batch: Any) -> None:
        """Take a :class:`~meterlog.live.watch.Batch` (its ``events``)."""
        self.add(batch.events)

    def add(self, events: pl.DataFrame) -> pl.DataFrame:
        """Add committed events; return the findings not reported before (and report them)."""
        if events.height == 0:
            return pl.DataFrame()
        stored = events.drop([c for c in ("user", "account", "endpoint") if c in events.columns])
        recent = (
            stored
            if self._events is None
            else pl.concat([self._events, stored], how="diagonal_relaxed")
        )
        newest = recent.get_column("ts").max()
        assert isinstance(newest, datetime)
        self._events = recent.filter(pl.col("ts") >= newest - self.lookback)
        findings = detect_recent(
            self._events, None, self.settings, self.overrides, kinds=LIVE_KINDS
        )
        new_rows = []
        for row in findings.iter_rows(named=True):
            key = (row["kind"], row["entity_type"], row["entity"])
            last_end = self._reported.get(key)
            if last_end is not None and row["start"] <= last_end:
                self._reported[key] = max(last_end, row["end"])
                continue
            self._reported[key] = row["end"]
            new_rows.append(row)
        with self.lock:
            for row in new_rows:
                self.totals[(row["kind"], row["severity"])] += 1
                self.recent_findings.append(row)
            self.recent_findings = self.recent_findings[-100:]
        if self.log is not None:
            for row in new_rows:
                self.log(finding_line(row))
        return pl.DataFrame(new_rows, schema=findings.schema) if new_rows else findings.head(0)

    def open_findings(self, now: datetime | None = None) -> int:
        """Findings reported whose end lies within the lookback of ``now`` (or of the newest
        event seen)."""
        if now is None:
            if self._events is None or self._events.height == 0:
                return 0
            now = self._events.get_column("ts").max()  # type: ignore[assignment]
        assert now is not None
        with self.lock:
            return sum(1 for row in self.recent_findings if row["end"] >= now - self.lookback)
