"""Invoices: plans applied to the metered usage of one billing period.

One line per account and charge (in the plan's order, a ``base_fee`` line first when the plan
has one) and a ``TOTAL`` line per account, the sum of its rounded lines. Accounts are those
with a request in their billing period plus those listed in the plan file (and active in the
period), sorted by name.

Each account is billed in its own time zone (the account's, else its plan's, else the default
``tz``); the period (``2026-10``, ``previous``, ``current``) is a calendar month there, so
``period_start``/``period_end`` are written with that zone's offset.

An account listed with ``start``/``end`` dates is billed for the days it is active in the
month: ``period_start``/``period_end`` are those of the active days, usage is measured over
them only, and the base fee, minimums and maximums are prorated: multiplied by the active
days over the days of the month (then rounded half-even to the currency's minor unit).

Amounts are decimal text with exactly the currency's decimals (``14.96`` EUR next to ``1000``
JPY and ``1.235`` KWD): a typed decimal column would give every line the same number of
decimals.

Reproducible: the invoice is computed from one version of the store's events table and records
it in ``store_version``; :func:`compute_invoice` with ``as_of`` reads that version again, so
the same command gives byte-identical output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.billing.completeness import LatestTime, completeness_problems
from meterlog.billing.plans import BASE_FEE_CHARGE, TOTAL_CHARGE, Plan, PlanFile
from meterlog.billing.quality import Quality, QualityCounts, data_quality, quality_span
from meterlog.engines.sql import Selection
from meterlog.meters import CountMeter, Meter, Period, events_between
from meterlog.meters.cache import CacheReport, StateJob, cached_states
from meterlog.meters.run import MeterStates
from meterlog.periods import parse_period
from meterlog.pricing.currency import exact
from meterlog.query.events import identified_events, pin
from meterlog.query.identity import Identity, identity_expr
from meterlog.store import Snapshot, Store

if TYPE_CHECKING:
    from meterlog.engines import SqlEngine

#: Columns of an invoice, in order. ``amount`` is decimal text in the currency's minor units.
INVOICE_COLUMNS: dict[str, pl.DataType] = {
    "account": pl.String(),
    "plan": pl.String(),
    "charge": pl.String(),
    "meter": pl.String(),
    "period_start": pl.String(),
    "period_end": pl.String(),
    "quantity": pl.Int64(),
    "included": pl.Int64(),
    "billable_quantity": pl.Int64(),
    "unit_price": pl.String(),
    "amount": pl.String(),
    "currency": pl.String(),
    "peak_start": pl.String(),
    "store_version": pl.Int64(),
}


@dataclass(frozen=True)
class Invoice:
    lines: pl.DataFrame
    store_version: int
    periods: tuple[Period, ...]
    #: Requests that cannot be billed to a known account, columns a meter lacks, an empty period.
    warnings: tuple[str, ...] = ()
    #: Why the store may not hold the whole period yet (see :func:`completeness_problems`).
    incomplete: tuple[str, ...] = ()
    #: What the invoice rests on (see :mod:`meterlog.billing.quality`).
    quality: Quality | None = None


@dataclass(frozen=True)
class _Group:
    """Accounts billed over the same period: the same time zone and active days."""

    period: Period
    listed: tuple[str, ...]  # accounts of the plan file in this group
    takes_unlisted: bool  # whether unlisted accounts (default plan) are billed here

    def selects(self, all_listed: Sequence[str]) -> pl.Expr:
        account = pl.col("account")
        chosen = account.is_in(list(self.listed))
        if self.takes_unlisted:
            chosen = chosen | ~account.is_in(list(all_listed))
        return account.is_not_null() & chosen


def _groups(
    plans: PlanFile, period_text: str, default_tz: ZoneInfo, now: datetime | None
) -> list[_Group]:
    unlisted_zone = plans.plans[plans.default_plan].tz or default_tz
    GroupKey = tuple[str, date | None, date | None]
    zones: dict[GroupKey, ZoneInfo] = {(unlisted_zone.key, None, None): unlisted_zone}
    listed: dict[GroupKey, list[str]] = {(unlisted_zone.key, None, None): []}
    for account in sorted(plans.accounts):
        zone = plans.tz_for(account, default_tz)
        assignment = plans.accounts[account]
        key = (zone.key, assignment.start, assignment.end)
        zones.setdefault(key, zone)
        listed.setdefault(key, []).append(account)
    groups = []
    for key, zone in sorted(zones.items(), key=lambda item: _sort_key(item[0])):
        _, first_day, end_day = key
        period = Period(parse_period(period_text, zone, now), zone, first_day, end_day)
        if period.days() == 0:
            continue  # the accounts are not active in this month
        groups.append(
            _Group(
                period=period,
                listed=tuple(listed[key]),
                takes_unlisted=key == (unlisted_zone.key, None, None),
            )
        )
    return groups


def _sort_key(key: tuple[str, date | None, date | None]) -> tuple[str, str, str]:
    zone, first_day, end_day = key
    return zone, str(first_day or ""), str(end_day or "")


def _selection(group: _Group, all_listed: Sequence[str]) -> str:
    """A group's accounts as named in the cache of meter states (:mod:`meterlog.meters.cache`)."""
    return json.dumps([list(group.listed), group.takes_unlisted, list(all_listed)])


def group_meters(plans: PlanFile, group: _Group) -> list[Meter]:
    """The meters of the plans a group's accounts can be on (each once, in plan order)."""
    reachable = {plans.accounts[account].plan for account in group.listed}
    if group.takes_unlisted:
        reachable.add(plans.default_plan)
    return list(
        dict.fromkeys(
            charge.meter for name in sorted(reachable) for charge in plans.plans[name].charges
        )
    )


def _group_lines(
    plans: PlanFile,
    group: _Group,
    seen: Sequence[str | None],
    quantities: Mapping[Meter, pl.DataFrame],
    version: int,
) -> list[dict[str, object]]:
    """The lines of a group's accounts: those with a request in the period (``seen``) and
    those the plan file lists, from each meter's quantities (:meth:`Meter.finalize`)."""
    by_meter = {
        meter: {
            account: (quantity, peak_start) for account, quantity, peak_start in frame.iter_rows()
        }
        for meter, frame in quantities.items()
    }
    accounts = sorted({account for account in seen if account is not None} | set(group.listed))
    lines: list[dict[str, object]] = []
    for account in accounts:
        lines += _plan_lines(account, plans.plan_for(account), group.period, by_meter, version)
    return lines


def _share(period: Period) -> Fraction:
    """The part of the month the period covers, in days (1 for a whole month)."""
    return Fraction(period.days(), period.whole_month.days())


def _prorated(amount: Decimal, share: Fraction) -> Decimal:
    with exact():
        return amount * share.numerator / share.denominator


def _plan_lines(
    account: str,
    plan: Plan,
    period: Period,
    quantities: Mapping[Meter, Mapping[str | None, tuple[int, datetime | None]]],
    version: int,
) -> list[dict[str, object]]:
    common = {
        "account": account,
        "plan": plan.name,
        "period_start": period.iso(period.start),
        "period_end": period.iso(period.end),
        "currency": plan.currency.code,
        "store_version": version,
    }
    share = _share(period)
    days = f" x {period.days()}/{period.whole_month.days()} days" if share != 1 else ""
    amounts: list[Decimal] = []
    lines: list[dict[str, object]] = []
    if plan.base_fee:
        fee = plan.currency.round(_prorated(plan.base_fee, share))
        amounts.append(fee)
        lines.append(
            {
                **common,
                "charge": BASE_FEE_CHARGE,
                "unit_price": f"flat {plan.base_fee}{days}" if days else "flat",
                "amount": plan.currency.text(fee),
            }
        )
    for charge in plan.charges:
        quantity, peak_start = quantities[charge.meter].get(
            account, (0, charge.meter.zero_peak_start(period))
        )
        priced = charge.price(quantity, plan.currency, share)
        amounts.append(priced.amount)
        lines.append(
            {
                **common,
                "charge": charge.name,
                "meter": charge.meter.description,
                "quantity": quantity,
                "included": charge.included,
                "billable_quantity": priced.billable_quantity,
                "unit_price": priced.detail,
                "amount": plan.currency.text(priced.amount),
                "peak_start": period.iso(peak_start),
            }
        )
    total = sum(amounts, Decimal(0))
    lines.append({**common, "charge": TOTAL_CHARGE, "amount": plan.currency.text(total)})
    return lines


def invoice_json(invoice: Invoice) -> str:
    """``--format json``: ``{"lines": [...], "quality": {...}}``; amounts are decimal strings
    (a JSON number is read as a binary float by most readers and loses trailing zeros)."""
    import json

    document = {
        "lines": json.loads(invoice.lines.write_json()),
        "quality": invoice.quality.as_dict() if invoice.quality is not None else None,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


def invoice_frame(lines: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(lines, schema=INVOICE_COLUMNS)


def compute_invoice(
    store: Store,
    plans: PlanFile,
    period_text: str,
    default_tz: ZoneInfo,
    identity: Identity,
    as_of: int | None = None,
    now: datetime | None = None,
    check_sources: bool = True,
    cache: bool = True,
    cache_report: CacheReport | None = None,
    engine: SqlEngine | None = None,
) -> Invoice:
    """The invoice for ``period_text`` from the store at ``as_of`` (default: current, or the
    version a :class:`~meterlog.store.Snapshot` is pinned at). With ``cache``, meter states
    are kept in the store and a later run reads only the files added since
    (:mod:`meterlog.meters.cache`); the lines are the same either way. With ``engine`` (DuckDB
    or Spark, :mod:`meterlog.engines`), the meters' states are computed there from the same
    store version; finalising and pricing stay here, so the lines are the same bytes."""
    snapshot = pin(store, as_of)
    store, version = snapshot, snapshot.pinned
    events = identified_events(store, identity, version)
    groups = _groups(plans, period_text, default_tz, now)
    all_listed = sorted(plans.accounts)
    months = tuple(dict.fromkeys(group.period.whole_month for group in groups))
    # every group's meters, plus a request count (the accounts seen in the period)
    meters: list[Meter] = []
    jobs: list[StateJob] = []
    owners: list[int] = []  # the group of each job
    for index, group in enumerate(groups):
        selection = _selection(group, all_listed)
        for meter in dict.fromkeys([CountMeter(), *group_meters(plans, group)]):
            meters.append(meter)
            jobs.append(StateJob(meter, group.period, group.selects(all_listed), selection))
            owners.append(index)
    if engine is not None:
        cache = False  # the engine computes every state from the pinned version
    counted: pl.DataFrame | None = None  # the quality block's counts
    accounts_counted: pl.DataFrame | None = None  # what the account warnings count
    newest: datetime | None = None  # the newest stored request's time
    if cache and months:
        span = quality_span(months)
        extra = [StateJob(QualityCounts(*span), months[0], pl.lit(True), "every request", span)]
        extra.append(StateJob(LatestTime(), months[0], pl.lit(True), "every request", None, True))
        if identity.account_field is not None:
            around = account_span(groups)
            counts = AccountCounts(*around, identity)
            extra.append(StateJob(counts, months[0], pl.lit(True), "every request", around))
        cached = cached_states(snapshot, identity, [*jobs, *extra], cache_report)
        states = [state.lazy() for state in cached[: len(jobs)]]
        counted, newest = cached[len(jobs)], cached[len(jobs) + 1].item()
        if len(extra) > 2:
            accounts_counted = cached[len(jobs) + 2]
    elif engine is not None:
        states = [
            engine.state(
                meter,
                job.period,
                identity,
                Selection(groups[owner].listed, groups[owner].takes_unlisted, tuple(all_listed)),
            )
            for meter, job, owner in zip(meters, jobs, owners, strict=True)
        ]
    else:
        states = [job.meter.partial(events.filter(job.selects), job.period) for job in jobs]
    finals = pl.collect_all(
        [
            meter.finalize(state, job.period)
            for meter, job, state in zip(meters, jobs, states, strict=True)
        ]
    )
    lines: list[dict[str, object]] = []
    for index, group in enumerate(groups):
        mine = [
            (meter, final)
            for meter, final, owner in zip(meters, finals, owners, strict=True)
            if owner == index
        ]
        seen = mine[0][1].get_column("account").to_list()  # the request count's accounts
        lines += _group_lines(plans, group, seen, dict(mine), version)
    lines.sort(key=lambda line: str(line["account"]))  # stable: keeps each account's order
    incomplete = tuple(
        completeness_problems(store, version, months, check_sources and as_of is None, newest)
    )
    return Invoice(
        lines=invoice_frame(lines),
        store_version=version,
        periods=months,
        warnings=(
            *identity_warnings(events, identity, groups, accounts_counted),
            *column_warnings(events, plans),
            *empty_period_warnings(
                events,
                months,
                None if counted is None else int(counted.get_column("requests").sum()),
            ),
        ),
        incomplete=incomplete,
        quality=data_quality(store, events, version, months, incomplete, counted),
    )


class RunningInvoice:
    """The invoice of the current period kept up to date batch by batch (what ``watch`` shows):
    each group of accounts keeps the mergeable state of its meters
    (:class:`~meterlog.meters.run.MeterStates`), and the lines are built by the same code as
    :func:`compute_invoice`'s, so after any sequence of batches they equal ``bill --month
    current`` at the same store version. Requests without an account are never billed."""

    def __init__(self, plans: PlanFile, default_tz: ZoneInfo, now: datetime) -> None:
        self.plans = plans
        self.default_tz = default_tz
        self.groups = _groups(plans, "current", default_tz, now)
        listed = sorted(plans.accounts)
        self.states = [
            MeterStates(
                group_meters(plans, group),
                group.period,
                group.selects(listed),
                _selection(group, listed),
            )
            for group in self.groups
        ]

    def needs_reset(self, now: datetime) -> bool:
        """The current month turned in one of the billing time zones."""
        current = _groups(self.plans, "current", self.default_tz, now)
        return [group.period for group in current] != [group.period for group in self.groups]

    def load(self, snapshot: Snapshot, identity: Identity) -> None:
        """Start over from every event of the current period in ``snapshot`` (the store's
        cached meter states where it has them, shared with ``bill``)."""
        for states in self.states:
            states.load(snapshot, identity)

    def add(self, events: pl.LazyFrame) -> None:
        """Merge a batch of events (with ``user`` and ``account``) into every group."""
        for states in self.states:
            states.add(events)

    def lines(self, version: int) -> pl.DataFrame:
        """The invoice lines now, as :func:`compute_invoice` writes them."""
        lines: list[dict[str, object]] = []
        for group, states in zip(self.groups, self.states, strict=True):
            quantities = {meter: states.quantities(meter) for meter in states.meters}
            lines += _group_lines(self.plans, group, states.accounts(), quantities, version)
        lines.sort(key=lambda line: str(line["account"]))
        return invoice_frame(lines)


def column_warnings(events: pl.LazyFrame, plans: PlanFile) -> list[str]:
    """Charges whose meter reads a column the store does not have (their quantity is 0)."""
    names = set(events.collect_schema().names())
    warnings = []
    for plan in plans.plans.values():
        for charge in plan.charges:
            missing = [column for column in charge.meter.needs() if column not in names]
            if missing:
                warnings.append(
                    f"plan {plan.name}, charge {charge.name}: the store has no column "
                    f"{', '.join(missing)}; the charge's quantity is 0 (check the plan's "
                    "column, or ingest logs that carry it)"
                )
    return warnings


def empty_period_warnings(
    events: pl.LazyFrame, months: Sequence[Period], requests: int | None = None
) -> list[str]:
    """A warning when no request at all falls in the billing period, saying where the store's
    data begins and ends (an invoice of base fees alone is rarely what was meant).
    ``requests``: the period's requests when already known."""
    start = min(period.start for period in months)
    end = max(period.end for period in months)
    if requests is None:
        requests = events_between(events, start, end).select(pl.len()).collect().item()
    if requests:
        return []
    first, last = (
        events.select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
        .collect()
        .row(0)
    )
    period = months[0]
    where = (
        "the store holds no requests"
        if first is None
        else f"the store's data begins at {period.iso(first)} and ends at {period.iso(last)}"
    )
    return [
        f"no requests in the billing period {period.label} ({period.iso(start)} to "
        f"{period.iso(end)}): {where}; check --month, or ingest the logs of that month"
    ]


@dataclass(frozen=True)
class AccountCounts:
    """What :func:`identity_warnings` reads from events, as a mergeable aggregate (cached by
    month-end runs like a meter's state): between ``start`` and ``end``, the requests without
    an account (the row whose ``key`` is null) and the raw account values the accounts file
    does not map (one row each)."""

    start: datetime
    end: datetime
    identity: Identity = field(repr=False)  # part of the cache key on its own

    def partial(self, events: pl.LazyFrame, period: Period | None = None) -> pl.LazyFrame:
        in_span = events_between(events, self.start, self.end)
        parts = [
            in_span.filter(pl.col("account").is_null()).select(
                key=pl.lit(None, pl.String), requests=pl.len().cast(pl.Int64)
            )
        ]
        field_name = self.identity.account_field
        if (
            field_name is not None
            and self.identity.accounts
            and field_name in events.collect_schema().names()
        ):
            parts.append(
                in_span.select(key=identity_expr(field_name).cast(pl.String))
                .drop_nulls()
                .unique()
                .filter(~pl.col("key").is_in(list(self.identity.accounts)))
                .with_columns(requests=pl.lit(0, pl.Int64))
            )
        return pl.concat(parts, how="vertical_relaxed")

    def merge(self, first: pl.LazyFrame, second: pl.LazyFrame) -> pl.LazyFrame:
        both = pl.concat([first, second], how="vertical_relaxed")
        return both.group_by("key").agg(pl.col("requests").sum().cast(pl.Int64))


def account_span(groups: Sequence[_Group]) -> tuple[datetime, datetime]:
    return (
        min(group.period.start for group in groups),
        max(group.period.end for group in groups),
    )


def identity_warnings(
    events: pl.LazyFrame,
    identity: Identity,
    groups: Sequence[_Group],
    counted: pl.DataFrame | None = None,
) -> list[str]:
    """Requests during the billing periods that cannot be billed to a known account
    (``counted``: :class:`AccountCounts`' state of the events, when already known)."""
    if identity.account_field is None or not groups:
        return []
    if counted is None:
        counted = AccountCounts(*account_span(groups), identity).partial(events).collect()
    warnings = []
    no_account = int(counted.filter(pl.col("key").is_null()).get_column("requests").sum())
    if no_account:
        warnings.append(
            f"{no_account} requests in the billing period have no {identity.account_field}; "
            "they are not billed to anyone"
        )
    if identity.accounts:
        unmapped = sorted(counted.get_column("key").drop_nulls().to_list())
        if unmapped:
            shown = ", ".join(key[:6] + "..." for key in unmapped[:3])
            warnings.append(
                f"{len(unmapped)} {identity.account_field} values are not in the accounts "
                f"file ({shown}); they are billed under the raw value on the default plan"
            )
    return warnings
