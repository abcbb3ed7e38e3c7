"""Seeded synthetic access logs for benchmarks: nginx ``combined`` and the JSON-lines equivalent.

Lines are generated in blocks of :data:`BLOCK` lines, each from its own seed, so the first N lines
of a longer file are the same as a shorter file's: a 1M-line file is a prefix of the 10M-line file
and both have the same mix of clients, endpoints and statuses and the same events per day.
Timestamps rise steadily from :data:`START` at :data:`SECONDS_PER_LINE`; about one line in 10,000
is damaged (cut short) to exercise the reject path, and a few user agents carry nginx's ``\\x22``.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

BLOCK = 500_000
START = datetime(2026, 8, 1, tzinfo=UTC)
#: 10M lines span 92 days (August to October 2026): about 109,000 requests a day.
SECONDS_PER_LINE = 92 * 86_400 / 10_000_000

METHODS = (
    ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"],
    [0.75, 0.15, 0.05, 0.03, 0.01, 0.01],
)
STATUSES = (
    [200, 201, 204, 301, 304, 400, 401, 403, 404, 429, 500, 502, 503],
    [0.70, 0.04, 0.03, 0.01, 0.06, 0.02, 0.03, 0.01, 0.06, 0.01, 0.01, 0.01, 0.01],
)
PATHS = [
    "/api/v1/users/{n}",
    "/api/v1/users/{n}/orders",
    "/api/v1/orders/{n}",
    "/api/v1/items",
    "/api/v1/items/{n}",
    "/api/v2/search",
    "/api/v2/reports/{n}/download",
    "/static/app.{n}.js",
    "/health",
    "/login",
    "/",
]
QUERIES = ["", "", "", "page={n}&limit=50", "q=shoes&sort=price", "key=k{n}", "v=2&key=k{n}"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "PostmanRuntime/7.39.0",
    "Mozilla/5.0 (compatible; \\x22Acme\\x22 Monitor/1.0)",
]
UA_WEIGHTS = [0.15, 0.06, 0.06, 0.05, 0.20, 0.18, 0.12, 0.10, 0.03, 0.0499, 0.0001]
REFERERS = ["-", "-", "-", "https://example.com/", "https://example.com/app/dashboard"]


def _pick(rng: np.random.Generator, values: list, size: int, p: list[float] | None = None):
    weights = None if p is None else np.asarray(p) / np.sum(p)
    return pl.Series(values).gather(rng.choice(len(values), size=size, p=weights))


def block_frame(index: int, size: int, seed: int) -> pl.DataFrame:
    """The fields of lines ``index*BLOCK .. index*BLOCK+size`` (one row per line)."""
    rng = np.random.default_rng([seed, index])
    first = index * BLOCK
    numbers = np.arange(first, first + size, dtype=np.float64)
    start_us = int(START.timestamp() * 1_000_000)
    ts = (start_us + (numbers * SECONDS_PER_LINE * 1_000_000).astype(np.int64)) // 1_000_000
    ips = rng.integers(0, 40_000, size=size)
    users = rng.zipf(1.3, size=size) % 60_000
    anonymous = rng.random(size) < 0.35
    path_ids = rng.integers(1, 100_000, size=size)
    frame = pl.DataFrame(
        {
            "ts": pl.Series(ts * 1_000_000, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "ip": ips,
            "user": users,
            "anonymous": anonymous,
            "method": _pick(rng, METHODS[0], size, METHODS[1]),
            "path_template": _pick(rng, PATHS, size),
            "query_template": _pick(rng, QUERIES, size),
            "n": path_ids,
            "protocol": _pick(rng, ["HTTP/1.1", "HTTP/2.0"], size, [0.8, 0.2]),
            "status": _pick(rng, STATUSES[0], size, STATUSES[1]),
            "bytes": np.minimum(rng.lognormal(7.5, 1.6, size=size), 50_000_000).astype(np.int64),
            "referer": _pick(rng, REFERERS, size),
            "user_agent": _pick(rng, USER_AGENTS, size, UA_WEIGHTS),
            "request_time": np.round(rng.gamma(2.0, 0.03, size=size), 3),
            "damaged": rng.random(size) < 0.0001,
        }
    )
    ip = pl.format(
        "{}.{}.{}.{}",
        (pl.col("ip") % 223 + 1),
        (pl.col("ip") // 223 % 256),
        (pl.col("ip") * 31 % 256),
        (pl.col("ip") * 7 % 250 + 3),
    )
    path = pl.col("path_template").str.replace("{n}", pl.col("n").cast(pl.String), literal=True)
    query = pl.col("query_template").str.replace(
        "{n}", (pl.col("n") % 500).cast(pl.String), literal=True
    )
    target = pl.when(query == "").then(path).otherwise(pl.concat_str(path, pl.lit("?"), query))
    return frame.select(
        "ts",
        ip.alias("remote_addr"),
        pl.when(pl.col("anonymous"))
        .then(pl.lit("-"))
        .otherwise(pl.format("user{}", pl.col("user")))
        .alias("remote_user"),
        pl.concat_str("method", pl.lit(" "), target, pl.lit(" "), "protocol").alias("request"),
        "status",
        pl.col("bytes").alias("body_bytes_sent"),
        pl.col("referer").alias("http_referer"),
        pl.col("user_agent").alias("http_user_agent"),
        "request_time",
        "damaged",
    )


def combined_lines(fields: pl.DataFrame) -> pl.Series:
    line = pl.concat_str(
        "remote_addr",
        pl.lit(" - "),
        "remote_user",
        pl.lit(" ["),
        pl.col("ts").dt.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        pl.lit('] "'),
        "request",
        pl.lit('" '),
        pl.col("status").cast(pl.String),
        pl.lit(" "),
        pl.col("body_bytes_sent").cast(pl.String),
        pl.lit(' "'),
        "http_referer",
        pl.lit('" "'),
        "http_user_agent",
        pl.lit('"'),
    )
    damaged = line.str.slice(0, 40)
    return fields.select(
        pl.when(pl.col("damaged")).then(damaged).otherwise(line).alias("line")
    ).to_series()


def json_lines(fields: pl.DataFrame) -> pl.Series:
    # nginx escape=json writes the UA's quote as \" (the generator's \x22 stands for it)
    record = pl.struct(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").alias("time_iso8601"),
        "remote_addr",
        "remote_user",
        "request",
        "status",
        "body_bytes_sent",
        "request_time",
        "http_referer",
        pl.col("http_user_agent").str.replace_all("\\x22", '"', literal=True),
    )
    line = record.struct.json_encode()
    return fields.select(
        pl.when(pl.col("damaged")).then(line.str.slice(0, 40)).otherwise(line).alias("line")
    ).to_series()


def write_log(path: Path, lines: int, kind: str = "combined", seed: int = 42) -> Path:
    """Write ``lines`` generated lines of ``kind`` (``combined`` or ``json``) to ``path``."""
    render = combined_lines if kind == "combined" else json_lines
    with open(path, "wb") as out:
        done = 0
        index = 0
        while done < lines:
            size = min(BLOCK, lines - done)
            series = render(block_frame(index, size, seed))
            out.write(("\n".join(series.to_list()) + "\n").encode())
            done += size
            index += 1
    return path


def gzip_file(source: Path, target: Path, level: int = 6) -> Path:
    """``source`` gzip-compressed to ``target`` (the ``gzip`` tool when present, as logrotate)."""
    gzip_tool = shutil.which("gzip")
    if gzip_tool:
        with open(target, "wb") as out:
            subprocess.run([gzip_tool, f"-{level}", "-c", str(source)], stdout=out, check=True)
    else:
        with open(source, "rb") as src, gzip.open(target, "wb", compresslevel=level) as out:
            shutil.copyfileobj(src, out, 1 << 20)
    return target


if __name__ == "__main__":
    # generate.py OUT LINES [combined|json] [SEED]   or   generate.py --gzip SOURCE TARGET
    if sys.argv[1] == "--gzip":
        gzip_file(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        kind = sys.argv[3] if len(sys.argv) > 3 else "combined"
        seed = int(sys.argv[4]) if len(sys.argv) > 4 else 42
        write_log(Path(sys.argv[1]), int(sys.argv[2]), kind, seed)
