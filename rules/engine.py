"""Price a quote draft: a waterfall per line, quote-level discounts, totals and approvals.

Pure and deterministic: the same rule set, price book and inputs give the same result, so
a stored price can be replayed. The order of a line's waterfall (docs/pricing.md):

1. list price: price book product + options + components, times quantity;
2. automatic rules by stacking: the first applicable `exclusive` rule alone; otherwise the
   best `best_of` rule, then `additive` rules (each on the same base, together never more
   than that base), then `compounding` rules (each on the running amount), all in priority
   order (lower first, then id);
3. the cap: automatic discounts beyond the set's maximum line discount are taken back,
   unless an applied rule raises the maximum;
4. the rep's manual line discount;
5. the price floor (highest applicable floor, never above the list price) takes back what
   went below it; the line is then rounded, once, to the currency's minor units;
6. quote-level rules and the header discount, each rounded once and allocated over the
   lines in minor units (percentages over all lines, fixed amounts over one-time lines),
   never below a line's floor.
A line that keeps a contract's price (an amendment's or renewal's, `contract_price`) skips
steps 2-6: its net is that price, one `contract` step from the list price.
Every other figure is a sum of rounded amounts, so totals reconcile to the minor unit.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import ROUND_CEILING, Decimal
from itertools import repeat
from operator import add
from typing import NamedTuple, Sequence

from catalog.pricebook import PERIOD_MONTHS, PriceBook, PricingError
from core import gcpause
from core.cache import keep
from core.money import HUNDRED, ONE, ZERO, Currency, percent_of, round_to_total
from rules import approvals as ap
from rules.actions import AmountOff, LineBasis
from rules.conditions import DateWindow, LineFacts, QuoteFacts
from rules.index import PlainRules, QuoteRules
from rules.model import Rule, RuleSet
from rules.results import (LineInput, LinePrice, ManualDiscount, Outcome, QuoteInput,
                           QuotePrice, Step, Totals, tuple_new)
from rules.spread import Spread
from rules.stack import Floors, Selection, Stacking, stack


def price_quote(rule_set: RuleSet, book: PriceBook, quote: QuoteInput,
                lines: Sequence[LineInput], *, plain: bool = False) -> QuotePrice:
    """`plain` tests every candidate rule's conditions on every line instead of going through
    rules.index: the reference that tests hold the index to (the result is the same)."""
    with gcpause.paused(acyclic=True):   # ~1M short-lived objects and no cycles: see core/gcpause
        return _price_quote(rule_set, book, quote, lines, plain)


def _price_quote(rule_set: RuleSet, book: PriceBook, quote: QuoteInput,
                 lines: Sequence[LineInput], plain: bool) -> QuotePrice:
    cur = book.currency
    if quote.currency != cur.code:
        raise PricingError("currency", f"price book {book.name} is in {cur.code}, not {quote.currency}")
    quantities: dict[str, Decimal] = {}
    list_total = ZERO
    for line in lines:
        quantities[line.product] = quantities.get(line.product, ZERO) + line.quantity
        list_total += line.list_price.unit_price * line.quantity
    facts = QuoteFacts(cur.code, quote.day, quote.customer, quote.segment, quote.tier,
                       quote.channel, frozenset(), list_total, quantities, quote.payment_terms)
    promotions = _promotions(rule_set, quote, facts, lines)
    facts = QuoteFacts(cur.code, quote.day, quote.customer, quote.segment, quote.tier, quote.channel,
                       frozenset(o.rule for o in promotions if o.applied), list_total, quantities,
                       quote.payment_terms)
    rules = (PlainRules if plain else QuoteRules)(rule_set, facts)
    priced: list[_Line] = []
    for index, line in enumerate(lines):
        priced.extend(_price_line(rule_set, book, cur, rules, line, index))
    quote_steps, quote_considered = _quote_level(rule_set, cur, rules, quote.discount, priced)
    results = tuple(p.result() for p in priced)
    totals = _totals(results, cur)
    deal = ap.Deal(facts, ap.deal_metrics(results, totals), frozenset(quantities),
                   any(r.manual for r in results) or quote.discount is not None,
                   rule_set.standard_payment_terms)
    return QuotePrice(cur.code, quote.day, book.name, book.version, rule_set.name, rule_set.version,
                      results, tuple(quote_steps), tuple(quote_considered), tuple(promotions), totals,
                      ap.required_approvals(rule_set, deal))


# promotions --------------------------------------------------------------------------------

def _promotions(rule_set: RuleSet, quote: QuoteInput, facts: QuoteFacts,
                lines: Sequence[LineInput]) -> list[Outcome]:
    out = []
    for code in dict.fromkeys(c.strip().upper() for c in quote.promo_codes):
        promo = rule_set.promotions.get(code)
        reason = None if promo else "unknown promo code"
        if promo:
            reason = DateWindow(promo.start, promo.end).test(facts, None)
        if promo and reason is None:
            used, by_customer = quote.promo_usage.get(code, (0, 0))
            eligible = [ln for ln in lines if promo.products is None or ln.product in promo.products]
            spend = sum((ln.list_price.unit_price * ln.quantity for ln in eligible), ZERO)
            minimum = promo.min_spend.get(facts.currency) if promo.min_spend else None
            if promo.usage_limit is not None and used >= promo.usage_limit:
                reason = f"usage limit reached ({used} of {promo.usage_limit} used)"
            elif promo.per_customer_limit is not None and quote.customer is None:
                reason = "limited per customer: the quote needs a customer"
            elif promo.per_customer_limit is not None and by_customer >= promo.per_customer_limit:
                reason = f"this customer has used it {by_customer} times (limit {promo.per_customer_limit})"
            elif not eligible:
                reason = "no eligible product on the quote"
            elif promo.min_spend and minimum is None:
                reason = f"no minimum spend in {facts.currency}"
            elif minimum is not None and spend < minimum:
                reason = f"minimum spend {minimum} not reached ({spend})"
        out.append(Outcome(code, reason is None, reason or f"accepted: {promo.description}"))
    return out


# one line ----------------------------------------------------------------------------------

class _Line:
    """A line being priced; quote-level steps are added after every line has its net."""

    __slots__ = ("product", "quantity", "complete", "name", "list_total", "periods", "steps", "net", "floor",
                 "considered", "free_of", "id", "charge", "term", "list_price", "contract")

    def result(self) -> LinePrice:
        lp = self.list_price
        return _line_price(self.id, self.product, self.name, self.quantity, self.charge,
                           self.term, self.periods, lp.elements, lp.unit_price, self.list_total,
                           tuple(self.steps), self.net, lp.unit_cost, tuple(self.considered),
                           self.complete, self.free_of)


_LINE_PRICE_FIELDS = tuple(f.name for f in fields(LinePrice))


def _line_price(*values) -> LinePrice:
    """LinePrice(*values), less its frozen __init__'s object.__setattr__ per field (a quote
    makes thousands): the same object, field for field."""
    made = object.__new__(LinePrice)
    made.__dict__.update(zip(_LINE_PRICE_FIELDS, values))
    return made


def _periods(charge: str, term: int | None, index: int) -> Decimal:
    if charge == "one_time":
        return ONE
    months = PERIOD_MONTHS[charge]
    if term % months:
        raise PricingError(f"lines[{index}].term_months",
                           f"{charge} charges need a term in whole periods of {months} months")
    return Decimal(term // months)


def _new_line(line_id: str, product: str, quantity: Decimal, term_months: int | None, list_price,
              index: int, name: str, complete: bool = True) -> _Line:
    p = _Line()
    p.id, p.product, p.quantity, p.complete, p.list_price, p.name = (line_id, product, quantity, complete,
                                                                      list_price, name)
    p.charge = list_price.charge
    p.term = None if p.charge == "one_time" else (term_months or list_price.term_months)
    p.periods = _periods(p.charge, p.term, index)
    p.list_total = list_price.unit_price * quantity
    p.steps, p.considered, p.floor, p.free_of, p.contract = [], [], None, None, False
    return p


def _price_line(rule_set: RuleSet, book: PriceBook, cur: Currency, rules: QuoteRules,
                line: LineInput, index: int) -> list[_Line]:
    lp = line.list_price
    p = _new_line(line.id, line.product, line.quantity, line.term_months, lp, index,
                  lp.elements[0].label if lp.elements else line.product, line.complete)
    if line.contract_price is not None:              # kept from the contract: no rule changes it
        p.net, p.contract = line.contract_price, True
        p.steps = [Step("contract", None, "price as contracted", p.list_total - p.net)]
        return [p]
    basis = LineBasis(cur.code, line.quantity, lp.unit_price, lp.unit_cost)
    failed, head, stacking = rules.select(LineFacts(line.product, line.quantity, lp.charge, line.values), basis)
    discount = line.discount
    key = (str(lp.unit_price), str(lp.unit_cost),
           None if discount is None else (str(discount.percent), str(discount.amount)))
    waterfall = stacking.alike.get(key)
    if waterfall is None:
        waterfall = keep(stacking.alike, key, _waterfall(rule_set, cur, stacking, head, basis, p.list_total, discount),
                         MAX_ALIKE)
    considered, steps, p.net, p.floor, frees = waterfall
    p.considered = (*failed, *head, *stacking.head, *considered)
    p.steps = list(steps)
    if not frees:
        return [p]
    return [p, *_free_lines(frees, book, line, index)]


MAX_ALIKE = 16          # waterfalls a stacking keeps


class _Waterfall(NamedTuple):
    """A line's waterfall up to its net (steps 2-5), which depends only on its stacking (kind
    of line, quantity and the quote's verdicts), its unit list price and cost and its manual
    discount: lines alike, on one quote or the next, share it (`Stacking.alike`)."""
    considered: tuple[Outcome, ...]        # after the plan's and the stacking's (`Stacking.head`)
    steps: tuple[Step, ...]
    net: Decimal
    floor: Decimal | None
    frees: tuple[tuple[Rule, Decimal], ...]   # the free items it adds, with their quantities


def _waterfall(rule_set: RuleSet, cur: Currency, stacking: Stacking, head: tuple[Outcome, ...], basis: LineBasis,
               list_total: Decimal, discount: ManualDiscount | None) -> _Waterfall:
    applied, exact, considered = stacking.apply(list_total)     # and each one's exact amount
    selection = stacking.selection
    heads = [rule.step for rule in applied]            # each step's kind, rule and label
    automatic = sum(exact, ZERO)
    cap = rule_set.max_line_discount_percent
    if cap is not None and selection.lifts_cap:
        for rule in applied:
            raised = rule.max_discount_percent     # an applied rule may lift the cap
            if raised is not None and raised > cap:
                cap = raised
    if cap is not None:
        limit = list_total * cap / HUNDRED
        if automatic > limit:
            excess = automatic - limit
            heads.append(("cap", None, f"capped at the {cap}% maximum discount"))
            exact.append(-excess)
            automatic -= excess
    running = list_total - automatic
    if discount is not None:
        amount = _manual(discount, running)
        heads.append(("manual", None, _manual_label(discount)))
        exact.append(amount)
        running -= amount
    running, floor = _floor(selection.floor(stacking.skipped, basis), basis, running, list_total, heads, exact,
                            considered, cur.quantum)
    net = cur.round(running)                                         # rounding point 1
    rounded = round_to_total(exact, list_total - net, cur.quantum)
    steps = tuple(map(tuple_new, repeat(Step), map(add, heads, zip(rounded))))   # head + (amount,)
    frees = _frees(selection.frees, stacking.skipped, basis, considered) if selection.frees else ()
    return _Waterfall(tuple(considered), steps, net, floor, frees)


def _manual(discount: ManualDiscount, running: Decimal) -> Decimal:
    if discount.percent is not None:
        return running * discount.percent / HUNDRED
    return min(discount.amount, running)


def _manual_label(discount: ManualDiscount) -> str:
    if discount.percent is not None:
        return f"manual discount {discount.percent}%"
    return f"manual discount {discount.amount}"


def _floor(floors: Floors, basis: LineBasis, running: Decimal, list_total: Decimal, heads: list, exact: list,
           considered: list, quantum: Decimal) -> tuple[Decimal, Decimal | None]:
    """Raise `running` to the highest applicable floor, rounded up to the minor unit so the
    net never ends below it, and never above the list total; with the line's floor (None
    without one)."""
    considered += floors.considered
    winner = floors.winner
    if winner is None:
        return running, None
    floor = min((floors.value * basis.quantity).quantize(quantum, ROUND_CEILING), list_total)
    if running >= floor:
        considered.append(floors.above)
        return running, floor
    heads.append(("floor", winner.id, winner.description))
    exact.append(running - floor)
    considered.append(floors.applied)
    return floor, floor


def _frees(frees: tuple[Rule, ...], skipped: tuple[str, ...], basis: LineBasis,
           considered: list[Outcome]) -> tuple[tuple[Rule, Decimal], ...]:
    """The free items that a line adds, with their quantities; their outcomes go to `considered`."""
    out = []
    for rule in frees:
        if rule.id in skipped:
            continue
        qty = rule.action.free_quantity(basis)
        if not qty:
            considered.append(Outcome(rule.id, False, f"quantity is below {rule.action.per}"))
            continue
        considered.append(rule.applied)
        out.append((rule, qty))
    return tuple(out)


def _free_lines(frees: tuple[tuple[Rule, Decimal], ...], book: PriceBook, line: LineInput,
                index: int) -> list[_Line]:
    out, zero = [], ZERO.quantize(book.currency.quantum)
    for rule, qty in frees:
        list_price = book.plain_price(rule.action.product, field_name=f"rules.{rule.id}.free_item.product")
        p = _new_line(f"{line.id}/{rule.id}", rule.action.product, qty, None, list_price, index,
                      list_price.elements[0].label)
        p.net, p.free_of = zero, line.id
        p.steps = [tuple_new(Step, ("free", rule.id, rule.description, p.list_total))]
        out.append(p)
    return out


# the quote ---------------------------------------------------------------------------------

def _quote_level(rule_set: RuleSet, cur: Currency, rules: QuoteRules, header: ManualDiscount | None,
                 lines: list[_Line]) -> tuple[list[Step], list[Outcome]]:
    considered: list[Outcome] = []
    applicable = []
    for rule in rule_set.quote_rules:
        verdict = rules.verdicts[rule.id]
        if verdict is None:
            applicable.append(rule)
        else:
            considered.append(verdict)
    lines = sorted((p for p in lines if not p.contract), key=lambda p: p.id)   # ties by id; contract prices stay
    subtotal = sum((p.net for p in lines), ZERO)
    basis = LineBasis(cur.code, Decimal(1), subtotal, None)
    spread = Spread(cur, lines)
    steps = []
    for rule, amount in stack(Selection(applicable), (), subtotal, basis, considered):
        steps.append(spread("quote_rule", rule.id, rule.description, amount,
                            fixed=isinstance(rule.action, AmountOff)))
    if header is not None:
        spread.settle()
        running = sum((p.net for p in lines), ZERO)
        steps.append(spread("quote_manual", None, "header " + _manual_label(header),
                            _manual(header, running), fixed=header.amount is not None))
    spread.settle()
    return [step for step in steps if step is not None], considered


def _totals(lines: tuple[LinePrice, ...], cur: Currency) -> Totals:
    zero = ZERO.quantize(cur.quantum)           # an empty sum still shows the minor units
    one_time = [ln for ln in lines if ln.charge == "one_time"]
    recurring: dict[str, Decimal] = {}
    for ln in lines:
        if ln.charge != "one_time":
            recurring[ln.charge] = recurring.get(ln.charge, zero) + ln.net_total
    list_cv = sum((ln.list_contract_value for ln in lines), zero)
    cv = sum((ln.contract_value for ln in lines), zero)
    costs = [ln.cost_total for ln in lines]
    cost = None if None in costs else sum(costs, zero)
    margin = None if cost is None else cv - cost
    return Totals(sum((ln.list_total for ln in one_time), zero), sum((ln.net_total for ln in one_time), zero),
                  recurring, list_cv, cv, cost, percent_of(list_cv - cv, list_cv), margin,
                  None if margin is None else percent_of(margin, cv))
