"""A rule set: pricing rules, promotions and the approval policy, immutable once loaded.

The set is indexed when it is built (line rules by product, quote-level rules apart) so that
pricing a line looks only at the rules that can concern it, and each product's candidates
know which configured attributes they test; rules.index takes it from there, per quote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Callable, Mapping, NamedTuple, TypeVar, Union

from core.cache import LruCache, keep
from rules.results import Outcome
from rules.actions import AmountOff, Floor, FreeItem, LineBasis, Percent, PriceAction, SetPrice, Volume
from rules.conditions import CONTENT_FACTS, PLAN_FACTS, first_failure

KIND = "rule_set"
STACKING = ("exclusive", "best_of", "additive", "compounding")
MAX_KEPT = 512              # outcomes a rule keeps by currency and quantity

Action = Union[Percent, AmountOff, SetPrice, Volume, Floor, FreeItem]
T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    priority: int                   # lower runs first and wins ties
    stacking: str
    target: str                     # line | quote
    quote_conditions: tuple         # tested once per quote
    line_conditions: tuple          # tested per line
    products: frozenset[str] | None  # None: any product
    action: Action
    max_discount_percent: Decimal | None = None   # lifts the set's cap when this rule applies

    def __post_init__(self):
        """What pricing reads of a rule on every line, set once as plain attributes (CPython
        3.11 reads those several times faster than a cached_property's value):
        - `slot`: where pricing puts it: 0-3 price rules by stacking mode (exclusive, best_of,
          additive, compounding: the order stacking applies them), 4 floors, 5 free items;
        - `step`: the kind, rule and label of its waterfall step when it applies to a line;
        - `applied`: its outcome when it applies (the same every time);
        - `refuses`: whether its price action may not apply to a line (False: a percentage always
          does; and for floors and free items, which are not asked);
        - `term`: for a price rule that never refuses, what `resolve` would give (the same for
          every line: a percentage reads no basis), else None;
        - `line_split`: its line conditions before the first one on a fact outside PLAN_FACTS
          (the quantity), and from there on: rules.index decides the first part once per kind
          of line, the rest on each line, so that the first failing condition is still the one
          reported;
        - `volatile`: its quote conditions read what the quote holds (CONTENT_FACTS), so whether
          they hold changes from one of a customer's quotes to the next (rules.index)."""
        action = self.action
        if isinstance(action, Floor):
            slot = 4
        else:
            slot = 5 if isinstance(action, FreeItem) else STACKING.index(self.stacking)
        split = len(self.line_conditions)
        for i, condition in enumerate(self.line_conditions):
            if condition.line_fact is not None and condition.line_fact not in PLAN_FACTS:
                split = i
                break
        refuses = getattr(type(action), "refusal", PriceAction.refusal) is not PriceAction.refusal
        per_line = self.line_conditions[split:]
        term = (self, *action.resolve(None)) if slot < 4 and not refuses else None
        for name, value in (("slot", slot), ("step", ("rule", self.id, self.description)),
                            ("applied", Outcome(self.id, True, f"applied: {action.describe()}")),
                            ("refuses", refuses), ("term", term), ("line_split", (self.line_conditions[:split], per_line)),
                            ("volatile", any(c.quote_fact in CONTENT_FACTS for c in self.quote_conditions)),
                            # where `resolve` keeps its answers, and `check` its own when its
                            # conditions read only the quantity (None when they read more)
                            ("_resolved", {} if refuses else None),
                            ("_checks", {} if all(c.line_fact == "quantity" for c in per_line) else None)):
            object.__setattr__(self, name, value)

    @property
    def order(self) -> tuple[int, str]:
        return (self.priority, self.id)

    @cached_property
    def _shut_out(self) -> dict[str, Outcome]:
        return {}

    @cached_property
    def _outbid(self) -> dict[str, Outcome]:
        return {}

    def resolve(self, basis: LineBasis, key: tuple[str, str]) -> Outcome | tuple:
        """For lines of the currency and quantity (`key`: both, the quantity as written), the
        outcome of this price rule when its action does not apply, else its term (rule, fn,
        arg): the discount on a base is fn(base, arg) (`PriceAction.resolve`). Both read
        nothing else (rules/actions.py), so they are kept per rule for every quote; a rule
        that never refuses has its `term` at once."""
        if not self.refuses:
            return self.term
        found = self._resolved.get(key)
        if found is None:
            reason = self.action.refusal(basis)
            found = keep(self._resolved, key, (self, *self.action.resolve(basis)) if reason is None else
                         Outcome(self.id, False, reason), MAX_KEPT)
        return found

    def check(self, facts, line, key: tuple[str, str]) -> Outcome | None:
        """The outcome of the line conditions that rules.index tests on each line (`line_split`)
        when one fails, else None; kept per currency and quantity (`key`) when they read only
        the quantity."""
        known = self._checks
        found = _UNSET if known is None else known.get(key, _UNSET)
        if found is _UNSET:
            reason = first_failure(self.line_split[1], facts, line)
            found = None if reason is None else Outcome(self.id, False, reason)
            if known is not None:
                keep(known, key, found, MAX_KEPT)
        return found

    def excluding(self, ids) -> tuple[Outcome, ...]:
        """The outcomes of the rules `ids` when this exclusive rule applies: kept per rule,
        since the same few winners shut out the same rules on every quote's lines."""
        return _outcomes(self._shut_out, ids, f"exclusive rule {self.id} applies")

    def outbidding(self, ids) -> tuple[Outcome, ...]:
        """The outcomes of the `best_of` rules `ids` when this one gives the larger discount."""
        return _outcomes(self._outbid, ids, f"{self.id} gives a larger discount")


_UNSET = object()


def _outcomes(known: dict[str, Outcome], ids, reason: str) -> tuple[Outcome, ...]:
    """The outcomes of the rules `ids` (not applied, for `reason`), each made once in `known`."""
    for rid in ids:
        if rid not in known:
            known[rid] = Outcome(rid, False, reason)
    return tuple(map(known.__getitem__, ids))


class Candidates(NamedTuple):
    """The line rules that can apply to a product, and what their conditions look at."""
    rules: tuple[Rule, ...]            # in priority order
    ids: tuple[str, ...]               # their ids
    attributes: tuple[str, ...]        # configured attributes their conditions test
    pick: Callable[[Mapping[str, object]], tuple]   # a mapping's values for `ids`, in order
    volatile: tuple[int, ...]          # the positions of the Rule.volatile ones (a few)
    planned: tuple[int, ...]           # the positions of those with line conditions a plan decides


def _picker(ids: tuple[str, ...]) -> Callable[[Mapping[str, object]], tuple]:
    """`pick` for `ids`: one itemgetter call, which gives a tuple for two ids or more."""
    if len(ids) > 1:
        return itemgetter(*ids)
    return lambda by_id: tuple(map(by_id.__getitem__, ids))


@dataclass(frozen=True)
class Promotion:
    code: str
    description: str
    start: date | None
    end: date | None                # last valid day, inclusive
    usage_limit: int | None         # redemptions in total
    per_customer_limit: int | None
    products: frozenset[str] | None  # eligible products (None: any)
    min_spend: Mapping[str, Decimal]  # currency -> list total of eligible lines


@dataclass(frozen=True)
class ApprovalLevel:
    id: str
    label: str
    stage: int                      # stages run in order; levels of one stage in parallel


@dataclass(frozen=True)
class ApprovalRule:
    id: str
    description: str
    conditions: tuple               # rules.approvals conditions
    require: tuple[str, ...]        # level ids


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: int
    description: str
    max_line_discount_percent: Decimal | None
    rules: tuple[Rule, ...]
    promotions: Mapping[str, Promotion]
    levels: Mapping[str, ApprovalLevel]
    approval_rules: tuple[ApprovalRule, ...]
    standard_payment_terms: frozenset[str]
    digest: str
    source: dict = field(repr=False, compare=False)

    def __post_init__(self):
        ordered = sorted(self.rules, key=lambda r: r.order)
        by_product: dict[str, list[Rule]] = {}
        line_rules = [r for r in ordered if r.target == "line"]
        for rule in line_rules:
            for product in rule.products or ():
                by_product.setdefault(product, []).append(rule)
        object.__setattr__(self, "_any_product", tuple(r for r in line_rules if r.products is None))
        object.__setattr__(self, "_by_product", {p: tuple(rs) for p, rs in by_product.items()})
        object.__setattr__(self, "_quote_rules", tuple(r for r in ordered if r.target == "quote"))
        object.__setattr__(self, "ids", tuple(r.id for r in self.rules))
        object.__setattr__(self, "conditional", tuple(r for r in self.rules if r.quote_conditions))
        object.__setattr__(self, "volatile", tuple(r for r in self.conditional if r.volatile))
        object.__setattr__(self, "_steady", LruCache(16))  # rules.index.Steady, by steady quote facts
        object.__setattr__(self, "_line_cache", {})
        object.__setattr__(self, "plans", {})       # rules.index.Plan, for every quote
        object.__setattr__(self, "_quote_plans", LruCache(16))
        object.__setattr__(self, "floors", {})      # rules.stack.Selection.floor, for every quote
        object.__setattr__(self, "kinds", {})       # rules.index.QuoteRules.decide, for every quote

    def line_rules(self, product: str) -> tuple[Rule, ...]:
        """Line rules that can apply to `product`, in priority order."""
        return self.candidates(product).rules

    def candidates(self, product: str) -> Candidates:
        cached = self._line_cache.get(product)
        if cached is None:
            merged = sorted(self._by_product.get(product, ()) + self._any_product, key=lambda r: r.order)
            tested = {c.attribute for r in merged for c in r.line_conditions if c.line_fact == "values"}
            ids = tuple(r.id for r in merged)
            cached = self._line_cache[product] = Candidates(tuple(merged), ids, tuple(sorted(tested)),
                                                            _picker(ids),
                                                            tuple(i for i, r in enumerate(merged) if r.volatile),
                                                            tuple(i for i, r in enumerate(merged) if r.line_split[0]))
        return cached

    def steady(self, facts: tuple, build: Callable[[], T]) -> T:
        """What the rules whose quote conditions are not volatile decide for quotes with these
        quote facts (rules.index.Steady): a customer's quotes share it."""
        return self._steady.get(facts, build)

    def quote_plans(self, verdicts: tuple) -> dict:
        """The plans (rules.index) of the kinds of line priced on quotes with these quote-level
        verdicts, each with the quote's own outcomes: repricing a quote, or another quote with
        the same facts, starts with them."""
        return self._quote_plans.get(verdicts, dict)

    @property
    def quote_rules(self) -> tuple[Rule, ...]:
        return self._quote_rules
