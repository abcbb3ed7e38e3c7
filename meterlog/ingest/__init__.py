"""Ingest: read log sources, parse them and commit new lines to the store exactly once.

For each source: fingerprint it, look up how much of it the store already holds, skip that,
parse the rest chunk by chunk and commit each chunk's rows together with the source's new
progress (see :mod:`meterlog.store`). Re-running over the same files, renamed, rotated or
compressed files adds nothing; a grown file adds only its new lines.

The package: :mod:`~meterlog.ingest.run` (orchestration), :mod:`~meterlog.ingest.pipeline` (the
three-stage pipeline of one source), :mod:`~meterlog.ingest.options` and
:mod:`~meterlog.ingest.results` (what goes in and comes out), :mod:`~meterlog.ingest.summary`
(the summary text).
"""

from meterlog.ingest.options import CommitCallback, IngestOptions, default_threads
from meterlog.ingest.results import (
    DUPLICATE,
    FAILED,
    GROWN,
    NEW,
    UNCHANGED,
    WAITING,
    ChunkCallback,
    IngestSummary,
    RunMonitor,
    SourceReport,
)
from meterlog.ingest.run import ingest, ingest_inputs, ingest_paths
from meterlog.ingest.summary import summary_lines

__all__ = [
    "DUPLICATE",
    "FAILED",
    "GROWN",
    "NEW",
    "UNCHANGED",
    "WAITING",
    "ChunkCallback",
    "CommitCallback",
    "IngestOptions",
    "IngestSummary",
    "RunMonitor",
    "SourceReport",
    "default_threads",
    "ingest",
    "ingest_inputs",
    "ingest_paths",
    "summary_lines",
]
