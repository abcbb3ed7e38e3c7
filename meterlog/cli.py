"""The ``meterlog`` program: the command group and the process entry point.

The commands live in :mod:`meterlog.commands`, a module each, imported only when run. Process
tuning (allocator settings, the garbage collector, the fast exit) happens in :func:`run` alone:
importing meterlog as a library changes nothing process-wide.
"""

from __future__ import annotations

import ctypes
import os
import sys

import click

from meterlog import __version__
from meterlog.commands.base import PROGRAM, LazyGroup


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="meterlog")
def main() -> None:
    """Turn API access logs into billing-grade usage numbers.

    \b
    Example:
        meterlog ingest --store /var/lib/meterlog /var/log/nginx/
        meterlog status --store /var/lib/meterlog
    """


#: Polars allocates through jemalloc, which by default gives each thread's allocations an arena
#: of their own: with chunks parsed on several threads that roughly doubles peak memory. One
#: arena keeps it bounded; a background thread returns memory unused for ten seconds (returning
#: it sooner makes each chunk fault its pages in again: 10M lines took 9% longer after one
#: second). Read when Polars is first loaded; a value set by the user wins.
_JEMALLOC_CONF = "narenas:1,background_thread:true,dirty_decay_ms:10000,muzzy_decay_ms:10000"

#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _reuse_freed_memory() -> None:
    """Have glibc's malloc keep large freed blocks for reuse instead of handing them back.

    Chunks are read into, and parsed and written through, blocks of tens of MiB; by default each
    is mapped afresh and returned on free, so every chunk pays page faults for its memory again
    (about 80,000 a million lines, 10% of an ingest's CPU time). Blocks up to 256 MiB then come
    from the heap, which is trimmed only past 1 GiB free: peak memory stays about the same.
    Without glibc (macOS, musl) nothing changes.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 256 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)


def run() -> None:
    """The ``meterlog`` program: :func:`main`, then a quick exit with its exit code.

    When a command returns, its output is written and its files and store are closed; the
    process then ends without tearing the interpreter down (freeing every module, Polars' and
    the Delta writer's thread pools), which takes about 50 ms, a few percent of a short ingest.
    """
    os.environ.setdefault("_RJEM_MALLOC_CONF", _JEMALLOC_CONF)
    _reuse_freed_memory()
    PROGRAM["running"] = True
    code: int
    try:
        main()
        code = 0
    except SystemExit as exit_request:
        if exit_request.code is None or isinstance(exit_request.code, int):
            code = exit_request.code or 0
        else:  # sys.exit("message"): the message goes to stderr, as Python does it
            print(exit_request.code, file=sys.stderr)
            code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        pass
    os._exit(code)
