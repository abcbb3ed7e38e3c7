"""Log sources: finding input files, decompressing them, fingerprinting and cutting into lines.

A source is identified by its content, not its name: the SHA-256 of the complete lines in its
first :data:`FINGERPRINT_BYTES` bytes, after decompression. Lines never change once written, so
the identity survives renames, logrotate's gzip and growth; a byte-identical copy adds nothing,
while a file that differs within its first 4 KiB is a source of its own.

* :mod:`~meterlog.sources.discovery`: which files to read (paths, folders, globs, links, stdin);
* :mod:`~meterlog.sources.reading`: opening, decompressing and reading them in chunks;
* :mod:`~meterlog.sources.lines`: cutting chunks into lines;
* :mod:`~meterlog.sources.display`: paths and bytes as a terminal may show them.
"""

from meterlog.sources.discovery import (
    DEFAULT_EXCLUDE,
    DEFAULT_INCLUDE,
    Discovery,
    InputFile,
    discover,
    discover_inputs,
)
from meterlog.sources.display import (
    STDIN,
    decode_for_display,
    path_for_display,
    path_from_text,
    path_text,
)
from meterlog.sources.lines import (
    DEFAULT_MAX_LINE_BYTES,
    CutLine,
    LineBatch,
    drop_blank_lines,
    line_ends,
    span_of,
    split_lines,
)
from meterlog.sources.reading import (
    DEFAULT_CHUNK_BYTES,
    FINGERPRINT_BYTES,
    MIN_BYTES_PER_LINE,
    LineReader,
    read_ahead,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_EXCLUDE",
    "DEFAULT_INCLUDE",
    "DEFAULT_MAX_LINE_BYTES",
    "FINGERPRINT_BYTES",
    "MIN_BYTES_PER_LINE",
    "STDIN",
    "CutLine",
    "Discovery",
    "InputFile",
    "LineBatch",
    "LineReader",
    "decode_for_display",
    "discover",
    "discover_inputs",
    "drop_blank_lines",
    "line_ends",
    "path_for_display",
    "path_from_text",
    "path_text",
    "read_ahead",
    "span_of",
    "split_lines",
]
