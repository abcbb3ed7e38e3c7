"""Month-to-date figures per account, exact, kept current from each committed batch.

This module computes no meter: it holds the mergeable meter states of
:class:`meterlog.meters.run.MeterStates` (the meters of :mod:`meterlog.meters`, the code
``meterlog mau``, ``peak`` and ``bill`` use) and merges each committed batch's partial states
into them. At start (and whenever another writer changed the store, or the month turns) the
states are computed from the store.

* requests, MAU and peaks: the month in ``watch``'s time zone, every account (requests without
  an account too, as ``meterlog mau`` and ``peak`` report them);
* with a plan: a :class:`~meterlog.billing.invoice.RunningInvoice`, the lines ``bill --month
  current`` prints, each account in its own billing time zone; requests without an account
  are never billed.

Memory grows with accounts, distinct users and windows with traffic, never with requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.billing.invoice import RunningInvoice
from meterlog.billing.plans import TOTAL_CHARGE, PlanFile
from meterlog.meters import MauMeter, Meter, PeakMeter, Period
from meterlog.meters.run import MeterStates
from meterlog.periods import Month
from meterlog.query.identity import Identity
from meterlog.store import Snapshot


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
    """Month-to-date requests, MAU, peaks and (with ``plans``) the running invoice.

    ``meters`` are the meters whose figures are shown (MAU and peak meters are reported by
    :meth:`mau` and :meth:`peaks`). Events given to :meth:`load` and :meth:`add` must carry
    ``user`` and ``account`` (:func:`meterlog.query.identity.with_identity`).
    """

    def __init__(
        self, meters: Sequence[Meter], tz: ZoneInfo, plans: PlanFile | None = None
    ) -> None:
        self.tz = tz
        self.plans = plans
        self.meters = list(dict.fromkeys(meters))
        self.period: Period | None = None
        self.figures: MeterStates | None = None
        self.invoice: RunningInvoice | None = None

    def _reset(self, now: datetime) -> None:
        self.period = Period(Month.containing(now, self.tz), self.tz)
        self.figures = MeterStates(self.meters, self.period)
        self.invoice = None if self.plans is None else RunningInvoice(self.plans, self.tz, now)

    def needs_reset(self, now: datetime) -> bool:
        """The month turned (in ``watch``'s time zone or a billing zone) since the load."""
        if self.period is None or Month.containing(now, self.tz) != self.period.month:
            return True
        return self.invoice is not None and self.invoice.needs_reset(now)

    def load(self, events: pl.LazyFrame, now: datetime) -> None:
        """Compute the figures of the month containing ``now`` from ``events`` (the store)."""
        self._reset(now)
        self.add(events)

    def load_store(self, snapshot: Snapshot, identity: Identity, now: datetime) -> None:
        """The figures of the month containing ``now`` from the store at ``snapshot``'s
        version: the store's cached meter states (those ``bill``, ``mau`` and ``peak`` keep)
        merged with the files added since, so a restart reads only what is new."""
        self._reset(now)
        if self.figures is not None:
            self.figures.load(snapshot, identity)
        if self.invoice is not None:
            self.invoice.load(snapshot, identity)

    def add(self, events: pl.LazyFrame) -> None:
        """Merge committed rows (any time; rows outside the month are ignored)."""
        if self.figures is None:
            raise RuntimeError("MonthToDate.load must be called first")
        self.figures.add(events)
        if self.invoice is not None:
            self.invoice.add(events)

    # -- figures ---------------------------------------------------------------------------
    def requests(self) -> dict[str | None, int]:
        return {} if self.figures is None else self.figures.requests()

    def mau(self, meter: MauMeter | None = None) -> dict[str | None, int]:
        """MAU so far per account with traffic this month (0 for accounts without users)."""
        chosen = meter or next(iter(self.mau_meters()), None)
        if chosen is None or self.figures is None:
            return {account: 0 for account in self.requests()}
        frame = self.figures.quantities(chosen)
        return dict(frame.select("account", "quantity").iter_rows())

    def mau_meters(self) -> list[MauMeter]:
        return [meter for meter in self.meters if isinstance(meter, MauMeter)]

    def peaks(self) -> list[PeakFigure]:
        """Every peak meter's figure for every account with traffic this month."""
        if self.figures is None:
            return []
        figures: list[PeakFigure] = []
        for meter in self.meters:
            if not isinstance(meter, PeakMeter):
                continue
            for account, quantity, start in self.figures.quantities(meter).iter_rows():
                figures.append(
                    PeakFigure(
                        account, meter.window, meter.metric, meter.statistic, quantity, start
                    )
                )
        return figures

    def invoice_lines(self, version: int | None) -> pl.DataFrame | None:
        """With a plan, the lines ``bill --month current`` prints at store ``version``."""
        if self.invoice is None:
            return None
        return self.invoice.lines(version if version is not None else 0)

    def accrued(self) -> dict[str, tuple[Decimal, str]]:
        """With a plan, each billed account's TOTAL so far and its currency."""
        lines = self.invoice_lines(None)
        if lines is None:
            return {}
        totals = lines.filter(pl.col("charge") == TOTAL_CHARGE)
        return {
            str(account): (Decimal(str(amount)), str(currency))
            for account, amount, currency in totals.select(
                "account", "amount", "currency"
            ).iter_rows()
        }

    @property
    def distinct_pairs(self) -> int:
        """(account, user) pairs held for MAU (memory grows with them)."""
        return 0 if self.figures is None else self.figures.distinct_values()
