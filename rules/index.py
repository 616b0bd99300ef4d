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
the applicable ones grouped for the waterfall (`Selection`). `QuoteRules.select` and
`PlainRules.select` give the same answer; the plain one tests every candidate's conditions
on every line, and tests/test_rules_index.py holds the first to it.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import compress
from operator import itemgetter, not_
from typing import Iterable, NamedTuple

from rules.actions import LineBasis
from rules.conditions import LineFacts, QuoteFacts, first_failure
from rules.model import Rule, RuleSet
from rules.results import Outcome

_ABSENT = object()
MAX_PLANS = 4096            # kinds of line kept per set of quote verdicts (RuleSet.plans)


class Selection:
    """Rules whose conditions hold for the lines of a plan, as the waterfall uses them (by
    `Rule.slot`), in priority order; a line skips those its quantity rules out (`skipped`).
    Lines share the outcomes that name a winner."""

    __slots__ = ("groups", "floors", "frees", "lifts_cap", "_rules", "_excluded", "_outbid", "_floors")

    def __init__(self, rules: Iterable[Rule]):
        self._rules = tuple(rules)
        slots = ([], [], [], [], [], [])
        for rule in self._rules:
            slots[rule.slot].append(rule)
        self.groups = tuple(map(tuple, slots[:4]))      # price rules by stacking mode
        self.floors, self.frees = tuple(slots[4]), tuple(slots[5])
        self.lifts_cap = any(r.max_discount_percent is not None for r in self._rules)
        self._excluded: dict = {}
        self._outbid: dict = {}
        self._floors: dict = {}

    def exclude(self, considered: list[Outcome], winner: Rule, losers: tuple[str, ...],
                skipped: tuple[str, ...]) -> None:
        """Add the outcomes of the price rules that the exclusive `winner` shuts out, in
        priority order: every other stacking mode, and the exclusive rules after it that would
        apply (`losers`); built once per winner, then sliced around the `skipped` rules."""
        found = self._excluded.get((winner.id, losers))
        if found is None:
            reason = f"exclusive rule {winner.id} applies"
            outcomes = tuple(Outcome(r.id, False, reason) for r in self._rules
                             if 0 < r.slot < 4 or r.id in losers)
            found = self._excluded[winner.id, losers] = outcomes, {o.rule: i for i, o in enumerate(outcomes)}
        outcomes, position = found
        start = 0
        for i in sorted(position[r] for r in skipped if r in position):
            considered += outcomes[start:i]
            start = i + 1
        considered += outcomes[start:]

    def outbid(self, best: Rule, out: tuple[str, ...]) -> tuple[Outcome, ...]:
        """The outcomes of the `best_of` rules that `best` outbids (`out`: those that do not
        apply here)."""
        key = (best.id, out)
        found = self._outbid.get(key)
        if found is None:
            reason = f"{best.id} gives a larger discount"
            found = self._outbid[key] = tuple(Outcome(r.id, False, reason) for r in self.groups[1]
                                              if r is not best and r.id not in out)
        return found

    def floor(self, skipped: tuple[str, ...], basis: LineBasis) -> Floors:
        """The highest unit floor of those that apply (less `skipped`). A floor depends only on
        the line's unit cost and currency, so lines share the answer."""
        key = (skipped, basis.unit_cost, basis.currency)
        found = self._floors.get(key)
        if found is None:
            considered, candidates, out = [], [], set(skipped)
            for rule in self.floors:
                if rule.id in out:
                    continue
                value = rule.action.unit_floor(basis)
                if value.__class__ is str:
                    considered.append(Outcome(rule.id, False, value))
                    out.add(rule.id)
                else:
                    candidates.append((value, rule))
            if not candidates:
                found = self._floors[key] = Floors(tuple(considered), None, None, None, None)
                return found
            value, winner = max(candidates, key=itemgetter(0))
            reason = f"a higher floor applies ({winner.id})"
            considered += [Outcome(r.id, False, reason) for r in self.floors if r is not winner and r.id not in out]
            found = self._floors[key] = Floors(
                tuple(considered), value, winner, Outcome(winner.id, False, "the price is above this floor"),
                Outcome(winner.id, True, f"applied: raised to the {winner.action.describe()}"))
        return found


class Floors(NamedTuple):
    """The floors of a line: the outcomes of those that do not count, the highest unit floor
    and its rule (None without one), and the rule's outcome when the price is above it or not."""
    considered: tuple[Outcome, ...]
    value: Decimal | None
    winner: Rule | None
    above: Outcome | None
    applied: Outcome | None


class Plan:
    """One kind of line on one quote: the outcomes of the candidates that cannot apply, in
    the order lines list them, the rules tested on each line (`checks`, each followed by the
    outcomes listed after it, `tails`), and the Selection of the others."""

    __slots__ = ("head", "checks", "tails", "selection", "_by_quantity")

    def __init__(self, failed: tuple[Outcome, ...], passed: tuple[Rule, ...], facts: QuoteFacts,
                 line: LineFacts):
        head: list[Outcome] = list(failed)
        checks, tails, rules = [], [], []
        listed = head
        for rule in passed:
            if rule.line_conditions:
                decided, per_line = rule.line_split
                reason = first_failure(decided, facts, line)
                if reason is not None:
                    listed.append(Outcome(rule.id, False, reason))
                    continue
                if per_line:
                    checks.append((rule.id, per_line))
                    listed = []
                    tails.append(listed)
            rules.append(rule)
        self.head, self.checks, self.tails = tuple(head), tuple(checks), tuple(map(tuple, tails))
        self.selection = Selection(rules)
        self._by_quantity: dict[str, tuple[tuple[Outcome, ...], tuple[str, ...]]] = {}

    def select(self, facts: QuoteFacts, line: LineFacts) -> Selected:
        """The checks see nothing of a line but its quantity (the rest is the plan's kind), so
        lines with the same quantity, as written (reasons show it), share the answer."""
        found = self._by_quantity.get(str(line.quantity))
        if found is None:
            considered = list(self.head)
            skipped = []
            for (rule, conditions), tail in zip(self.checks, self.tails):
                reason = first_failure(conditions, facts, line)
                if reason is not None:
                    skipped.append(rule)
                    considered.append(Outcome(rule, False, reason))
                considered += tail
            found = self._by_quantity[str(line.quantity)] = tuple(considered), tuple(skipped)
        return Selected(list(found[0]), self.selection, found[1])


class Selected(NamedTuple):
    """A line's rules: the outcomes of the candidates that do not apply, in the order the line
    lists them, and the selection whose rules apply, less `skipped`."""
    considered: list[Outcome]
    selection: Selection
    skipped: tuple[str, ...]


class QuoteRules:
    """The rules of a rule set as they stand for one quote, for each of its lines."""

    def __init__(self, rule_set: RuleSet, facts: QuoteFacts):
        self.rule_set, self.facts = rule_set, facts
        # every rule's quote conditions, once: None when they hold, else the rule's outcome
        self.verdicts: dict[str, Outcome | None] = dict.fromkeys(r.id for r in rule_set.rules)
        for rule in rule_set.rules:
            if rule.quote_conditions:
                reason = first_failure(rule.quote_conditions, facts)
                if reason is not None:
                    self.verdicts[rule.id] = Outcome(rule.id, False, reason)
        # lines see nothing of the quote but these verdicts (line conditions test line facts
        # only), so quotes that fail the same rules for the same reasons share their plans
        self._plans = rule_set.plans((facts.currency, *filter(None, self.verdicts.values())))

    def screen(self, product: str) -> tuple[tuple[Outcome, ...], tuple[Rule, ...]]:
        """The outcomes of the product's line rules whose quote conditions fail, and the
        rules whose quote conditions hold."""
        candidates = self.rule_set.candidates(product)
        verdicts = list(map(self.verdicts.__getitem__, candidates.ids))
        return tuple(filter(None, verdicts)), tuple(compress(candidates.rules, map(not_, verdicts)))

    def select(self, line: LineFacts) -> Selected:
        attributes = self.rule_set.candidates(line.product).attributes
        kind = (line.product, line.charge)
        if attributes:
            values = line.values
            kind += tuple(_value_key(values.get(a, _ABSENT)) for a in attributes)
        plan = self._plans.get(kind)
        if plan is None:
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            plan = self._plans[kind] = Plan(*self.screen(line.product), self.facts, line)
        return plan.select(self.facts, line)


def _value_key(value) -> tuple | None:
    """A configured value as conditions see it: True, 1 and 1.0 test alike but read apart."""
    return None if value is _ABSENT else (value.__class__, str(value))


class PlainRules(QuoteRules):
    """The reference: every candidate's quote and line conditions tested on every line."""

    def select(self, line: LineFacts) -> Selected:
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
        return Selected(considered, Selection(passed), ())
