"""Monthly meter reports (``meterlog mau``, ``meterlog peak``) and their evidence, and meter
states kept up to date batch by batch (:class:`MeterStates`, what ``watch`` and the running
invoice use).

Each month is a calendar month in the billing time zone; a range of months gives one row per
account and month. Times are written in the billing time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.meters import CountMeter, MauMeter, Meter, Period, events_between
from meterlog.meters.cache import EVERY_ACCOUNT, StateJob, cached_states
from meterlog.periods import Month
from meterlog.query.identity import Identity, anonymous_note, has_only_anonymous
from meterlog.store import Snapshot


def _monthly(frames: list[pl.LazyFrame], months: Sequence[Month], tz: ZoneInfo) -> pl.DataFrame:
    collected = pl.collect_all(frames)
    labelled = [
        frame.with_columns(month=pl.lit(str(month)))
        for frame, month in zip(collected, months, strict=True)
    ]
    combined = pl.concat(labelled, how="vertical_relaxed")
    local_times = [
        pl.col(name).dt.convert_time_zone(tz.key)
        for name, dtype in combined.schema.items()
        if isinstance(dtype, pl.Datetime)
    ]
    return combined.with_columns(local_times)


def meter_report(
    events: pl.LazyFrame,
    meter: Meter,
    months: Sequence[Month],
    tz: ZoneInfo,
    states: Sequence[pl.LazyFrame] | None = None,
) -> pl.DataFrame:
    """One row per account and month.

    The meter names its columns (:meth:`~meterlog.meters.Meter.report_columns`): MAU gives
    ``account, month, mau``; peak ``account, month, window, metric, peak, peak_start``.
    ``states``, when given, are the meter's states of ``events`` in each month (e.g. from
    :func:`meterlog.meters.cache.cached_states`); the report is the same.
    """
    if states is None:
        frames = [meter.quantities(events, Period(month, tz)) for month in months]
    else:
        frames = [
            meter.finalize(state, Period(month, tz))
            for state, month in zip(states, months, strict=True)
        ]
    report = _monthly(frames, months, tz).sort("account", "month", nulls_last=True)
    return report.select("account", "month", *meter.report_columns())


def meter_evidence(
    events: pl.LazyFrame, meter: Meter, months: Sequence[Month], tz: ZoneInfo
) -> pl.DataFrame:
    """The inputs behind :func:`meter_report`, per account and month.

    MAU: ``account, month, user, first_seen, last_seen, requests`` (``mau --list-users``).
    Peak: ``account, month, window_start, window_end, value, rank, is_peak``
    (``peak --windows``).
    """
    frames = [meter.evidence(events, Period(month, tz)) for month in months]
    evidence = _monthly(frames, months, tz)
    order = [
        "account",
        "month",
        *(name for name in evidence.columns if name not in ("account", "month")),
    ]
    return evidence.select(order).sort("account", "month", meter.evidence_order, nulls_last=True)


def empty_note(events: pl.LazyFrame, meter: Meter, months: Sequence[Month], tz: ZoneInfo) -> str:
    """Why a meter report (or its evidence) has no rows, in one sentence: the months hold no
    request (and where the store's data begins and ends), or none of them counts."""
    label = str(months[0]) if len(months) == 1 else f"{months[0]}..{months[-1]}"
    start, end = Period(months[0], tz).start, Period(months[-1], tz).end
    stored = events_between(events, start, end).select(pl.len()).collect().item()
    if not stored:
        first, last = (
            events.select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
            .collect()
            .row(0)
        )
        if first is None:
            return "the store holds no requests"
        return (
            f"no requests stored in {label} ({tz.key}): the store's data begins at "
            f"{first.astimezone(tz).isoformat()} and ends at {last.astimezone(tz).isoformat()}; "
            "check --month and --tz"
        )
    return f"none of the {stored:,} requests in {label} ({tz.key}) counts for {meter.description}"


class MeterStates:
    """The merged states of ``meters`` over ``period`` (see :class:`~meterlog.meters.Meter`),
    of the events ``selects`` keeps (all when None), kept up to date by :meth:`add`. The
    quantities are :meth:`~meterlog.meters.Meter.finalize` of the state, so they equal the
    one-shot quantities of every event added, whatever the batches were. A request count per
    account (every request) is kept too: the accounts seen and ``watch``'s month requests."""

    def __init__(
        self,
        meters: Sequence[Meter],
        period: Period,
        selects: pl.Expr | None = None,
        selection: str = EVERY_ACCOUNT,
    ) -> None:
        self.meters = list(dict.fromkeys(meters))
        self.period = period
        self.selects = selects
        #: Names ``selects`` in the store's cache of meter states (:mod:`meterlog.meters.cache`).
        self.selection = selection
        self._counter = CountMeter()
        self._kept = list(dict.fromkeys([*self.meters, self._counter]))
        self.states: dict[Meter, pl.DataFrame] = {m: m.empty_state() for m in self._kept}
        self._quantities: dict[Meter, pl.DataFrame] = {}

    def load(self, snapshot: Snapshot, identity: Identity) -> None:
        """Start over from the states of every event of the period in ``snapshot`` (read from
        the store's cache of meter states where it has them, see :mod:`meterlog.meters.cache`)."""
        selects = self.selects if self.selects is not None else pl.lit(True)
        jobs = [StateJob(meter, self.period, selects, self.selection) for meter in self._kept]
        self.states = dict(zip(self._kept, cached_states(snapshot, identity, jobs), strict=True))
        self._quantities.clear()

    def add(self, events: pl.LazyFrame) -> None:
        """Merge the partial states of ``events`` (rows outside the period are ignored)."""
        if self.selects is not None:
            events = events.filter(self.selects)
        partials = pl.collect_all([meter.partial(events, self.period) for meter in self._kept])
        if all(partial.height == 0 for partial in partials):
            return
        merged = pl.collect_all(
            [
                meter.merge(self.states[meter].lazy(), partial.lazy())
                for meter, partial in zip(self._kept, partials, strict=True)
            ]
        )
        self.states = dict(zip(self._kept, merged, strict=True))
        self._quantities.clear()

    def quantities(self, meter: Meter) -> pl.DataFrame:
        """``account, quantity, peak_start`` of ``meter`` for every account seen."""
        if meter not in self._quantities:
            state = self.states[meter].lazy()
            self._quantities[meter] = meter.finalize(state, self.period).collect()
        return self._quantities[meter]

    def requests(self) -> dict[str | None, int]:
        """Requests in the period so far per account (no account: ``None``)."""
        counted = self.quantities(self._counter).select("account", "quantity")
        return dict(counted.iter_rows())

    def accounts(self) -> list[str | None]:
        return list(self.requests())

    def distinct_values(self) -> int:
        """Distinct (account, user) pairs held by the MAU states (memory grows with them)."""
        return sum(
            self.states[meter].get_column("value").drop_nulls().len()
            for meter in self.meters
            if isinstance(meter, MauMeter)
        )


def anonymous_meter_note(
    events: pl.LazyFrame,
    meter: Meter,
    months: Sequence[Month],
    tz: ZoneInfo,
    frame: pl.DataFrame,
    user_field: str,
    account_field: str | None = None,
) -> str | None:
    """For a meter of users (``mau``, a peak of ``users``) whose report ``frame`` (figures or
    evidence) shows no user: :func:`anonymous_note` when every request of the months is
    anonymous; None otherwise."""
    if meter.kind == "mau":
        value = "mau"
    elif getattr(meter, "metric", None) == "users":
        value = "peak"
    else:
        return None
    if value in frame.columns:
        if frame.get_column(value).sum() != 0:
            return None
    elif frame.height:  # evidence: the users counted
        return None
    start, end = Period(months[0], tz).start, Period(months[-1], tz).end
    if not has_only_anonymous(events_between(events, start, end)):
        return None
    return anonymous_note(user_field, events.collect_schema().names(), account_field)
