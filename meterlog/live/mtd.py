"""Month-to-date figures per account, exact, kept current from each committed batch.

At start (and whenever another writer changed the store, or the month turns) the figures are
computed from the store; after that each batch of committed rows updates them, with the same
definitions as ``meterlog mau`` and ``meterlog peak`` (:mod:`meterlog.meters`) in the billing
time zone:

* requests: rows per account;
* MAU: the distinct ``(account, user)`` pairs of counted requests are kept (a Polars frame of
  strings, a few tens of bytes per pair: see BENCHMARKS.md for 1M users), so the count is
  exact; a batch adds only the pairs not seen yet;
* peak: the value of every window with traffic is kept per account (``requests`` and
  ``bytes_sent`` add up; ``users`` keeps the distinct ``(account, window, user)`` triples), and
  the reported figure is chosen from them exactly as :meth:`PeakMeter.measure` does, so
  percentile statistics are exact too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.meters import MauMeter, Meter, PeakMeter, Period, events_in_period
from meterlog.meters.peak import window_grid
from meterlog.periods import Month

_PAIRS = {"account": pl.String(), "user": pl.String()}


@dataclass
class _MauState:
    meter: MauMeter
    pairs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_PAIRS))
    counts: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"account": pl.String(), "mau": pl.Int64()})
    )
    chunks: int = 0

    def add(self, counted: pl.LazyFrame) -> None:
        new = (
            counted.filter(pl.col("user").is_not_null())
            .select("account", "user")
            .unique()
            .join(self.pairs.lazy(), on=["account", "user"], how="anti", nulls_equal=True)
            .collect()
        )
        if new.height == 0:
            return
        self.pairs = self.pairs.vstack(new)
        self.chunks += 1
        if self.chunks >= 64:  # keep the frame in few pieces
            self.pairs = self.pairs.rechunk()
            self.chunks = 0
        added = new.group_by("account").agg(mau=pl.len().cast(pl.Int64))
        self.counts = (
            pl.concat([self.counts, added])
            .group_by("account")
            .agg(pl.col("mau").sum())
            .sort("account", nulls_last=True)
        )


@dataclass
class _PeakState:
    meter: PeakMeter
    grid: pl.DataFrame
    #: ``account, window, value`` (requests, bytes_sent) or ``account, window, user`` (users).
    kept: pl.DataFrame | None = None
    quantities: pl.DataFrame | None = None

    def add(self, counted: pl.LazyFrame) -> None:
        if self.meter.metric == "users":
            window = pl.lit(self.grid.get_column("window_start")).search_sorted(
                pl.col("ts"), side="right"
            )
            triples = (
                counted.filter(pl.col("user").is_not_null())
                .select("account", (window.cast(pl.Int64) - 1).alias("window"), "user")
                .unique()
            )
            if self.kept is None:
                self.kept = triples.collect()
            else:
                new = triples.join(
                    self.kept.lazy(), on=["account", "window", "user"], how="anti", nulls_equal=True
                ).collect()
                self.kept = self.kept.vstack(new).rechunk() if new.height else self.kept
            values = self.kept.lazy().group_by("account", "window").agg(value=pl.len())
        else:
            fresh = self.meter.window_values(counted, self.grid)
            parts = [fresh] if self.kept is None else [self.kept.lazy(), fresh]
            self.kept = (
                pl.concat(parts)
                .group_by("account", "window")
                .agg(pl.col("value").sum().cast(pl.Int64))
                .collect()
            )
            values = self.kept.lazy()
        self.quantities = self.meter.choose(values, self.grid).collect()


@dataclass(frozen=True)
class PeakFigure:
    """A peak meter's month-to-date figure for one account."""

    account: str | None
    window: str
    metric: str
    statistic: str
    value: int
    peak_start: datetime | None


class MonthToDate:
    """Month-to-date requests, MAU and peaks per account (see the module doc).

    ``meters`` are the MAU and peak meters to keep (a plan's, or the defaults: MAU and peak
    requests per hour); other meters are ignored. Events given to :meth:`load` and
    :meth:`add` must carry ``user`` and ``account`` (:func:`meterlog.identity.with_identity`).
    """

    def __init__(self, meters: Sequence[Meter], tz: ZoneInfo) -> None:
        self.tz = tz
        self.meters = list(dict.fromkeys(meters))
        self.period: Period | None = None
        self._mau: list[_MauState] = []
        self._peaks: list[_PeakState] = []
        self._requests = pl.DataFrame(schema={"account": pl.String(), "requests": pl.Int64()})

    def _reset(self, now: datetime) -> Period:
        period = Period(Month.containing(now, self.tz), self.tz)
        self.period = period
        self._mau = [_MauState(m) for m in self.meters if isinstance(m, MauMeter)]
        self._peaks = [
            _PeakState(m, window_grid(period, m.window))
            for m in self.meters
            if isinstance(m, PeakMeter)
        ]
        self._requests = self._requests.clear()
        return period

    def needs_reset(self, now: datetime) -> bool:
        """The month in the billing time zone turned since the figures were loaded."""
        return self.period is None or Month.containing(now, self.tz) != self.period.month

    def load(self, events: pl.LazyFrame, now: datetime) -> None:
        """Compute the figures of the month containing ``now`` from ``events`` (the store)."""
        self._reset(now)
        self.add(events)

    def add(self, events: pl.LazyFrame) -> None:
        """Add committed rows (any time; rows outside the current month are ignored)."""
        if self.period is None:
            raise RuntimeError("MonthToDate.load must be called first")
        in_period = events_in_period(events, self.period)
        added = in_period.group_by("account").agg(requests=pl.len().cast(pl.Int64)).collect()
        if added.height == 0:
            return
        self._requests = (
            pl.concat([self._requests, added])
            .group_by("account")
            .agg(pl.col("requests").sum())
            .sort("account", nulls_last=True)
        )
        for state in self._mau:
            state.add(in_period.filter(state.meter.counting.expr()))
        for peak in self._peaks:
            peak.add(in_period.filter(peak.meter.counting.expr()))

    # -- figures ---------------------------------------------------------------------------
    def requests(self) -> dict[str | None, int]:
        return dict(self._requests.iter_rows())

    def mau(self, meter: MauMeter | None = None) -> dict[str | None, int]:
        """MAU so far per account with traffic this month (0 for accounts without users)."""
        states = [s for s in self._mau if meter is None or s.meter == meter]
        counts = dict(states[0].counts.iter_rows()) if states else {}
        return {account: counts.get(account, 0) for account in self.requests()}

    def mau_meters(self) -> list[MauMeter]:
        return [s.meter for s in self._mau]

    def peaks(self) -> list[PeakFigure]:
        """Every peak meter's figure for every account with traffic this month."""
        figures: list[PeakFigure] = []
        period = self.period
        for peak in self._peaks:
            meter = peak.meter
            chosen: dict[str | None, tuple[int, datetime | None]] = {}
            if peak.quantities is not None:
                chosen = {
                    account: (quantity, start)
                    for account, quantity, start in peak.quantities.iter_rows()
                }
            for account in self.requests():
                quantity, start = chosen.get(
                    account, (0, period.start if period is not None else None)
                )
                figures.append(
                    PeakFigure(
                        account, meter.window, meter.metric, meter.statistic, quantity, start
                    )
                )
        return figures

    def quantity(self, meter: Meter, account: str | None) -> int:
        """The month-to-date quantity of ``meter`` for ``account`` (0 when not kept)."""
        if isinstance(meter, MauMeter):
            for state in self._mau:
                if state.meter == meter:
                    return dict(state.counts.iter_rows()).get(account, 0)
            return 0
        if isinstance(meter, PeakMeter):
            for figure_state in self._peaks:
                if figure_state.meter == meter and figure_state.quantities is not None:
                    for row_account, quantity, _ in figure_state.quantities.iter_rows():
                        if row_account == account:
                            return int(quantity)
        return 0

    @property
    def distinct_pairs(self) -> int:
        """(account, user) pairs held for MAU (memory grows with them)."""
        return sum(state.pairs.height for state in self._mau)
