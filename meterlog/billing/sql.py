"""The SQL of one charge of a plan (``meterlog sql``): the meter's state query of
:mod:`meterlog.engines.sql` for a billing month, headed by comments saying what it returns and
how meterlog finalises it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from meterlog.billing.plans import PlanFile
from meterlog.engines.sql import EVENTS_VIEW, Columns, state_query
from meterlog.errors import UsageError
from meterlog.meters import Period
from meterlog.periods import Month
from meterlog.query.identity import Identity

_FINALISE = {
    "mau": "state: distinct (account, value) pairs, value a user (NULL: no user counted); "
    "MAU per account = COUNT(DISTINCT value)",
    "unique": "state: distinct (account, value) pairs (NULL: no value counted); "
    "quantity per account = COUNT(DISTINCT value)",
    "count": "state: (account, counted); quantity = counted",
    "sum": "state: (account, raw, scale); quantity = raw / scale / divide_by, rounded to the "
    "charge's step",
    "peak": "state: (account, bucket, value) per minute (or second); meterlog sums the buckets "
    "of each window of the period's grid (distinct users for metric users) and takes the "
    "statistic over every window, empty ones included",
}


def charge_query(
    plans: PlanFile,
    reference: str,
    month: Month,
    tz: ZoneInfo,
    identity: Identity,
    columns: Columns,
    dialect: str,
) -> str:
    """The query for the charge ``reference`` (``CHARGE`` or ``PLAN.CHARGE``) of ``plans``
    over ``month`` in ``tz``, for every account, in ``dialect``, with a comment saying what it
    returns and how meterlog finalises it."""
    plan_name, _, charge_name = reference.rpartition(".")
    found = [
        (name, charge)
        for name, plan in sorted(plans.plans.items())
        for charge in plan.charges
        if charge.name == charge_name and plan_name in ("", name)
    ]
    meters = {charge.meter for _, charge in found}
    if not found:
        known = sorted(
            {
                f"{name}.{charge.name}"
                for name, plan in plans.plans.items()
                for charge in plan.charges
            }
        )
        raise UsageError(f"no charge {reference!r} in the plan file; charges: {', '.join(known)}")
    if len(meters) > 1:
        names = ", ".join(f"{name}.{charge.name}" for name, charge in found)
        raise UsageError(f"{reference!r} names different meters ({names}): give PLAN.CHARGE")
    plan, charge = found[0]
    meter = charge.meter
    period = Period(month, tz)
    query = state_query(meter, period, identity, columns, None, dialect)
    header = (
        f"-- meterlog: {plan}.{charge.name} ({meter.description}), {month} in {tz.key}; "
        f"reads the table or view {EVENTS_VIEW} (the store's events: its Parquet files or the "
        "Delta table)\n"
        f"-- {_FINALISE.get(meter.kind, '')}\n"
    )
    return header + query + ";\n"
