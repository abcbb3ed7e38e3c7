"""Invoices: plans applied to the metered usage of one billing period.

One line per account and charge (in the plan's order, a ``base_fee`` line first when the plan
has one) and a ``TOTAL`` line per account, the sum of its rounded lines. Accounts are those
with a request in their billing period plus those listed in the plan file, sorted by name.

Each account is billed in its own time zone (the account's, else its plan's, else the default
``tz``); the period (``2026-10``, ``previous``, ``current``) is a calendar month there, so
``period_start``/``period_end`` are written with that zone's offset.

Reproducible: the invoice is computed from one version of the store's events table and records
it in ``store_version``; :func:`compute_invoice` with ``as_of`` reads that version again, so
the same command gives byte-identical output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.billing.completeness import completeness_problems
from meterlog.events import identified_events, resolve_version
from meterlog.identity import Identity, unmapped_account_keys
from meterlog.meters import Meter, Period, events_between, events_in_period
from meterlog.periods import parse_period
from meterlog.plans import BASE_FEE_CHARGE, TOTAL_CHARGE, Plan, PlanFile
from meterlog.store import Store

#: Columns of an invoice, in order (``amount`` is a Decimal column, see :func:`amount_dtype`).
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
    "amount": pl.Decimal(38, 2),
    "currency": pl.String(),
    "peak_start": pl.String(),
    "store_version": pl.Int64(),
}


@dataclass(frozen=True)
class Invoice:
    lines: pl.DataFrame
    store_version: int
    periods: tuple[Period, ...]
    #: Requests that cannot be billed to a known account.
    warnings: tuple[str, ...] = ()
    #: Why the store may not hold the whole period yet (see :func:`completeness_problems`).
    incomplete: tuple[str, ...] = ()


def amount_dtype(minor_units: Iterable[int]) -> pl.Decimal:
    """Decimal type for amounts: the largest minor unit among the invoice's currencies."""
    return pl.Decimal(38, max([*minor_units, 2]))


@dataclass(frozen=True)
class _Group:
    """Accounts billed in the same time zone, hence over the same period."""

    period: Period
    listed: tuple[str, ...]  # accounts of the plan file in this zone
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
    zones: dict[str, ZoneInfo] = {unlisted_zone.key: unlisted_zone}
    listed: dict[str, list[str]] = {unlisted_zone.key: []}
    for account in sorted(plans.accounts):
        zone = plans.tz_for(account, default_tz)
        zones.setdefault(zone.key, zone)
        listed.setdefault(zone.key, []).append(account)
    return [
        _Group(
            period=Period(parse_period(period_text, zone, now), zone),
            listed=tuple(listed[key]),
            takes_unlisted=key == unlisted_zone.key,
        )
        for key, zone in sorted(zones.items())
    ]


def _plan_lines(
    account: str,
    plan: Plan,
    period: Period,
    quantities: Mapping[Meter, Mapping[str, tuple[int, datetime | None]]],
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
    lines: list[dict[str, object]] = []
    if plan.base_fee:
        lines.append(
            {**common, "charge": BASE_FEE_CHARGE, "unit_price": "flat", "amount": plan.base_fee}
        )
    for charge in plan.charges:
        quantity, peak_start = quantities[charge.meter].get(
            account, (0, charge.meter.zero_peak_start(period))
        )
        priced = charge.price(quantity, plan.currency)
        lines.append(
            {
                **common,
                "charge": charge.name,
                "meter": charge.meter.description,
                "quantity": quantity,
                "included": charge.included,
                "billable_quantity": priced.billable_quantity,
                "unit_price": priced.detail,
                "amount": priced.amount,
                "peak_start": period.iso(peak_start),
            }
        )
    amounts: list[Decimal] = [line["amount"] for line in lines]  # type: ignore[misc]
    lines.append({**common, "charge": TOTAL_CHARGE, "amount": sum(amounts, Decimal(0))})
    return lines


def invoice_frame(lines: list[dict[str, object]], minor_units: Iterable[int]) -> pl.DataFrame:
    schema = {**INVOICE_COLUMNS, "amount": amount_dtype(minor_units)}
    return pl.DataFrame(lines, schema=schema)


def compute_invoice(
    store: Store,
    plans: PlanFile,
    period_text: str,
    default_tz: ZoneInfo,
    identity: Identity,
    as_of: int | None = None,
    now: datetime | None = None,
    check_sources: bool = True,
) -> Invoice:
    """The invoice for ``period_text`` from the store at ``as_of`` (default: current)."""
    version = resolve_version(store, as_of)
    events = identified_events(store, identity, version)
    groups = _groups(plans, period_text, default_tz, now)
    all_listed = sorted(plans.accounts)
    lines: list[dict[str, object]] = []
    for group in groups:
        group_events = events.filter(group.selects(all_listed))
        reachable = {plans.accounts[account].plan for account in group.listed}
        if group.takes_unlisted:
            reachable.add(plans.default_plan)
        meters = list(
            dict.fromkeys(
                charge.meter for name in sorted(reachable) for charge in plans.plans[name].charges
            )
        )
        seen = events_in_period(group_events, group.period).select("account").unique()
        frames = pl.collect_all(
            [seen, *(meter.quantities(group_events, group.period) for meter in meters)]
        )
        quantities = {
            meter: {
                account: (quantity, peak_start)
                for account, quantity, peak_start in frame.iter_rows()
            }
            for meter, frame in zip(meters, frames[1:], strict=True)
        }
        accounts = sorted(set(frames[0].get_column("account").to_list()) | set(group.listed))
        for account in accounts:
            plan = plans.plan_for(account)
            lines += _plan_lines(account, plan, group.period, quantities, version)
    lines.sort(key=lambda line: str(line["account"]))  # stable: keeps each account's order
    minor_units = {plan.currency.minor_unit for plan in plans.plans.values()}
    periods = tuple(group.period for group in groups)
    return Invoice(
        lines=invoice_frame(lines, minor_units),
        store_version=version,
        periods=periods,
        warnings=tuple(identity_warnings(events, identity, groups)),
        incomplete=tuple(
            completeness_problems(store, version, periods, check_sources and as_of is None)
        ),
    )


def identity_warnings(
    events: pl.LazyFrame, identity: Identity, groups: Sequence[_Group]
) -> list[str]:
    """Requests during the billing periods that cannot be billed to a known account."""
    if identity.account_field is None:
        return []
    start = min(group.period.start for group in groups)
    end = max(group.period.end for group in groups)
    in_periods = events_between(events, start, end)
    warnings = []
    no_account = in_periods.filter(pl.col("account").is_null()).select(pl.len()).collect().item()
    if no_account:
        warnings.append(
            f"{no_account} requests in the billing period have no {identity.account_field}; "
            "they are not billed to anyone"
        )
    if identity.accounts:
        unmapped = unmapped_account_keys(in_periods, identity.account_field, identity.accounts)
        if unmapped:
            shown = ", ".join(key[:6] + "..." for key in unmapped[:3])
            warnings.append(
                f"{len(unmapped)} {identity.account_field} values are not in the accounts "
                f"file ({shown}); they are billed under the raw value on the default plan"
            )
    return warnings
