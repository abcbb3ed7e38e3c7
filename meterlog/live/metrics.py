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
(``meterlog_accrued_amount`` is the TOTAL ``bill --month current`` prints).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from meterlog.errors import MeterlogError
from meterlog.live.stats import DURATION_BUCKETS
from meterlog.live.watch import error_line

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
    """Reads a :class:`~meterlog.live.watch.Watcher`'s figures at each scrape.

    The figures come in parts (traffic, month to date, plan, anomalies, health); a part that
    fails is left out of that scrape and said once on the watch's log, the others are served:
    no value in the data can make a scrape fail.
    """

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self._said: set[str] = set()
        self._said_lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        parts: list[tuple[str, Callable[[], Iterator[Metric]]]] = [
            ("traffic", self._traffic),
            ("month to date", self._month_to_date),
            ("plan", self._plan),
            ("anomalies", self._anomalies),
            ("health", self._health),
        ]
        for name, part in parts:
            try:
                families = list(part())  # whole families only: none half-filled
            except Exception as exc:
                self._failed(name, exc)
                continue
            yield from families

    def _failed(self, part: str, exc: BaseException) -> None:
        message = f"/metrics: the {part} figures are left out: {error_line(exc)}"
        with self._said_lock:
            if message in self._said:
                return
            self._said.add(message)
        self.watcher.report_error(message)

    def _traffic(self) -> Iterator[Metric]:
        stats = self.watcher.stats
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

    def _health(self) -> Iterator[Metric]:
        health = self.watcher.health()
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

    def _plan(self) -> Iterator[Metric]:
        watcher = self.watcher
        labels = watcher.stats.accounts
        included = watcher.included_units()
        if included:
            family = GaugeMetricFamily(
                f"{PREFIX}_plan_included_units",
                "Units the account's plan includes this month, by account and charge meter.",
                labels=["account", "meter"],
            )
            # by label (a string: requests without a key have one too), never by raw account
            units: dict[tuple[str, str], int] = {}
            for (account, meter), value in included.items():
                key = (labels.label(account), meter)
                units[key] = max(units.get(key, 0), value)  # "other": the largest
            for (label, meter), value in sorted(units.items()):
                family.add_metric([label, meter], value)
            yield family
        if watcher.options.plan is None:
            return
        accrued = watcher.accrued()
        family = GaugeMetricFamily(
            f"{PREFIX}_accrued_amount",
            "Amount accrued this month by account and currency: the TOTAL 'meterlog bill "
            "--month current' prints for the account now (requests without an account are "
            "never billed).",
            labels=["account", "currency"],
        )
        amounts: dict[tuple[str, str], Decimal] = {}
        for account, (amount, currency) in accrued.items():
            where = (labels.label(account), currency)
            amounts[where] = amounts.get(where, Decimal(0)) + amount
        for (label, currency), amount in sorted(amounts.items()):
            family.add_metric([label, currency], float(amount))
        yield family

    def _anomalies(self) -> Iterator[Metric]:
        anomalies = self.watcher.anomalies
        if anomalies is None:
            return
        found = CounterMetricFamily(
            f"{PREFIX}_anomalies",
            "Live anomaly findings by kind and severity: each finding counts once at the "
            "severity it was raised with and once at each severity it escalated to.",
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


#: Seconds a client may stay idle (send or read nothing) before it is disconnected.
CLIENT_TIMEOUT = 10.0
#: Seconds a connection may last in all, however slowly it trickles its request.
CONNECTION_DEADLINE = 30.0
#: Threads answering scrapes (a Prometheus server scrapes one request at a time).
SERVER_THREADS = 4
#: Connections accepted and waiting for a thread; beyond that a new one is closed at once.
WAITING_CONNECTIONS = 64
#: Connections the kernel queues before they are accepted (the ``listen`` backlog).
LISTEN_BACKLOG = 128


class _Handler(WSGIRequestHandler):
    """One request per connection (HTTP/1.0), a timeout on every read and write, no log."""

    timeout = CLIENT_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged (a scrape every few seconds would flood the log)."""


class _PooledWSGIServer(WSGIServer):
    """A WSGI server answering on a fixed pool of threads, with a deep listen backlog.

    The standard library's threading server starts a thread per connection, without bound,
    and listens with a backlog of 5 (so a burst of clients waits a second for SYN retries).
    Here ``threads`` threads take accepted connections from a bounded queue; when it is full a
    new connection is closed at once instead of piling up. A connection is closed after
    :data:`CLIENT_TIMEOUT` seconds without progress (idle or half-sent requests) and after
    :data:`CONNECTION_DEADLINE` seconds in all (a request trickled a byte at a time), checked
    by the accepting thread between connections (:meth:`service_actions`).
    """

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], family: socket.AddressFamily, threads: int
    ) -> None:
        self.address_family = family
        super().__init__(address, _Handler)
        self._waiting: queue.Queue[tuple[Any, Any] | None] = queue.Queue(WAITING_CONNECTIONS)
        #: Connections being answered, with the time they must be done by.
        self._active: dict[int, tuple[socket.socket, float]] = {}
        self._active_lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._work, name=f"meterlog-metrics-{n}", daemon=True)
            for n in range(threads)
        ]
        for worker in self._workers:
            worker.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            self._waiting.put_nowait((request, client_address))
        except queue.Full:
            self.shutdown_request(request)

    def _work(self) -> None:
        while True:
            item = self._waiting.get()
            if item is None:
                return
            request, client_address = item
            with self._active_lock:
                self._active[id(request)] = (request, time.monotonic() + CONNECTION_DEADLINE)
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: S110 - a client that went away or timed out
                pass
            finally:
                with self._active_lock:
                    self._active.pop(id(request), None)
                self.shutdown_request(request)

    def service_actions(self) -> None:
        """Disconnect the connections past their deadline (their thread is then free)."""
        self._disconnect(time.monotonic())

    def _disconnect(self, before: float) -> None:
        with self._active_lock:
            late = [request for request, due in self._active.values() if due <= before]
        for request in late:
            with contextlib.suppress(OSError):  # already closed
                request.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that disconnects or times out is not an error of the server."""

    def close(self) -> None:
        """Close the connections still waiting or being answered, let the threads end, close
        the socket."""
        while True:
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        self._disconnect(float("inf"))
        for _ in self._workers:
            self._waiting.put(None)
        deadline = time.monotonic() + CLIENT_TIMEOUT + 1
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.server_close()


def _family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return family, str(address[0])


class MetricsServer:
    """``/metrics`` over HTTP on ``host:port`` (port 0: any free port, see :attr:`port`).

    Served by :data:`SERVER_THREADS` threads with a listen backlog of :data:`LISTEN_BACKLOG`;
    clients idle or slow for :data:`CLIENT_TIMEOUT` seconds are disconnected.
    """

    def __init__(
        self,
        watcher: Watcher,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threads: int = SERVER_THREADS,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(WatchCollector(watcher))
        try:
            family, address = _family(host, port)
            self._server = _PooledWSGIServer((address, port), family, threads)
        except OSError as exc:
            raise MeterlogError(
                f"--metrics {host}:{port}: cannot listen: {exc.strerror or exc}; "
                "choose another port or stop what uses it"
            ) from None
        self._server.set_app(make_wsgi_app(self.registry))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="meterlog-metrics", daemon=True
        )
        self._thread.start()
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.close()
