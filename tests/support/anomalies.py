"""Traffic for the anomaly tests: seeded request tables, written as nginx lines and ingested.

Times are UTC. ``LOG_FORMAT`` logs the API key as ``$http_x_api_key``; the accounts are the
keys' names (``KEYS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from meterlog.anomalies.base import BASELINE_COLUMNS, Context, prepare_events
from meterlog.anomalies.registry import build_detectors
from meterlog.anomalies.runner import detect
from meterlog.schema import conform_events

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_api_key"'
)
COLUMNS = ["ts", "remote_addr", "remote_user", "method", "path", "status", "user_agent", "key"]


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def requests(
    times: Sequence[datetime] | np.ndarray,
    *,
    key: str | None = "k1",
    ip: str | Sequence[str] = "10.0.0.1",
    user: str | Sequence[str] = "-",
    method: str = "GET",
    path: str | Sequence[str] = "/v1/items",
    status: int | Sequence[int] = 200,
    agent: str | Sequence[str] = "sdk/1.0",
) -> pl.DataFrame:
    """One row per time; other columns a single value or one value per row."""
    size = len(times)

    def column(value: object) -> list:
        return (
            list(value)
            if not isinstance(value, str | int) and value is not None
            else [value] * size
        )  # type: ignore[arg-type]

    return pl.DataFrame(
        {
            "ts": pl.Series(list(times), dtype=pl.Datetime("us", "UTC")),
            "remote_addr": column(ip),
            "remote_user": column(user),
            "method": column(method),
            "path": column(path),
            "status": column(status),
            "user_agent": column(agent),
            "key": column(key),
        },
        schema_overrides={"status": pl.Int64, "key": pl.String},
    ).select(COLUMNS)


def hourly(
    start: datetime,
    hours: int,
    rate: float | np.ndarray,
    *,
    seed: int = 0,
    key: str = "k1",
    users: int = 10,
    networks: Sequence[str] = ("10.1.1",),
    exact: bool = False,
    tz: str | None = None,
    office: bool = False,
) -> pl.DataFrame:
    """Steady traffic: ``rate`` requests an hour (Poisson unless ``exact``; with ``office`` and
    ``tz``, busy from 8 to 18 local time on weekdays, quiet otherwise), spread over each hour,
    from ``users`` users in ``networks``, on a few endpoints, with a few 404s."""
    rng = np.random.default_rng(seed)
    hour_starts = [start + timedelta(hours=h) for h in range(hours)]
    if office and tz is not None:
        zone = ZoneInfo(tz)
        local = [h.astimezone(zone) for h in hour_starts]
        busy = np.array([(8 <= t.hour < 18) and t.weekday() < 5 for t in local])
        means = np.where(busy, rate, np.asarray(rate) * 0.05)
    else:
        means = np.broadcast_to(np.asarray(rate, dtype=float), (hours,))
    counts = np.round(means).astype(int) if exact else rng.poisson(means)
    offsets = np.concatenate(
        [h * 3600 + np.sort(rng.integers(0, 3600, size=c)) for h, c in enumerate(counts)]
        or [np.array([], dtype=int)]
    )
    size = len(offsets)
    who = rng.integers(0, users, size=size)
    start_us = int(start.timestamp()) * 1_000_000
    templates = np.array(["/v1/items", "/v1/items/{}", "/v1/orders/{}", "/v1/search"])
    chosen = templates[rng.integers(0, len(templates), size=size)]
    ids = rng.integers(1, 50, size=size) + who * 100
    paths = [t.format(i) for t, i in zip(chosen, ids, strict=True)]
    status = np.where(rng.random(size) < 0.02, 404, 200)
    return pl.DataFrame(
        {
            "ts": pl.Series(start_us + offsets.astype(np.int64) * 1_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "remote_addr": [f"{networks[w % len(networks)]}.{10 + w}" for w in who],
            "remote_user": [f"{key}-u{w}" for w in who],
            "method": "GET",
            "path": paths,
            "status": status,
            "user_agent": "sdk/1.0",
            "key": key,
        },
        schema_overrides={"status": pl.Int64},
    ).select(COLUMNS)


def log_lines(frame: pl.DataFrame) -> list[str]:
    return (
        frame.sort("ts", maintain_order=True)
        .select(
            pl.format(
                '{} - {} [{}] "{} {} HTTP/1.1" {} 100 "-" "{}" "{}"',
                "remote_addr",
                "remote_user",
                pl.col("ts").dt.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "method",
                "path",
                "status",
                "user_agent",
                pl.col("key").fill_null("-"),
            )
        )
        .to_series()
        .to_list()
    )


def ingest(folder: Path, frame: pl.DataFrame) -> Path:
    """Write ``frame`` as an access log under ``folder`` and ingest it; return the store."""
    from tests.support import cli

    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "access.log"
    log.write_text("\n".join(log_lines(frame)) + "\n")
    store = folder / "store"
    result = cli(
        "ingest", "--store", str(store), "--log-format", LOG_FORMAT,
        "--accept-window", "off", "-q", str(log),
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    return store


def judge(
    frame: pl.DataFrame,
    kind: str | tuple[str, ...],
    start: datetime,
    end: datetime,
    baseline: timedelta = timedelta(days=28),
    accounts: dict[str, str] | None = None,
    **params: object,
) -> pl.DataFrame:
    """Run one detector (with ``params``), or several (``kind`` a tuple; ``()``: all), on an
    in-memory table, without the store; ``accounts`` maps keys to accounts."""
    events = conform_events(frame.rename({"key": "http_x_api_key"}))
    prepared = prepare_events(
        events.lazy(), account_field="http_x_api_key", accounts=accounts
    ).collect()
    ctx = Context(start=start, end=end, baseline_start=start - baseline)
    in_range = (pl.col("ts") >= ctx.start) & (pl.col("ts") < ctx.end)
    history = prepared.filter(pl.col("ts") >= ctx.baseline_start, pl.col("ts") < ctx.start)
    ctx = Context(ctx.start, ctx.end, ctx.baseline_start, history=history.lazy())
    return detect(
        prepared.filter(in_range),
        history.select(BASELINE_COLUMNS),
        ctx,
        build_detectors(
            {kind: params} if isinstance(kind, str) else {},
            (kind,) if isinstance(kind, str) else kind,
        ),
    )
