"""Property tests of the pricing engine on random price books, rule sets and lines, and of the
money helpers that keep totals exact (core.money.allocate and round_to_total)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_FLOOR, Decimal
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.pricebook import PriceBook, load_price_book_dict
from core.money import ROUNDING, allocate, currency, round_to_total, split_units
from rules.actions import LineBasis, Percent, Tier, Volume
from rules.engine import price_quote
from rules.loader import load_rule_set_dict
from rules.results import LineInput, ManualDiscount, QuoteInput, QuotePrice

DAY = date(2026, 6, 1)
PRODUCTS = ("P0", "P1", "P2", "P3", "P4")
CHARGES = {"one_time": None, "monthly": 12, "quarterly": 24, "annual": 36}
CURRENCIES = ("JPY", "USD", "KWD")
SETTINGS = settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])


# strategies ----------------------------------------------------------------------------------

@cache
def money(code: str, low: int = 1, high: int = 500_000) -> st.SearchStrategy[Decimal]:
    """Amounts exact in the currency's minor units, drawn as integer counts of the quantum."""
    quantum = currency(code).quantum
    return st.integers(low, high).map(lambda n: n * quantum)


quantities = st.sampled_from([1, 2, 3]) | st.integers(1, 40)     # small ones often: equal lines, ties
percents = st.integers(0, 10_000).map(lambda n: Decimal(n).scaleb(-2))       # 0.00 .. 100.00


@st.composite
def price_books(draw) -> PriceBook:
    code = draw(st.sampled_from(CURRENCIES))
    products = {}
    for product in PRODUCTS:
        charge = draw(st.sampled_from(sorted(CHARGES)))
        entry = {"price": str(draw(money(code)))}
        if draw(st.booleans()):
            entry["cost"] = str(draw(money(code, 0)))
        if CHARGES[charge]:
            entry.update(charge=charge, term_months=CHARGES[charge])
        products[product] = entry
    return load_price_book_dict({"pricebook": "prop", "version": 1, "currency": code, "products": products})


@cache
def amounts(code: str) -> st.SearchStrategy[dict]:
    return money(code, 1, 50_000).map(lambda a: {code: str(a)})


@cache
def volume(code: str, raising: bool) -> st.SearchStrategy[dict]:
    mode = st.sampled_from(["all_units", "graduated", "block"] if raising else ["all_units", "graduated"])

    @st.composite
    def build(draw):
        m = draw(mode)
        starts = sorted(draw(st.sets(st.integers(2, 60), max_size=3)))
        starts = [1, *starts] if m != "all_units" or draw(st.booleans()) else starts or [1]
        tiers = []
        for start in starts:
            if m == "block" or (raising and draw(st.booleans())):
                tiers.append({"from": start, "price": draw(amounts(code))})
            else:
                tiers.append({"from": start, "discount_percent": str(draw(percents))})
        return {"mode": m, "tiers": tiers}
    return build()


@cache
def line_action(code: str, raising: bool) -> st.SearchStrategy[dict]:
    lowering = [
        percents.map(lambda p: {"discount_percent": str(p)}),
        amounts(code).map(lambda a: {"discount_amount": a}),
        volume(code, raising).map(lambda v: {"volume": v}),
        st.integers(0, 80).map(lambda p: {"floor": {"cost_plus_percent": p}}),
        amounts(code).map(lambda a: {"floor": {"price": a}}),
        st.tuples(st.sampled_from(PRODUCTS), st.integers(1, 3), st.none() | st.integers(1, 10)).map(
            lambda t: {"free_item": {"product": t[0], "quantity": t[1], **({"per": t[2]} if t[2] else {})}}),
    ]
    if raising:
        lowering += [
            st.integers(0, 50).map(lambda p: {"surcharge_percent": p}),
            amounts(code).map(lambda a: {"surcharge_amount": a}),
            amounts(code).map(lambda a: {"set_price": a}),
        ]
    return st.one_of(lowering)


@cache
def conditions(target: str) -> st.SearchStrategy[dict]:
    return _conditions(target)


@cache
def quote_action(code: str) -> st.SearchStrategy[dict]:
    return st.one_of(percents.map(lambda p: {"discount_percent": str(p)}),
                     amounts(code).map(lambda a: {"discount_amount": a}))


@st.composite
def _conditions(draw, target: str) -> dict:
    when = {}
    if draw(st.booleans()):
        when["customer_tier"] = ["gold"]
    if target == "line":
        if draw(st.booleans()):
            when["products"] = sorted(draw(st.sets(st.sampled_from(PRODUCTS), min_size=1)))
        if draw(st.booleans()):
            when["quantity"] = {"min": draw(st.integers(1, 20))}
    return when


@cache
def rule_sets(code: str, raising: bool) -> st.SearchStrategy:
    return _rule_sets(code, raising)


@st.composite
def _rule_sets(draw, code: str, raising: bool):
    rules = []
    for i in range(draw(st.integers(0, 7))):
        target = draw(st.sampled_from(["line", "line", "line", "quote"]))
        action = draw(line_action(code, raising) if target == "line" else quote_action(code))
        rule = {"id": f"r{i}", "priority": draw(st.integers(0, 3)), "target": target,
                "stacking": draw(st.sampled_from(["exclusive", "best_of", "additive", "compounding"])),
                "when": draw(conditions(target)), **action}
        if draw(st.booleans()):
            rule["max_discount_percent"] = str(draw(percents))
        rules.append(rule)
    data = {"ruleset": "prop", "version": 1, "rules": rules}
    if draw(st.booleans()):
        data["max_line_discount_percent"] = str(draw(percents))
    return load_rule_set_dict(data)


@cache
def manual_discounts(code: str, max_amount: int = 200_000) -> st.SearchStrategy:
    return st.none() | percents.map(lambda p: ManualDiscount(percent=p)) | money(code, 1, max_amount).map(
        lambda a: ManualDiscount(amount=a))


@st.composite
def quotes(draw, raising: bool = True):
    """(rule set, price book, quote input, lines) with unique line ids."""
    pb = draw(price_books())
    code = pb.currency.code
    rs = draw(rule_sets(code, raising))
    lines = []
    for i in range(draw(st.integers(1, 6))):
        product = draw(st.sampled_from(PRODUCTS))
        lines.append(LineInput(f"line{i}", product, Decimal(draw(quantities)), pb.list_price(product),
                               discount=draw(manual_discounts(code))))
    quote = QuoteInput(code, DAY, tier=draw(st.sampled_from([None, "gold"])),
                       discount=draw(manual_discounts(code)))
    return rs, pb, quote, lines


def is_minor(pb: PriceBook, amount: Decimal) -> bool:
    return pb.currency.is_exact(amount)


def keyed(result: QuotePrice) -> dict:
    return {line.id: line for line in result.lines}


# the engine ---------------------------------------------------------------------------------------

@SETTINGS
@given(quotes(raising=False))
def test_without_raising_rules_no_line_costs_more_than_list(case):
    result = price_quote(*case)
    for line in result.lines:
        assert line.net_total <= line.list_total
        assert line.net_total >= 0


@SETTINGS
@given(quotes())
def test_a_line_above_list_has_a_rule_that_raised_it(case):
    for line in price_quote(*case).lines:
        if line.net_total > line.list_total:
            assert any(s.kind == "rule" and s.amount < 0 for s in line.steps), line


@SETTINGS
@given(quotes())
def test_every_waterfall_reconciles_in_minor_units(case):
    pb = case[1]
    result = price_quote(*case)
    for line in result.lines:
        assert is_minor(pb, line.list_total) and is_minor(pb, line.net_total)
        assert all(is_minor(pb, s.amount) for s in line.steps)
        assert line.list_total - sum((s.amount for s in line.steps), Decimal(0)) == line.net_total
    for step in result.quote_steps:               # a quote-level step is the sum of its line shares
        assert is_minor(pb, step.amount)
        shares = [s.amount for line in result.lines for s in line.steps
                  if (s.kind, s.rule, s.label) == (step.kind, step.rule, step.label)]
        assert sum(shares, Decimal(0)) == step.amount


@SETTINGS
@given(quotes())
def test_quote_totals_are_the_sum_of_the_lines(case):
    pb = case[1]
    result = price_quote(*case)
    lines, totals = result.lines, result.totals
    one_time = [line for line in lines if line.charge == "one_time"]
    assert totals.one_time_list == sum((line.list_total for line in one_time), Decimal(0))
    assert totals.one_time_net == sum((line.net_total for line in one_time), Decimal(0))
    for charge, net in totals.recurring.items():
        assert net == sum((line.net_total for line in lines if line.charge == charge), Decimal(0))
    assert set(totals.recurring) == {line.charge for line in lines} - {"one_time"}
    assert totals.contract_value == sum((line.net_total * line.periods for line in lines), Decimal(0))
    assert totals.list_contract_value == sum((line.list_total * line.periods for line in lines), Decimal(0))
    for amount in (totals.one_time_list, totals.one_time_net, totals.contract_value,
                   totals.list_contract_value, *totals.recurring.values()):
        assert is_minor(pb, amount)


@SETTINGS
@given(quotes())
def test_every_line_rule_that_concerns_a_line_is_explained_once(case):
    rs = case[0]
    for line in price_quote(*case).lines:
        if line.free_of is not None:
            assert line.considered == ()
            continue
        expected = sorted(r.id for r in rs.rules
                          if r.target == "line" and (r.products is None or line.product in r.products))
        assert sorted(o.rule for o in line.considered) == expected


@settings(SETTINGS, max_examples=60)
@given(quotes(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_line_order(case, random):
    rs, pb, quote, lines = case
    shuffled = list(lines)
    random.shuffle(shuffled)
    first, second = price_quote(rs, pb, quote, lines), price_quote(rs, pb, quote, shuffled)
    assert keyed(first) == keyed(second)
    assert first.totals == second.totals
    assert first.quote_steps == second.quote_steps
    assert first.quote_considered == second.quote_considered
    assert first.approvals == second.approvals


@settings(SETTINGS, max_examples=60)
@given(quotes())
def test_pricing_is_deterministic(case):
    rs, pb, quote, lines = case
    again = load_rule_set_dict(rs.source), load_price_book_dict(pb.source)     # fresh caches too
    assert price_quote(*case) == price_quote(rs, pb, quote, lines) == price_quote(*again, quote, lines)


# money ---------------------------------------------------------------------------------------------

quanta = st.sampled_from([Decimal(1), Decimal("0.01"), Decimal("0.001")])
weights = st.lists(st.integers(0, 10**6).map(Decimal) | st.decimals("0", "1000", places=3),
                   min_size=1, max_size=12).filter(lambda ws: sum(ws) > 0)


@settings(max_examples=300)
@given(st.integers(-10**9, 10**9), weights, quanta)
def test_allocate_splits_exactly_and_fairly(units, ws, quantum):
    total = units * quantum
    parts = allocate(total, ws, quantum)
    assert len(parts) == len(ws)
    assert sum(parts, Decimal(0)) == total
    weight_sum = sum(ws, Decimal(0))
    for part, weight in zip(parts, ws):
        assert part.quantize(quantum) == part
        assert abs(part - total * weight / weight_sum) < quantum
        if weight == 0:
            assert part == 0


@settings(max_examples=500)
@given(st.integers(-10**6, 10**6),
       st.lists(st.integers(0, 8) | st.integers(0, 10**9), min_size=1, max_size=40).filter(any))
def test_split_units_gives_the_largest_remainders_one_more_unit_ties_to_the_earlier(units, ws):
    """Against the definition: sort the parts by remainder (stable, so ties keep their order)
    and give the first ones the units left over (small weights make many ties)."""
    size, weight_sum = abs(units), sum(ws)
    expected = [size * w // weight_sum for w in ws]
    by_remainder = sorted(range(len(ws)), key=lambda i: -(size * ws[i] % weight_sum))
    for i in by_remainder[:size - sum(expected)]:
        expected[i] += 1
    assert split_units(units, ws) == [part if units >= 0 else -part for part in expected]


@settings(max_examples=300)
@given(st.lists(st.decimals("-100000", "100000", places=5), max_size=12), quanta)
def test_round_to_total_keeps_the_rounded_sum_and_each_part_near_its_amount(amounts, quantum):
    total = sum(amounts, Decimal(0)).quantize(quantum, rounding=ROUNDING)
    parts = round_to_total(amounts, total, quantum)
    assert sum(parts, Decimal(0)) == total
    for part, amount in zip(parts, amounts):
        assert part.quantize(quantum) == part
        assert abs(part - amount) < quantum


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["0", "0E-9", "-0.00", "1.00", "-2.50", "0.004", "0.005", "1.0051", "-0.0049",
                                 "3.3333", "7.125"]).map(Decimal), max_size=12),
       st.integers(0, 12))
def test_round_to_total_gives_the_quanta_to_the_largest_losses_ties_to_the_earlier(amounts, extra):
    """Against the definition: each amount rounded down, the quanta missing from `total` one
    each to the amounts in order of what they lost (a stable sort: ties, and amounts that lost
    nothing, keep their order), so whole quanta take one only when the others are spent."""
    quantum = Decimal("0.01")
    floors = [a.quantize(quantum, rounding=ROUND_FLOOR) for a in amounts]
    missing = min(extra, len(amounts))
    total = sum(floors, Decimal(0)) + missing * quantum
    by_loss = sorted(range(len(amounts)), key=lambda i: -(amounts[i] - floors[i]))
    for i in by_loss[:missing]:
        floors[i] += quantum
    parts = round_to_total(amounts, total, quantum)
    assert [(p, p.as_tuple().exponent) for p in parts] == [(f, f.as_tuple().exponent) for f in floors]


@settings(max_examples=500)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e30"), max_value=Decimal("1e30")),
       st.integers(0, 10**30).map(lambda n: Decimal(n).scaleb(-2)) | st.decimals("0", "1000", places=6),
       st.booleans())
def test_a_percentage_works_out_as_base_times_percent_over_a_hundred(base, percent, surcharge):
    """rules.actions.Percent and a Volume tier's percentage multiply by percent / 100 once: the
    same value as base * percent / 100 (two operations) for any base, also one whose product the
    28-digit context rounds."""
    expected = base * percent / Decimal(100)
    assert Percent(percent, surcharge).amount(base, None) == (-expected if surcharge else expected)
    tiers = Volume("all_units", (Tier(Decimal(1), percent=Decimal(0)), Tier(Decimal(5), percent=percent)))
    assert tiers.amount(base, LineBasis("USD", Decimal(7), Decimal(1), None)) == expected
