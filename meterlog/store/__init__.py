"""The store: Delta Lake tables holding events, rejected lines and the sources seen.

Layout under the store root (a folder, or an object-store URL such as ``s3://bucket/meterlog``):

* ``events/``: one row per parsed request, canonical schema (:mod:`meterlog.schema`),
  partitioned by the UTC day of ``ts`` (column ``day``).
* ``rejects/``: one row per rejected line, with source, line number, reason and the line itself.
* ``sources/``: one row each time an ingest run read new data from a source (path, fingerprint).
* ``meter_states/``: cached meter states for incremental month-end runs
  (:mod:`meterlog.meters.cache`); derived from ``events``, safe to delete.
* ``.meterlog.lock``: the writers' lock (local stores only).

Exactly-once: each commit to ``events`` carries two Delta *application transactions* for the
source it read, ``meterlog-offset:<id>`` (bytes of the decompressed source consumed) and
``meterlog-lines:<id>`` (lines consumed), in the same atomic commit as the rows. Data and
progress therefore can never disagree. ``rejects`` carries its own offset transaction, so a
crash between the two commits is repaired by the next run without duplicating anything.

Modules: :mod:`~meterlog.store.layout` (names and constants), :mod:`~meterlog.store.tables`
(the :class:`Store`: reads, commits), :mod:`~meterlog.store.lock` (the writers' lock),
:mod:`~meterlog.store.maintenance` (compaction, vacuum) and :mod:`~meterlog.store.recovery`
(what a stopped run left behind).
"""

from meterlog.store.layout import (
    AUTO_COMPACT_FILES,
    COMMIT_ATTEMPTS,
    COMPACT_TARGET_BYTES,
    DEFAULT_RETENTION,
    DEFAULT_STORE,
    DELTA_LOG_RETENTION,
    EVENTS_TABLE,
    EVENTS_WRITER_PROPERTIES,
    LOCK_FILE,
    METER_STATES_TABLE,
    REJECTS_TABLE,
    SOURCE_COLUMNS,
    SOURCES_TABLE,
    WRITING_MARKER,
    Progress,
    SourceHead,
)
from meterlog.store.maintenance import MaintenanceResult
from meterlog.store.pseudonyms import Pseudonymization
from meterlog.store.recovery import Damage, check_store, missing_data_files, paths_in_commit
from meterlog.store.tables import (
    NoStoreError,
    ProgressMoved,
    Snapshot,
    Store,
    now_utc,
    resolve_store,
)

__all__ = [
    "AUTO_COMPACT_FILES",
    "COMMIT_ATTEMPTS",
    "COMPACT_TARGET_BYTES",
    "DEFAULT_RETENTION",
    "DEFAULT_STORE",
    "DELTA_LOG_RETENTION",
    "EVENTS_TABLE",
    "EVENTS_WRITER_PROPERTIES",
    "LOCK_FILE",
    "METER_STATES_TABLE",
    "REJECTS_TABLE",
    "SOURCES_TABLE",
    "SOURCE_COLUMNS",
    "WRITING_MARKER",
    "Damage",
    "MaintenanceResult",
    "NoStoreError",
    "Progress",
    "ProgressMoved",
    "Pseudonymization",
    "Snapshot",
    "SourceHead",
    "Store",
    "check_store",
    "missing_data_files",
    "now_utc",
    "paths_in_commit",
    "resolve_store",
]
