"""meterlog: turn API access logs into billing-grade usage numbers."""

import os as _os

# Polars allocates through jemalloc, which by default keeps freed memory per thread for ten
# seconds: with chunks parsed on several threads that roughly doubles peak memory. One arena
# and a background thread returning memory after a second keep it bounded at no measurable cost.
# Read when Polars is first loaded; a value set by the user wins.
_os.environ.setdefault(
    "_RJEM_MALLOC_CONF", "narenas:1,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
)

__version__ = "0.1.0"
