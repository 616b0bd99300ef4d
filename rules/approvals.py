"""The approval policy: which approvals a priced quote needs, and why.

An approval rule fires when all its conditions hold; each condition's `check` returns what
it saw ("line discount 35.00% is above 20%") so the rep reads why, before submitting.
Required levels are grouped into stages from the policy: stage 1 approves first, the levels
of one stage approve in parallel, and the next stage starts when a stage is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from core.money import percent_of
from rules.conditions import OneOf, QuoteFacts
from rules.results import ApprovalReason, LinePrice, RequiredApproval, Totals

PERCENT_METRICS = ("line_discount_percent", "quote_discount_percent", "margin_percent")
CONDITION_KEYS = PERCENT_METRICS + ("deal_value", "payment_terms", "products", "manual_discount")
LABELS = {"line_discount_percent": "line discount", "quote_discount_percent": "quote discount",
          "margin_percent": "margin", "deal_value": "deal value"}


@dataclass(frozen=True)
class Deal:
    """The facts approval rules look at."""
    quote: QuoteFacts
    metrics: Mapping[str, Decimal | None]   # PERCENT_METRICS and deal_value
    products: frozenset[str]
    manual_discount: bool
    standard_terms: frozenset[str]


@dataclass(frozen=True)
class Fact:
    """A quote fact (customer tier, channel...) used as an approval condition."""
    condition: OneOf

    def check(self, deal: Deal) -> str | None:
        if self.condition.test(deal.quote, None) is not None:
            return None
        return f"{self.condition.label} is {getattr(deal.quote, self.condition.fact)}"


@dataclass(frozen=True)
class Metric:
    name: str
    above: Decimal | Mapping[str, Decimal] | None
    below: Decimal | Mapping[str, Decimal] | None

    def check(self, deal: Deal) -> str | None:
        value = deal.metrics.get(self.name)
        label = LABELS[self.name]
        suffix = "%" if self.name in PERCENT_METRICS else f" {deal.quote.currency}"
        if value is None:   # e.g. a margin without costs: unknown counts as exceeding
            return f"{label} cannot be computed (the price book lacks costs)"
        above, below = self._bound(self.above, deal), self._bound(self.below, deal)
        if above is None and below is None:       # no threshold in this quote's currency
            return None
        if above is not None and not value > above:
            return None
        if below is not None and not value < below:
            return None
        parts = [f"above {above}{suffix}" if above is not None else "",
                 f"below {below}{suffix}" if below is not None else ""]
        return f"{label} {value}{suffix} is " + " and ".join(p for p in parts if p)

    @staticmethod
    def _bound(bound, deal: Deal):
        if isinstance(bound, Mapping):
            return bound.get(deal.quote.currency)   # no threshold in this currency: no test
        return bound


@dataclass(frozen=True)
class NonStandardTerms:
    def check(self, deal: Deal) -> str | None:
        terms = deal.quote.payment_terms
        if terms is None or terms in deal.standard_terms:
            return None
        return f"payment terms {terms} are not standard ({', '.join(sorted(deal.standard_terms))})"


@dataclass(frozen=True)
class HasProducts:
    products: frozenset[str]

    def check(self, deal: Deal) -> str | None:
        found = sorted(self.products & deal.products)
        return f"the quote holds {', '.join(found)}" if found else None


@dataclass(frozen=True)
class ManualDiscount:
    given: bool

    def check(self, deal: Deal) -> str | None:
        if deal.manual_discount != self.given:
            return None
        return "a manual discount is given" if self.given else "no manual discount is given"


def deal_metrics(lines: tuple[LinePrice, ...], totals: Totals) -> dict[str, Decimal | None]:
    priced = [line for line in lines if line.free_of is None and line.list_total]
    return {
        "line_discount_percent": max((percent_of(line.discount_total, line.list_total) for line in priced),
                                     default=percent_of(Decimal(0), Decimal(0))),
        "quote_discount_percent": totals.discount_percent,
        "margin_percent": totals.margin_percent,
        "deal_value": totals.contract_value,
    }


def required_approvals(rule_set, deal: Deal) -> tuple[RequiredApproval, ...]:
    """The levels the deal needs, by stage, each with the reasons of every rule that asked for
    it. A quote with no lines sells nothing yet, so it needs none (its margin, 0 of 0, would
    otherwise read as 0% and ask for finance)."""
    if not deal.products:
        return ()
    reasons: dict[str, list[ApprovalReason]] = {}
    for rule in rule_set.approval_rules:
        details = []
        for condition in rule.conditions:
            detail = condition.check(deal)
            if detail is None:
                break
            details.append(detail)
        else:
            for level in rule.require:
                reasons.setdefault(level, []).append(
                    ApprovalReason(rule.id, rule.description, "; ".join(details)))
    levels = sorted((rule_set.levels[lid] for lid in reasons), key=lambda lv: (lv.stage, lv.id))
    return tuple(RequiredApproval(lv.id, lv.label, lv.stage, tuple(reasons[lv.id])) for lv in levels)
