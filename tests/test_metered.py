"""Metered prices (catalog/metered.py): the four models, flat fees, allowances and minimum
commitments on worked examples and as properties, and the price book format's errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.metered import MeteredPrice, Tier, rate
from catalog.pricebook import PricingError, load_price_book_dict, load_price_book_file
from core.money import currency
from core.settings import DEFAULT_DEMO_DIR
from core.validation import DocumentValidationError

D = Decimal
USD, JPY, KWD = currency("USD"), currency("JPY"), currency("KWD")


def book(**metered) -> dict:
    return {"pricebook": "usage", "version": 1, "currency": "USD",
            "products": {"A": "10.00", "API": {"name": "API calls", "metered": {"meter": "api_calls", **metered}}}}


def price_of(currency_code: str = "USD", **metered) -> MeteredPrice:
    return load_price_book_dict(book(**metered) | {"currency": currency_code}).metered["API"].price


GRADUATED = dict(model="graduated", unit="call", tiers=[{"up_to": 10, "unit_price": "1.00", "flat_fee": "10.00"},
                                                        {"unit_price": "0.80", "flat_fee": "20.00"}])


# the worked examples ---------------------------------------------------------------------------

def test_graduated_tiers_with_a_flat_fee_and_a_unit_price():
    rated = rate(price_of(**GRADUATED), D(12), USD)
    assert rated.amount == D("41.60")                          # 10 x 1.00 + 10.00 + 2 x 0.80 + 20.00
    assert [(s.above, s.up_to, s.quantity, s.amount) for s in rated.steps] == [
        (0, 10, 10, D("20.00")), (10, None, 2, D("21.60"))]
    assert rate(price_of(**GRADUATED), D(10), USD).amount == D("20.00")    # the second tier is not reached
    assert rate(price_of(**GRADUATED), D(0), USD).amount == 0              # no unit, no tier, no fee


def test_volume_tiers_price_every_unit_at_the_tier_reached():
    price = price_of(model="volume", tiers=[{"up_to": 100, "unit_price": "0.10"},
                                            {"up_to": 1000, "unit_price": "0.08", "flat_fee": "1.00"},
                                            {"unit_price": "0.05"}])
    assert rate(price, D(100), USD).amount == D("10.00")
    assert rate(price, D(150), USD).amount == D("13.00")       # 150 x 0.08 + 1.00
    assert rate(price, D(5000), USD).amount == D("250.00")
    [step] = rate(price, D(150), USD).steps
    assert (step.above, step.up_to, step.quantity, step.unit_price) == (100, 1000, 150, D("0.08"))


def test_packages_are_counted_rounded_up():
    price = price_of(model="package", unit="message", package={"size": 100, "price": "5.00"})
    assert rate(price, D(1000), USD).amount == D("50.00")
    assert rate(price, D(1001), USD).amount == D("55.00")
    assert rate(price, D("0.5"), USD).amount == D("5.00")
    assert rate(price, D(0), USD).steps == ()
    assert rate(price, D(1001), USD).steps[0].quantity == 11


def test_a_unit_price_finer_than_the_minor_unit_is_rounded_once_per_line():
    price = price_of(model="per_unit", unit_price="0.0015")
    assert rate(price, D(3333), USD).amount == D("5.00")       # 4.9995, half up
    assert rate(price, D(3333), USD).steps[0].amount == D("4.9995")    # the step is exact
    assert rate(price_of("JPY", model="per_unit", unit_price="0.15"), D(1003), JPY).amount == D(150)  # 150.45
    assert rate(price_of("KWD", model="per_unit", unit_price="0.0015"), D(3333), KWD).amount == D("5.000")


def test_the_allowance_is_taken_off_before_the_model_prices_the_rest():
    price = price_of(model="per_unit", unit_price="0.002", included=10000)
    rated = rate(price, D(12500), USD)
    assert (rated.allowance_used, rated.billable, rated.amount) == (10000, 2500, D("5.00"))
    within = rate(price, D(4000), USD)
    assert (within.allowance_used, within.billable, within.amount, within.steps) == (4000, 0, 0, ())
    tiered = rate(price_of(**GRADUATED, included=5), D(17), USD)
    assert (tiered.billable, tiered.amount) == (12, D("41.60"))            # tiers count the billable units


def test_a_minimum_commitment_is_billed_by_a_true_up():
    price = price_of(**GRADUATED, minimum="50.00")
    low = rate(price, D(12), USD)
    assert (low.amount, low.true_up, low.total) == (D("41.60"), D("8.40"), D("50.00"))
    high = rate(price, D(40), USD)
    assert (high.amount, high.true_up, high.total) == (D("64.00"), 0, D("64.00"))   # 10 + 10 + 24 + 20
    nothing = rate(price, D(0), USD)
    assert (nothing.amount, nothing.true_up) == (0, D("50.00"))


def test_a_negative_quantity_is_a_bug_of_the_caller():
    with pytest.raises(ValueError):
        rate(price_of(**GRADUATED), D(-1), USD)


def test_a_metered_product_is_not_quoted():
    loaded = load_price_book_dict(book(**GRADUATED))
    assert "API" not in loaded.products and loaded.meters["api_calls"][0] == "API"
    with pytest.raises(PricingError, match="billed by usage of meter 'api_calls'"):
        loaded.list_price("API")


# properties ----------------------------------------------------------------------------------------

quantities = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False)
fees = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def tier_lists(draw) -> list[Tier]:
    bounds = sorted(draw(st.sets(st.integers(1, 10**6), max_size=4)))
    return [Tier(D(b) if b is not None else None, draw(prices), draw(fees)) for b in [*bounds, None]]


@given(tier_lists(), quantities, quantities)
def test_a_graduated_total_never_falls_as_the_quantity_rises(tiers, a, b):
    price = MeteredPrice("m", "unit", "graduated", tuple(tiers))
    low, high = sorted((a, b))
    assert rate(price, low, USD).amount <= rate(price, high, USD).amount


@given(prices, fees, quantities)
def test_volume_and_graduated_agree_with_one_tier(unit_price, fee, quantity):
    tier = (Tier(None, unit_price, fee),)
    assert (rate(MeteredPrice("m", "unit", "volume", tier), quantity, USD)
            == rate(MeteredPrice("m", "unit", "graduated", tier), quantity, USD))


@given(st.integers(0, 10**9), st.integers(1, 10**4), fees)
def test_the_package_count_is_the_quantity_over_the_size_rounded_up(quantity, size, package_price):
    rated = rate(MeteredPrice("m", "unit", "package", package_size=D(size), package_price=package_price),
                 D(quantity), USD)
    count = -(-quantity // size)
    assert sum((s.quantity for s in rated.steps), D(0)) == count
    assert rated.amount == count * package_price


@given(tier_lists(), quantities, quantities, st.one_of(st.none(), fees))
def test_the_allowance_is_never_negative_nor_more_than_the_usage(tiers, included, quantity, minimum):
    rated = rate(MeteredPrice("m", "unit", "graduated", tuple(tiers), included=included, minimum=minimum),
                 quantity, USD)
    assert 0 <= rated.allowance_used <= min(included, quantity)
    assert rated.billable == quantity - rated.allowance_used >= 0
    assert sum((s.quantity for s in rated.steps), D(0)) == rated.billable
    assert USD.is_exact(rated.amount) and abs(rated.amount - sum((s.amount for s in rated.steps), D(0))) <= D("0.005")
    assert rated.total == max(rated.amount, minimum if minimum is not None else 0) and rated.true_up >= 0


# the format --------------------------------------------------------------------------------------

def errors_of(data) -> list[tuple[str, str]]:
    with pytest.raises(DocumentValidationError) as caught:
        load_price_book_dict(data)
    return [(e.path, e.reason) for e in caught.value.errors]


M = "products.API.metered"


@pytest.mark.parametrize("metered, path, reason", [
    ({"model": "per_unit", "unit_price": 1}, f"{M}.meter", "is required"),
    ({"meter": "API Calls", "model": "per_unit", "unit_price": 1}, f"{M}.meter", "'API Calls' must match"),
    ({"meter": "m", "model": "stepped", "unit_price": 1}, f"{M}.model", "expected one of per_unit, graduated"),
    ({"meter": "m", "model": "per_unit"}, f"{M}.unit_price", "is required (it prices per_unit)"),
    ({"meter": "m", "model": "per_unit", "unit_price": 1, "tiers": []}, f"{M}.tiers",
     "is not used by the per_unit model (it prices graduated and volume)"),
    ({"meter": "m", "model": "per_unit", "unit_price": -1}, f"{M}.unit_price", "must be at least 0"),
    ({"meter": "m", "model": "graduated", "tiers": []}, f"{M}.tiers", "expected a list of tiers, at least one"),
    ({"meter": "m", "model": "graduated", "tiers": [{"unit_price": 1}, {"unit_price": 2}]}, f"{M}.tiers[0].up_to",
     "is required: only the last tier has no bound"),
    ({"meter": "m", "model": "volume", "tiers": [{"up_to": 5, "unit_price": 1}]}, f"{M}.tiers[0].up_to",
     "the last tier has no bound"),
    ({"meter": "m", "model": "volume", "tiers": [{"up_to": 5, "unit_price": 1}, {"up_to": 5, "unit_price": 1},
                                                 {"unit_price": 1}]}, f"{M}.tiers[1].up_to",
     "must be above the tier before (5)"),
    ({"meter": "m", "model": "graduated", "tiers": [{"up_to": 5}, {"unit_price": 1}]}, f"{M}.tiers[0]",
     "give a unit_price, a flat_fee or both"),
    ({"meter": "m", "model": "graduated", "tiers": [{"up_to": "0.0000001", "unit_price": 1}, {"unit_price": 1}]},
     f"{M}.tiers[0].up_to", "at most 6 decimals"),
    ({"meter": "m", "model": "graduated", "tiers": [{"unit_price": 1, "flat_fee": "0.001"}]},
     f"{M}.tiers[0].flat_fee", "0.001 has more decimals than USD allows (2)"),
    ({"meter": "m", "model": "package", "package": {"size": 0, "price": 5}}, f"{M}.package.size", "must be more than 0"),
    ({"meter": "m", "model": "package", "package": {"size": 10}}, f"{M}.package.price", "is required"),
    ({"meter": "m", "model": "per_unit", "unit_price": 1, "included": -1}, f"{M}.included", "must be at least 0"),
    ({"meter": "m", "model": "per_unit", "unit_price": 1, "minimum": "9.999"}, f"{M}.minimum",
     "9.999 has more decimals than USD allows (2)"),
    ({"meter": "m", "model": "per_unit", "unit_price": 1, "tax_category": "food"}, f"{M}.tax_category",
     "expected one of standard, reduced"),
    ({"meter": "m", "model": "per_unit", "unit_price": 1, "charge": "monthly"}, f"{M}.charge", "unknown field"),
])
def test_metered_price_errors_name_the_path_and_the_reason(metered, path, reason):
    data = book() | {"products": {"API": {"metered": metered}}}
    assert any(p == path and r.startswith(reason) for p, r in errors_of(data)), errors_of(data)


def test_a_metered_product_has_no_price_of_its_own_and_a_meter_is_priced_once():
    data = book(**GRADUATED)
    data["products"]["API"]["price"] = "1.00"
    data["products"]["API2"] = {"metered": {"meter": "api_calls", "model": "per_unit", "unit_price": 1}}
    assert errors_of(data) == [("products.API.price", "unknown field; expected one of name, metered"),
                               ("products.API2.metered.meter", "meter 'api_calls' is priced by API already")]


def test_the_demo_list_books_bill_solar_api_calls_by_usage():
    for name, first in (("list-usd", "0.002"), ("list-eur", "0.0019")):
        book = load_price_book_file(DEFAULT_DEMO_DIR / "pricebooks" / f"{name}.yaml")
        product, metered = book.meters["solar_api_calls"]
        assert (product, metered.price.included, metered.price.tiers[0].unit_price) == ("SOLAR-API", 10000, D(first))
        assert rate(metered.price, D(25000), book.currency).amount == D(first) * 15000
