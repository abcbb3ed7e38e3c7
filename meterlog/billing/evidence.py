"""Evidence: the inputs behind an account's invoice lines, so each can be checked by hand."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.billing.plans import PlanFile
from meterlog.meters import Period
from meterlog.periods import parse_period
from meterlog.query.events import identified_events, pin
from meterlog.query.identity import Identity
from meterlog.store import Store


def explain_account(
    store: Store,
    plans: PlanFile,
    account: str,
    period_text: str,
    default_tz: ZoneInfo,
    identity: Identity,
    as_of: int | None = None,
    now: datetime | None = None,
) -> pl.DataFrame:
    """The inputs behind ``account``'s invoice lines: per charge, the meter's evidence (the
    users counted, every window with the peak marked, daily counts and sums, the values
    counted), over the days the account is active, times in the account's zone."""
    snapshot = pin(store, as_of)
    version = snapshot.pinned
    events = identified_events(snapshot, identity, version).filter(pl.col("account") == account)
    zone = plans.tz_for(account, default_tz)
    assignment = plans.accounts.get(account)
    period = Period(
        parse_period(period_text, zone, now),
        zone,
        assignment.start if assignment else None,
        assignment.end if assignment else None,
    )
    plan = plans.plan_for(account)
    frames = []
    active = period.days() > 0  # an account not active in the month has nothing to show
    for charge in plan.charges if active else ():
        evidence = charge.meter.evidence(events, period).collect()
        local_times = [
            pl.col(name).dt.convert_time_zone(zone.key)
            for name, dtype in evidence.schema.items()
            if isinstance(dtype, pl.Datetime)
        ]
        frames.append(
            evidence.with_columns(local_times).select(
                pl.col("account"),
                pl.lit(charge.name).alias("charge"),
                pl.lit(charge.meter.description).alias("meter"),
                pl.lit(period.label).alias("period"),
                pl.exclude("account"),
            )
        )
    if not frames:
        return pl.DataFrame(schema={"account": pl.String, "charge": pl.String})
    return pl.concat(frames, how="diagonal_relaxed").with_columns(
        store_version=pl.lit(version, pl.Int64)
    )
