"""Revenue of a contract whose deal changed: amendments, credit notes and a termination
(ASC 606-10-25-10 to 25-13, 32-42 to 32-45; IFRS 15.18-21, 87-90).

The contract's revenue is worked out as a timeline of changes from its inception schedule
(billing/revenue.py). Each performance obligation is an order line of the contract's orders
(a recurring one runs as its subscription, at the price of its versions). A change on day d:

- **an amendment that only adds distinct products, each at its standalone selling price**
  (net = list, the price book's price for the days it runs) is a separate contract
  (25-12): its lines get their own transaction price (their values, co-termed), allocated
  among them by standalone selling price, and recognised from d; nothing else changes;
- **any other amendment** (a quantity or configuration change, a removal, an addition at a
  discount) is accounted for prospectively (25-13(a)): the remaining services are distinct
  from those already transferred, so the original contract ends on d-1 and a new one starts
  on d. What each obligation earned through d-1 stays. The consideration left, the changed
  contract's transaction price (what the subscriptions bill over their terms after the
  change, the other lines' values) less what was recognised, is allocated over what is
  left to deliver (each subscription's days from d to its end at its list price for the
  quantity then in force; one-time lines not delivered yet at their list price) by those
  standalone selling prices, and recognised ratably from d (at delivery for goods);
- **a credit note that is not an amendment's** (a price concession, a correction) lowers
  the transaction price of the group its invoice belongs to (32-42): the same prospective
  reallocation, from its issue date;
- **a termination** on day t ends every obligation's recognition on t (one-time lines not
  delivered by then earn nothing), and what is recognised in total never exceeds what
  remains billed (invoices less credit notes, net of tax): any excess is reversed in the
  month of t. What was billed beyond that stays a liability to credit or refund, not revenue.

When less is left to recognise than was recognised already (a credit larger than the
consideration left, a removal of what was earned), the difference is a catch-up in the
month of the change, spread over the group's obligations by what each had earned, never
spread into later months. Amounts are exact: every allocation is `core.money.allocate`, and
every ratable piece rounds its running total once, so a group's months sum to its
transaction price to the minor unit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlmodel import Session, select

from billing import revenue, schedule
from billing.models import BillingAdjustment, Invoice
from core.money import ZERO, Currency, allocate, currency
from sales import subscriptions
from sales.models import Quote, QuoteLine
from sales.order_models import Contract, Order, OrderLine, Subscription, SubscriptionVersion

_DAY = timedelta(days=1)


@dataclass
class Item:
    """A performance obligation: an order line, and its subscription when it recurs."""
    key: str
    line: OrderLine
    group: int
    subscription: Subscription | None = None
    versions: list[SubscriptionVersion] = field(default_factory=list)


@dataclass
class Plan:
    """What each obligation recognises per month, and the transaction price in the end."""
    amounts: dict[tuple[str, str], Decimal]
    basis: dict[str, str]
    price: Decimal


def plan(session: Session, contract: Contract) -> Plan:
    """The contract's revenue per obligation and month, through every change (the pieces are
    billing/revenue.py's obligations, recognised by its one ratable formula)."""
    return _Timeline(session, contract, currency(contract.currency)).run()


class _Timeline:
    def __init__(self, session: Session, contract: Contract, cur: Currency):
        self.session, self.contract, self.cur = session, contract, cur
        self.amounts: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        self.earned: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.pieces: list[tuple[Item, object]] = []          # (item, Obligation) still running
        self.items: list[Item] = []
        self.credits: dict[int, Decimal] = defaultdict(lambda: ZERO)
        self.allowed: set[int | None] = set()                # quotes whose versions count so far
        self.ended: date | None = None                      # the termination date, once reached
        self.earned_by_end = ZERO                           # what was earned through it

    # -- the facts ------------------------------------------------------------------------

    def run(self) -> Plan:
        orders = self.session.exec(select(Order, Quote).join(Quote, Quote.id == Order.quote_id)
                                   .where(Order.contract_id == self.contract.id, Order.state != "cancelled")
                                   .order_by(Order.id)).all()
        inception = [o for o, q in orders if q.kind != "amendment"]
        self.allowed = {o.quote_id for o in inception}
        lines = [ln for o in inception for ln in _lines(self.session, o)]
        self.items = [self._item(ln, 0, ln.key) for ln in lines]
        for item, ob in zip(self.items, revenue.obligations(self.contract, lines)):
            self.pieces.append((item, ob))
        amendment_orders = {o.quote_id: o for o, q in orders if q.kind == "amendment"}
        for day, kind, ref in self._events(amendment_orders):
            if kind == "termination":
                self._terminate(day - _DAY)
            elif kind == "amendment" and self.ended is None:
                self._amend(day, ref, amendment_orders.get(ref.id))
            elif kind == "credit":
                self._credit(day, *ref)
        if self.ended is not None:
            return Plan(self.amounts, self._basis(), sum(self.earned.values(), ZERO))
        for item, ob in self.pieces:
            self._book(item, ob, None)
        price = sum((self._value(i) for i in self.items), ZERO) - sum(self.credits.values(), ZERO)
        return Plan(self.amounts, self._basis(), price)

    def _item(self, line: OrderLine, group: int, key: str) -> Item:
        if line.charge == "one_time":
            return Item(key, line, group)
        found, versions = subscriptions.line_versions(self.session, self.session.get(Order, line.order_id), line)
        return Item(key, line, group, found, versions)

    def _events(self, amendment_orders: dict[int, Order]) -> list[tuple[date, str, object]]:
        """Applied amendments (effective date) and credit notes no amendment made (issue date),
        in the order they took effect."""
        events = []
        amendments = self.session.exec(select(Quote).where(Quote.contract_id == self.contract.id,
                                                           Quote.kind == "amendment", Quote.latest)
                                       .order_by(Quote.effective_date, Quote.id)).all()
        for quote in amendments:
            changed = self.session.exec(select(SubscriptionVersion.id)
                                        .where(SubscriptionVersion.quote_id == quote.id)).first()
            if changed is not None or quote.id in amendment_orders:
                events.append((quote.effective_date, "amendment", quote))
        order_ids = [i.line.order_id for i in self.items] + [o.id for o in amendment_orders.values()]
        adjusted = select(BillingAdjustment.invoice_id)
        notes = self.session.exec(select(Invoice, Invoice.order_id).where(
            Invoice.kind == "credit_note", Invoice.state != "draft", Invoice.order_id.in_(order_ids),
            Invoice.id.not_in(adjusted)).order_by(Invoice.issue_date, Invoice.id)).all()
        for note, order_id in notes:
            original = self.session.get(Invoice, note.original_id)
            if original is not None and original.state != "void":        # a void re-bills: no concession
                events.append((note.issue_date, "credit", (order_id, note.net_total)))
        if self.contract.state == "terminated" and self.contract.terminated_on is not None:
            events.append((self.contract.terminated_on + _DAY, "termination", None))
        order = {"amendment": 0, "termination": 1, "credit": 2}
        return sorted(events, key=lambda e: (e[0], order[e[1]]))

    # -- the changes --------------------------------------------------------------------------

    def _amend(self, day: date, quote: Quote, order: Order | None) -> None:
        self.allowed.add(quote.id)
        added = _lines(self.session, order) if order is not None else []
        changes = self.session.exec(select(QuoteLine.id).where(QuoteLine.quote_id == quote.id,
                                                               QuoteLine.subscription_id.is_not(None))).first()
        for item in self.items:                   # the versions it added
            if item.subscription is not None:
                item.versions = subscriptions.versions_of(self.session, item.subscription)
        if changes is None and added and all(ln.net_total == ln.list_total for ln in added):
            group = max(i.group for i in self.items) + 1 if self.items else 1
            new = [self._item(ln, group, f"{quote.number}/{ln.key}") for ln in added]
            self.items.extend(new)
            self._reallocate(day, group)                  # a separate contract: its own price and schedule
            return
        self.items.extend(self._item(ln, 0, f"{quote.number}/{ln.key}") for ln in added)
        self._reallocate(day, 0)

    def _credit(self, day: date, order_id: int, amount: Decimal) -> None:
        if self.ended is not None:               # after a termination: never more than remains billed
            self._cap(day, min(self.earned_by_end, self._billed(day)))
            return
        group = next((i.group for i in self.items if i.line.order_id == order_id), 0)
        self.credits[group] += amount
        self._reallocate(day, group)

    def _reallocate(self, day: date, group: int) -> None:
        """From `day` on, the group's consideration left over what it has left to deliver."""
        members = [i for i in self.items if i.group == group]
        for item, ob in [p for p in self.pieces if p[0].group == group]:
            self._book(item, ob, day - _DAY)
        self.pieces = [p for p in self.pieces if p[0].group != group]
        price = sum((self._value(i) for i in members), ZERO) - self.credits[group]
        left = price - sum((self.earned[i.key] for i in members), ZERO)
        weights = [(i, self._ssp_left(i, day)) for i in members]
        weights = [(i, w) for i, w in weights if w is not None]
        if left <= 0 or not weights:
            self._catch_up(day, members, left)
            return
        shares = allocate(left, [w if any(w for _i, w in weights) else Decimal(1) for _i, w in weights],
                          self.cur.quantum)
        for (item, ssp), share in zip(weights, shares):
            self.pieces.append((item, self._piece(item, ssp, share, day)))

    def _terminate(self, last: date) -> None:
        """Recognition ends on `last`: what each obligation earned through it stays, in total
        never more than what remains billed the day after."""
        for item, ob in self.pieces:
            self._book(item, ob, last)
        self.pieces, self.ended = [], last
        self.earned_by_end = sum(self.earned.values(), ZERO)
        self._cap(last, min(self.earned_by_end, self._billed(last + _DAY)))

    def _cap(self, day: date, most: Decimal) -> None:
        excess = sum(self.earned.values(), ZERO) - most
        if excess > 0:
            self._catch_up(day, self.items, -excess)

    # -- amounts --------------------------------------------------------------------------------

    def _book(self, item: Item, ob, until: date | None) -> None:
        for month, amount in revenue.recognise(ob, self.cur, until):
            self.amounts[item.key, month] += amount
            self.earned[item.key] += amount

    def _catch_up(self, day: date, members: list[Item], amount: Decimal) -> None:
        """Recognise `amount` (negative: reverse) in the month of `day`, over `members` by what
        each earned so far."""
        if not amount or not members:
            return
        earned = [max(self.earned[i.key], ZERO) for i in members]
        for item, share in zip(members, allocate(amount, earned if any(earned) else [Decimal(1)] * len(members),
                                                 self.cur.quantum)):
            if share:
                self.amounts[item.key, revenue.month_of(day)] += share
                self.earned[item.key] += share

    def _value(self, item: Item) -> Decimal:
        """What the obligation brings in: a subscription's billing over its term with the
        versions that count so far, a one-time line's value."""
        if item.subscription is None:
            return item.line.contract_value
        prices = subscriptions.prices([v for v in item.versions if v.quote_id in self.allowed or v.version == 1])
        sub = item.subscription
        return sum((p.amount for p in schedule.plan_versions(sub.start_date, sub.charge, prices, self.cur,
                                                              end=sub.end_date)), ZERO)

    def _ssp_left(self, item: Item, day: date) -> Decimal | None:
        """The standalone selling price of what is left to deliver from `day`, None if nothing."""
        line = item.line
        if item.subscription is None:
            if line.delivered_on is not None and line.delivered_on < day:
                return None
            return line.list_total
        sub = item.subscription
        counted = [v for v in item.versions if v.quote_id in self.allowed or v.version == 1]
        version = subscriptions.in_force(counted, day)
        if day > sub.end_date or not version.quantity or self.ended is not None:
            return None
        parts = schedule.spans(sub.start_date, sub.charge, end=sub.end_date)
        worth = schedule.worth_through(parts, [(sub.start_date, Decimal(1))], sub.end_date) - \
            schedule.worth_through(parts, [(sub.start_date, Decimal(1))], day - _DAY)
        return self.cur.round_exact(worth * Fraction(_list_unit(self.session, item, version)) * Fraction(version.quantity))

    @staticmethod
    def _piece(item: Item, ssp: Decimal, price: Decimal, day: date) -> revenue.Obligation:
        if item.subscription is None:
            return revenue.Obligation(item.key, revenue.POINT_IN_TIME, ssp, price, item.line.delivered_on, None)
        return revenue.Obligation(item.key, revenue.RATABLY, ssp, price, day, item.subscription.end_date)

    def _billed(self, on: date) -> Decimal:
        """Invoices less credit notes issued by `on`, net of tax (a void invoice and its note
        left aside)."""
        order_ids = list({i.line.order_id for i in self.items})
        rows = self.session.exec(select(Invoice).where(Invoice.order_id.in_(order_ids), Invoice.state != "draft",
                                                       Invoice.issue_date <= on)).all()
        void = {i.id for i in rows if i.state == "void"}
        return sum((i.net_total if i.kind == "invoice" else -i.net_total for i in rows
                    if i.id not in void and i.original_id not in void), ZERO)

    def _basis(self) -> dict[str, str]:
        return {i.key: revenue.POINT_IN_TIME if i.subscription is None else revenue.RATABLY for i in self.items}


def _lines(session: Session, order: Order) -> list[OrderLine]:
    return list(session.exec(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position)))


def _list_unit(session: Session, item: Item, version: SubscriptionVersion) -> Decimal:
    """The list price per unit and period of a version: its amendment's, else the order's."""
    if version.version > 1 and version.quote_id is not None:
        quote = session.get(Quote, version.quote_id)
        line = session.exec(select(QuoteLine).where(QuoteLine.quote_id == quote.id,
                                                    QuoteLine.subscription_id == item.subscription.id)).first()
        priced = next((p for p in (quote.priced or {}).get("lines", []) if line and p["id"] == line.key), None)
        if priced is not None and Decimal(priced["quantity"]):
            return Decimal(priced["list_total"]) / Decimal(priced["quantity"])
    return item.line.list_total / item.line.quantity if item.line.quantity else ZERO

