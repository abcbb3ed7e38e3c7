"""Plan files: a valid file loads; each kind of mistake is one line with file, key, reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from meterlog.billing.plans import load_plan_file
from meterlog.errors import ConfigError
from meterlog.meters import METERS, MauMeter, PeakMeter
from meterlog.pricing import PRICING_MODELS, Currency, Graduated, PerUnit

SAMPLE_PLANS = Path(__file__).resolve().parent.parent / "sample_logs" / "plans.toml"

VALID = """
default_plan = "basic"
currency = "EUR"

[accounts]
acme = "pro"
globex = { plan = "pro", tz = "America/New_York" }

[plans.basic]
[[plans.basic.charges]]
meter = "mau"
pricing = "per_unit"
unit_price = "0.50"

[plans.pro]
currency = "JPY"
base_fee = "5000"
tz = "Europe/Berlin"

[[plans.pro.charges]]
meter = "mau"
pricing = "per_unit"
unit_price = "100"
included = 10
minimum = "1000"

[[plans.pro.charges]]
name = "peak_rph"
meter = "peak"
window = "1h"
statistic = "p95"
exclude_status = ["5xx"]
pricing = "graduated"
tiers = [{ up_to = 100, unit_price = "0" }, { unit_price = "2" }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plans.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_loads(tmp_path: Path) -> None:
    plans = load_plan_file(write(tmp_path, VALID))
    basic, pro = plans.plans["basic"], plans.plans["pro"]
    assert basic.currency == Currency("EUR", 2)
    assert basic.charges[0].name == "mau"
    assert basic.charges[0].pricing == PerUnit(Decimal("0.50"))
    assert (pro.currency, pro.base_fee, pro.tz) == (
        Currency("JPY", 0),
        Decimal(5000),
        ZoneInfo("Europe/Berlin"),
    )
    assert [charge.name for charge in pro.charges] == ["mau", "peak_rph"]
    assert pro.charges[0].included == 10 and pro.charges[0].minimum == Decimal(1000)
    assert pro.charges[1].meter == PeakMeter.from_params(
        {"window": "1h", "statistic": "p95", "exclude_status": ["5xx"]}
    )
    assert isinstance(pro.charges[1].pricing, Graduated)
    assert plans.plan_for("acme") is pro
    assert plans.plan_for("someone-else") is basic
    utc = ZoneInfo("UTC")
    assert plans.tz_for("acme", utc) == ZoneInfo("Europe/Berlin")  # the plan's zone
    assert plans.tz_for("globex", utc) == ZoneInfo("America/New_York")  # the account's own
    assert plans.tz_for("someone-else", utc) == utc  # the billing default
    assert plans.meters() == [MauMeter(), pro.charges[1].meter]


def test_the_sample_plan_file_covers_every_pricing_model() -> None:
    plans = load_plan_file(SAMPLE_PLANS)
    used = {charge.pricing.kind for plan in plans.plans.values() for charge in plan.charges}
    assert used == set(PRICING_MODELS)
    meters = {charge.meter.kind for plan in plans.plans.values() for charge in plan.charges}
    assert meters == set(METERS)
    assert set(plans.accounts) == {"acme", "globex", "initech", "umbrella", "hooli"}
    charges = [charge for plan in plans.plans.values() for charge in plan.charges]
    assert any(charge.included for charge in charges)
    assert any(charge.minimum for charge in charges)
    assert any(charge.maximum for charge in charges)
    assert any(assignment.start for assignment in plans.accounts.values())
    assert any(plan.base_fee for plan in plans.plans.values())


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_plan_file(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"{tmp_path / 'plans.toml'}: ")


def replaced(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


MISTAKES = [
    pytest.param(
        replaced('meter = "peak"', 'meter = "peek"'),
        "plans.pro.charges[1].meter: unknown meter 'peek'; use one of mau, peak, count, sum, unique",
        id="unknown meter",
    ),
    pytest.param(
        replaced('pricing = "graduated"', 'pricing = "tiered"'),
        "plans.pro.charges[1].pricing: unknown pricing 'tiered'; use one of per_unit, "
        "graduated, volume, package",
        id="unknown pricing model",
    ),
    pytest.param(
        replaced('unit_price = "0.50"', 'unit_price = "-0.50"'),
        "plans.basic.charges[0].unit_price: must not be negative, got '-0.50'",
        id="negative price",
    ),
    pytest.param(
        replaced('unit_price = "0.50"', "unit_price = 0.5"),
        'plans.basic.charges[0].unit_price: write amounts as strings, e.g. unit_price = "0.5": '
        "a TOML float is binary and cannot hold every decimal exactly",
        id="float price",
    ),
    pytest.param(
        replaced('unit_price = "0.50"', 'unit_price = "half"'),
        "plans.basic.charges[0].unit_price: must be a decimal such as \"0.50\", got 'half'",
        id="price not a number",
    ),
    pytest.param(
        replaced(
            'tiers = [{ up_to = 100, unit_price = "0" }, { unit_price = "2" }]',
            'tiers = [{ up_to = 2000, unit_price = "0" }, '
            '{ from = 1000, up_to = 3000, unit_price = "1" }, { unit_price = "2" }]',
        ),
        "plans.pro.charges[1].tiers[1]: tiers overlap: starts at 1000 but previous tier ends "
        "at 2000",
        id="tiers overlap",
    ),
    pytest.param(
        replaced(
            'tiers = [{ up_to = 100, unit_price = "0" }, { unit_price = "2" }]',
            'tiers = [{ up_to = 100, unit_price = "0" }, { up_to = 50, unit_price = "1" }, '
            '{ unit_price = "2" }]',
        ),
        "plans.pro.charges[1].tiers[1]: tiers out of order: up_to 50 is not above the previous "
        "tier's up_to 100",
        id="tiers out of order",
    ),
    pytest.param(
        replaced('acme = "pro"', 'acme = "platinum"'),
        "accounts.acme: plan 'platinum' is not defined; defined plans: basic, pro",
        id="account on undefined plan",
    ),
    pytest.param(
        replaced('{ plan = "pro", tz', '{ plan = "gold", tz'),
        "accounts.globex.plan: plan 'gold' is not defined; defined plans: basic, pro",
        id="account table on undefined plan",
    ),
    pytest.param(
        replaced('default_plan = "basic"', 'default_plan = "free"'),
        "default_plan: plan 'free' is not defined; defined plans: basic, pro",
        id="undefined default plan",
    ),
    pytest.param(
        replaced('default_plan = "basic"\n', ""),
        "default_plan: is required",
        id="no default plan",
    ),
    pytest.param(
        replaced("included = 10", "included = 10\nincluded_users = 5"),
        "plans.pro.charges[0].included_users: unknown key for a mau charge with per_unit "
        "pricing; known keys: endpoints, exclude_paths, exclude_status, included, maximum, meter, "
        "methods, minimum, name, per, pricing, unit_price",
        id="unknown charge key",
    ),
    pytest.param(
        replaced('base_fee = "5000"', 'base_fee = "5000"\nfee = "1"'),
        "plans.pro.fee: unknown key for a plan; known keys: base_fee, charges, currency, "
        "minor_unit, tz",
        id="unknown plan key",
    ),
    pytest.param(
        "currancy = 'EUR'\n" + VALID,
        "currancy: unknown key for a plan file; known keys: accounts, currency, default_plan, "
        "minor_unit, plans",
        id="unknown top-level key",
    ),
    pytest.param(
        replaced('window = "1h"', 'window = "2h"'),
        "plans.pro.charges[1].window: unknown window '2h'; use one of 1m, 5m, 1h, 1d",
        id="bad meter parameter",
    ),
    pytest.param(
        replaced('tz = "Europe/Berlin"', 'tz = "Europe/Berlim"'),
        "plans.pro.tz: unknown time zone 'Europe/Berlim': did you mean Europe/Berlin? use an "
        "IANA name such as UTC or Europe/Berlin",
        id="unknown time zone",
    ),
    pytest.param(
        replaced('currency = "JPY"', 'currency = "XTS"'),
        "plans.pro.currency: XTS is not in the built-in table: give its minor unit (digits "
        "after the decimal point) with minor_unit = 2",
        id="unknown currency",
    ),
    pytest.param(
        replaced('base_fee = "5000"', 'base_fee = "5000.5"'),
        "plans.pro.base_fee: 5000.5 has more decimals than JPY has (0)",
        id="base fee below the minor unit",
    ),
    pytest.param(
        replaced('name = "peak_rph"', 'name = "mau"'),
        "plans.pro.charges[1].name: charge name 'mau' is already used by charges[0]; give each "
        "charge of a plan its own name",
        id="duplicate charge name",
    ),
    pytest.param(
        replaced('name = "peak_rph"', 'name = "TOTAL"'),
        "plans.pro.charges[1].name: 'TOTAL' is reserved for invoice lines; choose another name",
        id="reserved charge name",
    ),
    pytest.param(
        replaced("included = 10", "included = -1"),
        "plans.pro.charges[0].included: must be at least 0, not -1",
        id="negative included units",
    ),
    pytest.param(
        replaced("included = 10", "included = 1.5"),
        "plans.pro.charges[0].included: must be a whole number, not float 1.5",
        id="fractional included units",
    ),
    pytest.param(
        'default_plan = "x"\ncurrency = "EUR"\n[plans.x]\nbase_fee = "1"\n',
        "plans.x.charges: is required",
        id="plan without charges",
    ),
    pytest.param(
        'default_plan = "x"\n[plans.x]\n[[plans.x.charges]]\nmeter = "mau"\n'
        'pricing = "per_unit"\nunit_price = "1"\n',
        "plans.x.currency: is required (here or at the top of the file)",
        id="no currency",
    ),
    pytest.param(
        'default_plan = "x"\ncurrency = "EUR"\n',
        "plans: define at least one plan, e.g. [plans.standard]",
        id="no plans",
    ),
]


@pytest.mark.parametrize(("text", "message"), MISTAKES)
def test_each_mistake_is_named(tmp_path: Path, text: str, message: str) -> None:
    assert error_for(tmp_path, text) == message


def test_quoted_names_appear_quoted(tmp_path: Path) -> None:
    text = VALID.replace('acme = "pro"', '"acme corp" = "gold"')
    assert error_for(tmp_path, text) == (
        "accounts.\"acme corp\": plan 'gold' is not defined; defined plans: basic, pro"
    )


def test_toml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    message = error_for(tmp_path, 'default_plan = "basic\n')
    assert message.startswith("not valid TOML: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read plan file: No such file"):
        load_plan_file(tmp_path / "nope.toml")


def test_readme_plan_examples_are_valid(tmp_path: Path) -> None:
    from tests.test_docs import code_blocks

    page = Path(__file__).resolve().parent.parent / "docs" / "billing.md"
    blocks = code_blocks("toml", "## Plan files", page)
    plan_file, charges = blocks[:2]
    plans = load_plan_file(write(tmp_path, plan_file + "\n" + charges))
    used = {charge.meter.kind for plan in plans.plans.values() for charge in plan.charges}
    assert used == set(METERS)
    pricing = {charge.pricing.kind for plan in plans.plans.values() for charge in plan.charges}
    assert pricing == set(PRICING_MODELS)
    assert plans.accounts["initech"].start is not None
    assert plans.accounts["umbrella"].end is not None
