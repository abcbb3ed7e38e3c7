"""Prometheus metrics of a running ``watch``, served with ``prometheus-client``.

The metrics live in a registry of their own (never the library's global default registry),
filled by a collector that reads the watcher's figures at scrape time. They correspond to
prometheus-nginxlog-exporter's (``<namespace>_http_response_count_total{method,status}``,
``_http_response_size_bytes``, ``_http_response_time_seconds``, ``_parse_errors_total``) under
Prometheus' naming conventions (``meterlog_http_requests_total``,
``meterlog_http_response_bytes_total``, ``meterlog_http_request_duration_seconds``,
``meterlog_rejected_lines_total``), with the account as the main label and the status as its
class (``2xx``...) so that the number of series stays bounded. Month-to-date figures come from
the meters and the billing code ``meterlog mau``, ``peak`` and ``bill`` use
(``meterlog_accrued_amount`` is the TOTAL ``bill --period current`` prints).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from meterlog.errors import MeterlogError
from meterlog.live.stats import DURATION_BUCKETS

if TYPE_CHECKING:
    from meterlog.live.watch import Watcher

PREFIX = "meterlog"
DEFAULT_METRICS_PORT = 9108


def parse_listen_address(value: str) -> tuple[str, int]:
    """``:9108`` -> ``("127.0.0.1", 9108)``; ``0.0.0.0:9108`` listens on all interfaces;
    ``[::1]:9108`` for IPv6. Only an address given explicitly is used, never all
    interfaces by default. ValueError for anything else."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise ValueError(
            f"{value!r}: give [ADDRESS]:PORT, e.g. :{DEFAULT_METRICS_PORT} "
            f"(127.0.0.1) or 0.0.0.0:{DEFAULT_METRICS_PORT} (all interfaces)"
        )
    return host, number


class WatchCollector(Collector):
    """Reads a :class:`~meterlog.live.watch.Watcher`'s figures at each scrape."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def collect(self) -> Iterator[Metric]:
        watcher = self.watcher
        stats = watcher.stats
        with stats.lock:
            requests = CounterMetricFamily(
                f"{PREFIX}_http_requests",
                "Requests committed by this watch, by account, status class and method.",
                labels=["account", "status_class", "method"],
            )
            for (account, status, method), count in sorted(stats.requests.items()):
                requests.add_metric([account, status, method], count)
            sent = CounterMetricFamily(
                f"{PREFIX}_http_response_bytes",
                "Response bytes (body_bytes_sent) committed by this watch, by account.",
                labels=["account"],
            )
            for account, total in sorted(stats.bytes.items()):
                sent.add_metric([account], total)
            durations = HistogramMetricFamily(
                f"{PREFIX}_http_request_duration_seconds",
                "Request time of the requests committed by this watch (where logged).",
                labels=["account"],
            )
            for account, histogram in sorted(stats.durations.items()):
                cumulative = histogram.counts.cumsum()
                buckets = [
                    (_bound(bound), float(count))
                    for bound, count in zip(DURATION_BUCKETS, cumulative, strict=False)
                ]
                buckets.append(("+Inf", float(cumulative[-1])))
                durations.add_metric([account], buckets, histogram.total)
            rejected = CounterMetricFamily(
                f"{PREFIX}_rejected_lines",
                "Lines rejected (stored in the rejects table) by this watch, by reason.",
                labels=["reason"],
            )
            for reason, count in sorted(stats.rejected.items()):
                rejected.add_metric([reason], count)
            lines = CounterMetricFamily(
                f"{PREFIX}_lines_read", "Log lines read and committed by this watch."
            )
            lines.add_metric([], stats.lines_read)
        yield requests
        yield sent
        yield durations
        yield rejected
        yield lines
        yield from self._month_to_date()
        health = watcher.health()
        lag = GaugeMetricFamily(
            f"{PREFIX}_ingest_lag_seconds",
            "How long the oldest data written to the watched files has waited to be committed.",
        )
        lag.add_metric([], health.lag_seconds)
        yield lag
        last = GaugeMetricFamily(
            f"{PREFIX}_last_commit_timestamp_seconds",
            "Unix time of this watch's last commit (0 before the first).",
        )
        last.add_metric([], health.last_commit or 0.0)
        yield last
        version = GaugeMetricFamily(
            f"{PREFIX}_store_version", "Version of the store's events table."
        )
        version.add_metric([], float(health.store_version or 0))
        yield version
        files = GaugeMetricFamily(f"{PREFIX}_followed_files", "Files followed right now.")
        files.add_metric([], float(health.followed_files))
        yield files

    def _month_to_date(self) -> Iterator[Metric]:
        watcher = self.watcher
        labels = watcher.stats.accounts
        with watcher.mtd_lock:
            mtd = watcher.mtd
            requests = mtd.requests()
            mau = mtd.mau()
            peaks = mtd.peaks()
        month_requests = GaugeMetricFamily(
            f"{PREFIX}_month_requests",
            "Requests so far this month in the billing time zone, by account (from the store).",
            labels=["account"],
        )
        mau_family = GaugeMetricFamily(
            f"{PREFIX}_mau",
            "Monthly active users so far this month (meterlog mau), by account; exact.",
            labels=["account"],
        )
        peak_family = GaugeMetricFamily(
            f"{PREFIX}_peak",
            "This month's peak so far (meterlog peak), by account, window, metric, statistic.",
            labels=["account", "window", "metric", "statistic"],
        )
        # accounts beyond --max-accounts are summed into "other" for requests; MAU and peaks
        # cannot be added up across accounts, so "other" shows the largest of them
        summed: dict[str, int] = {}
        for account, count in requests.items():
            label = labels.label(account)
            summed[label] = summed.get(label, 0) + count
        for label, count in sorted(summed.items()):
            month_requests.add_metric([label], count)
        highest: dict[str, int] = {}
        for account, count in mau.items():
            label = labels.label(account)
            highest[label] = max(highest.get(label, 0), count)
        for label, count in sorted(highest.items()):
            mau_family.add_metric([label], count)
        peak_values: dict[tuple[str, str, str, str], int] = {}
        for figure in peaks:
            key = (labels.label(figure.account), figure.window, figure.metric, figure.statistic)
            peak_values[key] = max(peak_values.get(key, 0), figure.value)
        for key, value in sorted(peak_values.items()):
            peak_family.add_metric(list(key), value)
        yield month_requests
        yield mau_family
        yield peak_family
        included = watcher.included_units()
        if included:
            family = GaugeMetricFamily(
                f"{PREFIX}_plan_included_units",
                "Units the account's plan includes this month, by account and charge meter.",
                labels=["account", "meter"],
            )
            for (account, meter), units in sorted(included.items()):
                family.add_metric([labels.label(account), meter], units)
            yield family
        accrued = watcher.accrued()
        if watcher.options.plan is not None:
            family = GaugeMetricFamily(
                f"{PREFIX}_accrued_amount",
                "Amount accrued this month by account and currency: the TOTAL 'meterlog bill "
                "--period current' prints for the account now (requests without an account "
                "are never billed).",
                labels=["account", "currency"],
            )
            amounts: dict[tuple[str, str], Decimal] = {}
            for account, (amount, currency) in accrued.items():
                where = (labels.label(account), currency)
                amounts[where] = amounts.get(where, Decimal(0)) + amount
            for (label, currency), amount in sorted(amounts.items()):
                family.add_metric([label, currency], float(amount))
            yield family
        anomalies = watcher.anomalies
        if anomalies is not None:
            found = CounterMetricFamily(
                f"{PREFIX}_anomalies",
                "Anomaly findings reported by this watch, by kind and severity.",
                labels=["kind", "severity"],
            )
            with anomalies.lock:
                totals = sorted(anomalies.totals.items())
            for (kind, severity), count in totals:
                found.add_metric([kind, severity], count)
            yield found
            yield GaugeMetricFamily(
                f"{PREFIX}_anomalies_open",
                "Anomaly findings whose time is within the last minutes (still going on).",
                value=anomalies.open_findings(),
            )


def _bound(value: float) -> str:
    return repr(float(value))


class MetricsServer:
    """``/metrics`` over HTTP on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, watcher: Watcher, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(WatchCollector(watcher))
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise MeterlogError(
                f"--metrics {host}:{port}: cannot listen: {exc.strerror or exc}; "
                "choose another port or stop what uses it"
            ) from None
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
