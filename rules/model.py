"""A rule set: pricing rules, promotions and the approval policy, immutable once loaded.

The set is indexed when it is built (rules by product, quote-level vs line-level, floors,
free items) so that pricing a line looks only at the rules that can concern it; with 500
rules and 10,000 lines, testing every rule on every line would be most of the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from decimal import Decimal
from typing import Mapping, Union

from rules.results import Outcome
from rules.actions import AmountOff, Floor, FreeItem, Percent, SetPrice, Volume

KIND = "rule_set"
STACKING = ("exclusive", "best_of", "additive", "compounding")

Action = Union[Percent, AmountOff, SetPrice, Volume, Floor, FreeItem]


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

    @property
    def order(self) -> tuple[int, str]:
        return (self.priority, self.id)

    @cached_property
    def stack_index(self) -> int:
        """0 exclusive, 1 best_of, 2 additive, 3 compounding: the order stacking applies them."""
        return STACKING.index(self.stacking)

    @cached_property
    def role(self) -> str:
        """What pricing does with the rule: `floor`, `free` (adds a free item) or `price`."""
        return "floor" if isinstance(self.action, Floor) else "free" if isinstance(self.action, FreeItem) else "price"

    @cached_property
    def applied(self) -> Outcome:
        """The outcome of this rule when it applies (the same every time)."""
        return Outcome(self.id, True, f"applied: {self.action.describe()}")


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
        object.__setattr__(self, "_line_cache", {})

    def line_rules(self, product: str) -> tuple[Rule, ...]:
        """Line rules that can apply to `product`, in priority order."""
        cached = self._line_cache.get(product)
        if cached is None:
            merged = self._by_product.get(product, ()) + self._any_product
            cached = self._line_cache[product] = tuple(sorted(merged, key=lambda r: r.order))
        return cached

    @property
    def quote_rules(self) -> tuple[Rule, ...]:
        return self._quote_rules
