"""Conditions of pricing and approval rules, and the facts they are tested against.

A condition's `test` returns None when it holds and otherwise the reason it does not, in
words a rep can read ("quantity 5 is below 10"), because the waterfall shows why each rule
did or did not apply. Quote-level conditions (customer, channel, date, promo code...) are
tested once per quote; line-level ones (product, attributes, quantity) once per line, or once
per kind of line when they test only `PLAN_FACTS` (rules.index). Each condition says which
line fact it reads (`line_fact`, None for quote facts) and which quote fact (`quote_fact`,
None for line facts) so that the index can tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import date
from decimal import Decimal
from typing import Any, Mapping, NamedTuple

from catalog.model import Value


@dataclass(frozen=True)
class QuoteFacts:
    currency: str
    day: date
    customer: str | None = None
    segment: str | None = None
    tier: str | None = None
    channel: str | None = None
    promo_codes: frozenset[str] = frozenset()      # codes accepted for this quote
    list_total: Decimal = Decimal(0)               # one-time + per-period list, before discounts
    product_quantities: Mapping[str, Decimal] = field(default_factory=dict)
    payment_terms: str | None = None


class LineFacts(NamedTuple):
    """One line's facts for line conditions (a named tuple: one is built per line)."""
    product: str
    quantity: Decimal
    charge: str
    values: Mapping[str, Value]


# the line facts that rules.index keys its plans by (all but the quantity): conditions on them
# are decided once for all the lines of a product with the same charge and configured values
PLAN_FACTS = frozenset(LineFacts._fields) - {"quantity"}

# the quote facts that say what a quote holds, which change from one of a customer's quotes to
# the next (bundles, the quote total): rules.index decides conditions on them per quote
# inside plans that quotes share, not in how it keys them
CONTENT_FACTS = frozenset({"list_total", "product_quantities"})


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _names(values) -> str:
    return ", ".join(sorted(_show(v) for v in values))


class _OnFact:
    """A condition on one fact (`fact`), of the line when `line` is set, else of the quote:
    which of the two it reads, as the index asks every condition."""

    @property
    def line_fact(self) -> str | None:
        return self.fact if self.line else None

    @property
    def quote_fact(self) -> str | None:
        return None if self.line else self.fact


@dataclass(frozen=True)
class OneOf(_OnFact):
    """A quote or line fact is one of `values` (customer tier, channel, currency...)."""
    fact: str            # attribute name on QuoteFacts or LineFacts
    label: str
    values: frozenset
    line: bool = False

    @cached_property
    def _expected(self) -> str:
        return _names(self.values)

    def test(self, quote: QuoteFacts, line: LineFacts | None) -> str | None:
        actual = getattr(line if self.line else quote, self.fact)
        if actual in self.values:
            return None
        if actual is None:
            return f"no {self.label} given (needs {self._expected})"
        return f"{self.label} {_show(actual)} is not {self._expected}"


@dataclass(frozen=True)
class Between(_OnFact):
    """minimum <= fact <= maximum for a number (quantity) or, per currency, an amount."""
    fact: str
    label: str
    minimum: Decimal | Mapping[str, Decimal] | None
    maximum: Decimal | Mapping[str, Decimal] | None
    line: bool = False

    @cached_property
    def _per_currency(self) -> bool:
        return isinstance(self.minimum, Mapping) or isinstance(self.maximum, Mapping)

    def test(self, quote: QuoteFacts, line: LineFacts | None) -> str | None:
        actual = getattr(line if self.line else quote, self.fact)
        low, high = self.minimum, self.maximum
        if self._per_currency:
            low, high = _in(low, quote.currency), _in(high, quote.currency)
            if low is _MISSING or high is _MISSING:
                return f"no {self.label} threshold in {quote.currency}"
        if low is not None and actual < low:
            return f"{self.label} {actual} is below {low}"
        if high is not None and actual > high:
            return f"{self.label} {actual} is above {high}"
        return None


_MISSING = object()


def _in(bound, code: str):
    if isinstance(bound, Mapping):
        return bound.get(code, _MISSING)
    return bound


@dataclass(frozen=True)
class DateWindow:
    start: date | None
    end: date | None       # last day, inclusive
    line_fact = None
    quote_fact = "day"

    def test(self, quote: QuoteFacts, line: LineFacts | None) -> str | None:
        if self.start is not None and quote.day < self.start:
            return self._reasons[0]
        if self.end is not None and quote.day > self.end:
            return self._reasons[1]
        return None

    @cached_property
    def _reasons(self) -> tuple[str, str]:
        return (f"not valid before {self.start.isoformat()}" if self.start else "",
                f"expired on {self.end.isoformat()}" if self.end else "")


@dataclass(frozen=True)
class PromoCode:
    code: str
    line_fact = None
    quote_fact = "promo_codes"

    def test(self, quote: QuoteFacts, line: LineFacts | None) -> str | None:
        return None if self.code in quote.promo_codes else self._missing

    @cached_property
    def _missing(self) -> str:
        return f"promo code {self.code} not applied"


@dataclass(frozen=True)
class WithProducts:
    """Bundles: the quote also holds these products, at least in these quantities."""
    required: Mapping[str, Decimal]
    line_fact = None
    quote_fact = "product_quantities"

    def test(self, quote: QuoteFacts, line: LineFacts | None) -> str | None:
        for product, minimum in sorted(self.required.items()):
            have = quote.product_quantities.get(product, 0)
            if have < minimum:
                return f"the quote needs {minimum} x {product} (has {have})"
        return None


@dataclass(frozen=True)
class AttributeIs:
    """A configured line's attribute has one of `values`, or lies in [minimum, maximum]."""
    attribute: str
    values: frozenset | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    line_fact = "values"
    quote_fact = None

    @cached_property
    def _expected(self) -> str:
        return _names(self.values)

    def test(self, quote: QuoteFacts, line: LineFacts | None) -> str | None:
        if self.attribute not in line.values:
            return f"{self.attribute} is not decided"
        actual = line.values[self.attribute]
        if self.values is not None:
            if actual in self.values:
                return None
            return f"{self.attribute} is {_show(actual)}, not {self._expected}"
        if isinstance(actual, bool) or not isinstance(actual, (int, Decimal)):
            return f"{self.attribute} is not a number"
        if self.minimum is not None and actual < self.minimum:
            return f"{self.attribute} {actual} is below {self.minimum}"
        if self.maximum is not None and actual > self.maximum:
            return f"{self.attribute} {actual} is above {self.maximum}"
        return None


def first_failure(conditions, quote: QuoteFacts, line: LineFacts | None = None) -> str | None:
    """The reason the first failing condition gives, or None when all hold."""
    for condition in conditions:
        reason = condition.test(quote, line)
        if reason is not None:
            return reason
    return None
