"""Each pricing model against hand-computed amounts (see the comments for the arithmetic)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterlog.pricing import (
    Currency,
    Graduated,
    Package,
    PerUnit,
    Volume,
    price_charge,
    pricing_from_params,
)
from meterlog.pricing.tiers import parse_tiers
from meterlog.validation import ParameterError

EUR = Currency("EUR", 2)
JPY = Currency("JPY", 0)
KWD = Currency("KWD", 3)

GRADUATED = Graduated.from_params(
    {
        "tiers": [
            {"up_to": 1000, "unit_price": "0"},
            {"up_to": 10000, "unit_price": "0.01"},
            {"unit_price": "0.005"},
        ]
    }
)
VOLUME = Volume.from_params(
    {
        "tiers": [
            {"up_to": 1000, "unit_price": "0.01"},
            {"from": 1000, "up_to": 10000, "unit_price": "0.008"},
            {"from": 10000, "unit_price": "0.005"},
        ]
    }
)


def bill(model, quantity, currency=EUR, included=0, minimum="0"):
    return price_charge(model, quantity, currency, included, Decimal(minimum))


@pytest.mark.parametrize(
    ("quantity", "amount", "detail"),
    [
        (0, "0.00", "0 @ 0.002"),
        (1500, "3.00", "1500 @ 0.002"),  # 1500 x 0.002 = 3.000
        (1234567, "2469.13", "1234567 @ 0.002"),  # 2469.134 -> 2469.13
    ],
)
def test_per_unit(quantity: int, amount: str, detail: str) -> None:
    line = bill(PerUnit(Decimal("0.002")), quantity)
    assert (line.amount, line.detail) == (Decimal(amount), detail)
    assert str(line.amount) == amount  # always two decimals for EUR


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [
        (1, "0.00"),  # 0.005 -> half-even -> 0.00
        (3, "0.02"),  # 0.015 -> 0.02
        (5, "0.02"),  # 0.025 -> 0.02
        (7, "0.04"),  # 0.035 -> 0.04
        (9, "0.04"),  # 0.045 -> 0.04
    ],
)
def test_half_cents_round_to_even(quantity: int, amount: str) -> None:
    assert bill(PerUnit(Decimal("0.005")), quantity).amount == Decimal(amount)


def test_minor_units_of_other_currencies() -> None:
    assert str(bill(PerUnit(Decimal("0.5")), 3, JPY).amount) == "2"  # 1.5 -> 2
    assert str(bill(PerUnit(Decimal("0.5")), 5, JPY).amount) == "2"  # 2.5 -> 2
    assert str(bill(PerUnit(Decimal("0.0005")), 3, KWD).amount) == "0.002"  # 0.0015 -> 0.002
    assert str(bill(PerUnit(Decimal("0.0005")), 5, KWD).amount) == "0.002"  # 0.0025 -> 0.002


def test_large_quantities_stay_exact() -> None:
    # 10^15 x 0.000000123456789 = 123456789 exactly; a float would drift.
    line = bill(PerUnit(Decimal("0.000000123456789")), 10**15)
    assert line.amount == Decimal("123456789.00")


@pytest.mark.parametrize(
    ("quantity", "amount", "detail"),
    [
        (0, "0.00", "0 @ 0"),
        (999, "0.00", "999 @ 0"),
        (1000, "0.00", "1000 @ 0"),  # exactly on the first limit: all in tier 1
        (1001, "0.01", "1000 @ 0 + 1 @ 0.01"),
        (10000, "90.00", "1000 @ 0 + 9000 @ 0.01"),  # 9000 x 0.01
        (10001, "90.00", "1000 @ 0 + 9000 @ 0.01 + 1 @ 0.005"),  # 90.005 -> 90.00
        (10003, "90.02", "1000 @ 0 + 9000 @ 0.01 + 3 @ 0.005"),  # 90.015 -> 90.02
        (12000, "100.00", "1000 @ 0 + 9000 @ 0.01 + 2000 @ 0.005"),  # 90 + 10
    ],
)
def test_graduated(quantity: int, amount: str, detail: str) -> None:
    line = bill(GRADUATED, quantity)
    assert (str(line.amount), line.detail) == (amount, detail)


@pytest.mark.parametrize(
    ("quantity", "amount", "detail"),
    [
        (0, "0.00", "0 @ 0.01 (tier 1 of 3)"),
        (1000, "10.00", "1000 @ 0.01 (tier 1 of 3)"),  # on the limit: still tier 1
        (1001, "8.01", "1001 @ 0.008 (tier 2 of 3)"),  # 8.008 -> 8.01
        (10000, "80.00", "10000 @ 0.008 (tier 2 of 3)"),
        (10001, "50.00", "10001 @ 0.005 (tier 3 of 3)"),  # 50.005 -> 50.00 (half-even)
        (10003, "50.02", "10003 @ 0.005 (tier 3 of 3)"),  # 50.015 -> 50.02
    ],
)
def test_volume(quantity: int, amount: str, detail: str) -> None:
    line = bill(VOLUME, quantity)
    assert (str(line.amount), line.detail) == (amount, detail)


@pytest.mark.parametrize(
    ("quantity", "amount", "detail"),
    [
        (0, "0.00", "0 x 1000 units @ 5.00"),
        (1, "5.00", "1 x 1000 units @ 5.00"),
        (1000, "5.00", "1 x 1000 units @ 5.00"),
        (1001, "10.00", "2 x 1000 units @ 5.00"),  # a started block counts whole
        (25000, "125.00", "25 x 1000 units @ 5.00"),
    ],
)
def test_package(quantity: int, amount: str, detail: str) -> None:
    line = bill(Package(1000, Decimal("5.00")), quantity)
    assert (str(line.amount), line.detail) == (amount, detail)


def test_included_units_come_off_before_pricing() -> None:
    # 12000 - 2000 included = 10000 billable -> 90.00 on the graduated tiers.
    line = bill(GRADUATED, 12000, included=2000)
    assert (line.billable_quantity, line.amount) == (10000, Decimal("90.00"))


def test_included_larger_than_usage_bills_nothing() -> None:
    line = bill(Package(1000, Decimal("5.00")), 300, included=5000)
    assert (line.billable_quantity, line.amount) == (0, Decimal("0.00"))


def test_minimum_applies_below_it_only() -> None:
    low = bill(PerUnit(Decimal("0.01")), 100, minimum="5.00")  # 1.00 < 5.00
    assert (low.amount, low.detail) == (Decimal("5.00"), "100 @ 0.01; minimum 5.00 applies")
    high = bill(PerUnit(Decimal("0.01")), 1000, minimum="5.00")  # 10.00 > 5.00
    assert (high.amount, high.detail) == (Decimal("10.00"), "1000 @ 0.01")
    zero = bill(PerUnit(Decimal("0.01")), 0, included=10, minimum="5.00")
    assert zero.amount == Decimal("5.00")


def test_registry_builds_every_model_and_rejects_unknown_ones() -> None:
    assert pricing_from_params("per_unit", {"unit_price": "1"}) == PerUnit(Decimal(1))
    assert pricing_from_params("package", {"package_size": 10, "package_price": "1"}) == (
        Package(10, Decimal(1))
    )
    with pytest.raises(ParameterError, match="unknown pricing 'tiered'; use one of per_unit"):
        pricing_from_params("tiered", {})


def tiers_error(tiers: list[dict]) -> str:
    with pytest.raises(ParameterError) as caught:
        parse_tiers({"tiers": tiers})
    return str(caught.value)


def test_tier_mistakes_are_named() -> None:
    assert tiers_error(
        [
            {"up_to": 2000, "unit_price": "0"},
            {"from": 1000, "up_to": 3000, "unit_price": "1"},
            {"unit_price": "1"},
        ]
    ) == ("tiers[1]: tiers overlap: starts at 1000 but previous tier ends at 2000")
    assert tiers_error([{"up_to": 1000, "unit_price": "0"}, {"from": 2000, "unit_price": "1"}]) == (
        "tiers[1]: tiers leave a gap: starts at 2000 but previous tier ends at 1000, "
        "so units 1001 to 2000 have no price"
    )
    assert tiers_error(
        [
            {"up_to": 1000, "unit_price": "0"},
            {"up_to": 500, "unit_price": "1"},
            {"unit_price": "1"},
        ]
    ) == ("tiers[1]: tiers out of order: up_to 500 is not above the previous tier's up_to 1000")
    assert tiers_error([{"from": 5, "unit_price": "1"}]) == (
        "tiers[0]: the first tier must start at 0, not 5"
    )
    assert "only the last tier may leave out up_to" in tiers_error(
        [{"unit_price": "1"}, {"unit_price": "2"}]
    )
    assert "the last tier must leave out up_to (here 10)" in tiers_error(
        [{"up_to": 10, "unit_price": "1"}]
    )
    assert tiers_error([{"unit_price": 0.01}]).startswith(
        'tiers[0].unit_price: write amounts as strings, e.g. unit_price = "0.01"'
    )
    assert tiers_error([{"unit_price": "-1"}]) == (
        "tiers[0].unit_price: must not be negative, got '-1'"
    )
    assert tiers_error([{"unit_price": "1", "price": "2"}]).startswith(
        "tiers[0].price: unknown key for a tier; known keys: flat_amount, from, unit_price, up_to"
    )
    assert tiers_error([]) == "tiers: must be a non-empty list of tables"


# -- flat amounts, prices per N units, caps ---------------------------------------------------

FLAT_GRADUATED = Graduated.from_params(
    {
        "tiers": [
            {"up_to": 10, "flat_amount": "5.00"},  # unit price 0 when only a flat amount
            {"up_to": 100, "unit_price": "0.125", "flat_amount": "1.005"},
            {"unit_price": "0.5"},
        ],
        "per": 10,
    }
)


@pytest.mark.parametrize(
    ("quantity", "amount", "detail"),
    [
        (0, "0.00", "0 @ 0/10"),  # no tier reached: no flat amount either
        (1, "5.00", "1 @ 0/10 + flat 5.00"),
        (10, "5.00", "10 @ 0/10 + flat 5.00"),
        # 5 + 4 x 0.125 / 10 + 1.005 = 6.055 -> half-even 6.06
        (14, "6.06", "10 @ 0/10 + flat 5.00 + 4 @ 0.125/10 + flat 1.005"),
        # 5 + 90 x 0.0125 + 1.005 + 2 x 0.05 = 5 + 1.125 + 1.005 + 0.1 = 7.23
        (102, "7.23", "10 @ 0/10 + flat 5.00 + 90 @ 0.125/10 + flat 1.005 + 2 @ 0.5/10"),
    ],
)
def test_graduated_with_flat_amounts_and_prices_per_ten(
    quantity: int, amount: str, detail: str
) -> None:
    line = bill(FLAT_GRADUATED, quantity)
    assert (str(line.amount), line.detail) == (amount, detail)


def test_volume_flat_amount_belongs_to_the_tier_reached() -> None:
    model = Volume.from_params(
        {
            "tiers": [
                {"up_to": 100, "unit_price": "0.01", "flat_amount": "1.00"},
                {"unit_price": "0.005", "flat_amount": "2.50"},
            ],
            "per": 1,
        }
    )
    assert str(bill(model, 0).amount) == "0.00"
    assert str(bill(model, 100).amount) == "2.00"  # 100 x 0.01 + 1.00
    line = bill(model, 101)  # 101 x 0.005 + 2.50 = 3.005 -> 3.00 (half-even)
    assert (str(line.amount), line.detail) == ("3.00", "101 @ 0.005 + flat 2.50 (tier 2 of 2)")


def test_per_unit_price_per_thousand() -> None:
    model = pricing_from_params("per_unit", {"unit_price": "0.50", "per": 1000})
    line = bill(model, 1500)  # 1500 x 0.50 / 1000 = 0.75
    assert (str(line.amount), line.detail) == ("0.75", "1500 @ 0.50/1000")
    assert str(bill(model, 1010).amount) == "0.50"  # 0.505 -> 0.50 (half-even)
    assert str(bill(model, 1030).amount) == "0.52"  # 0.515 -> 0.52


def test_maximum_caps_a_charge_after_the_minimum() -> None:
    model = PerUnit(Decimal("0.10"))
    capped = price_charge(model, 500, EUR, 0, Decimal("1.00"), Decimal("20.00"))
    assert (str(capped.amount), capped.detail) == ("20.00", "500 @ 0.10; maximum 20.00 applies")
    floor = price_charge(model, 3, EUR, 0, Decimal("1.00"), Decimal("20.00"))
    assert (str(floor.amount), floor.detail) == ("1.00", "3 @ 0.10; minimum 1.00 applies")
    within = price_charge(model, 55, EUR, 0, Decimal("1.00"), Decimal("20.00"))
    assert str(within.amount) == "5.50"


def test_per_must_be_a_whole_number() -> None:
    with pytest.raises(ParameterError, match="per: must be at least 1, not 0"):
        pricing_from_params("per_unit", {"unit_price": "1", "per": 0})
