"""The security detectors on live data: after each batch ``meterlog watch`` commits.

:class:`LiveAnomalies` is a batch callback (:attr:`meterlog.live.watch.Watcher.on_batch`). It
keeps the events of the last ``lookback`` (default 15 minutes), runs the detectors that need no
whole hours (:data:`~meterlog.anomalies.runner.LIVE_KINDS`: ``auth_failures``,
``key_sharing``, ``probing``, ``scraping``) on them after each batch, and reports each *new*
finding once: as one line on the watch's log (stamped with the time it is written), in
``meterlog_anomalies_total{kind,severity}`` and in the gauge of open findings (those whose end
is within the lookback). A finding seen again by a later batch is the same finding: it keeps
its id and start (those ``meterlog anomalies`` gives it, so ``--explain ID`` finds it), its
observed value grows, and when its severity rises it is reported once more at the new
severity. To keep a batch cheap, live findings are judged against the detectors' absolute
thresholds, without the store's baseline (as for an entity without history); ``meterlog
anomalies`` judges the same time against each entity's history.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from meterlog.anomalies.base import SEVERITIES
from meterlog.anomalies.registry import checked_overrides
from meterlog.anomalies.runner import LIVE_KINDS, detect_recent
from meterlog.query.identity import NO_KEY
from meterlog.query.settings import ReportSettings

DEFAULT_LOOKBACK = timedelta(minutes=15)
#: How many of the newest findings the ``watch`` dashboard lists.
SHOWN = 3
#: How many findings are kept for the dashboard and the open-findings gauge.
KEPT = 100


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def finding_line(
    finding: Mapping[str, Any], written: datetime | None = None, was: str | None = None
) -> str:
    """One line for a finding: when it is written (if given), severity (and the severity it
    escalated from), kind, entity, account, start, observed and evidence, and its id."""
    account = finding["account"] if finding["account"] is not None else NO_KEY
    severity = finding["severity"] if was is None else f"{finding['severity']} (was {was})"
    return (
        (f"{_stamp(written)} " if written is not None else "")
        + f"anomaly {severity} {finding['kind']} {finding['entity_type']} {finding['entity']}, "
        f"account {account}, since {_stamp(finding['start'])}: "
        f"observed {finding['observed']:g}, expected {finding['expected']:g}; "
        f"{finding['evidence']} [id {finding['id']}]"
    )


class LiveAnomalies:
    """Batch callback running the live detectors (see the module doc)."""

    #: How the watch's log names this callback.
    name = "live anomaly detectors"

    def __init__(
        self,
        settings: ReportSettings,
        overrides: Mapping[str, Mapping[str, object]] | None = None,
        *,
        lookback: timedelta = DEFAULT_LOOKBACK,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        # a mistake in [anomalies] is refused when the watch starts, not at its first batch
        self.overrides = checked_overrides(overrides)
        self.lookback = lookback
        self.log = log
        self.lock = threading.Lock()
        self.totals: Counter[tuple[str, str]] = Counter()
        self.recent_findings: list[dict[str, Any]] = []
        self._events: pl.DataFrame | None = None
        #: The findings reported, as they stand now, by kind, entity type and entity.
        self._reported: dict[tuple[str, str, str], dict[str, Any]] = {}

    def __call__(self, batch: Any) -> None:
        """Take a :class:`~meterlog.live.watch.Batch` (its ``events``)."""
        self.add(batch.events)

    def add(self, events: pl.DataFrame) -> pl.DataFrame:
        """Add committed events; return the findings new or escalated by them (and report
        them: a new finding once, an escalation once more)."""
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
        # whole minutes, as `meterlog anomalies` reads a range (its windows and starts are
        # minutes), so a finding starts where it would start there and has the same id
        horizon = _minute(newest - self.lookback)
        self._events = recent.filter(pl.col("ts") >= horizon)
        first = self._events.get_column("ts").min()
        assert isinstance(first, datetime)
        findings = detect_recent(
            self._events,
            None,
            self.settings,
            self.overrides,
            kinds=LIVE_KINDS,
            start=_minute(first),
        )
        changed: list[tuple[dict[str, Any], str | None]] = []
        for row in findings.iter_rows(named=True):
            key = (row["kind"], row["entity_type"], row["entity"])
            known = self._reported.get(key)
            if known is None or row["start"] > known["end"]:
                self._reported[key] = row
                changed.append((row, None))
                continue
            # the same finding, seen again: it keeps its id and start, grows and may escalate
            updated = dict(known)
            updated["end"] = max(known["end"], row["end"])
            if row["observed"] > known["observed"]:
                for column in ("observed", "expected", "score", "evidence"):
                    updated[column] = row[column]
            if _rank(row["severity"]) > _rank(known["severity"]):
                updated["severity"] = row["severity"]
                changed.append((updated, known["severity"]))
            self._reported[key] = updated
        # findings over before the look-back cannot continue: forgotten
        self._reported = {key: row for key, row in self._reported.items() if row["end"] >= horizon}
        with self.lock:
            for row, _ in changed:
                self.totals[(row["kind"], row["severity"])] += 1
            current = {row["id"]: row for row in self._reported.values()}
            kept = [current.get(row["id"], row) for row in self.recent_findings]
            shown = {row["id"] for row in kept}
            kept += [row for row, _ in changed if row["id"] not in shown]
            self.recent_findings = kept[-KEPT:]
        if self.log is not None:
            written = datetime.now(UTC)
            for row, was in changed:
                self.log(finding_line(row, written, was))
        rows = [row for row, _ in changed]
        return pl.DataFrame(rows, schema=findings.schema) if rows else findings.head(0)

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


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1
