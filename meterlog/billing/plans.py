"""Plan files (TOML): plans, their charges, and which account is on which plan.

The whole file is checked when it is loaded, before anything is computed with it; the first
mistake is reported as one line with the file, the key and the reason, e.g.::

    plans.toml: plans.pro.charges[1].tiers[2]: tiers overlap: starts at 1000 but previous
    tier ends at 2000

(on one line). List positions (``charges[1]``) count from 0. The format is documented in
docs/billing.md ("Plan files"); in short::

    default_plan = "starter"          # plan of every account not listed in [accounts]
    currency = "EUR"                  # default for plans that do not set their own

    [accounts]
    acme = "pro"
    globex = { plan = "pro", tz = "America/New_York" }
    initech = { plan = "pro", start = 2026-10-15, end = 2026-11-01 }  # active days [start, end)

    [plans.pro]
    base_fee = "49.00"                # flat fee per period (optional)
    tz = "Europe/Berlin"              # billing time zone of the plan (optional)

    [[plans.pro.charges]]
    name = "active_users"             # optional, defaults to the meter name
    meter = "mau"                     # + the meter's own keys (filters, window, ...)
    pricing = "graduated"             # + the model's keys (unit_price, tiers, ...)
    included = 100                    # free units (optional)
    minimum = "10.00"                 # minimum amount of the charge (optional)
    maximum = "500.00"                # cap on the amount of the charge (optional)
    tiers = [{ up_to = 1000, unit_price = "0.10" }, { unit_price = "0.05" }]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from meterlog.errors import ConfigError, MeterlogError, located, read_toml_file
from meterlog.meters import METERS, Meter, RequestFilter, meter_from_params
from meterlog.periods import parse_tz
from meterlog.pricing import (
    MINOR_UNITS,
    PRICING_MODELS,
    ChargeAmount,
    Currency,
    PricingModel,
    price_charge,
    pricing_from_params,
)
from meterlog.pricing.currency import exact
from meterlog.validation import (
    ParameterError,
    check_keys,
    money,
    table_list,
    text,
    whole_number,
)

TOP_KEYS = ("default_plan", "currency", "minor_unit", "accounts", "plans")
PLAN_KEYS = ("currency", "minor_unit", "base_fee", "tz", "charges")
CHARGE_KEYS = ("name", "meter", "pricing", "included", "minimum", "maximum")
ACCOUNT_KEYS = ("plan", "tz", "start", "end")
#: Charge names used by invoice lines that are not charges.
TOTAL_CHARGE = "TOTAL"
BASE_FEE_CHARGE = "base_fee"
RESERVED_CHARGE_NAMES = (TOTAL_CHARGE, BASE_FEE_CHARGE)
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Charge:
    """One priced meter of a plan."""

    name: str
    meter: Meter
    pricing: PricingModel
    included: int = 0
    minimum: Decimal = Decimal(0)
    maximum: Decimal | None = None

    def price(
        self, quantity: int, currency: Currency, share: Fraction = Fraction(1)
    ) -> ChargeAmount:
        """The charge's line for ``quantity``; ``minimum`` and ``maximum`` are multiplied by
        ``share``, the part of the period the account was active (see :class:`Assignment`)."""
        with exact():
            minimum = self.minimum * share.numerator / share.denominator
            maximum = self.maximum
            if maximum is not None:
                maximum = maximum * share.numerator / share.denominator
        return price_charge(self.pricing, quantity, currency, self.included, minimum, maximum)


@dataclass(frozen=True)
class Plan:
    name: str
    currency: Currency
    charges: tuple[Charge, ...]
    base_fee: Decimal = Decimal(0)
    tz: ZoneInfo | None = None


@dataclass(frozen=True)
class Assignment:
    """An account listed in ``[accounts]``: its plan and, optionally, its own time zone and
    the days it is active: from ``start`` (the first day) until ``end`` (the first day no
    longer active), as dates in its billing time zone."""

    plan: str
    tz: ZoneInfo | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class PlanFile:
    path: Path
    plans: dict[str, Plan]
    default_plan: str
    accounts: dict[str, Assignment]

    def plan_for(self, account: str) -> Plan:
        """The account's plan: its assignment, else the default plan."""
        assignment = self.accounts.get(account)
        return self.plans[assignment.plan if assignment else self.default_plan]

    def tz_for(self, account: str, default: ZoneInfo) -> ZoneInfo:
        """The account's billing time zone: its own, else its plan's, else ``default``."""
        assignment = self.accounts.get(account)
        if assignment and assignment.tz:
            return assignment.tz
        return self.plan_for(account).tz or default

    def meters(self) -> list[Meter]:
        """Every distinct meter used by a plan, in order of first use."""
        return list(
            dict.fromkeys(charge.meter for plan in self.plans.values() for charge in plan.charges)
        )


def key_part(name: str) -> str:
    """``name`` as a TOML key part: bare when possible, else quoted."""
    return name if _BARE_KEY.match(name) else '"' + name.replace('"', '\\"') + '"'


def _zone(table: Mapping[str, object], key: str = "tz") -> ZoneInfo | None:
    if key not in table:
        return None
    name = text(table, key)
    try:
        return parse_tz(name)
    except MeterlogError as error:
        raise ParameterError(key, str(error)) from None


def _currency(table: Mapping[str, object], inherited: Currency | None) -> Currency | None:
    if "currency" not in table:
        if "minor_unit" in table:
            raise ParameterError("minor_unit", "only goes with a currency key next to it")
        return inherited
    code = text(table, "currency")
    if not _CURRENCY_CODE.match(code):
        raise ParameterError("currency", f"{code!r} is not an ISO 4217 code such as EUR or USD")
    if "minor_unit" in table:
        return Currency(code, _minor_unit(table))
    if code not in MINOR_UNITS:
        raise ParameterError(
            "currency",
            f"{code} is not in the built-in table: give its minor unit (digits after the "
            "decimal point) with minor_unit = 2",
        )
    return Currency(code, MINOR_UNITS[code])


def _minor_unit(table: Mapping[str, object]) -> int:
    digits = whole_number(table, "minor_unit")
    if digits > 4:
        raise ParameterError("minor_unit", f"must be 0 to 4, not {digits}")
    return digits


def _whole_amount(table: Mapping[str, object], key: str, currency: Currency) -> Decimal:
    amount = money(table, key, "0")
    if not currency.fits(amount):
        raise ParameterError(
            key,
            f"{amount} has more decimals than {currency.code} has ({currency.minor_unit})",
        )
    return amount


def _charge(table: Mapping[str, object], currency: Currency) -> Charge:
    meter_kind = text(table, "meter")
    pricing_kind = text(table, "pricing")
    if meter_kind not in METERS:
        raise ParameterError(
            "meter", f"unknown meter {meter_kind!r}; use one of {', '.join(METERS)}"
        )
    if pricing_kind not in PRICING_MODELS:
        raise ParameterError(
            "pricing",
            f"unknown pricing {pricing_kind!r}; use one of {', '.join(PRICING_MODELS)}",
        )
    meter_keys = (*METERS[meter_kind].keys, *RequestFilter.KEYS)
    pricing_keys = PRICING_MODELS[pricing_kind].keys
    check_keys(
        table,
        (*CHARGE_KEYS, *meter_keys, *pricing_keys),
        f"a {meter_kind} charge with {pricing_kind} pricing",
    )
    meter = meter_from_params(meter_kind, {k: v for k, v in table.items() if k in meter_keys})
    pricing = pricing_from_params(
        pricing_kind, {k: v for k, v in table.items() if k in pricing_keys}
    )
    return Charge(
        name=text(table, "name", meter_kind),
        meter=meter,
        pricing=pricing,
        included=whole_number(table, "included", 0),
        minimum=_whole_amount(table, "minimum", currency),
        maximum=_maximum(table, currency),
    )


def _maximum(table: Mapping[str, object], currency: Currency) -> Decimal | None:
    if "maximum" not in table:
        return None
    maximum = _whole_amount(table, "maximum", currency)
    minimum = _whole_amount(table, "minimum", currency)
    if maximum < minimum:
        raise ParameterError("maximum", f"{maximum} is below the minimum {minimum}")
    return maximum


def _day(table: Mapping[str, object], key: str) -> date | None:
    """A date written as a TOML date (``2026-10-15``) or a string (``"2026-10-15"``)."""
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ParameterError(key, f"must be a date such as 2026-10-15, not {value!r}")


def _plan(name: str, table: Mapping[str, object], inherited: Currency | None) -> Plan:
    check_keys(table, PLAN_KEYS, "a plan")
    currency = _currency(table, inherited)
    if currency is None:
        raise ParameterError("currency", "is required (here or at the top of the file)")
    charges: list[Charge] = []
    for index, charge_table in enumerate(table_list(table, "charges")):
        where = f"charges[{index}]"
        try:
            charge = _charge(charge_table, currency)
        except ParameterError as error:
            raise error.within(where) from None
        if charge.name in RESERVED_CHARGE_NAMES:
            raise ParameterError(
                f"{where}.name",
                f"{charge.name!r} is reserved for invoice lines; choose another name",
            )
        used = [other.name for other in charges]
        if charge.name in used:
            raise ParameterError(
                f"{where}.name" if "name" in charge_table else where,
                f"charge name {charge.name!r} is already used by charges[{used.index(charge.name)}]"
                "; give each charge of a plan its own name",
            )
        charges.append(charge)
    return Plan(
        name=name,
        currency=currency,
        charges=tuple(charges),
        base_fee=_whole_amount(table, "base_fee", currency),
        tz=_zone(table),
    )


def _assignment(value: object, plans: Mapping[str, Plan]) -> Assignment:
    if isinstance(value, str):
        table: Mapping[str, object] = {"plan": value}
    elif isinstance(value, dict):
        check_keys(value, ACCOUNT_KEYS, "an account")
        table = value
    else:
        raise ParameterError("", 'must be a plan name or a table such as { plan = "pro" }')
    plan = text(table, "plan")
    if plan not in plans:
        key = "plan" if isinstance(value, dict) else ""
        raise ParameterError(key, _undefined(plan, plans))
    start, end = _day(table, "start"), _day(table, "end")
    if start is not None and end is not None and end <= start:
        raise ParameterError(
            "end", f"{end} is not after start {start} (end is the first day no longer active)"
        )
    return Assignment(plan=plan, tz=_zone(table), start=start, end=end)


def _undefined(plan: str, plans: Mapping[str, Plan]) -> str:
    return f"plan {plan!r} is not defined; defined plans: {', '.join(plans)}"


def parse_plan_file(data: Mapping[str, object], path: Path) -> PlanFile:
    """Check and build a plan file from parsed TOML (errors name ``path`` and the key)."""
    where = ""
    try:
        check_keys(data, TOP_KEYS, "a plan file")
        currency = _currency(data, None)
        plan_tables = data.get("plans")
        if not isinstance(plan_tables, dict) or not plan_tables:
            raise ParameterError("plans", "define at least one plan, e.g. [plans.standard]")
        plans: dict[str, Plan] = {}
        for name, table in plan_tables.items():
            where = f"plans.{key_part(name)}"
            if not isinstance(table, dict):
                raise ParameterError("", "must be a table")
            plans[name] = _plan(name, table, currency)
        where = ""
        default_plan = text(data, "default_plan")
        if default_plan not in plans:
            raise ParameterError("default_plan", _undefined(default_plan, plans))
        account_tables = data.get("accounts", {})
        if not isinstance(account_tables, dict):
            raise ParameterError("accounts", "must be a table of account = plan")
        accounts: dict[str, Assignment] = {}
        for account, value in account_tables.items():
            where = f"accounts.{key_part(account)}"
            accounts[account] = _assignment(value, plans)
    except ParameterError as error:
        located_error = error.within(where) if where else error
        raise ConfigError(located(path, None, str(located_error))) from None
    return PlanFile(path=path, plans=plans, default_plan=default_plan, accounts=accounts)


def load_plan_file(path: str | Path) -> PlanFile:
    """Read and check a plan file (see the module doc)."""
    path = Path(path)
    return parse_plan_file(read_toml_file(path, "plan file"), path)
