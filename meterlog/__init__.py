"""meterlog: turn API access logs into billing-grade usage numbers."""

import os as _os

# Polars allocates through jemalloc, which by default gives each thread's allocations an arena
# of their own: with chunks parsed on several threads that roughly doubles peak memory. One
# arena keeps it bounded; a background thread returns memory unused for ten seconds (returning
# it sooner makes each chunk fault its pages in again: 10M lines took 9% longer after one
# second). Read when Polars is first loaded; a value set by the user wins.
_os.environ.setdefault(
    "_RJEM_MALLOC_CONF",
    "narenas:1,background_thread:true,dirty_decay_ms:10000,muzzy_decay_ms:10000",
)

__version__ = "0.1.0"
