"""The pricing waterfall (rules.engine.price_quote) on small rule sets and price books built
in each test: stacking and caps, validity windows, volume tiers, rounding per currency, promo
codes, floors, free items, bundles, surcharges, quote-level discounts, recurring lines,
totals and approvals. Plain products only, so no database is needed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from catalog.pricebook import PriceBook, PricingError, load_price_book_dict
from core.validation import DocumentValidationError
from rules.engine import price_quote
from rules.loader import load_rule_set_dict
from rules.model import RuleSet
from rules.stacking import explain
from rules.results import LineInput, LinePrice, ManualDiscount, QuoteInput, QuotePrice

DAY = date(2026, 6, 1)


# helpers -----------------------------------------------------------------------------------

def D(value) -> Decimal:
    return Decimal(str(value))


def book(products: dict, currency: str = "USD", **extra) -> PriceBook:
    return load_price_book_dict({"pricebook": "test", "version": 1, "currency": currency,
                                 "products": products, **extra})


def rule_set(*rules: dict, **extra) -> RuleSet:
    return load_rule_set_dict({"ruleset": "test", "version": 1, "rules": list(rules), **extra})


def item(pb: PriceBook, product: str, quantity=1, id: str | None = None, **extra) -> LineInput:
    return LineInput(id or product, product, D(quantity), pb.list_price(product), **extra)


def price(rs: RuleSet, pb: PriceBook, *lines: LineInput, day: date = DAY, **quote) -> QuotePrice:
    result = price_quote(rs, pb, QuoteInput(pb.currency.code, day, **quote), lines)
    for line in result.lines:
        assert_reconciles(line, pb)
    return result


def only(result: QuotePrice) -> LinePrice:
    (line,) = result.lines
    return line


def by_id(result: QuotePrice) -> dict[str, LinePrice]:
    return {line.id: line for line in result.lines}


def outcomes(considered) -> dict[str, tuple[bool, str]]:
    return {o.rule: (o.applied, o.reason) for o in considered}


def applied(line: LinePrice) -> list[str]:
    return [o.rule for o in line.considered if o.applied]


def steps(line: LinePrice) -> list[tuple]:
    return [(s.kind, s.rule, s.amount) for s in line.steps]


def assert_reconciles(line: LinePrice, pb: PriceBook) -> None:
    """Every amount is in minor units and the waterfall adds up to the minor unit."""
    exact = pb.currency.is_exact
    assert exact(line.list_total) and exact(line.net_total)
    assert all(exact(s.amount) for s in line.steps)
    assert line.list_total - sum((s.amount for s in line.steps), Decimal(0)) == line.net_total


# the basic book: products with and without costs, recurring charges and a gift ------------

BOOK = book({
    "HW": {"price": "100.00", "cost": "50.00"},
    "SW": {"price": "50.00", "cost": "10.00"},
    "NOCOST": {"price": "100.00"},
    "GIFT": {"price": "12.00", "cost": "4.00"},
    "MON": {"price": "20.00", "cost": "5.00", "charge": "monthly"},
    "QTR": {"price": "60.00", "cost": "15.00", "charge": "quarterly"},
    "ANN": {"price": "1200.00", "cost": "400.00", "charge": "annual", "term_months": 36},
})


def pct(rid: str, percent, stacking: str = "additive", **rule) -> dict:
    return {"id": rid, "stacking": stacking, "discount_percent": percent, **rule}


# stacking and the cap ----------------------------------------------------------------------

TIER_40 = pct("tier", 40, when={"customer_tier": ["gold", "platinum"]})
PROMO = {"code": "BIG70", "description": "Seventy off"}


@pytest.mark.parametrize("promo_stacking", ["additive", "compounding", "best_of", "exclusive"])
def test_stacking_cannot_exceed_the_maximum_discount(promo_stacking):
    promo_70 = pct("promo", 70, promo_stacking, when={"promo_code": "BIG70"})
    rs = rule_set(TIER_40, promo_70, max_line_discount_percent=50, promotions=[PROMO])
    line = only(price(rs, BOOK, item(BOOK, "HW", 3), tier="gold", promo_codes=("BIG70",)))
    if promo_stacking == "exclusive":    # 70% alone, still capped
        assert applied(line) == ["promo"]
    else:
        assert sorted(applied(line)) == ["promo", "tier"]
    assert line.net_total == D("150.00")                 # exactly 50% of 300.00, never free
    cap = line.steps[-1]
    assert (cap.kind, cap.label) == ("cap", "capped at the 50% maximum discount")
    assert line.list_total - line.net_total == D("150.00")


def test_without_a_cap_additive_discounts_stop_at_a_free_line_never_below():
    rs = rule_set(TIER_40, pct("promo", 70, when={"promo_code": "BIG70"}), promotions=[PROMO])
    line = only(price(rs, BOOK, item(BOOK, "HW", 3), tier="gold", promo_codes=("BIG70",)))
    assert line.net_total == D("0.00")
    assert steps(line) == [("rule", "promo", D("210.00")), ("rule", "tier", D("90.00"))]


@pytest.mark.parametrize("tier, net, cap_label", [
    ("gold", "150.00", "capped at the 50% maximum discount"),        # vip does not apply
    ("platinum", "60.00", "capped at the 80% maximum discount"),     # vip applies: cap 80%
])
def test_max_discount_percent_lifts_the_cap_only_when_its_rule_applies(tier, net, cap_label):
    vip = pct("vip", 5, priority=1, max_discount_percent=80, when={"customer_tier": ["platinum"]})
    rs = rule_set(TIER_40, vip, pct("promo", 70, when={"promo_code": "BIG70"}),
                  max_line_discount_percent=50, promotions=[PROMO])
    line = only(price(rs, BOOK, item(BOOK, "HW", 3), tier=tier, promo_codes=("BIG70",)))
    assert line.net_total == D(net)
    assert line.steps[-1].kind == "cap" and line.steps[-1].label == cap_label
    if tier == "gold":
        assert outcomes(line.considered)["vip"] == (False, "customer tier gold is not platinum")


def test_a_discount_within_the_cap_is_untouched():
    rs = rule_set(TIER_40, max_line_discount_percent=50)
    line = only(price(rs, BOOK, item(BOOK, "HW"), tier="gold"))
    assert line.net_total == D("60.00") and [s.kind for s in line.steps] == ["rule"]


STACKING_RULES = (
    pct("ex-partner", 30, "exclusive", priority=10, when={"channel": ["partner"]}),
    pct("ex-any", 50, "exclusive", priority=20, when={"customer_tier": ["gold"]}),
    pct("best-10", 10, "best_of", priority=30),
    {"id": "best-amount", "stacking": "best_of", "priority": 30, "discount_amount": {"USD": 20}},
    pct("add-10", 10, "additive", priority=40),
    pct("add-5", 5, "additive", priority=41),
    pct("comp-half", 50, "compounding", priority=50),
    {"id": "comp-ten", "stacking": "compounding", "priority": 60, "discount_amount": {"USD": 10}},
)


def test_the_first_applicable_exclusive_rule_applies_alone():
    rs = rule_set(*STACKING_RULES)
    line = only(price(rs, BOOK, item(BOOK, "HW"), channel="partner", tier="gold"))
    assert steps(line) == [("rule", "ex-partner", D("30.00"))] and line.net_total == D("70.00")
    reasons = outcomes(line.considered)
    assert reasons.pop("ex-partner") == (True, "applied: -30%")
    assert set(reasons.values()) == {(False, "exclusive rule ex-partner applies")}


def test_an_exclusive_rule_whose_conditions_fail_leaves_the_next_one():
    rs = rule_set(*STACKING_RULES)
    line = only(price(rs, BOOK, item(BOOK, "HW"), tier="gold"))
    assert steps(line) == [("rule", "ex-any", D("50.00"))]
    assert outcomes(line.considered)["ex-partner"] == (False, "no channel given (needs partner)")


def test_best_of_then_additive_on_the_same_base_then_compounding_on_the_running_amount():
    rs = rule_set(*STACKING_RULES)
    line = only(price(rs, BOOK, item(BOOK, "HW", 2)))          # list 200.00
    # best_of: 10% = 20.00 vs 20.00 each = 40.00 -> the amount wins; running 160.00
    # additive on 160.00: 10% = 16.00 and 5% = 8.00 (not 10% then 5% of 144.00) -> 136.00
    # compounding in priority order: 50% of 136.00 = 68.00, then 10.00 x 2 -> 48.00
    assert steps(line) == [("rule", "best-amount", D("40.00")), ("rule", "add-10", D("16.00")),
                           ("rule", "add-5", D("8.00")), ("rule", "comp-half", D("68.00")),
                           ("rule", "comp-ten", D("20.00"))]
    assert line.net_total == D("48.00")
    reasons = outcomes(line.considered)
    assert reasons["best-10"] == (False, "best-amount gives a larger discount")
    assert reasons["best-amount"] == (True, "applied: -USD 20.00 each")
    assert reasons["ex-any"] == (False, "no customer tier given (needs gold)")
    assert reasons["comp-half"] == (True, "applied: -50%")


def test_compounding_order_follows_priority():
    first_amount = rule_set({"id": "ten", "stacking": "compounding", "priority": 1,
                             "discount_amount": {"USD": 10}}, pct("half", 50, "compounding", priority=2))
    first_percent = rule_set({"id": "ten", "stacking": "compounding", "priority": 2,
                              "discount_amount": {"USD": 10}}, pct("half", 50, "compounding", priority=1))
    assert only(price(first_amount, BOOK, item(BOOK, "HW"))).net_total == D("45.00")
    assert only(price(first_percent, BOOK, item(BOOK, "HW"))).net_total == D("40.00")


def test_best_of_ties_go_to_the_rule_that_runs_first():
    same_priority = (pct("b", 10, "best_of", priority=5), pct("a", 10, "best_of", priority=5))
    line = only(price(rule_set(*same_priority), BOOK, item(BOOK, "HW")))
    assert applied(line) == ["a"] and line.net_total == D("90.00")          # then by id
    line = only(price(rule_set(*same_priority, pct("c", 10, "best_of", priority=1)), BOOK, item(BOOK, "HW")))
    assert applied(line) == ["c"]


def test_a_rule_without_an_amount_in_the_currency_says_so():
    rs = rule_set({"id": "euro", "discount_amount": {"EUR": 10}})
    line = only(price(rs, BOOK, item(BOOK, "HW")))
    assert outcomes(line.considered) == {"euro": (False, "no amount in USD")}
    assert line.net_total == D("100.00")


SERVER = {"cpu": "e9354", "dimm_count": 16, "bezel": True}


@pytest.mark.parametrize("when, product, quantity, values, reason", [
    ({"attributes": {"cpu": ["e9124", "e9354"]}}, "HW", 1, SERVER, None),
    ({"attributes": {"cpu": ["e9124"]}}, "HW", 1, SERVER, "cpu is e9354, not e9124"),
    ({"attributes": {"cpu": ["e9124"]}}, "HW", 1, {}, "cpu is not decided"),
    ({"attributes": {"dimm_count": {"min": 16, "max": 24}}}, "HW", 1, SERVER, None),
    ({"attributes": {"dimm_count": {"min": 17}}}, "HW", 1, SERVER, "dimm_count 16 is below 17"),
    ({"attributes": {"dimm_count": {"max": 8}}}, "HW", 1, SERVER, "dimm_count 16 is above 8"),
    ({"attributes": {"bezel": False}}, "HW", 1, SERVER, "bezel is true, not false"),
    ({"quantity": {"min": 5, "max": 10}}, "HW", 5, {}, None),
    ({"quantity": {"min": 5, "max": 10}}, "HW", 10, {}, None),
    ({"quantity": {"min": 5}}, "HW", 4, {}, "quantity 4 is below 5"),
    ({"quantity": {"max": 10}}, "HW", 11, {}, "quantity 11 is above 10"),
    ({"charge": ["one_time"]}, "MON", 1, {}, "charge monthly is not one_time"),
    ({"products": ["HW"], "charge": ["monthly", "one_time"]}, "HW", 1, {}, None),
    ({"customer": ["acme"]}, "HW", 1, {}, "no customer given (needs acme)"),
    ({"currency": ["EUR", "GBP"]}, "HW", 1, {}, "currency USD is not EUR, GBP"),
])
def test_line_and_quote_conditions_say_why_they_do_not_hold(when, product, quantity, values, reason):
    line = only(price(rule_set(pct("r", 10, when=when)), BOOK, item(BOOK, product, quantity, values=values)))
    assert outcomes(line.considered) == {"r": (True, "applied: -10%") if reason is None else (False, reason)}


# validity windows ----------------------------------------------------------------------------

MARCH = {"from": "2026-03-01", "until": "2026-03-31"}
DATED = rule_set(pct("march", 10, when={"valid": MARCH}),
                 pct("promo", 20, when={"promo_code": "MARCH"}),
                 promotions=[{"code": "MARCH", "description": "March promo", "valid": MARCH}])


@pytest.mark.parametrize("day, reason", [
    (date(2026, 2, 28), "not valid before 2026-03-01"),
    (date(2026, 3, 1), None),
    (date(2026, 3, 31), None),
    (date(2026, 4, 1), "expired on 2026-03-31"),
])
def test_rules_and_promotions_apply_only_inside_their_window(day, reason):
    result = price(DATED, BOOK, item(BOOK, "HW"), day=day, promo_codes=("MARCH",))
    line = only(result)
    reasons = outcomes(line.considered)
    if reason is None:
        assert reasons == {"march": (True, "applied: -10%"), "promo": (True, "applied: -20%")}
        assert outcomes(result.promotions) == {"MARCH": (True, "accepted: March promo")}
        assert line.net_total == D("70.00")
    else:
        assert reasons == {"march": (False, reason), "promo": (False, "promo code MARCH not applied")}
        assert outcomes(result.promotions) == {"MARCH": (False, reason)}
        assert line.net_total == line.list_total


# volume tiers ----------------------------------------------------------------------------------

VOLUME_BOOK = book({"V": "10.00"})
TIERS = {
    "all_units": [{"from": 5, "discount_percent": 10}, {"from": 10, "price": {"USD": "7.00"}},
                  {"from": 20, "discount_percent": 40}],
    "graduated": [{"from": 1, "discount_percent": 0}, {"from": 5, "price": {"USD": "8.00"}},
                  {"from": 10, "discount_percent": 25}, {"from": 20, "price": {"USD": "5.00"}}],
    "block": [{"from": 1, "price": {"USD": "10.00"}}, {"from": 5, "price": {"USD": "35.00"}},
              {"from": 10, "price": {"USD": "60.00"}}, {"from": 20, "price": {"USD": "100.00"}}],
}


def tier_unit_price(tier: dict) -> Decimal:
    return tier["price"]["USD"] if "price" in tier else D(10) * (100 - D(tier["discount_percent"])) / 100


def expected_volume_net(mode: str, quantity: int) -> Decimal:
    """An independent oracle: the tier each quantity reaches, unit by unit for graduated."""
    tiers = TIERS[mode]
    reached = [t for t in tiers if t["from"] <= quantity]
    if not reached:
        return D(10) * quantity
    if mode == "all_units":
        return D(tier_unit_price(reached[-1])) * quantity
    if mode == "block":
        return D(reached[-1]["price"]["USD"])
    return sum((D(tier_unit_price([t for t in tiers if t["from"] <= unit][-1]))
                for unit in range(1, quantity + 1)), Decimal(0))


def boundary_quantities(mode: str) -> list[int]:
    starts = [t["from"] for t in TIERS[mode]]
    return sorted({q for s in starts for q in (s - 1, s, s + 1) if q >= 1} | {1000})


@pytest.mark.parametrize("mode, quantity",
                         [(mode, q) for mode in TIERS for q in boundary_quantities(mode)])
def test_volume_tiers_at_every_boundary(mode, quantity):
    rs = rule_set({"id": "vol", "volume": {"mode": mode, "tiers": TIERS[mode]}})
    line = only(price(rs, VOLUME_BOOK, item(VOLUME_BOOK, "V", quantity)))
    assert line.net_total == expected_volume_net(mode, quantity)


@pytest.mark.parametrize("mode, net", [("all_units", "6000.00"),      # top tier: 40% off every unit
                                       ("graduated", "5060.00"),      # 4x10 + 5x8 + 10x7.50 + 981x5
                                       ("block", "100.00")])          # the top band's fee
def test_far_above_the_top_tier_the_top_tier_holds_not_the_list_price(mode, net):
    rs = rule_set({"id": "vol", "volume": {"mode": mode, "tiers": TIERS[mode]}})
    line = only(price(rs, VOLUME_BOOK, item(VOLUME_BOOK, "V", 1000)))
    assert line.list_total == D("10000.00") and line.net_total == D(net)


def test_below_the_first_all_units_tier_the_rule_says_why():
    rs = rule_set({"id": "vol", "volume": {"mode": "all_units", "tiers": TIERS["all_units"]}})
    line = only(price(rs, VOLUME_BOOK, item(VOLUME_BOOK, "V", 4)))
    assert outcomes(line.considered) == {"vol": (False, "quantity 4 is below the first tier (5)")}
    assert line.net_total == D("40.00")


# rounding per currency ---------------------------------------------------------------------------

CURRENCIES = [("JPY", "1005", "5", "251", "3"),          # currency, price, small price, quarter net, half-up net
              ("USD", "10.05", "0.05", "2.51", "0.03"),
              ("KWD", "1.005", "0.005", "0.251", "0.003")]
TWO_HALVES = rule_set(pct("half-a", 50, "compounding", priority=1), pct("half-b", 50, "compounding", priority=2))


@pytest.mark.parametrize("code, unit, small, quarter, _", CURRENCIES)
def test_each_line_is_rounded_once(code, unit, small, quarter, _):
    pb = book({"P": unit}, currency=code)
    line = only(price(TWO_HALVES, pb, item(pb, "P")))
    # exact: unit / 4 ends in ...25; rounding after each half would give one minor unit more
    assert line.net_total == D(quarter)
    assert line.net_total.as_tuple().exponent == -pb.currency.minor_units
    for step, exact in zip(line.steps, (D(unit) / 2, D(unit) / 4)):
        assert abs(step.amount - exact) < pb.currency.quantum


@pytest.mark.parametrize("code, _, small, __, half_up", CURRENCIES)
def test_rounding_is_half_up_and_totals_are_the_sum_of_rounded_lines(code, _, small, __, half_up):
    pb = book({"P": small}, currency=code)
    lines = [item(pb, "P", id=f"l{i}") for i in range(3)]
    result = price(rule_set(pct("half", 50)), pb, *lines)
    assert [line.net_total for line in result.lines] == [D(half_up)] * 3       # .5 of a unit rounds up
    # the total is the sum of the rounded lines, not the exact sum rounded (which is 1 unit less)
    assert result.totals.one_time_net == 3 * D(half_up)
    assert result.totals.contract_value == 3 * D(half_up)


@pytest.mark.parametrize("code, _, __, ___, ____", CURRENCIES)
def test_a_header_discount_is_rounded_once_and_split_exactly(code, _, __, ___, ____):
    pb = book({"A": "7", "B": "11", "C": "13"}, currency=code)
    result = price(rule_set(), pb, *(item(pb, p) for p in "ABC"),
                   discount=ManualDiscount(percent=D("33.33")))
    (header,) = result.quote_steps
    assert header.amount == pb.currency.round(D(31) * D("33.33") / 100)
    shares = [line.steps[0].amount for line in result.lines]
    assert sum(shares) == header.amount
    for line, share in zip(result.lines, shares):
        assert abs(share - line.list_total * header.amount / 31) < pb.currency.quantum


@pytest.mark.parametrize("code, amount, minor", [("JPY", "100.5", 0), ("USD", "9.999", 2),
                                                 ("KWD", "1.0005", 3)])
def test_amounts_finer_than_the_minor_unit_are_rejected_with_their_path(code, amount, minor):
    with pytest.raises(DocumentValidationError) as caught:
        book({"P": {"price": amount}}, currency=code)
    [error] = caught.value.errors
    assert (error.path, error.reason) == ("products.P.price",
                                          f"{amount} has more decimals than {code} allows ({minor})")
    with pytest.raises(DocumentValidationError) as caught:
        rule_set({"id": "off", "discount_amount": {code: amount}})
    [error] = caught.value.errors
    assert (error.path, error.reason) == (f"rules[0].discount_amount.{code}",
                                          f"{amount} has more decimals than {code} allows ({minor})")


def test_a_fractional_component_quantity_keeps_list_prices_in_minor_units():
    # regression: 2.5 m at 0.99 gave a list price of 12.475 USD and a waterfall that did not add up
    pb = book({"CABLED": "10.00"}, components={"CBL-M": "0.99"})
    list_price = pb.list_price("CABLED", bom_parts={"CBL-M": D("2.5")})       # 2.5 m of cable
    line = LineInput("1", "CABLED", D(1), list_price)
    result = price_quote(rule_set(pct("ten", 10)), pb, QuoteInput("USD", DAY), [line])
    assert_reconciles(only(result), pb)


# promo codes -------------------------------------------------------------------------------------

PROMOS = rule_set(
    *(pct(code.lower(), 10, when={"promo_code": code})
      for code in ("LIMITED", "ONCE", "BIGSPEND", "EUROONLY", "HWONLY")),
    promotions=[{"code": "LIMITED", "description": "Limited", "usage_limit": 5},
                {"code": "ONCE", "description": "Once each", "per_customer_limit": 1},
                {"code": "BIGSPEND", "description": "Big spend", "products": ["HW"],
                 "min_spend": {"USD": "1000.00"}},
                {"code": "EUROONLY", "description": "Euro spend", "min_spend": {"EUR": 100}},
                {"code": "HWONLY", "description": "Hardware only", "products": ["HW"]}])


@pytest.mark.parametrize("code, quote, lines, reason", [
    ("NOPE", {}, {"HW": 1}, "unknown promo code"),
    ("LIMITED", {"promo_usage": {"LIMITED": (5, 0)}}, {"HW": 1}, "usage limit reached (5 of 5 used)"),
    ("LIMITED", {"promo_usage": {"LIMITED": (4, 0)}}, {"HW": 1}, None),
    ("ONCE", {"customer": "acme", "promo_usage": {"ONCE": (9, 1)}}, {"HW": 1},
     "this customer has used it 1 times (limit 1)"),
    ("ONCE", {}, {"HW": 1}, "limited per customer: the quote needs a customer"),
    ("ONCE", {"customer": "acme", "promo_usage": {"ONCE": (9, 0)}}, {"HW": 1}, None),
    ("BIGSPEND", {}, {"HW": 9, "SW": 100}, "minimum spend 1000.00 not reached (900.00)"),  # SW not eligible
    ("BIGSPEND", {}, {"HW": 10}, None),
    ("EUROONLY", {}, {"HW": 1}, "no minimum spend in USD"),
    ("HWONLY", {}, {"SW": 3}, "no eligible product on the quote"),
])
def test_promo_code_checks(code, quote, lines, reason):
    result = price(PROMOS, BOOK, *(item(BOOK, p, q) for p, q in lines.items()),
                   promo_codes=(code,), **quote)
    accepted, why = outcomes(result.promotions)[code]
    assert accepted is (reason is None)
    assert why == (reason or f"accepted: {PROMOS.promotions[code].description}")
    rule_outcomes = outcomes(by_id(result)[next(iter(lines))].considered)
    if code.lower() in rule_outcomes:
        assert rule_outcomes[code.lower()] == ((True, "applied: -10%") if reason is None
                                              else (False, f"promo code {code} not applied"))


def test_codes_are_normalised_and_rules_using_them_touch_only_eligible_products():
    result = price(PROMOS, BOOK, item(BOOK, "HW"), item(BOOK, "SW"), promo_codes=(" hwonly ", "HWONLY"))
    assert outcomes(result.promotions) == {"HWONLY": (True, "accepted: Hardware only")}
    lines = by_id(result)
    assert lines["HW"].net_total == D("90.00")
    assert "hwonly" not in outcomes(lines["SW"].considered)       # not even considered for SW
    assert lines["SW"].net_total == D("50.00")


# floors --------------------------------------------------------------------------------------

DEEP = pct("deep", 60, when={"products": ["HW", "NOCOST", "SW"]})
COST_FLOOR = {"id": "cost-floor", "when": {"products": ["HW", "NOCOST"]}, "floor": {"cost_plus_percent": 20}}
FIXED_FLOOR = {"id": "fixed-floor", "when": {"products": ["SW"]}, "floor": {"price": {"USD": "35.00"}}}
FLOORS = rule_set(DEEP, COST_FLOOR, FIXED_FLOOR)


@pytest.mark.parametrize("product, net, floor_rule, label", [
    ("HW", "120.00", "cost-floor", "applied: raised to the floor at cost + 20%"),   # cost 50 + 20%
    ("SW", "70.00", "fixed-floor", "applied: raised to the floor USD 35.00"),
])
def test_floors_take_back_discounts(product, net, floor_rule, label):
    line = only(price(FLOORS, BOOK, item(BOOK, product, 2)))
    assert line.net_total == D(net)
    assert [s.kind for s in line.steps] == ["rule", "floor"] and line.steps[1].amount < 0
    assert outcomes(line.considered)[floor_rule] == (True, label)


def test_a_floor_needs_a_cost_and_is_skipped_when_the_price_is_above_it():
    no_cost = only(price(FLOORS, BOOK, item(BOOK, "NOCOST")))
    assert outcomes(no_cost.considered)["cost-floor"] == (False, "the price book has no cost for this line")
    assert no_cost.net_total == D("40.00")
    mild = only(price(rule_set(pct("mild", 10), COST_FLOOR), BOOK, item(BOOK, "HW")))
    assert outcomes(mild.considered)["cost-floor"] == (False, "the price is above this floor")
    assert mild.net_total == D("90.00")


def test_the_highest_floor_wins():
    higher = {"id": "higher", "when": {"products": ["HW"]}, "floor": {"price": {"USD": "65.00"}}}
    line = only(price(rule_set(DEEP, COST_FLOOR, higher), BOOK, item(BOOK, "HW")))
    assert line.net_total == D("65.00")
    assert outcomes(line.considered)["cost-floor"] == (False, "a higher floor applies (higher)")


@pytest.mark.parametrize("discount", [None, pct("ten", 10)])
def test_a_floor_above_list_never_raises_the_price_above_list(discount):
    high = {"id": "high", "floor": {"price": {"USD": "150.00"}}}
    rs = rule_set(high, *([discount] if discount else []))
    line = only(price(rs, BOOK, item(BOOK, "HW", 2)))
    assert line.net_total == line.list_total == D("200.00")


def test_a_floor_takes_back_a_manual_discount_too():
    line = only(price(rule_set(COST_FLOOR), BOOK,
                      item(BOOK, "HW", discount=ManualDiscount(percent=D(50)))))
    assert steps(line) == [("manual", None, D("50.00")), ("floor", "cost-floor", D("-10.00"))]
    assert line.net_total == D("60.00")


@pytest.mark.parametrize("header", [ManualDiscount(percent=D(50)), ManualDiscount(amount=D(500))])
def test_header_discounts_never_push_a_line_below_its_floor(header):
    rs = rule_set(pct("thirty", 30, when={"products": ["HW"]}), COST_FLOOR)
    result = price(rs, BOOK, item(BOOK, "HW"), item(BOOK, "SW", 2), discount=header)
    lines = by_id(result)
    assert lines["HW"].net_total == D("60.00")                  # 70.00 less at most 10.00
    assert lines["SW"].net_total < D("100.00")                  # the line without a floor pays
    (step,) = result.quote_steps
    assert step.amount == sum(s.amount for line in result.lines for s in line.steps
                              if s.kind == "quote_manual")


def test_quote_rules_never_push_a_line_below_its_floor():
    big = {"id": "big", "target": "quote", "discount_percent": 90}
    result = price(rule_set(big, COST_FLOOR), BOOK, item(BOOK, "HW"))
    assert only(result).net_total == D("60.00")
    assert result.quote_steps[0].amount == D("40.00")


# free items, bundles, surcharges, set prices ------------------------------------------------------

@pytest.mark.parametrize("quantity, free", [(9, 0), (10, 1), (19, 1), (25, 2)])
def test_free_items_per_n_units(quantity, free):
    rs = rule_set({"id": "gift", "when": {"products": ["HW"]},
                   "free_item": {"product": "GIFT", "quantity": 1, "per": 10}})
    result = price(rs, BOOK, item(BOOK, "HW", quantity))
    lines = by_id(result)
    if not free:
        assert list(lines) == ["HW"]
        assert outcomes(lines["HW"].considered) == {"gift": (False, "quantity is below 10")}
        return
    gift = lines["HW/gift"]
    assert (gift.product, gift.quantity, gift.free_of) == ("GIFT", free, "HW")
    assert gift.net_total == D("0.00") and steps(gift) == [("free", "gift", D(12) * free)]
    assert outcomes(lines["HW"].considered)["gift"] == (True, "applied: 1 x GIFT free per 10")
    assert lines["HW"].net_total == lines["HW"].list_total       # the earning line is not discounted


def test_a_free_item_without_per_is_given_once():
    rs = rule_set({"id": "gift", "free_item": {"product": "GIFT", "quantity": 2}, "when": {"products": ["HW"]}})
    gift = by_id(price(rs, BOOK, item(BOOK, "HW", 7)))["HW/gift"]
    assert gift.quantity == 2 and gift.list_total == D("24.00") and gift.net_total == 0


def test_a_free_item_missing_from_the_price_book_names_the_rule():
    rs = rule_set({"id": "gift", "free_item": {"product": "UNPRICED"}})
    with pytest.raises(PricingError) as caught:
        price(rs, BOOK, item(BOOK, "HW"))
    assert caught.value.field == "rules.gift.free_item.product"


@pytest.mark.parametrize("lines, applies", [
    ({"MON": 1}, False), ({"MON": 1, "HW": 1}, False), ({"MON": 1, "HW": 2}, True),
])
def test_bundles_need_the_other_products_in_the_quote(lines, applies):
    rs = rule_set(pct("bundle", 50, "compounding", when={"products": ["MON"], "with_products": {"HW": 2}}))
    mon = by_id(price(rs, BOOK, *(item(BOOK, p, q) for p, q in lines.items())))["MON"]
    if applies:
        assert mon.net_total == D("10.00")
    else:
        have = lines.get("HW", 0)
        assert outcomes(mon.considered) == {"bundle": (False, f"the quote needs 2 x HW (has {have})")}


def test_bundle_quantities_add_up_over_lines():
    rs = rule_set(pct("bundle", 50, when={"products": ["MON"], "with_products": {"HW": 2}}))
    result = price(rs, BOOK, item(BOOK, "MON"), item(BOOK, "HW", id="h1"), item(BOOK, "HW", id="h2"))
    assert by_id(result)["MON"].net_total == D("10.00")


@pytest.mark.parametrize("action, net", [
    ({"surcharge_percent": 10}, "330.00"),
    ({"surcharge_amount": {"USD": 5}}, "315.00"),
    ({"set_price": {"USD": 80}}, "240.00"),
    ({"set_price": {"USD": 120}}, "360.00"),
])
def test_surcharges_and_set_prices(action, net):
    line = only(price(rule_set({"id": "r", **action}), BOOK, item(BOOK, "HW", 3)))
    assert line.net_total == D(net)
    assert steps(line) == [("rule", "r", line.list_total - D(net))]


# quote-level rules and header discounts -----------------------------------------------------------

LARGE_DEAL = {"id": "large", "target": "quote", "discount_percent": 5,
              "when": {"quote_total": {"min": {"USD": "1000.00"}}}}


@pytest.mark.parametrize("quantity, applies", [(9, False), (10, True)])
def test_quote_rules_test_the_quote_list_total(quantity, applies):
    result = price(rule_set(LARGE_DEAL), BOOK, item(BOOK, "HW", quantity))
    if applies:
        assert result.quote_steps[0].amount == D("50.00") and only(result).net_total == D("950.00")
        assert [s.kind for s in only(result).steps] == ["quote_rule"]
    else:
        assert outcomes(result.quote_considered) == {
            "large": (False, "quote list total 900.00 is below 1000.00")}
        assert result.quote_steps == ()


def test_a_quote_rule_without_a_threshold_in_the_currency_does_not_apply():
    euro = {**LARGE_DEAL, "when": {"quote_total": {"min": {"EUR": "1.00"}}}}
    result = price(rule_set(euro), BOOK, item(BOOK, "HW", 50))
    assert outcomes(result.quote_considered) == {"large": (False, "no quote list total threshold in USD")}


def test_a_percent_header_discount_spreads_over_all_lines_by_their_net():
    result = price(rule_set(), BOOK, item(BOOK, "HW", 3), item(BOOK, "MON", 5),
                   discount=ManualDiscount(percent=D(10)))
    lines = by_id(result)
    assert steps(lines["HW"]) == [("quote_manual", None, D("30.00"))]
    assert steps(lines["MON"]) == [("quote_manual", None, D("10.00"))]     # per period
    assert result.quote_steps[0].label == "header manual discount 10%"


@pytest.mark.parametrize("discount", [ManualDiscount(amount=D(100)),
                                      {"id": "fixed", "target": "quote", "discount_amount": {"USD": 100}}])
def test_fixed_quote_discounts_spread_over_one_time_lines_only(discount):
    rs = rule_set(*([discount] if isinstance(discount, dict) else []))
    header = discount if isinstance(discount, ManualDiscount) else None
    result = price(rs, BOOK, item(BOOK, "HW", 1, id="a"), item(BOOK, "SW", 4, id="b"),
                   item(BOOK, "HW", 4, id="c"), item(BOOK, "MON", 50, id="m"), discount=header)
    lines = by_id(result)
    assert lines["m"].steps == ()                                  # a monthly fee keeps its price
    shares = [lines[i].steps[0].amount for i in "abc"]             # nets 100, 200, 400
    assert shares == [D("14.29"), D("28.57"), D("57.14")] and sum(shares) == D(100)


@pytest.mark.parametrize("order", ["abc", "cab", "bca"])
def test_allocation_ties_go_by_line_id_not_by_input_order(order):
    result = price(rule_set(), BOOK, *(item(BOOK, "HW", id=i) for i in order),
                   discount=ManualDiscount(amount=D(100)))
    shares = {line.id: line.steps[0].amount for line in result.lines}
    assert shares == {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}


def test_a_fixed_header_discount_is_limited_to_the_one_time_lines():
    result = price(rule_set(), BOOK, item(BOOK, "SW"), item(BOOK, "MON", 10),
                   discount=ManualDiscount(amount=D(500)))
    assert result.quote_steps[0].amount == D("50.00")
    assert by_id(result)["SW"].net_total == D("0.00")


# recurring lines and totals ------------------------------------------------------------------------

@pytest.mark.parametrize("product, term, periods", [
    ("MON", None, 12), ("MON", 7, 7), ("QTR", None, 4), ("QTR", 24, 8), ("ANN", None, 3), ("ANN", 24, 2),
])
def test_recurring_lines_count_the_periods_in_their_term(product, term, periods):
    line = only(price(rule_set(), BOOK, item(BOOK, product, term_months=term)))
    assert line.periods == periods
    assert line.contract_value == line.net_total * periods


@pytest.mark.parametrize("product, term, months", [("ANN", 18, 12), ("QTR", 10, 3)])
def test_a_term_that_is_not_whole_periods_is_an_error(product, term, months):
    with pytest.raises(PricingError) as caught:
        price(rule_set(), BOOK, item(BOOK, "HW"), item(BOOK, product, term_months=term))
    assert caught.value.field == "lines[1].term_months"
    assert f"whole periods of {months} months" in caught.value.reason


def test_totals_one_time_recurring_contract_value_and_margin():
    result = price(rule_set(), BOOK, item(BOOK, "HW", 2, discount=ManualDiscount(percent=D(10))),
                   item(BOOK, "MON", 3), item(BOOK, "ANN"))
    t = result.totals
    assert (t.one_time_list, t.one_time_net) == (D("200.00"), D("180.00"))
    assert t.recurring == {"monthly": D("60.00"), "annual": D("1200.00")}
    assert t.list_contract_value == D("200.00") + 12 * D("60.00") + 3 * D("1200.00")
    assert t.contract_value == D("4500.00")
    assert t.cost == 2 * D(50) + 12 * 3 * D(5) + 3 * D(400)          # recurring cost per period
    assert t.margin == D("4500.00") - t.cost == D("3020.00")
    assert t.margin_percent == D("67.11") and t.discount_percent == D("0.44")


def test_margin_is_unknown_when_a_line_has_no_cost():
    t = price(rule_set(), BOOK, item(BOOK, "HW"), item(BOOK, "NOCOST")).totals
    assert (t.cost, t.margin, t.margin_percent) == (None, None, None)


def test_a_quote_in_another_currency_than_the_book_is_refused():
    with pytest.raises(PricingError) as caught:
        price_quote(rule_set(), BOOK, QuoteInput("EUR", DAY), [item(BOOK, "HW")])
    assert caught.value.field == "currency"


# approvals ------------------------------------------------------------------------------------------

APPROVAL_BOOK = book({"HW": {"price": "100.00", "cost": "50.00"},
                      "THIN": {"price": "100.00", "cost": "90.00"},
                      "NOCOST": {"price": "100.00"},
                      "GPU": {"price": "1000.00", "cost": "500.00"}})
APPROVAL_BOOK_EUR = book(APPROVAL_BOOK.source["products"], currency="EUR")
POLICY = rule_set(
    pct("gold", 20, when={"customer_tier": ["gold"]}),
    pct("platinum", 35, when={"customer_tier": ["platinum"]}),
    standard_payment_terms=["net30", "net45"],
    approvals={
        "levels": [{"id": "sales_manager", "label": "Sales manager", "stage": 1},
                   {"id": "finance", "label": "Finance", "stage": 2},
                   {"id": "legal", "label": "Legal", "stage": 2},
                   {"id": "deal_desk", "label": "Deal desk", "stage": 3}],
        "rules": [
            {"id": "over-15", "when": {"line_discount_percent": {"above": 15}}, "require": ["sales_manager"]},
            {"id": "over-30", "when": {"line_discount_percent": {"above": 30}},
             "require": ["sales_manager", "deal_desk"]},
            {"id": "low-margin", "when": {"margin_percent": {"below": 20}}, "require": ["finance"]},
            {"id": "big-deal", "when": {"deal_value": {"above": {"USD": "10000.00", "EUR": "9000.00"}}},
             "require": ["deal_desk"]},
            {"id": "terms", "when": {"payment_terms": "non_standard"}, "require": ["finance"]},
            {"id": "gpu", "when": {"products": ["GPU"]}, "require": ["legal"]},
            {"id": "rep", "when": {"manual_discount": True, "line_discount_percent": {"above": 5}},
             "require": ["sales_manager"]},
        ]})


def approvals(result: QuotePrice) -> list[tuple]:
    return [(a.level, a.stage, [(r.rule, r.detail) for r in a.reasons]) for a in result.approvals]


def approve(*specs: tuple, pb: PriceBook = APPROVAL_BOOK, **quote) -> list[tuple]:
    """Price (product, quantity[, manual discount]) lines under POLICY; the approvals."""
    lines = [item(pb, product, quantity, discount=discount[0] if discount else None)
             for product, quantity, *discount in specs]
    return approvals(price(POLICY, pb, *lines, **quote))


def test_a_list_price_quote_needs_no_approval():
    assert approve(("HW", 3), payment_terms="net30") == []


def test_an_empty_quote_needs_no_approval():
    """Issue 19: a new quote with no lines asked for finance (its margin, 0 of 0, read as 0%,
    below 20%): it sells nothing yet, so nothing needs approving."""
    assert approve() == []
    assert approve(payment_terms="net90") == []


def test_the_waterfall_says_how_a_lines_discounts_stack():
    """Issue 19: "line discount 26.40%" came with the 8% tier and the 20% manual discount
    unexplained."""
    rs = rule_set(pct("volume", 8, stacking="best_of", description="volume tier"),
                  pct("gold", 5, description="gold customer", when={"customer_tier": ["gold"]}))
    line = only(price(rs, BOOK, item(BOOK, "HW", 10, discount=ManualDiscount(percent=D(20)))))
    assert explain(line.list_total, [(s.label, s.amount) for s in line.steps]) == (
        "volume tier: 8%, then manual discount 20%: 20% of the remainder = 26.40% line discount")
    gold = only(price(rs, BOOK, item(BOOK, "HW", 10), tier="gold"))
    assert explain(gold.list_total, [(s.label, s.amount) for s in gold.steps]) == (
        "volume tier: 8%, then gold customer: 5% of the remainder = 12.60% line discount")
    plain = only(price(rule_set(), BOOK, item(BOOK, "HW", 1)))
    assert explain(plain.list_total, [(s.label, s.amount) for s in plain.steps]) is None


def test_line_discounts_above_the_thresholds():
    assert approve(("HW", 1), tier="gold") == [
        ("sales_manager", 1, [("over-15", "line discount 20.00% is above 15%")])]
    assert approve(("HW", 1), tier="platinum") == [
        ("sales_manager", 1, [("over-15", "line discount 35.00% is above 15%"),
                              ("over-30", "line discount 35.00% is above 30%")]),
        ("deal_desk", 3, [("over-30", "line discount 35.00% is above 30%")])]


def test_margin_below_the_threshold_and_unknown_margin():
    assert approve(("THIN", 1)) == [("finance", 2, [("low-margin", "margin 10.00% is below 20%")])]
    assert approve(("HW", 1), ("NOCOST", 1)) == [
        ("finance", 2, [("low-margin", "margin cannot be computed (the price book lacks costs)")])]


@pytest.mark.parametrize("pb, quantity, detail", [
    (APPROVAL_BOOK, 100, None),                                              # exactly 10000: not above
    (APPROVAL_BOOK, 101, "deal value 10100.00 USD is above 10000.00 USD"),
    (APPROVAL_BOOK_EUR, 90, None),
    (APPROVAL_BOOK_EUR, 91, "deal value 9100.00 EUR is above 9000.00 EUR"),
])
def test_deal_value_thresholds_per_currency(pb, quantity, detail):
    expected = [("deal_desk", 3, [("big-deal", detail)])] if detail else []
    assert approve(("HW", quantity), pb=pb) == expected


def test_a_deal_value_threshold_without_the_quotes_currency_does_not_fire():
    # regression: it fired on every GBP quote, with the reason "deal value 100.00 GBP is "
    gbp = book({"HW": {"price": "100.00", "cost": "50.00"}}, currency="GBP")
    assert approve(("HW", 1), pb=gbp) == []


@pytest.mark.parametrize("terms, needed", [(None, False), ("net30", False), ("net45", False), ("net90", True)])
def test_non_standard_payment_terms(terms, needed):
    expected = [("finance", 2, [("terms", "payment terms net90 are not standard (net30, net45)")])]
    assert approve(("HW", 1), payment_terms=terms) == (expected if needed else [])


def test_products_that_need_an_approval():
    assert approve(("HW", 1), ("GPU", 1)) == [("legal", 2, [("gpu", "the quote holds GPU")])]


@pytest.mark.parametrize("line, header", [
    (ManualDiscount(percent=D(10)), None),
    (None, ManualDiscount(amount=D(10))),
])
def test_manual_discounts_are_reviewed(line, header):
    assert approve(("HW", 1, line), discount=header) == [
        ("sales_manager", 1, [("rep", "line discount 10.00% is above 5%; a manual discount is given")])]


def test_a_small_manual_discount_needs_no_review():
    assert approve(("HW", 1, ManualDiscount(percent=D(5)))) == []


def test_quote_facts_and_the_quote_discount_as_approval_conditions():
    rs = rule_set(approvals={"levels": [{"id": "key_accounts", "stage": 1}], "rules": [
        {"id": "enterprise", "when": {"customer_segment": ["enterprise"], "quote_discount_percent": {"above": 5}},
         "require": ["key_accounts"]}]})
    header = ManualDiscount(percent=D(10))
    result = price(rs, APPROVAL_BOOK, item(APPROVAL_BOOK, "HW"), segment="enterprise", discount=header)
    assert approvals(result) == [("key_accounts", 1, [
        ("enterprise", "customer segment is enterprise; quote discount 10.00% is above 5%")])]
    assert approvals(price(rs, APPROVAL_BOOK, item(APPROVAL_BOOK, "HW"), segment="smb", discount=header)) == []
    assert approvals(price(rs, APPROVAL_BOOK, item(APPROVAL_BOOK, "HW"), segment="enterprise")) == []


def test_required_levels_are_ordered_by_stage_and_collect_every_reason():
    result = approve(("GPU", 20), ("THIN", 20), tier="platinum", payment_terms="cod")
    assert [(level, stage) for level, stage, _ in result] == [
        ("sales_manager", 1), ("finance", 2), ("legal", 2), ("deal_desk", 3)]
    reasons = {level: [rule for rule, _ in rs] for level, _, rs in result}
    assert reasons["finance"] == ["low-margin", "terms"]
    assert reasons["deal_desk"] == ["over-30", "big-deal"]


# a contract's price (amendments, renewals) ---------------------------------------------------

def test_a_line_at_its_contract_price_skips_rules_floors_and_quote_discounts():
    """An amendment keeps what the contract agreed: 12 seats at the contracted 16.00 are 192.00
    whatever the rules say now (40 % for a gold customer), and the header discount falls on
    the other lines only."""
    rs = rule_set(TIER_40)
    kept = item(BOOK, "MON", 12, id="kept", contract_price=D("192.00"))
    result = price(rs, BOOK, kept, item(BOOK, "MON", 1, id="new"), customer="C", tier="gold",
                   discount=ManualDiscount(percent=D(10)))
    lines = by_id(result)
    assert lines["kept"].net_total == D("192.00") and steps(lines["kept"]) == [("contract", None, D("48.00"))]
    assert lines["new"].net_total == D("10.80")                  # 20.00 less 40 %, less the 10 % header discount
    assert result.quote_steps[0].amount == D("1.20")
