"""The tool a data engineer would reach for instead of meterlog: DuckDB turning an nginx
``combined`` log into Parquet with ``regexp_extract``, in one SQL statement.

usage: python bench/duckdb_parquet.py ACCESS_LOG OUT.parquet   (prints the row counts as JSON)
       python bench/duckdb_parquet.py --json ACCESS_LOG.jsonl OUT.parquet
       python bench/duckdb_parquet.py --compare OUT.parquet STORE   (checks it against meterlog)
       python bench/duckdb_parquet.py --compare-json OUT.parquet STORE

It extracts what meterlog stores of a combined line, typed the same way: ``ts`` parsed to a UTC
timestamp (``strptime`` with the line's offset), ``status`` as a 16-bit and ``bytes_sent`` as a
64-bit integer (``-`` as 0, as meterlog reads it), the request line split into method, path,
query and protocol, ``-`` as null for the user and referer. A line the pattern does not match is
kept whole in ``bad_line`` (its other columns null), so no line is lost silently. Within one
file and one run only: no record of what was read before (a second run reads everything again),
no per-line source offsets, no nginx ``\\xHH`` unescaping, no transactional table, no
partitioning by day.

``--json``: the same for JSON lines (:mod:`bench.generate`'s, nginx ``escape=json`` keys) with
``read_json``: the keys named with their types (no sampling), a line that is not a JSON object
skipped (``ignore_errors``; DuckDB keeps no record of it), the time parsed with its offset, the
request line split as above, ``-`` as null for the user and referer.
"""

from __future__ import annotations

import json
import sys

import duckdb

# One capture group per field; RE2 (DuckDB's regex engine) syntax.
PATTERN = (
    r"^(\S+) - (\S+) \[([^\]]+)\] "  # remote_addr, remote_user, time_local
    r'"(\S+) ([^ ?"]*)(?:\?([^ "]*))? ([^ "]+)" '  # method, path, query, protocol
    r'(\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$'  # status, bytes, referer, user agent
)
NAMES = [
    "remote_addr",
    "remote_user",
    "time_local",
    "method",
    "path",
    "query",
    "protocol",
    "status",
    "bytes",
    "referer",
    "user_agent",
]

# Lines are read as one VARCHAR column: a delimiter that does not occur in logs (\x01), no
# quoting, no header, no type detection.
QUERY = """
COPY (
    WITH lines AS (
        SELECT line FROM read_csv(
            $path, columns = {'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '',
            header = false, auto_detect = false, max_line_size = 1048576
        )
    ),
    fields AS (
        SELECT line, regexp_extract(line, $pattern, $names) AS f FROM lines
    )
    SELECT
        try_strptime(f.time_local, '%d/%b/%Y:%H:%M:%S %z') AS ts,
        nullif(f.remote_addr, '') AS remote_addr,
        nullif(nullif(f.remote_user, '-'), '') AS remote_user,
        nullif(f.method, '') AS method,
        nullif(f.path, '') AS path,
        nullif(f.query, '') AS query,
        nullif(f.protocol, '') AS protocol,
        try_cast(nullif(f.status, '') AS SMALLINT) AS status,
        CASE f.bytes WHEN '-' THEN 0 ELSE try_cast(nullif(f.bytes, '') AS BIGINT) END
            AS bytes_sent,
        nullif(nullif(f.referer, '-'), '') AS referer,
        nullif(f.user_agent, '') AS user_agent,
        CASE WHEN f.time_local = '' OR ts IS NULL THEN line END AS bad_line
    FROM fields
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
"""


JSON_QUERY = """
COPY (
    WITH objects AS (
        SELECT * FROM read_json(
            $path, format = 'newline_delimited', ignore_errors = true,
            maximum_object_size = 1048576,
            columns = {
                'time_iso8601': 'VARCHAR', 'remote_addr': 'VARCHAR', 'remote_user': 'VARCHAR',
                'request': 'VARCHAR', 'status': 'BIGINT', 'body_bytes_sent': 'BIGINT',
                'request_time': 'DOUBLE', 'http_referer': 'VARCHAR', 'http_user_agent': 'VARCHAR'
            }
        )
    ),
    fields AS (
        SELECT *, regexp_extract(request, $pattern, $names) AS r FROM objects
    )
    SELECT
        try_strptime(time_iso8601, '%Y-%m-%dT%H:%M:%S%z') AS ts,
        nullif(nullif(remote_addr, '-'), '') AS remote_addr,
        nullif(nullif(remote_user, '-'), '') AS remote_user,
        nullif(r.method, '') AS method,
        nullif(r.path, '') AS path,
        nullif(r.query, '') AS query,
        nullif(r.protocol, '') AS protocol,
        try_cast(status AS SMALLINT) AS status,
        body_bytes_sent AS bytes_sent,
        request_time,
        nullif(nullif(http_referer, '-'), '') AS referer,
        nullif(nullif(http_user_agent, '-'), '') AS user_agent,
        -- a line that is not an object gives a row of nulls: marked, its text is not kept
        CASE WHEN time_iso8601 IS NULL AND request IS NULL THEN '' END AS bad_line
    FROM fields
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
"""
REQUEST_PATTERN = r"^(\S+) ([^ ?]*)(?:\?(\S*))? (\S+)$"
REQUEST_NAMES = ["method", "path", "query", "protocol"]


def convert_json(path: str, out: str) -> dict[str, int]:
    """Write the JSON lines of ``path`` to the Parquet file ``out``; the rows written."""
    return _copy(JSON_QUERY, path, out, REQUEST_PATTERN, REQUEST_NAMES)


def convert(path: str, out: str) -> dict[str, int]:
    """Write ``path``'s lines to the Parquet file ``out``; the rows written and the bad lines."""
    return _copy(QUERY, path, out, PATTERN, NAMES)


def _copy(query: str, path: str, out: str, pattern: str, names: list[str]) -> dict[str, int]:
    """Run the COPY ``query`` from ``path`` to ``out``; the rows written and the bad lines."""
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        # COPY's target cannot be a parameter: quote it as an SQL string literal.
        target = out.replace("'", "''")
        connection.execute(
            query.replace("{out}", target), {"path": path, "pattern": pattern, "names": names}
        )
        rows, bad = connection.execute(
            "SELECT count(*), count(bad_line) FROM read_parquet($out)", {"out": out}
        ).fetchone()  # type: ignore[misc]  # fetchone of an aggregate always returns a row
    return {"rows": rows, "bad_lines": bad}


COMPARED = [
    "ts",
    "remote_addr",
    "remote_user",
    "method",
    "path",
    "query",
    "protocol",
    "status",
    "bytes_sent",
    "referer",
    "user_agent",
]


def compare_json(parquet: str, store: str) -> dict[str, object]:
    """:func:`compare` for ``--json``'s Parquet file: its rows as meterlog's events (request
    time too); of its bad lines, only how many (their text is not kept)."""
    import polars as pl

    from meterlog.store import Store

    columns = [*COMPARED, "request_time"]
    meter = Store(store)
    events = meter.scan_events().select(columns).collect().sort(columns)
    rejects = meter.scan_rejects().select("line").collect()
    duck = pl.read_parquet(parquet)
    rows = duck.filter(pl.col("bad_line").is_null()).select(columns).sort(columns)
    bad = duck.filter(pl.col("bad_line").is_not_null())
    return {
        "events": events.height,
        "duckdb_rows": rows.height,
        "same_rows": rows.equals(events),
        "rejects": rejects.height,
        "duckdb_bad_lines": bad.height,
        "same_bad_lines": bad.height == rejects.height,
    }


def compare(parquet: str, store: str) -> dict[str, object]:
    """Whether DuckDB's rows are meterlog's events of the same file (as a multiset: DuckDB keeps
    no line numbers to order by) and its bad lines meterlog's rejects. The one transformation
    applied first is nginx's ``\\x22`` unescaped in the user agent, which meterlog does and
    the SQL above does not (the generated logs use no other escape)."""
    import polars as pl

    from meterlog.store import Store

    meter = Store(store)
    events = meter.scan_events().select(COMPARED).collect().sort(COMPARED)
    rejects = meter.scan_rejects().select("line").collect().sort("line")
    duck = pl.read_parquet(parquet)
    rows = (
        duck.filter(pl.col("bad_line").is_null())
        .select(COMPARED)
        .with_columns(pl.col("user_agent").str.replace_all("\\x22", '"', literal=True))
        .sort(COMPARED)
    )
    bad = duck.filter(pl.col("bad_line").is_not_null()).select(line="bad_line").sort("line")
    return {
        "events": events.height,
        "duckdb_rows": rows.height,
        "same_rows": rows.equals(events),
        "rejects": rejects.height,
        "duckdb_bad_lines": bad.height,
        "same_bad_lines": bad.equals(rejects),
    }


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        print(json.dumps(compare(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "--compare-json":
        print(json.dumps(compare_json(sys.argv[2], sys.argv[3])))
    elif sys.argv[1] == "--json":
        print(json.dumps(convert_json(sys.argv[2], sys.argv[3])))
    else:
        print(json.dumps(convert(sys.argv[1], sys.argv[2])))
