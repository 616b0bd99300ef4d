"""Which line rules apply to a line, decided once per kind of line on a quote, not per line.

A line lists every rule that could concern its product with why it did or did not apply, and
with thousands of rules a product has hundreds of candidates: testing each of them on each
line was most of the pricing time. Yet what decides a candidate's fate is
- its quote conditions (customer, segment, tier, channel, currency, dates, promo codes,
  bundles, quote total): the same for the whole quote, so tested once per rule;
- its line conditions on the product, the charge and configured values (`PLAN_FACTS`): the
  same for every line of one *kind* (product, charge and the values of the attributes that
  the product's rules test), so decided once per kind, in a `Plan`;
- its conditions on the quantity (and those after them): tested once per quantity in a plan,
  and only a few rules have them.
A plan keeps the outcomes of the rules that cannot apply (shared, not rebuilt per line) and
the applicable ones grouped for the waterfall (`Selection`). Bundles and quote totals
(`Rule.volatile`) pass or fail with what each quote holds, so a plan counts them as passing
and quotes share it; a `View` of it takes out the ones that fail on a quote and keeps, per
quantity, how the rules stack (`rules.stack.Stacking`: a line computes only the amounts).
`QuoteRules.select` and `PlainRules.select` give the same answer; the plain one tests every
candidate's conditions on every line, and tests/test_rules_index.py holds the first to it.
"""

from __future__ import annotations

from dataclasses import fields
from itertools import compress
from operator import not_
from typing import Iterable, NamedTuple

from core.cache import keep
from rules.actions import LineBasis
from rules.conditions import CONTENT_FACTS, LineFacts, QuoteFacts, first_failure
from rules.model import Candidates, Rule, RuleSet
from rules.results import Outcome
from rules.stack import Selection, Stacking

_ABSENT = object()
MAX_PLANS = 2048            # plans a rule set keeps (RuleSet.plans)
MAX_VIEWS = 16              # views kept per plan
MAX_QUANTITIES = 256        # quantities kept per view


class Plan:
    """One kind of line, for the quotes on which the same candidates pass their quote
    conditions, volatile ones (`Rule.volatile`: bundles, the quote total) counted as passing:
    the outcomes of those whose line conditions fail, in the order lines list them after the
    quote's own (`head`), the rules tested on each line (`checks`, each followed by the
    outcomes listed after it, `tails`), and the Selection of the others. What a quote holds
    changes from one of a customer's quotes to the next, and with it which bundles apply: a
    `View` takes out a quote's volatile candidates that fail, so such quotes share the plan."""

    __slots__ = ("head", "checks", "tails", "selection", "_rule_ids", "_views")

    def __init__(self, decided: Iterable[Rule | Outcome], floors: dict):
        """`decided`: the candidates that pass their quote conditions, as `decide` gives them."""
        head: list[Outcome] = []
        checks, tails, rules = [], [], []
        listed = head
        for entry in decided:
            if entry.__class__ is Outcome:
                listed.append(entry)
                continue
            if entry.line_split[1]:
                checks.append(entry)
                listed = []
                tails.append(listed)
            rules.append(entry)
        self.head, self.checks, self.tails = tuple(head), tuple(checks), tuple(map(tuple, tails))
        self.selection = Selection(rules, floors)
        self._rule_ids = frozenset(rule.id for rule in rules)
        self._views: dict[tuple[str, ...], View] = {}

    def view(self, dropped: tuple[str, ...]) -> View:
        """The plan on quotes where the volatile candidates `dropped` fail their quote conditions."""
        found = self._views.get(dropped)
        if found is None:
            found = keep(self._views, dropped, View(self, dropped), MAX_VIEWS)
        return found


class View:
    """A plan less the volatile candidates that fail their quote conditions on a quote
    (`dropped`; the quote lists their outcomes first, with the others that fail): their
    outcomes leave `head` and `tails`, their checks leave `checks`, and the plan's rules among
    them are skipped on every line (`skipped`)."""

    __slots__ = ("head", "checks", "tails", "selection", "skipped", "_by_quantity")

    def __init__(self, plan: Plan, dropped: tuple[str, ...]):
        self.selection, self._by_quantity = plan.selection, {}
        if not dropped:
            self.head, self.checks, self.tails, self.skipped = plan.head, plan.checks, plan.tails, ()
            return
        out = frozenset(dropped)
        head = [o for o in plan.head if o.rule not in out]
        checks, tails, listed = [], [], head
        for rule, tail in zip(plan.checks, plan.tails):
            if rule.id not in out:
                checks.append(rule)
                listed = []
                tails.append(listed)
            listed += [o for o in tail if o.rule not in out]
        self.head, self.checks, self.tails = tuple(head), tuple(checks), tuple(map(tuple, tails))
        self.skipped = tuple(rule_id for rule_id in dropped if rule_id in plan._rule_ids)

    def select(self, facts: QuoteFacts, line: LineFacts, basis: LineBasis) -> Stacking:
        """How the rules stack for the line. The checks see nothing of a line but its quantity
        (the rest is the plan's kind), and whether a price rule applies depends only on the
        quantity and the currency (one per plan), so lines with the same quantity, as written
        (reasons show it), share a stacking and compute only the amounts. A stacking holds the
        outcomes after the view's `head`, which the line lists first."""
        quantity = str(line.quantity)
        stacking = self._by_quantity.get(quantity)
        if stacking is None:
            considered, skipped = [], list(self.skipped)
            key = (facts.currency, quantity)
            for rule, tail in zip(self.checks, self.tails):
                outcome = rule.check(facts, line, key)
                if outcome is not None:
                    skipped.append(rule.id)
                    considered.append(outcome)
                considered += tail
            stacking = keep(self._by_quantity, quantity, Stacking(self.selection, tuple(skipped), basis, considered),
                            MAX_QUANTITIES)
        return stacking


class Selected(NamedTuple):
    """A line's rules: the outcomes of the candidates that the quote rules out, listed first
    (`failed`), then those that the kind of line rules out (`head`), and how the others stack
    for the line's quantity (its outcomes follow)."""
    failed: tuple[Outcome, ...]
    head: tuple[Outcome, ...]
    stacking: Stacking


STEADY_FACTS = tuple(f.name for f in fields(QuoteFacts) if f.name not in CONTENT_FACTS)


class Steady:
    """The verdicts of the rules whose quote conditions are not volatile (`Rule.volatile`), for
    the quotes with the same steady facts (`STEADY_FACTS`: all but what a quote holds), and per
    product how its candidates fare: testing 5,000 rules' conditions and screening each
    product's candidates was a tenth of a new quote's time, and a customer's quotes repeat it."""

    __slots__ = ("verdicts", "_screens")

    def __init__(self, rule_set: RuleSet, facts: QuoteFacts):
        self.verdicts: dict[str, Outcome | None] = dict.fromkeys(rule_set.ids)
        for rule in rule_set.conditional:
            if not rule.volatile:
                reason = first_failure(rule.quote_conditions, facts)
                if reason is not None:
                    self.verdicts[rule.id] = Outcome(rule.id, False, reason)
        self._screens: dict[str, tuple[tuple[Outcome, ...], bytes, tuple[int, ...]]] = {}

    def screen(self, product: str, candidates: Candidates) -> tuple[tuple[Outcome, ...], bytes, tuple[int, ...]]:
        """The outcomes of the candidates that fail, which fail (1) or not (0), and for each
        volatile candidate how many fail before it (where its outcome goes when it fails)."""
        found = self._screens.get(product)
        if found is None:
            verdicts = candidates.pick(self.verdicts)
            failing = bytes(map(bool, verdicts))
            found = keep(self._screens, product, (tuple(filter(None, verdicts)), failing,
                                                  tuple(failing.count(1, 0, i) for i in candidates.volatile)),
                         MAX_PLANS)
        return found


class QuoteRules:
    """The rules of a rule set as they stand for one quote, for each of its lines."""

    def __init__(self, rule_set: RuleSet, facts: QuoteFacts):
        self.rule_set, self.facts = rule_set, facts
        # every rule's quote conditions, once: None when they hold, else the rule's outcome; those
        # that are not volatile as they stand for every quote with the same steady facts
        self._steady = rule_set.steady(tuple(getattr(facts, name) for name in STEADY_FACTS),
                                       lambda: Steady(rule_set, facts))
        self.verdicts: dict[str, Outcome | None] = self._steady.verdicts.copy()
        for rule in rule_set.volatile:
            reason = first_failure(rule.quote_conditions, facts)
            if reason is not None:
                self.verdicts[rule.id] = Outcome(rule.id, False, reason)
        # by kind of line: the outcomes of the candidates whose quote conditions fail, and the
        # plan; kept for quotes that fail the same rules for the same reasons (a quote priced again)
        self._plans = rule_set.quote_plans((facts.currency, *filter(None, self.verdicts.values())))
        self._screens: dict[str, tuple[tuple[Outcome, ...], bytes, tuple[str, ...]]] = {}

    def screen(self, product: str) -> tuple[tuple[Outcome, ...], bytes, tuple[str, ...]]:
        """The outcomes of the product's line rules whose quote conditions fail; which of its
        candidates that are not volatile fail them (1) or not (0), which keys its plans; and
        the ids of the volatile ones that fail, which its plans' views take out: once per
        product on the quote, which the product's kinds of line share. The steady part is the
        rule set's (`Steady.screen`); the volatile candidates' outcomes go in between."""
        found = self._screens.get(product)
        if found is None:
            candidates = self.rule_set.candidates(product)
            failed, failing, ranks = self._steady.screen(product, candidates)
            dropped = []
            for i, rank in zip(candidates.volatile, ranks):
                verdict = self.verdicts[candidates.ids[i]]
                if verdict is not None:
                    if not dropped:
                        failed = list(failed)
                    failed.insert(rank + len(dropped), verdict)
                    dropped.append(verdict.rule)
            found = self._screens[product] = tuple(failed), failing, tuple(dropped)
        return found

    def select(self, line: LineFacts, basis: LineBasis) -> Selected:
        """The line's rules. A plan sees nothing of the quote but which candidates' quote
        conditions hold (line conditions test line facts and the currency only), so quotes share
        the plans of a kind of line whose candidates that are not volatile pass and fail alike
        (RuleSet.plans), each quote through the view that takes out its failing volatile ones;
        why they fail is the quote's own, listed first."""
        attributes = self.rule_set.candidates(line.product).attributes
        kind = (line.product, line.charge)
        if attributes:
            values = line.values
            kind += tuple(_value_key(values.get(a, _ABSENT)) for a in attributes)
        found = self._plans.get(kind)
        if found is None:
            failed, failing, dropped = self.screen(line.product)
            shared = self.rule_set.plans
            key = (self.facts.currency, kind, failing)
            plan = shared.get(key)
            if plan is None:
                decided = compress(self.decide(line, kind), map(not_, failing))
                plan = keep(shared, key, Plan(decided, self.rule_set.floors), MAX_PLANS)
            found = keep(self._plans, kind, (failed, plan.view(dropped)), MAX_PLANS)
        view = found[1]
        return Selected(found[0], view.head, view.select(self.facts, line, basis))

    def decide(self, line: LineFacts, kind: tuple) -> tuple[Rule | Outcome, ...]:
        """The product's candidates, each as its outcome when the line conditions that a plan
        decides (`Rule.line_split`) fail, else as the rule: those conditions read the kind of
        line and the currency only, so this is kept per rule set (RuleSet.kinds), and the
        plans of every quote with that kind take the candidates that pass their quote
        conditions from it."""
        kinds = self.rule_set.kinds
        key = (self.facts.currency, kind)
        found = kinds.get(key)
        if found is None:
            candidates = self.rule_set.candidates(line.product)
            decided: list[Rule | Outcome] = list(candidates.rules)
            for i in candidates.planned:           # the others have no such conditions
                rule = decided[i]
                reason = first_failure(rule.line_split[0], self.facts, line)
                if reason is not None:
                    decided[i] = Outcome(rule.id, False, reason)
            found = keep(kinds, key, tuple(decided), MAX_PLANS)
        return found


def _value_key(value) -> tuple | None:
    """A configured value as conditions see it: True, 1 and 1.0 test alike but read apart."""
    return None if value is _ABSENT else (value.__class__, str(value))


class PlainRules(QuoteRules):
    """The reference: every candidate's quote and line conditions tested on every line."""

    def select(self, line: LineFacts, basis: LineBasis) -> Selected:
        rules = self.rule_set.line_rules(line.product)
        reasons = [first_failure(r.quote_conditions, self.facts) for r in rules]
        considered = [Outcome(r.id, False, why) for r, why in zip(rules, reasons) if why is not None]
        passed = []
        for rule, why in zip(rules, reasons):
            if why is None:
                why = first_failure(rule.line_conditions, self.facts, line)
                if why is None:
                    passed.append(rule)
                else:
                    considered.append(Outcome(rule.id, False, why))
        return Selected(tuple(considered), (), Stacking(Selection(passed), (), basis))
