"""Live monitoring: ``meterlog watch`` follows logs, commits micro-batches exactly once, keeps
month-to-date figures, draws a dashboard and serves Prometheus metrics.

* :mod:`meterlog.live.follow`: which files changed (``tail -F`` by polling);
* :mod:`meterlog.live.watch`: the batch loop (:class:`Watcher`) and its plug-in hook
  (:attr:`Watcher.on_batch`, called with each committed :class:`Batch`);
* :mod:`meterlog.live.mtd`: month-to-date requests, MAU and peaks, exact;
* :mod:`meterlog.live.stats`: counters and the recent past;
* :mod:`meterlog.live.metrics`: ``/metrics`` (prometheus-client, a registry of its own);
* :mod:`meterlog.live.dashboard`: the terminal dashboard (rich).

Importing this package starts nothing and changes nothing process-wide.
"""

from __future__ import annotations

from meterlog.live.watch import Batch, BatchCallback, Watcher, WatchOptions

__all__ = ["Batch", "BatchCallback", "WatchOptions", "Watcher"]
