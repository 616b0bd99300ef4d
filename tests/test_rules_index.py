"""The rule index (rules/index.py) against the plain path that tests every candidate rule's
conditions on every line (price_quote(plain=True)): the same waterfalls, outcomes and reasons,
totals and approvals, on the benchmark's generated rule sets and on random small ones.

Results are compared with == and by repr, so that Decimal exponents (2.50 vs 2.5) match too.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import pricing as bench
from bench import pricing_generate as generated
from catalog.pricebook import load_price_book_dict
from rules.actions import LineBasis
from rules.engine import price_quote
from rules.loader import load_rule_set_dict
from rules.results import LineInput, ManualDiscount, QuoteInput


def assert_same(rule_set, book, quote, lines):
    indexed = price_quote(rule_set, book, quote, lines)
    plain = price_quote(rule_set, book, quote, lines, plain=True)
    assert indexed == plain
    assert repr(indexed) == repr(plain)
    return indexed


# the benchmark's rule sets -----------------------------------------------------------------

def other_quotes(book):
    """The benchmark's quote, another customer in another channel, and one with no facts."""
    day = bench.pc.DAY
    return [bench.quote_input(book),
            QuoteInput("USD", day, "CUST-0007", "public", "silver", "online", ("SUMMER26", "CFGPROMO"), "net30",
                       ManualDiscount(amount=Decimal("500.00"))),
            QuoteInput("USD", day)]


@pytest.mark.parametrize("seed", [1, 2, generated.SEED])
@pytest.mark.parametrize("n_rules", [50, 2000])
def test_generated_quotes_price_the_same_through_the_index(seed, n_rules):
    g = generated.generate(seed, n_rules)
    rule_set, book = load_rule_set_dict(g.rule_set), load_price_book_dict(g.price_book)
    lines = bench.build_lines(book, generated.quote_lines(g.catalog, 300, seed))
    for quote in other_quotes(book):
        result = assert_same(rule_set, book, quote, lines)
        assert sum(len(line.considered) for line in result.lines) > len(lines)   # real work


# random small rule sets --------------------------------------------------------------------

PRODUCTS = ("P0", "P1", "P2")
DAY = date(2026, 6, 1)
quantities = st.sampled_from(["1", "2", "5", "5.0", "10", "12", "2.5", "40"]).map(Decimal)
values = st.sampled_from(["s", "m", 1, 2, True, False])


@st.composite
def when(draw, target: str) -> dict:
    out = {}
    if draw(st.booleans()):
        out["customer_tier"] = ["gold"]
    if target == "line":
        if draw(st.booleans()):
            out["products"] = sorted(draw(st.sets(st.sampled_from(PRODUCTS), min_size=1)))
        if draw(st.booleans()):
            out["quantity"] = draw(st.sampled_from([{"min": 5}, {"max": 5}, {"min": 2, "max": 12}]))
        if draw(st.booleans()):
            out["charge"] = [draw(st.sampled_from(["one_time", "monthly"]))]
        if draw(st.booleans()):
            out["attributes"] = draw(st.sampled_from([{"size": ["s"]}, {"size": [1, True]}, {"n": {"min": 2}},
                                                      {"flag": [True]}]))
    return out


line_actions = st.sampled_from([
    {"discount_percent": 10}, {"discount_percent": "33.3"}, {"surcharge_percent": 5},
    {"discount_amount": {"USD": "7.50"}}, {"set_price": {"USD": "55.00"}},
    {"volume": {"mode": "all_units", "tiers": [{"from": 5, "discount_percent": 8}]}},
    {"floor": {"cost_plus_percent": 10}}, {"floor": {"price": {"USD": "60.00"}}},
    {"free_item": {"product": "P2", "quantity": 1, "per": 5}}, {"free_item": {"product": "P1", "quantity": 2}}])
quote_actions = st.sampled_from([{"discount_percent": 5}, {"discount_amount": {"USD": "25.00"}}])


@st.composite
def cases(draw):
    rules = []
    for i in range(draw(st.integers(0, 10))):
        target = draw(st.sampled_from(["line", "line", "line", "quote"]))
        rules.append({"id": f"r{i}", "priority": draw(st.integers(0, 3)), "target": target,
                      "stacking": draw(st.sampled_from(["exclusive", "best_of", "additive", "compounding"])),
                      "when": draw(when(target)), **draw(line_actions if target == "line" else quote_actions)})
    rule_set = load_rule_set_dict({"ruleset": "prop", "version": 1, "rules": rules, "max_line_discount_percent": 40})
    book = load_price_book_dict({"pricebook": "prop", "version": 1, "currency": "USD", "products": {
        "P0": {"price": "100.00", "cost": "50.00"}, "P1": {"price": "80.00"},
        "P2": {"price": "20.00", "cost": "5.00", "charge": "monthly", "term_months": 12}}})
    return rule_set, book, draw(quotes()), draw(line_lists(book))


@st.composite
def line_lists(draw, book) -> list[LineInput]:
    lines = []
    for i in range(draw(st.integers(1, 8))):
        product = draw(st.sampled_from(PRODUCTS))
        chosen = draw(st.dictionaries(st.sampled_from(["size", "n", "flag"]), values, max_size=3))
        lines.append(LineInput(f"l{i}", product, draw(quantities), book.list_price(product), chosen))
    return lines


def quotes():
    return st.builds(QuoteInput, st.just("USD"), st.just(DAY), tier=st.sampled_from([None, "gold"]),
                     discount=st.sampled_from([None, ManualDiscount(percent=Decimal(3))]))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_rule_sets_price_the_same_through_the_index(case):
    assert_same(*case)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.data())
def test_quotes_priced_one_after_another_share_plans_and_price_the_same(case, data):
    """A rule set keeps the plans of quotes with the same quote-level verdicts (RuleSet.plans):
    a quote priced after others on the same set, with the same facts or not, still prices as
    the plain path does."""
    rule_set, book, quote, lines = case
    assert_same(rule_set, book, quote, lines)
    for _ in range(3):
        assert_same(rule_set, book, data.draw(st.sampled_from([quote]) | quotes()), data.draw(line_lists(book)))


def test_a_quantity_and_a_value_read_as_written():
    """Lines of one kind share their rules' outcomes by quantity and values, but 5 and 5.0,
    or true and 1, are told apart: the reasons show them as written."""
    rule_set = load_rule_set_dict({"ruleset": "t", "version": 1, "rules": [
        {"id": "big", "when": {"quantity": {"min": 10}}, "discount_percent": 5},
        {"id": "small", "when": {"attributes": {"size": ["s"]}}, "discount_percent": 5}]})
    book = load_price_book_dict({"pricebook": "t", "version": 1, "currency": "USD",
                                 "products": {"P0": {"price": "10.00"}}})
    lines = [LineInput(f"l{i}", "P0", Decimal(q), book.list_price("P0"), {"size": v})
             for i, (q, v) in enumerate([("5", True), ("5.0", 1), ("5", 1)])]
    result = assert_same(rule_set, book, QuoteInput("USD", DAY), lines)
    reasons = [[o.reason for o in line.considered] for line in result.lines]
    assert reasons == [["quantity 5 is below 10", "size is true, not s"],
                       ["quantity 5.0 is below 10", "size is 1, not s"],
                       ["quantity 5 is below 10", "size is 1, not s"]]


@settings(max_examples=200)
@given(line_actions, st.sampled_from(["USD", "EUR"]), quantities,
       st.sampled_from(["0.00", "10.00", "99.99"]).map(Decimal), st.sampled_from([None, Decimal("5.00")]))
def test_whether_a_price_action_applies_reads_only_the_currency_and_the_quantity(raw, code, qty, unit, cost):
    """rules.stack decides `refusal` and `resolve` once per quantity for the lines of a plan,
    whatever their prices; `discount` is the refusal or else the amount, which the resolved
    term gives to the exponent for any base."""
    rule = load_rule_set_dict({"ruleset": "a", "version": 1, "rules": [{"id": "r", **raw}]}).rules[0]
    action = rule.action
    if not hasattr(action, "refusal"):                    # floors and free items are not price actions
        return
    basis = LineBasis(code, qty, unit, cost)
    other = LineBasis(code, qty, Decimal("1234.56"), None)
    reason = action.refusal(basis)
    assert reason == action.refusal(other)
    base = unit * qty
    assert action.discount(base, basis) == (reason if reason is not None else action.amount(base, basis))
    if reason is None:
        for seen in (basis, other):
            fn, arg = action.resolve(seen)
            for amount in (base, base * Decimal("0.37"), base / 3, Decimal("0.00"), Decimal("7E+1")):
                assert repr(fn(amount, arg)) == repr(action.amount(amount, basis))


# what a rule set keeps between quotes ------------------------------------------------------

KEPT_RULES = {"ruleset": "kept", "version": 1, "max_line_discount_percent": 60, "rules": [
    {"id": "ent", "when": {"customer_segment": ["enterprise"]}, "stacking": "exclusive", "discount_percent": 12},
    {"id": "june", "when": {"valid": {"from": "2026-06-01", "until": "2026-06-30"}}, "discount_percent": 5},
    {"id": "eur", "stacking": "best_of", "discount_amount": {"EUR": "3.00"}},
    {"id": "vol", "stacking": "best_of",
     "volume": {"mode": "all_units", "tiers": [{"from": 5, "discount_percent": 8}]}},
    {"id": "big", "when": {"quantity": {"min": 10}}, "stacking": "compounding", "discount_percent": 4},
    {"id": "large", "when": {"attributes": {"size": ["l"]}}, "stacking": "additive", "discount_percent": 6},
    {"id": "floor", "floor": {"price": {"USD": "70.00", "EUR": "60.00"}}},
    {"id": "cost", "floor": {"cost_plus_percent": 30}},
    {"id": "gift", "when": {"with_products": {"P1": 2}}, "free_item": {"product": "P1", "quantity": 1}}]}


def kept_book(currency: str):
    return load_price_book_dict({"pricebook": f"kept-{currency.lower()}", "version": 1, "currency": currency,
                                 "products": {"P0": {"price": "100.00", "cost": "50.00"},
                                              "P1": {"price": "80.00", "cost": "75.00"}}})


def test_what_a_rule_set_keeps_from_a_quote_never_prices_a_quote_with_other_facts():
    """Plans (RuleSet.plans and quote_plans), floors (RuleSet.floors) and the outcomes rules keep
    (Rule.resolve, check, decided, excluding) are shared between quotes: a quote that differs in
    segment, currency, date, configured attributes or quantities, priced after the others on
    the same rule set, prices as it does on a rule set that kept nothing, and as the plain path."""
    shared = load_rule_set_dict(KEPT_RULES)
    books = {c: kept_book(c) for c in ("USD", "EUR")}
    june, july = date(2026, 6, 15), date(2026, 7, 15)

    def lines(book, size="l", quantities=("5", "12"), p1="2"):
        return [LineInput("a", "P0", Decimal(quantities[0]), book.list_price("P0"), {"size": size}),
                LineInput("b", "P0", Decimal(quantities[1]), book.list_price("P0"), {"size": size}),
                LineInput("c", "P1", Decimal(p1), book.list_price("P1"))]

    cases = [("USD", QuoteInput("USD", june, segment="enterprise"), {}),
             ("USD", QuoteInput("USD", june, segment="smb"), {}),
             ("EUR", QuoteInput("EUR", june, segment="smb"), {}),
             ("USD", QuoteInput("USD", july, segment="smb"), {}),
             ("USD", QuoteInput("USD", july, segment="smb"), {"size": "s"}),
             ("USD", QuoteInput("USD", july, segment="smb"), {"quantities": ("5.0", "12"), "p1": "1"}),
             ("USD", QuoteInput("USD", june, segment="enterprise"), {})]
    seen = []
    for currency, quote, changes in cases:
        book = books[currency]
        quote_lines = lines(book, **changes)
        kept = assert_same(shared, book, quote, quote_lines)
        fresh = price_quote(load_rule_set_dict(KEPT_RULES), book, quote, quote_lines)
        assert kept == fresh and repr(kept) == repr(fresh)
        seen.append(repr([(ln.steps, ln.considered) for ln in kept.lines]))
    assert len(set(seen)) == len(cases) - 1        # every change of facts changes the explanations
    assert seen[0] == seen[-1]
    assert shared.plans and shared.floors           # and the rule set did keep what it decided


VOLATILE_RULES = {"ruleset": "volatile", "version": 1, "rules": [
    {"id": "a-size", "when": {"with_products": {"P1": 2}, "attributes": {"size": ["s"]}}, "discount_percent": 3},
    {"id": "size", "when": {"attributes": {"size": ["s"]}}, "discount_percent": 1},
    {"id": "b-qty", "when": {"with_products": {"P1": 3}, "quantity": {"min": 10}}, "discount_percent": 4},
    {"id": "qty", "when": {"quantity": {"min": 5}}, "stacking": "best_of", "discount_percent": 2},
    {"id": "b-best", "when": {"with_products": {"P1": 2}}, "stacking": "best_of", "discount_percent": 6},
    {"id": "total", "when": {"quote_total": {"min": {"USD": 2000}}}, "stacking": "exclusive",
     "discount_percent": 10},
    {"id": "b-floor", "when": {"with_products": {"P1": 1}}, "floor": {"price": {"USD": "97.00"}}},
    {"id": "b-gift", "when": {"with_products": {"P1": 3}}, "free_item": {"product": "P1", "quantity": 1}}]}


def test_bundles_and_quote_totals_that_hold_on_one_quote_and_fail_on_the_next_share_plans():
    """A plan counts bundles and quote totals (Rule.volatile) as passing, and a quote's view of
    it takes out those that fail there: whichever fail (rules whose line conditions fail too,
    rules tested on each line, best_of offers, exclusive rules, floors, free items), a quote
    priced after the others on the same rule set prices as the plain path does and as on a
    rule set that kept nothing."""
    shared = load_rule_set_dict(VOLATILE_RULES)
    book = load_price_book_dict({"pricebook": "v", "version": 1, "currency": "USD",
                                 "products": {"P0": {"price": "100.00", "cost": "50.00"},
                                              "P1": {"price": "80.00", "cost": "75.00"}}})
    seen = set()
    for p1, size, big in [("3", "m", "12"), ("1", "m", "12"), ("2", "s", "5"), ("3", "s", "12"),
                          ("0", "m", "25"), ("2", "m", "12"), ("3", "s", "1"), ("1", "s", "12")]:
        lines = [LineInput("a", "P0", Decimal("1"), book.list_price("P0"), {"size": size}),
                 LineInput("b", "P0", Decimal(big), book.list_price("P0"), {"size": size})]
        if p1 != "0":
            lines.append(LineInput("c", "P1", Decimal(p1), book.list_price("P1")))
        quote = QuoteInput("USD", DAY)
        kept = assert_same(shared, book, quote, lines)
        fresh = price_quote(load_rule_set_dict(VOLATILE_RULES), book, quote, lines)
        assert repr(kept) == repr(fresh)
        seen.add(repr([ln.considered for ln in kept.lines]))
    assert len(seen) == 8                            # every quote explains its lines its own way
    assert len(shared.plans) < 8                     # and they shared plans


def test_lines_alike_share_a_waterfall_but_not_what_differs_in_writing():
    """Lines of one stacking with the same unit price, cost and manual discount share their
    waterfall (Stacking.alike), on one quote and the next; a discount or a price that is equal
    but written otherwise (10 and 10.0) is another line's, and so is another price book's free item."""
    rule_set = load_rule_set_dict(VOLATILE_RULES)
    books = [load_price_book_dict({"pricebook": "v", "version": 1, "currency": "USD",
                                   "products": {"P0": {"price": price, "cost": "50.00"},
                                                "P1": {"price": gift, "cost": "75.00"}}})
             for price, gift in (("100.00", "80.00"), ("100.0", "81.00"))]
    for book in books + books:
        lines = [LineInput(str(i), "P0", Decimal("12"), book.list_price("P0"), {"size": "s"}, discount=discount)
                 for i, discount in enumerate([None, ManualDiscount(percent=Decimal("10")), None,
                                               ManualDiscount(percent=Decimal("10.0")),
                                               ManualDiscount(percent=Decimal("10"))])]
        lines.append(LineInput("c", "P1", Decimal("3"), book.list_price("P1")))
        result = assert_same(rule_set, book, QuoteInput("USD", DAY), lines)
        assert repr(price_quote(load_rule_set_dict(VOLATILE_RULES), book, QuoteInput("USD", DAY), lines)) == repr(result)
        labels = [step.label for line in result.lines for step in line.steps if step.kind == "manual"]
        assert labels == ["manual discount 10%", "manual discount 10.0%", "manual discount 10%"]


def test_a_bundle_that_fails_leaves_no_outcome_from_its_check_on_the_plan_it_shares():
    """A bundle tested on each line (a quantity condition) fails its check on a quote where it
    holds; on the next quote, through the same plan, the bundle itself fails: the line lists
    the bundle's own reason once, never the check's outcome, and skips no other rule. Guards
    any stacking or check that views of a plan share (rules.index, View)."""
    rules = {"ruleset": "shared", "version": 1, "rules": [
        {"id": "b-qty", "when": {"with_products": {"P1": 3}, "quantity": {"min": 10}}, "discount_percent": 4},
        {"id": "qty", "when": {"quantity": {"min": 5}}, "stacking": "best_of", "discount_percent": 2},
        {"id": "all", "discount_percent": 1}]}
    shared = load_rule_set_dict(rules)
    book = load_price_book_dict({"pricebook": "v", "version": 1, "currency": "USD",
                                 "products": {"P0": {"price": "100.00", "cost": "50.00"},
                                              "P1": {"price": "80.00", "cost": "75.00"}}})
    reasons = []
    for p1 in ("3", "1", "3", "1"):
        lines = [LineInput("a", "P0", Decimal("1"), book.list_price("P0")),
                 LineInput("c", "P1", Decimal(p1), book.list_price("P1"))]
        kept = assert_same(shared, book, QuoteInput("USD", DAY), lines)
        assert repr(price_quote(load_rule_set_dict(rules), book, QuoteInput("USD", DAY), lines)) == repr(kept)
        listed = [o for o in kept.lines[0].considered if o.rule == "b-qty"]
        assert len(listed) == 1
        reasons.append(listed[0].reason)
    assert reasons[0] == reasons[2] != reasons[1] == reasons[3]
    plan, = [plan for (_, kind, _), plan in shared.plans.items() if kind[0] == "P0"]
    assert len(plan._views) == 2                     # the two quotes shared the plan
