"""Plan files (TOML): plans, their charges, and which account is on which plan.

The whole file is checked when it is loaded, before anything is computed with it; the first
mistake is reported as one line with the file, the key and the reason, e.g.::

    plans.toml: plans.pro.charges[1].tiers[2]: tiers overlap: starts at 1000 but previous
    tier ends at 2000

(on one line). List positions (``charges[1]``) count from 0. Each kind of table is a
:class:`~meterlog.validation.Spec` (a msgspec struct: its keys, types and defaults; unknown keys
refused); a charge table holds the keys of the charge (:class:`ChargeSpec`), of its meter
(a :class:`~meterlog.meters.MeterSpec`, tagged by ``meter``) and of its pricing model (a
:class:`~meterlog.pricing.PricingSpec`, tagged by ``pricing``). ``make docs``
writes the table of every key (``docs/plan-keys.md``). The format
is documented in docs/billing.md ("Plan files"); in short::

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
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec

from meterlog.errors import ConfigError, MeterlogError, located, read_toml_file
from meterlog.meters import METER_SPECS, METERS, Meter
from meterlog.periods import parse_tz
from meterlog.pricing import (
    MINOR_UNITS,
    PRICING_MODELS,
    PRICING_SPECS,
    ChargeAmount,
    Currency,
    PricingModel,
    price_charge,
)
from meterlog.pricing.currency import exact
from meterlog.validation import (
    Day,
    Money,
    ParameterError,
    Spec,
    Text,
    key,
    key_rows,
    read,
    unknown_key,
)

_MinorUnit = Annotated[
    Annotated[int, msgspec.Meta(ge=0, le=4)] | None,
    key(
        "digits after the decimal point of `currency` (needed if not in the built-in table)",
        expected="0 to 4",
    ),
]
_Currency = Annotated[
    Text | None, key("ISO 4217 code (`EUR`); required here or at the top of the file")
]
_Zone = Annotated[Text | None, key("billing time zone (IANA name such as `Europe/Berlin`)")]


class PlanFileSpec(Spec, kw_only=True):
    """The top of a plan file."""

    what = "a plan file"
    default_plan: Annotated[Text, key("plan of every account not listed in `[accounts]`")]
    currency: _Currency = None
    minor_unit: _MinorUnit = None
    accounts: Annotated[
        dict[str, Any],
        key(
            "account = plan name, or account = { plan, tz, start, end }",
            reason="must be a table of account = plan",
        ),
    ] = msgspec.field(default_factory=dict)
    plans: Annotated[
        dict[str, Any],
        key(
            "the plans by name: `[plans.NAME]`",
            reason="define at least one plan, e.g. [plans.standard]",
        ),
    ] = msgspec.field(default_factory=dict)


class AccountSpec(Spec, kw_only=True):
    """An account of ``[accounts]`` given as a table (or just its plan's name)."""

    what = "an account"
    plan: Annotated[Text, key("the account's plan")]
    tz: Annotated[Text | None, key("the account's own billing time zone (default: its plan's)")] = (
        None
    )
    start: Annotated[Day | None, key("first day the account is active (in its time zone)")] = None
    end: Annotated[Day | None, key("first day the account is no longer active")] = None


class PlanSpec(Spec, kw_only=True):
    """``[plans.NAME]``."""

    what = "a plan"
    currency: _Currency = None
    minor_unit: _MinorUnit = None
    base_fee: Annotated[Money, key("flat fee per period")] = Money(0)
    tz: _Zone = None
    charges: Annotated[
        list[dict[str, Any]],
        key(
            "the plan's charges: `[[plans.NAME.charges]]`",
            min_length=1,
            reason="must be a non-empty list of tables",
        ),
    ]


class ChargeSpec(Spec, kw_only=True):
    """The charge's own keys in ``[[plans.NAME.charges]]``, next to its meter's and pricing
    model's keys."""

    what = "a charge"
    name: Annotated[Text | None, key("the charge's name on invoices (default: the meter's)")] = None
    meter: Annotated[Text, key("the meter: " + ", ".join(f"`{m}`" for m in METERS))]
    pricing: Annotated[
        Text, key("the pricing model: " + ", ".join(f"`{p}`" for p in PRICING_MODELS))
    ]
    included: Annotated[int, key("free units per period", ge=0)] = 0
    minimum: Annotated[Money, key("minimum amount of the charge")] = Money(0)
    maximum: Annotated[Money | None, key("cap on the amount of the charge")] = None


CHARGE_KEYS = tuple(ChargeSpec.__struct_encode_fields__)


class _KindsSpec(Spec, kw_only=True):
    """The two keys of a charge table that name its meter and its pricing model."""

    what = "a charge"
    meter: Text
    pricing: Text


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


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return parse_tz(name)
    except MeterlogError as error:
        raise ParameterError("tz", str(error)) from None


def _currency(
    code: str | None, minor_unit: int | None, inherited: Currency | None
) -> Currency | None:
    if code is None:
        if minor_unit is not None:
            raise ParameterError("minor_unit", "only goes with a currency key next to it")
        return inherited
    if not _CURRENCY_CODE.match(code):
        raise ParameterError("currency", f"{code!r} is not an ISO 4217 code such as EUR or USD")
    if minor_unit is not None:
        return Currency(code, minor_unit)
    if code not in MINOR_UNITS:
        raise ParameterError(
            "currency",
            f"{code} is not in the built-in table: give its minor unit (digits after the "
            "decimal point) with minor_unit = 2",
        )
    return Currency(code, MINOR_UNITS[code])


def _whole_amount(amount: Decimal, key: str, currency: Currency) -> Decimal:
    if not currency.fits(amount):
        raise ParameterError(
            key,
            f"{amount} has more decimals than {currency.code} has ({currency.minor_unit})",
        )
    return Decimal(amount)


def _charge(table: Mapping[str, object], currency: Currency) -> Charge:
    """A charge table: its own keys, its meter's (tagged by ``meter``) and its pricing
    model's (tagged by ``pricing``)."""
    kinds = {name: table[name] for name in ("meter", "pricing") if name in table}
    # the kinds first: they say which keys the table may hold (their tags)
    named = read(kinds, _KindsSpec)
    meter_kind, pricing_kind = str(named.meter), str(named.pricing)
    if meter_kind not in METERS:
        read({"meter": meter_kind}, METER_SPECS)  # names the unknown meter
    if pricing_kind not in PRICING_MODELS:
        read({"pricing": pricing_kind}, PRICING_SPECS)  # names the unknown model
    meter_spec = METERS[meter_kind].spec
    pricing_spec = PRICING_MODELS[pricing_kind].spec
    meter_keys = set(meter_spec.__struct_encode_fields__) - {"meter"}
    pricing_keys = set(pricing_spec.__struct_encode_fields__) - {"pricing"}
    known = set(CHARGE_KEYS) | meter_keys | pricing_keys
    unknown = sorted(name for name in table if name not in known)
    if unknown:
        what = f"a {meter_kind} charge with {pricing_kind} pricing"
        raise unknown_key(unknown[0], what, tuple(known))
    meter = METERS[meter_kind].from_spec(
        read(
            {**{k: v for k, v in table.items() if k in meter_keys}, "meter": meter_kind}, meter_spec
        )
    )
    pricing = PRICING_MODELS[pricing_kind].from_spec(
        read(
            {**{k: v for k, v in table.items() if k in pricing_keys}, "pricing": pricing_kind},
            pricing_spec,
        )
    )
    charge = read({k: v for k, v in table.items() if k in CHARGE_KEYS}, ChargeSpec)
    minimum = _whole_amount(charge.minimum, "minimum", currency)
    maximum = None
    if charge.maximum is not None:
        maximum = _whole_amount(charge.maximum, "maximum", currency)
        if maximum < minimum:
            raise ParameterError("maximum", f"{maximum} is below the minimum {minimum}")
    return Charge(
        name=str(charge.name or meter_kind),
        meter=meter,
        pricing=pricing,
        included=charge.included,
        minimum=minimum,
        maximum=maximum,
    )


def _plan(name: str, table: object, inherited: Currency | None) -> Plan:
    if not isinstance(table, dict):
        raise ParameterError("", "must be a table")
    spec = read(table, PlanSpec)
    currency = _currency(spec.currency, spec.minor_unit, inherited)
    if currency is None:
        raise ParameterError("currency", "is required (here or at the top of the file)")
    charges: list[Charge] = []
    for index, charge_table in enumerate(spec.charges):
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
        base_fee=_whole_amount(spec.base_fee, "base_fee", currency),
        tz=_zone(spec.tz),
    )


def _assignment(value: object, plans: Mapping[str, Plan]) -> Assignment:
    if isinstance(value, str):
        spec = read({"plan": value}, AccountSpec)
        if spec.plan not in plans:
            raise ParameterError("", _undefined(spec.plan, plans))
    elif isinstance(value, dict):
        spec = read(value, AccountSpec)
        if spec.plan not in plans:
            raise ParameterError("plan", _undefined(spec.plan, plans))
    else:
        raise ParameterError("", 'must be a plan name or a table such as { plan = "pro" }')
    start, end = spec.start, spec.end
    if start is not None and end is not None and end <= start:
        raise ParameterError(
            "end", f"{end} is not after start {start} (end is the first day no longer active)"
        )
    return Assignment(
        plan=str(spec.plan),
        tz=_zone(spec.tz),
        start=None if start is None else date(start.year, start.month, start.day),
        end=None if end is None else date(end.year, end.month, end.day),
    )


def _undefined(plan: str, plans: Mapping[str, Plan]) -> str:
    return f"plan {plan!r} is not defined; defined plans: {', '.join(plans)}"


def parse_plan_file(data: Mapping[str, object], path: Path) -> PlanFile:
    """Check and build a plan file from parsed TOML (errors name ``path`` and the key)."""
    where = ""
    try:
        top = read(data, PlanFileSpec)
        currency = _currency(top.currency, top.minor_unit, None)
        if not top.plans:
            raise ParameterError("plans", "define at least one plan, e.g. [plans.standard]")
        plans: dict[str, Plan] = {}
        for name, table in top.plans.items():
            where = f"plans.{key_part(name)}"
            plans[name] = _plan(name, table, currency)
        where = ""
        default_plan = str(top.default_plan)
        if default_plan not in plans:
            raise ParameterError("default_plan", _undefined(default_plan, plans))
        accounts: dict[str, Assignment] = {}
        for account, value in top.accounts.items():
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


def keys_doc() -> str:
    """``docs/plan-keys.md``: every key of a plan file, from the specs."""
    lines = [
        "# Plan file keys",
        "",
        "<!-- generated by `make docs`: do not edit -->",
        "",
        "Every key a plan file may hold, with its type, its default and what it does; a key",
        'not listed is refused. Amounts are decimal strings (`"0.50"`), never TOML floats.',
        "",
        "## The top of the file",
        "",
        *key_rows(PlanFileSpec),
        "",
        "## `[accounts]`",
        "",
        'Each account is a plan name (`acme = "pro"`) or a table:',
        "",
        *key_rows(AccountSpec),
        "",
        "## `[plans.NAME]`",
        "",
        *key_rows(PlanSpec),
        "",
        "## `[[plans.NAME.charges]]`",
        "",
        "A charge table holds the charge's own keys, its meter's and its pricing model's.",
        "",
        *key_rows(ChargeSpec),
    ]
    for kind, meter in METERS.items():
        lines += [
            "",
            f'### `meter = "{kind}"`',
            "",
            (meter.__doc__ or "").strip().replace("``", "`"),
            "",
        ]
        lines += key_rows(meter.spec)
    for kind, model in PRICING_MODELS.items():
        lines += ["", f'### `pricing = "{kind}"`', ""]
        lines += key_rows(model.spec)
    from meterlog.pricing.tiers import TierSpec

    lines += ["", "## Tiers", "", "Each item of `tiers = [...]`:", "", *key_rows(TierSpec)]
    return "\n".join(lines) + "\n"
