"""Amendments applied: a live contract changed mid-term, co-termed with its end, and what was
billed put right by the day, to the minor unit.

An accepted amendment quote (sales/amendments.py) is applied once (`apply`; again it returns
what the first application did):

- each line that changes a subscription adds a version effective on the amendment's day (its
  new quantity, price per period and configuration; quantity 0 cancels it from that day);
- the lines it adds are ordered (an order of the amendment quote, linked to the contract),
  and their subscriptions run from that day to the contract's end;
- each changed subscription's periods are planned again from its versions
  (billing/schedule.py `plan_versions`). A period not billed yet simply bills its new amount.
  A period already billed (in advance) is put right now: what it should bill less what it
  billed (its amount plus earlier adjustments) is charged on a draft invoice of the
  subscription's order when positive, and credited when negative, on a credit note against
  the invoices that billed the period (latest first). Each is a `BillingAdjustment`.

Because every period bills differences of the rounded exact cumulative worth of the versions,
a subscription bills over its term exactly the sum over its versions of each one's price for
the days it was in force, rounded once, however many amendments and on whatever days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Mapping

from sqlmodel import Session, select

from billing import credit_notes, order_billing, revenue, schedule
from billing.credit import place_order
from billing.invoices import Charge, label
from billing.models import BillingAdjustment, BillingPeriod, Invoice, InvoiceLine
from core.db import lock_rows
from core.errors import InvalidTransition
from core.money import ZERO, currency
from core.users import User, describe
from sales import amendments, orders, subscriptions
from sales.order_models import Order, OrderLine, Subscription, SubscriptionVersion


@dataclass
class Rebilled:
    """What putting billed periods right made: draft invoices and issued credit notes."""
    invoices: list[Invoice] = field(default_factory=list)
    credit_notes: list[Invoice] = field(default_factory=list)


@dataclass(frozen=True)
class Applied:
    order: Order | None                   # what the amendment adds, ordered
    versions: list[SubscriptionVersion]   # what it changes
    invoices: list[Invoice]
    credit_notes: list[Invoice]


def apply(session: Session, actor: User, number: str, today: date, *,
          company: Mapping | None = None) -> tuple[Applied, bool]:
    """Apply the accepted amendment quote `number` (see the module docstring); returns what it
    did and whether that is new (applying again changes nothing)."""
    change = amendments.prepare(session, actor, number)
    if change.applied:
        return _applied(session, change.quote), False
    versions = amendments.add_versions(session, change)
    order = None
    if change.adds:
        cur = currency(change.quote.currency)

        def coterm(line: dict) -> Decimal:        # an added line's value from the day to the contract's end
            return sum((p.amount for p in schedule.plan(change.quote.effective_date, line["charge"],
                                                        Decimal(line["net_total"]), cur,
                                                        end=change.contract.end_date)), ZERO)

        # the amendment was accepted and is applied by its owner, finance or an admin: ordered as them
        order, _new = place_order(session, describe(actor), number, today, require_contract=False, coterm=coterm)
    done = rebill(session, [(session.get(Subscription, v.subscription_id), v) for v in versions], today,
                  f"Amendment {number} from {change.quote.effective_date.isoformat()}", company=company)
    revenue.refresh(session, change.contract.id)
    return Applied(order, versions, done.invoices, done.credit_notes), True


def _applied(session: Session, quote) -> Applied:
    versions = list(session.exec(select(SubscriptionVersion).where(SubscriptionVersion.quote_id == quote.id,
                                                                   SubscriptionVersion.version > 1)
                                 .order_by(SubscriptionVersion.id)))
    order = session.exec(select(Order).where(Order.quote_id == quote.id)).first()
    ids = [v.id for v in versions]
    made = session.exec(select(Invoice).where(Invoice.id.in_(
        select(BillingAdjustment.invoice_id).where(BillingAdjustment.version_id.in_(ids)))).order_by(Invoice.id)).all()
    return Applied(order, versions, [i for i in made if i.kind == "invoice"],
                   [i for i in made if i.kind == "credit_note"])


def rebill(session: Session, changed: list[tuple[Subscription, SubscriptionVersion]], today: date, reason: str, *,
           company: Mapping | None = None) -> Rebilled:
    """Plan each changed subscription's periods again from its versions and put right what its
    billed periods billed; `reason` goes on the invoices and credit notes."""
    charges: dict[int, list[tuple[Charge, BillingPeriod, SubscriptionVersion]]] = defaultdict(list)
    credits: list[tuple[BillingPeriod, SubscriptionVersion, Decimal]] = []
    for subscription, version in changed:
        cur = currency(subscription.currency)
        rows = lock_rows(session, BillingPeriod, BillingPeriod.order_id == subscription.order_id,
                         BillingPeriod.line_key == subscription.line_key)
        if not rows:                              # not billed yet: planned from its versions when it is
            continue
        line = session.exec(select(OrderLine).where(OrderLine.order_id == subscription.order_id,
                                                    OrderLine.key == subscription.line_key)).one()
        planned = {p.start: p for p in schedule.subscription_periods(session, subscription, cur)}
        before = _quantity_before(session, subscription, version)
        for row in sorted(rows, key=lambda r: r.period_start):
            target = planned[row.period_start].amount if row.period_start in planned else ZERO
            if row.invoice_id is None:
                if row.period_start in planned:
                    row.amount = target
                    session.add(row)
                else:
                    session.delete(row)
                continue
            difference = target - row.amount - _adjusted(session, row)
            if difference > 0:
                charges[subscription.order_id].append(
                    (_charge(line, row, version, before, difference), row, version))
            elif difference < 0:
                credits.append((row, version, -difference))
    session.flush()
    done = Rebilled()
    for order_id, items in charges.items():
        order = session.get(Order, order_id)
        invoice = order_billing.order_invoice(session, order, orders.lines_of(session, order),
                                              [c for c, _row, _v in items], [], reason, today)
        session.add_all([BillingAdjustment(period_id=row.id, version_id=v.id, amount=c.amount, invoice_id=invoice.id)
                         for c, row, v in items])
        done.invoices.append(invoice)
    _credit(session, credits, reason, today, company, done)
    session.flush()
    return done


def _adjusted(session: Session, row: BillingPeriod) -> Decimal:
    """What amendments charged (+) or credited (-) on a billed period, on documents that stand."""
    amounts = session.exec(select(BillingAdjustment.amount).join(Invoice, Invoice.id == BillingAdjustment.invoice_id)
                           .where(BillingAdjustment.period_id == row.id, Invoice.state != "void"))
    return sum(amounts, ZERO)


def _quantity_before(session: Session, subscription: Subscription, version: SubscriptionVersion) -> Decimal:
    earlier = [v for v in subscriptions.versions_of(session, subscription) if v.version < version.version]
    return subscriptions.in_force(earlier, version.effective_from).quantity if earlier else ZERO


def _charge(line: OrderLine, row: BillingPeriod, version: SubscriptionVersion, before: Decimal,
            amount: Decimal) -> Charge:
    """An invoice line for what a billed period is short: the days from the change on."""
    first = max(row.period_start, version.effective_from)
    days, of = (row.period_end - first).days + 1, (row.period_end - row.period_start).days + 1
    change = f"quantity {before:f} to {version.quantity:f}" if before != version.quantity else "new price"
    text = f"{line.name}: {change} from {first.isoformat()} ({days} of {of} days)"
    return Charge(text, abs(version.quantity - before) or Decimal(1), amount, line.tax_category, line.product,
                  line.key, first, row.period_end)


def _credit(session: Session, credits: list[tuple[BillingPeriod, SubscriptionVersion, Decimal]], reason: str,
            today: date, company: Mapping | None, done: Rebilled) -> None:
    """Credit what billed periods billed too much, on the invoices that billed them, latest
    first: one credit note per invoice."""
    by_invoice: dict[int, dict[int, Decimal]] = {}             # invoice -> position -> amount to credit
    records: dict[int, list[tuple[BillingPeriod, SubscriptionVersion, Decimal]]] = defaultdict(list)
    left: dict[int, dict[int, Decimal]] = {}
    for row, version, amount in credits:
        for invoice, line in _billed_lines(session, row):
            if invoice.state == "draft":
                raise InvalidTransition(label(invoice), invoice.state, "credit what the amendment takes back",
                                        "issue or void the draft first")
            if invoice.id not in left:
                left[invoice.id] = credit_notes.price_left(session, invoice)
            taken = by_invoice.get(invoice.id, {})
            take = min(amount, left[invoice.id].get(line.position, ZERO) - taken.get(line.position, ZERO))
            if take > 0:                           # a line credited in full already takes nothing
                by_invoice.setdefault(invoice.id, {})[line.position] = taken.get(line.position, ZERO) + take
                records[invoice.id].append((row, version, take))
                amount -= take
            if not amount:
                break
        if amount:
            raise InvalidTransition(f"the billing period from {row.period_start.isoformat()}", "credited",
                                    "credit what the amendment takes back",
                                    f"{amount} more than is still creditable on its invoices")
    for invoice_id, amounts in sorted(by_invoice.items()):
        note = credit_notes.credit_note(session, session.get(Invoice, invoice_id),
                                        credit_notes.LineAmounts(dict(amounts)), reason, today, company=company)
        session.add_all([BillingAdjustment(period_id=row.id, version_id=v.id, amount=-take, invoice_id=note.id)
                         for row, v, take in records[invoice_id]])
        done.credit_notes.append(note)


def _billed_lines(session: Session, row: BillingPeriod) -> list[tuple[Invoice, InvoiceLine]]:
    """The invoice lines that billed a period (its own, then amendments' charges), latest first."""
    found = session.exec(select(Invoice, InvoiceLine).join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
                         .where(InvoiceLine.order_id == row.order_id, Invoice.kind == "invoice", Invoice.state != "void",
                                InvoiceLine.order_line_key == row.line_key,
                                InvoiceLine.period_start >= row.period_start,
                                InvoiceLine.period_end == row.period_end)
                         .order_by(Invoice.id.desc(), InvoiceLine.position.desc()))
    return list(found)
