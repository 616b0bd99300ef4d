"""How price rules stack on a line (docs/pricing.md, the waterfall's step 2) or the quote.

A `Selection` holds the rules whose conditions hold, by stacking mode. Whether an action
applies at all depends only on the currency and the quantity (`refusal`, rules/actions.py),
so a `Stacking` settles, once for all the lines of a selection with one quantity, the
exclusive rule that wins, the rules that are refused and every outcome but the `best_of`
winner's; each line then computes only the amounts of the rules that apply. rules.index
keeps a plan's stackings by quantity; `stack` makes one for a single amount (the quote
rules, the plain path).
"""

from __future__ import annotations

from decimal import Decimal
from operator import itemgetter
from typing import Iterable, NamedTuple

from core.cache import keep
from rules.actions import LineBasis
from rules.model import Rule
from rules.results import Outcome

MAX_FLOORS = 4096           # floors kept (per rule set, or per selection without one)


class Selection:
    """Rules whose conditions hold for the lines of a plan, as the waterfall uses them (by
    `Rule.slot`), in priority order; a line skips those its quantity rules out (`skipped`).
    Lines share the outcomes that name a winner."""

    __slots__ = ("groups", "floors", "frees", "lifts_cap", "_rules", "_excluded", "_outbid", "_floor_ids",
                 "_floor_set", "_floors")

    def __init__(self, rules: Iterable[Rule], floors: dict | None = None):
        """`floors`: where the floors decided are kept (RuleSet.floors, shared by the selections
        of every quote), else with the selection."""
        self._rules = tuple(rules)
        slots = ([], [], [], [], [], [])
        for rule in self._rules:
            slots[rule.slot].append(rule)
        self.groups = tuple(map(tuple, slots[:4]))      # price rules by stacking mode
        self.floors, self.frees = tuple(slots[4]), tuple(slots[5])
        self.lifts_cap = any(r.max_discount_percent is not None for r in self._rules)
        self._excluded: dict = {}
        self._outbid: dict = {}
        self._floor_ids = tuple(r.id for r in self.floors)
        self._floor_set = frozenset(self._floor_ids)
        self._floors: dict = {} if floors is None else floors

    def exclude(self, considered: list[Outcome], winner: Rule, losers: tuple[str, ...],
                skipped: tuple[str, ...]) -> None:
        """Add the outcomes of the price rules that the exclusive `winner` shuts out, in
        priority order: every other stacking mode, and the exclusive rules after it that would
        apply (`losers`); built once per winner, then sliced around the `skipped` rules."""
        found = self._excluded.get((winner.id, losers))
        if found is None:
            ids = [r.id for r in self._rules if 0 < r.slot < 4 or r.id in losers]
            found = self._excluded[winner.id, losers] = [winner.excluding(ids), None]
        outcomes = found[0]
        if not skipped:
            considered += outcomes
            return
        position = found[1]
        if position is None:
            position = found[1] = {o.rule: i for i, o in enumerate(outcomes)}
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
            found = self._outbid[key] = best.outbidding([r.id for r in self.groups[1]
                                                         if r is not best and r.id not in out])
        return found

    def floor(self, skipped: tuple[str, ...], basis: LineBasis) -> Floors:
        """The highest unit floor of those that apply (less `skipped`). A floor depends only on
        the floor rules that count, the line's unit cost and the currency, so lines share the
        answer, and so do the selections with the same floor rules."""
        counting = self._floor_ids
        if skipped and counting and not self._floor_set.isdisjoint(skipped):
            counting = tuple(rule_id for rule_id in counting if rule_id not in skipped)
        key = (counting, basis.unit_cost, basis.currency)
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
                return keep(self._floors, key, Floors(tuple(considered), None, None, None, None), MAX_FLOORS)
            value, winner = max(candidates, key=itemgetter(0))
            reason = f"a higher floor applies ({winner.id})"
            considered += [Outcome(r.id, False, reason) for r in self.floors if r is not winner and r.id not in out]
            found = keep(self._floors, key, Floors(
                tuple(considered), value, winner, Outcome(winner.id, False, "the price is above this floor"),
                Outcome(winner.id, True, f"applied: raised to the {winner.action.describe()}")), MAX_FLOORS)
        return found


class Floors(NamedTuple):
    """The floors of a line: the outcomes of those that do not count, the highest unit floor
    and its rule (None without one), and the rule's outcome when the price is above it or not."""
    considered: tuple[Outcome, ...]
    value: Decimal | None
    winner: Rule | None
    above: Outcome | None
    applied: Outcome | None


def stack(selection: Selection, skipped: tuple[str, ...], base: Decimal, basis: LineBasis,
          considered: list[Outcome]) -> list[tuple[Rule, Decimal]]:
    """Apply price rules (in priority order, less `skipped`) to `base` by their stacking
    behaviour; returns the applied rules with their exact discounts and records every rule's
    outcome."""
    stacking = Stacking(selection, skipped, basis)
    rules, exact, outcomes = stacking.apply(base)
    considered += stacking.head
    considered += outcomes
    return list(zip(rules, exact))


class Stacking:
    """`stack` decided for the lines of one selection with one currency and quantity (less
    `skipped`): the outcomes up to the `best_of` winner's (`head`, after those `before`), the
    exclusive `winner` or the `best_of` offers and the additive and compounding rules that
    apply, each as its term (`Rule.resolve`: the rule and how its discount follows from the
    base), and the outcomes after them (`tail`). Which rules apply, why the others do not and
    their terms depend on nothing else (rules/actions.py). Plans keep one per quantity: it
    holds no container it does not need, since the collector walks every one that a quote
    leaves."""

    __slots__ = ("skipped", "head", "winner", "offers", "additive", "compounding", "tail", "selection",
                 "alike", "_after", "_out", "_outbid")

    def __init__(self, selection: Selection, skipped: tuple[str, ...], basis: LineBasis,
                 before: Iterable[Outcome] = ()):
        exclusive, best_of, additive, compounding = selection.groups
        self.skipped, self.selection, self._out, self._outbid = skipped, selection, None, None
        self.alike: dict = {}    # the waterfalls of its lines, by what else they read (rules.engine)
        self.winner, self.offers, self.additive, self.compounding, self.tail = None, (), (), (), ()
        key = (basis.currency, str(basis.quantity))
        head = list(before)
        losers = []
        for rule in exclusive:
            if rule.id in skipped:
                continue
            term = rule.resolve(basis, key) if rule.refuses else rule.term
            if term.__class__ is Outcome:
                head.append(term)
            elif self.winner is None:
                self.winner = term
            else:
                losers.append(rule.id)
        if self.winner is not None:
            winner = self.winner[0]
            head.append(winner.applied)
            selection.exclude(head, winner, tuple(losers), skipped)
            self.head = tuple(head)
            return
        offers, out = [], []
        skipping = frozenset(skipped)     # asked of every other price rule: a set answers at once
        for rule in best_of:
            if rule.id in skipping:
                continue
            term = rule.resolve(basis, key) if rule.refuses else rule.term
            if term.__class__ is Outcome:
                head.append(term)
                out.append(rule.id)
            else:
                offers.append(term)
        if offers:
            self.offers, self._out = tuple(offers), skipped + tuple(out)
        tail: list[Outcome] = []
        self.additive = self._applying(additive, skipping, basis, key, tail)
        self.compounding = self._applying(compounding, skipping, basis, key, tail)
        self._after = tuple(term[0] for term in self.additive + self.compounding)
        self.head, self.tail = tuple(head), tuple(tail)

    @staticmethod
    def _applying(group: tuple[Rule, ...], skipped: frozenset[str], basis: LineBasis, key: tuple[str, str],
                  tail: list[Outcome]) -> tuple[tuple, ...]:
        """The terms of the rules of `group` that apply (less `skipped`); every rule's outcome
        goes to `tail`."""
        out = []
        for rule in group:
            if rule.id in skipped:
                continue
            term = rule.resolve(basis, key) if rule.refuses else rule.term
            if term.__class__ is Outcome:
                tail.append(term)
            else:
                out.append(term)
                tail.append(rule.applied)
        return tuple(out)

    def apply(self, base: Decimal) -> tuple[list[Rule], list[Decimal], list[Outcome]]:
        """What `stack` gives for a line of this quantity: the applied rules, their exact
        discounts, and the stacking's outcomes after its `head`."""
        winner = self.winner
        if winner is not None:
            amount = winner[1](base, winner[2])
            return [winner[0]], [amount if amount < base else base], []
        exact: list[Decimal] = []
        considered: list[Outcome] = []
        running = base
        if self.offers:
            best, most = None, None
            for term in self.offers:
                amount = term[1](running, term[2])
                if best is None or amount > most:        # the first of equal offers wins
                    best, most = term, amount
            if most > running:
                most = running
            exact.append(most)
            considered += self._outcomes(best[0])
            running -= most
            rules = [best[0], *self._after]
        else:
            rules = list(self._after)
        additive_base = running              # additive rules each on the same base (together never
        for _, fn, arg in self.additive:     # below zero), compounding ones on the running amount
            amount = fn(additive_base, arg)
            if amount > running:
                amount = running
            exact.append(amount)
            running -= amount
        for _, fn, arg in self.compounding:
            amount = fn(running, arg)
            if amount > running:
                amount = running
            exact.append(amount)
            running -= amount
        considered += self.tail
        return rules, exact, considered

    def _outcomes(self, best: Rule) -> tuple[Outcome, ...]:
        """The outcomes of the `best_of` rules when `best` wins, its own first."""
        if self._outbid is None:
            self._outbid = {}
        found = self._outbid.get(best.id)
        if found is None:
            found = self._outbid[best.id] = (best.applied, *self.selection.outbid(best, self._out))
        return found
