"""Small stores for usage-report tests, built through the real store code."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from meterlog.schema import conform_events
from meterlog.store import Progress, Store


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# One row per request. Expected values in the tests are worked out by hand from this table.
#   ts (UTC)           user  key   method  path                     status bytes user_agent  rt
REQUESTS = [
    ("2026-10-01T08:00", "ann", "k1", "GET", "/v1/users/1/orders", 200, 100, "curl/8", 0.1),
    ("2026-10-01T09:00", "ann", "k1", "GET", "/v1/users/2/orders", 200, 200, "curl/8", 0.2),
    ("2026-10-01T10:00", "bob", "k1", "POST", "/v1/orders", 201, 300, "python-requests", 0.3),
    ("2026-10-01T11:00", "-", "k2", "GET", "/v1/users/3/orders", 404, 50, "curl/8", 0.4),
    ("2026-10-01T12:00", None, "k2", "GET", "/health", 200, 10, "kube-probe/1.29", 0.01),
    ("2026-10-02T08:00", "", "k2", "GET", "/health", 200, 10, "kube-probe/1.29", 0.02),
    ("2026-10-02T09:00", "cid", "k3", "DELETE", "/v1/orders/9", 500, 0, "Googlebot/2.1", 1.0),
    ("2026-10-02T10:00", "cid", "k3", "GET", "/v1/users/4/orders", 503, 20, "curl/8", 2.0),
    ("2026-10-02T11:00", "ann", None, "get", "/v1/orders/10", 200, 400, "curl/8", None),
    ("2026-10-05T00:30", "bob", "k1", "GET", "/v1/users/5/orders", 302, 0, "curl/8", 0.5),
]
COLUMNS = [
    "ts",
    "remote_user",
    "http_x_api_key",
    "method",
    "path",
    "status",
    "bytes_sent",
    "user_agent",
    "request_time",
]
ACCOUNTS_CSV = "key,account\nk1,acme\nk2,acme\n"


def requests_frame(rows: list[tuple] | None = None) -> pl.DataFrame:
    rows = REQUESTS if rows is None else rows
    frame = pl.DataFrame(rows, schema=COLUMNS, orient="row")
    return conform_events(frame.with_columns(pl.col("ts").str.to_datetime(time_zone="UTC")))


def build_store(path: Path, frame: pl.DataFrame | None = None, sources: int = 2) -> Store:
    """A store holding ``frame`` (default: REQUESTS), committed as ``sources`` sources."""
    frame = requests_frame() if frame is None else frame
    store = Store(path)
    size = -(-frame.height // sources)
    for index in range(sources):
        part = frame.slice(index * size, size)
        if part.height:
            store.commit_events(part, f"src{index}", Progress(part.height * 100, part.height))
    return store
