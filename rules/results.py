"""Plain, immutable inputs and results of pricing a quote draft."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Mapping, NamedTuple

from catalog.model import Value
from catalog.pricebook import ListPrice, PriceElement


@dataclass(frozen=True)
class ManualDiscount:
    """A rep's discount: a percentage, or an amount off the line (or quote) total."""
    percent: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class LineInput:
    id: str
    product: str
    quantity: Decimal
    list_price: ListPrice
    values: Mapping[str, Value] = field(default_factory=dict)
    term_months: int | None = None              # overrides the price book's default term
    discount: ManualDiscount | None = None
    complete: bool = True                       # False: defaults filled in what is not chosen
    contract_price: Decimal | None = None       # a contract's net per period, kept instead of the rules'


@dataclass(frozen=True)
class QuoteInput:
    currency: str
    day: date
    customer: str | None = None
    segment: str | None = None
    tier: str | None = None
    channel: str | None = None
    promo_codes: tuple[str, ...] = ()
    payment_terms: str | None = None
    discount: ManualDiscount | None = None      # header discount
    promo_usage: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    """code -> (redemptions in total, redemptions by this customer), read from the store."""


class Step(NamedTuple):
    """One row of a waterfall: what changed the price and by how much (+ lowers it).
    (Steps and outcomes are named tuples: a 10,000-line quote makes hundreds of thousands.)"""
    kind: str            # rule | manual | cap | floor | free | quote_rule | quote_manual | contract
    rule: str | None
    label: str
    amount: Decimal


# a named tuple made without its Python-level __new__, where thousands are made per quote:
# tuple_new(Step, (kind, rule, label, amount)) is Step(kind, rule, label, amount)
tuple_new = tuple.__new__


class Outcome(NamedTuple):
    """Whether a rule (or promo code) applied, and why or why not."""
    rule: str
    applied: bool
    reason: str


@dataclass(frozen=True)
class LinePrice:
    id: str
    product: str
    name: str
    quantity: Decimal
    charge: str
    term_months: int | None
    periods: Decimal                 # billing periods in the term (1 for one-time)
    elements: tuple[PriceElement, ...]
    list_unit_price: Decimal
    list_total: Decimal
    steps: tuple[Step, ...]
    net_total: Decimal               # per period for recurring lines
    unit_cost: Decimal | None
    considered: tuple[Outcome, ...]
    complete: bool
    free_of: str | None = None       # for a free item: the line that earned it

    @property
    def discount_total(self) -> Decimal:
        return self.list_total - self.net_total

    @property
    def contract_value(self) -> Decimal:
        return self.net_total * self.periods

    @property
    def list_contract_value(self) -> Decimal:
        return self.list_total * self.periods

    @property
    def cost_total(self) -> Decimal | None:
        if self.unit_cost is None:
            return None
        return self.unit_cost * self.quantity * self.periods

    @property
    def manual(self) -> bool:
        return any(s.kind in ("manual", "quote_manual") for s in self.steps)


@dataclass(frozen=True)
class Totals:
    one_time_list: Decimal
    one_time_net: Decimal
    recurring: Mapping[str, Decimal]     # charge (monthly, annual...) -> net per period
    list_contract_value: Decimal
    contract_value: Decimal              # total contract value (TCV)
    cost: Decimal | None                 # None when some line has no cost
    discount_percent: Decimal            # of the list contract value
    margin: Decimal | None
    margin_percent: Decimal | None


@dataclass(frozen=True)
class ApprovalReason:
    rule: str
    description: str
    detail: str


@dataclass(frozen=True)
class RequiredApproval:
    level: str
    label: str
    stage: int
    reasons: tuple[ApprovalReason, ...]


@dataclass(frozen=True)
class QuotePrice:
    currency: str
    day: date
    price_book: str
    price_book_version: int
    rule_set: str
    rule_set_version: int
    lines: tuple[LinePrice, ...]
    quote_steps: tuple[Step, ...]
    quote_considered: tuple[Outcome, ...]
    promotions: tuple[Outcome, ...]
    totals: Totals
    approvals: tuple[RequiredApproval, ...] = ()
