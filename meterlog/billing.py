"""Invoices: plans applied to the metered usage of one billing period.

One line per account and charge (in the plan's order, a ``base_fee`` line first when the plan
has one) and a ``TOTAL`` line per account, the sum of its rounded lines. Accounts are those
with a request in their billing period plus those listed in the plan file, sorted by name.

Each account is billed in its own time zone (the account's, else its plan's, else the default
``tz``); the period (``2026-10``, ``previous``, ``current``) is a calendar month there, so
``period_start``/``period_end`` are written with that zone's offset.

Reproducible: the invoice is computed from one version of the store's events table and records
it in ``store_version``; :func:`compute_invoice` with ``as_of`` reads that version again, so
the same command gives byte-identical output. :func:`adjustments` compares two invoices of the
same period (late data); :func:`completeness_problems` says when the store may not hold the
whole period yet.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from meterlog.errors import MeterlogError, StoreError, located
from meterlog.identity import unmapped_account_keys, with_identity
from meterlog.meters import Meter, Period, events_between, events_in_period
from meterlog.output import FORMULA_PREFIXES
from meterlog.periods import parse_period
from meterlog.plans import BASE_FEE_CHARGE, TOTAL_CHARGE, Plan, PlanFile
from meterlog.schema import PARTITION_COLUMN
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
#: Columns of an adjustments report (``--compare``, ``--since-version``).
ADJUSTMENT_COLUMNS: dict[str, pl.DataType] = {
    "account": pl.String(),
    "charge": pl.String(),
    "currency": pl.String(),
    "previous_quantity": pl.Int64(),
    "new_quantity": pl.Int64(),
    "previous_amount": pl.Decimal(38, 2),
    "new_amount": pl.Decimal(38, 2),
    "difference": pl.Decimal(38, 2),
    "previous_store_version": pl.Int64(),
    "store_version": pl.Int64(),
}
#: Columns a previous invoice CSV must have to be compared.
_PREVIOUS_REQUIRED = ("account", "charge", "quantity", "amount", "currency", "period_start")
_UNCOMPRESSED = (None, "", "none", "plain", "identity")


@dataclass(frozen=True)
class Identity:
    """How users and accounts are read from events (see :mod:`meterlog.identity`)."""

    user_field: str = "remote_user"
    account_field: str | None = None
    accounts: Mapping[str, str] = field(default_factory=dict)


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


def resolve_version(store: Store, as_of: int | None) -> int:
    """``as_of`` checked against the store, or the store's current version."""
    current = store.version()
    if current is None:
        raise StoreError(
            f"{store.uri}: no events stored yet: run 'meterlog ingest --store {store.uri} LOGS'"
        )
    if as_of is None:
        return current
    if not 0 <= as_of <= current:
        raise MeterlogError(
            f"store version {as_of} does not exist: {store.uri} has versions 0 to {current}"
        )
    return as_of


def identified_events(store: Store, identity: Identity, version: int) -> pl.LazyFrame:
    """The store's events at ``version`` with ``user`` and ``account`` columns."""
    return with_identity(
        store.scan_events(version=version),
        identity.user_field,
        identity.account_field,
        identity.accounts,
    )


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


def _iso(moment: datetime | None, period: Period) -> str | None:
    return None if moment is None else period.local(moment).isoformat()


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
        "period_start": _iso(period.start, period),
        "period_end": _iso(period.end, period),
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
                "peak_start": _iso(peak_start, period),
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


def completeness_problems(
    store: Store, version: int, periods: Sequence[Period], check_sources: bool = True
) -> list[str]:
    """Why the store may not hold all of ``periods`` yet (empty when nothing is known to lack).

    The data is complete for a period when the store holds a request at or after its end.
    With ``check_sources``, local uncompressed sources that have grown since they were last
    ingested are reported too.
    """
    events = store.scan_events(version=version)
    first_end = min(period.end for period in periods)
    recent = events
    if PARTITION_COLUMN in events.collect_schema().names():
        first_end_day = (first_end - timedelta(microseconds=1)).date()
        recent = events.filter(pl.col(PARTITION_COLUMN) >= first_end_day)
    latest = recent.select(pl.col("ts").max()).collect().item()
    if latest is None:
        latest = events.select(pl.col("ts").max()).collect().item()
    problems = []
    for period in sorted(set(periods), key=lambda period: (period.end, period.tz.key)):
        if latest is None or latest < period.end:
            ends = "holds no events" if latest is None else f"ends at {_iso(latest, period)}"
            problems.append(
                f"the store's data {ends}, before the end of period {period.label} "
                f"({_iso(period.end, period)}, {period.tz.key}): the invoice may be incomplete; "
                "ingest the rest of the logs or bill later"
            )
    if check_sources and store.is_local:
        problems += _lagging_sources(store)
    return problems


def _lagging_sources(store: Store) -> list[str]:
    """Local uncompressed source files longer than what the store holds of them."""
    sources = store.sources()
    if sources.is_empty():
        return []
    latest_per_path = sources.sort("seen_at").group_by("path").agg(pl.all().last()).sort("path")
    problems = []
    for row in latest_per_path.iter_rows(named=True):
        if row["compression"] not in _UNCOMPRESSED or not row["path"]:
            continue
        try:
            size = os.stat(row["path"]).st_size
        except OSError:
            continue
        if size > row["offset"]:
            problems.append(
                f"source {row['path']} has {size - row['offset']} bytes not ingested yet: "
                "the invoice may be incomplete; run 'meterlog ingest' first"
            )
    return problems


# -- evidence --------------------------------------------------------------------------------


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
    users counted, or every window with the peak marked), times in the account's zone."""
    version = resolve_version(store, as_of)
    events = identified_events(store, identity, version).filter(pl.col("account") == account)
    zone = plans.tz_for(account, default_tz)
    period = Period(parse_period(period_text, zone, now), zone)
    plan = plans.plan_for(account)
    frames = []
    for charge in plan.charges:
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


# -- adjustments -----------------------------------------------------------------------------


def _unneutralise(value: str | None) -> str | None:
    """Undo the CSV writer's formula guard (a ``'`` before ``= + - @`` ...)."""
    if value and value.startswith("'") and value[1:2] in FORMULA_PREFIXES:
        return value[1:]
    return value


def load_previous_invoice(path: str | Path) -> list[dict[str, object]]:
    """The lines of a previous ``meterlog bill`` CSV: ``account, charge, currency,
    period_start, quantity, amount`` (exact Decimal) and ``store_version``."""
    path = Path(path)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise MeterlogError(
            located(path, None, f"cannot read the previous invoice: {exc}")
        ) from None
    missing = [name for name in _PREVIOUS_REQUIRED if name not in frame.columns]
    if missing:
        raise MeterlogError(
            located(
                path,
                None,
                f"not a meterlog bill CSV: missing column(s) {', '.join(missing)}; "
                "pass a file written by 'meterlog bill --format csv'",
            )
        )
    lines = []
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        try:
            amount = Decimal(row["amount"])
            quantity = int(row["quantity"]) if row["quantity"] else None
            version = row.get("store_version")
            version = int(version) if version else None
        except (InvalidOperation, TypeError, ValueError):
            raise MeterlogError(
                located(path, number, "amount, quantity or store_version is not a number")
            ) from None
        lines.append(
            {
                "account": _unneutralise(row["account"]),
                "charge": _unneutralise(row["charge"]),
                "currency": row["currency"],
                "period_start": row["period_start"],
                "quantity": quantity,
                "amount": amount,
                "store_version": version,
            }
        )
    return lines


def adjustments(
    previous: Iterable[Mapping[str, object]], current: pl.DataFrame, source: str
) -> pl.DataFrame:
    """Per account and charge, what changed between two invoices of the same period.

    Lines whose quantity or amount differ, or that are in only one of the invoices (counted
    from 0), are listed, followed for each such account by its ``TOTAL`` line. ``source``
    names the previous invoice in error messages.
    """
    before = {(row["account"], row["charge"]): row for row in previous}
    after = {(row["account"], row["charge"]): row for row in current.iter_rows(named=True)}
    periods_before = {row["account"]: row["period_start"] for row in before.values()}
    for row in after.values():
        old = periods_before.get(row["account"])
        if old is not None and old != row["period_start"]:
            raise MeterlogError(
                f"{source} bills {row['account']} for the period starting {old}, this run for "
                f"{row['period_start']}: compare invoices of the same period"
            )
    # Charge order as in the new invoice, then charges only the previous one had.
    position = {key: index for index, key in enumerate([*after, *before])}
    keys = sorted(set(before) | set(after), key=lambda key: (str(key[0]), position[key]))
    per_account: dict[object, list[dict[str, object]]] = {}
    for key in keys:
        old_row, new_row = before.get(key, {}), after.get(key, {})
        if old_row and new_row and old_row["currency"] != new_row["currency"]:
            raise MeterlogError(
                f"{source}: {key[0]} {key[1]} was billed in {old_row['currency']}, now in "
                f"{new_row['currency']}: amounts in different currencies cannot be compared"
            )
        old_amount = old_row.get("amount") or Decimal(0)
        new_amount = new_row.get("amount") or Decimal(0)
        line = {
            "account": key[0],
            "charge": key[1],
            "currency": (new_row or old_row)["currency"],
            "previous_quantity": old_row.get("quantity"),
            "new_quantity": new_row.get("quantity"),
            "previous_amount": old_amount,
            "new_amount": new_amount,
            "difference": new_amount - old_amount,  # type: ignore[operator]
            "previous_store_version": old_row.get("store_version"),
            "store_version": new_row.get("store_version"),
        }
        differs = (
            not old_row
            or not new_row
            or line["difference"] != 0
            or line["previous_quantity"] != line["new_quantity"]
        )
        if differs or key[1] == TOTAL_CHARGE:
            per_account.setdefault(key[0], []).append({**line, "differs": differs})
    rows = []
    for lines in per_account.values():
        if any(line["differs"] for line in lines):
            rows += [{k: v for k, v in line.items() if k != "differs"} for line in lines]
    return adjustment_frame(rows)


def adjustment_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Adjustment lines as a frame; amounts keep the most decimals any of them has."""
    exponents = [
        -int(value.as_tuple().exponent)
        for row in rows
        for value in (row["previous_amount"], row["new_amount"])
        if isinstance(value, Decimal) and isinstance(value.as_tuple().exponent, int)
    ]
    scale = max([2, *exponents])
    schema = {
        name: pl.Decimal(38, scale) if isinstance(dtype, pl.Decimal) else dtype
        for name, dtype in ADJUSTMENT_COLUMNS.items()
    }
    return pl.DataFrame(rows, schema=schema)
