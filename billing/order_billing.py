"""Billing orders: what an order owes now (one-time lines on order, on shipment or by
milestone; recurring lines by billing period) and the drafts that bill it; and what becomes
of its invoices when it is cancelled.

One-time amounts are cumulative or allocated, so a line's invoices always sum to its net
total; `billing.invoices` taxes and issues the drafts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from billing import consolidation, credit_notes, schedule
from billing.consolidation import Due
from billing.invoices import Charge, Draft, label, priced_amount
from billing.models import BillingPeriod, Invoice, InvoiceLine
from billing.terms import parse_terms
from core.db import lock_row, lock_rows
from core.errors import Forbidden, InvalidInput, InvalidTransition
from core.money import HUNDRED, ZERO, Currency, allocate, currency
from core.validation import to_decimal
from sales.accounts import Account
from sales.models import Quote
from core.users import User
from sales import orders
from sales.orders import BILLING
from sales.order_models import Order, OrderLine


def invoice_order(session: Session, order: Order, today: date, *, milestone: str | None = None) -> Invoice:
    """A draft invoice for what the order owes now, by its `billing`: on_order (every one-time
    line), on_shipment (shipped quantities not invoiced yet) or milestones (`milestone`'s share
    of every one-time line). Recurring lines start billing with the order's first invoice:
    their schedule is created then, and every unbilled period that is due (the first one
    always) goes on the invoice."""
    order = lock_row(session, Order, order.id)
    what = f"order {order.number}"
    if order.state not in schedule.BILLABLE_ORDER_STATES:
        raise InvalidTransition(what, order.state, "invoice it")
    if order.billing not in BILLING:
        raise InvalidInput("billing", f"{what} has billing {order.billing!r}; expected one of {', '.join(BILLING)}")
    if (milestone is not None) != (order.billing == "milestones"):
        reason = "name the milestone to invoice" if milestone is None else f"{what} bills {order.billing}"
        raise InvalidInput("milestone", reason)
    due = _owed(session, order, today, milestone)
    if due is None:
        raise InvalidTransition(what, order.state, "invoice it", "nothing is due")
    return consolidation.bill(session, [due], today)[0]


def _owed(session: Session, order: Order, today: date, milestone: str | None) -> Due | None:
    """What the order owes now (see invoice_order; an order billed by milestones owes its
    periods unless a milestone is named), or None."""
    cur = currency(order.currency)
    rows = session.exec(_LINES, params={"of_order": order.id}).all()
    lines = [row[0] for row in rows]
    one_time = [ln for ln in lines if ln.charge == "one_time" and ln.quantity > 0]
    reason = f"Order {order.number}"
    if milestone is not None:
        charges, reason = _milestone(session, order, one_time, milestone, cur)
    elif order.billing == "milestones":
        charges = []
    else:
        charges = _deliveries(session, order, one_time, cur, any_billed=any(row[2] for row in rows))
    periods = _due_periods(session, order, [(line, first) for line, first, _ in rows if line.charge != "one_time"],
                           today, cur)
    if not charges and not periods:
        return None
    return order_due(session, order, lines, charges, periods, reason)


#: an invoice line that bills a one-time order line, on an invoice that stands (drafts included,
#: voided ones not: what a voided invoice billed can be invoiced again)
_ONE_TIME_BILLED = (Invoice.kind == "invoice", Invoice.state != "void", InvoiceLine.period_start.is_(None),
                    InvoiceLine.order_line_key.is_not(None))


#: _owed's read of an order's lines in their order (orders.lines_of), each with the id of its
#: first billing period if it has periods, and whether any one-time line of the order is billed
#: (`_billed` reads what only then); built once
_LINES = (select(OrderLine, schedule.FIRST_PERIOD,
                 sa.exists().where(InvoiceLine.order_id == OrderLine.order_id, Invoice.id == InvoiceLine.invoice_id,
                                   *_ONE_TIME_BILLED))
          .where(OrderLine.order_id == sa.bindparam("of_order")).order_by(OrderLine.position))


def invoices_of(session: Session, order: Order) -> list[Invoice]:
    """The order's invoices, drafts and void ones included, oldest first."""
    return list(session.exec(select(Invoice).where(Invoice.order_id == order.id).order_by(Invoice.id)))


def bill_due_periods(session: Session, today: date) -> list[Invoice]:
    """One draft invoice per order for its recurring periods due on `today` (safe to rerun:
    a period is billed once). Accounts invoiced per billing day wait for it (due_on_billing_day)."""
    by_order: dict[int, list[BillingPeriod]] = {}
    for period in schedule.due_periods(session, today):
        by_order.setdefault(period.order_id, []).append(period)
    dues = []
    for order_id, periods in by_order.items():
        order = session.get(Order, order_id)
        if session.get(Account, order.account_id).invoice_consolidation == "per_billing_day":
            continue
        dues.append(order_due(session, order, orders.lines_of(session, order), [], periods,
                              f"Order {order.number}: recurring charges"))
    return consolidation.bill(session, dues, today)


def due_on_billing_day(session: Session, account: Account, today: date) -> list[Due]:
    """What each billable order of the account owes on `today`, as invoice_order would bill it
    (deliveries, and periods due, billing started where it has not; no milestone)."""
    orders_of = lock_rows(session, Order, Order.account_id == account.id, Order.state.in_(schedule.BILLABLE_ORDER_STATES),
                          Order.billing.in_(BILLING))
    return [due for due in (_owed(session, order, today, None) for order in orders_of) if due is not None]


def order_invoice(session: Session, order: Order, lines: list[OrderLine], charges: list[Charge],
                  periods: list[BillingPeriod], reason: str, today: date) -> Invoice:
    """The draft of `charges` and `periods` (order_due)."""
    return consolidation.bill(session, [order_due(session, order, lines, charges, periods, reason)], today)[0]


#: an order's account and the terms agreed on its quote (not its price), in one statement; built once
_ACCOUNT_TERMS = select(Account, select(Quote.payment_terms).where(Quote.id == sa.bindparam("of_quote"))
                        .scalar_subquery()).where(Account.id == sa.bindparam("of_account"))


#: order_due's mark on its periods, billed by an invoice; built once
_BILL_PERIODS = (sa.update(BillingPeriod.__table__).values(invoice_id=sa.bindparam("invoice"))
                 .where(BillingPeriod.__table__.c.id.in_(sa.bindparam("periods", expanding=True))))


def order_due(session: Session, order: Order, lines: list[OrderLine], charges: list[Charge],
              periods: list[BillingPeriod], reason: str) -> Due:
    """What `charges` and `periods` bill, on the terms agreed on the order's quote; the
    periods are marked billed by the invoice that takes them."""
    account, terms = session.exec(_ACCOUNT_TERMS, params={"of_quote": order.quote_id,
                                                          "of_account": order.account_id}).one()
    parse_terms(terms)
    draft = Draft(account, charges + [_period_charge(p, lines) for p in periods], currency(order.currency), terms,
                  reason, order)

    def settle(invoice: Invoice) -> None:
        if periods:                               # locked (or inserted) by this transaction
            session.connection().execute(_BILL_PERIODS, {"periods": [p.id for p in periods], "invoice": invoice.id})
            for period in periods:
                set_committed_value(period, "invoice_id", invoice.id)

    return Due(draft, settle)


def _deliveries(session: Session, order: Order, lines: list[OrderLine], cur: Currency, *,
                any_billed: bool) -> list[Charge]:
    """One-time lines not invoiced yet: all of them on order, what was shipped on shipment
    (`any_billed`: whether any was invoiced). Amounts are cumulative (price x quantity invoiced so
    far, rounded, less what was invoiced), so the invoices of a line always sum to its net total."""
    billed = _billed(session, order) if any_billed else {}
    charges = []
    for line in lines:
        quantity, amount = billed.get(line.key, (ZERO, ZERO))
        upto = line.quantity if order.billing == "on_order" else min(line.shipped_quantity, line.quantity)
        if upto > quantity:
            charges.append(Charge(line.name, upto - quantity,
                                  cur.round(line.net_total * upto / line.quantity) - amount,
                                  line.tax_category, line.product, line.key))
    return charges


_BILLED = (select(InvoiceLine, Invoice.tax_inclusive).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
           .where(InvoiceLine.order_id == sa.bindparam("of_order"), *_ONE_TIME_BILLED))


def _billed(session: Session, order: Order) -> dict[str, tuple[Decimal, Decimal]]:
    """Quantity and priced amount of each one-time line on the order's invoices that stand
    (_ONE_TIME_BILLED)."""
    rows = session.exec(_BILLED, params={"of_order": order.id})
    billed: dict[str, tuple[Decimal, Decimal]] = {}
    for line, inclusive in rows:
        quantity, amount = billed.get(line.order_line_key, (ZERO, ZERO))
        billed[line.order_line_key] = (quantity + line.quantity, amount + priced_amount(line, inclusive))
    return billed


def _milestone(session: Session, order: Order, lines: list[OrderLine], name: str,
               cur: Currency) -> tuple[list[Charge], str]:
    """The milestone's share of each one-time line. Each line's net total is split over all
    the milestones by their percentages with `allocate`, so a line's shares sum to it exactly
    and the milestones to the one-time total, whatever order they are invoiced in."""
    milestones = _milestones(order)
    labels = [m["label"] for m in milestones]
    if name not in labels:
        raise InvalidInput("milestone", f"order {order.number} has no milestone {name!r}; expected one of {', '.join(labels)}")
    index = labels.index(name)
    percent = milestones[index]["percent"]
    reason = f"Order {order.number}, milestone {name} ({percent:f}% of the one-time total)"
    taken = session.exec(select(Invoice).where(Invoice.order_id == order.id, Invoice.kind == "invoice",
                                               Invoice.state != "void", Invoice.reason == reason)).first()
    if taken is not None:
        raise InvalidTransition(f"order {order.number}", order.state, f"invoice milestone {name}",
                                f"already invoiced on {label(taken)}")
    weights = [m["percent"] for m in milestones]
    charges = []
    for line in lines:
        share = allocate(line.net_total, weights, cur.quantum)[index]
        if share:
            charges.append(Charge(f"{line.name} ({name}: {percent:f}%)", line.quantity, share,
                                  line.tax_category, line.product, line.key))
    return charges, reason


def _milestones(order: Order) -> list[dict]:
    """The order's milestones, checked: labels unique, percentages above 0 summing to 100."""
    raw = order.milestones
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("milestones", f"order {order.number} bills by milestones but has none")
    out = []
    for i, m in enumerate(raw):
        percent = to_decimal(m.get("percent")) if isinstance(m, dict) else None
        if not isinstance(m, dict) or not isinstance(m.get("label"), str) or not m["label"].strip():
            raise InvalidInput(f"milestones[{i}].label", "is required")
        if percent is None or not ZERO < percent <= HUNDRED:
            raise InvalidInput(f"milestones[{i}].percent", "expected a percentage above 0 and at most 100")
        out.append({"label": m["label"], "percent": percent})
    if len({m["label"] for m in out}) != len(out):
        raise InvalidInput("milestones", "milestone labels must be unique")
    if sum(m["percent"] for m in out) != HUNDRED:
        raise InvalidInput("milestones", "the percentages must sum to 100")
    return out


def _due_periods(session: Session, order: Order, lines: list[tuple[OrderLine, int | None]], today: date,
                 cur: Currency) -> list[BillingPeriod]:
    """The unbilled periods of the order's recurring lines (each with its first period's id, or
    None before its periods are made) to bill now: each line's first (billing starts with the
    order) and any other whose day has come."""
    firsts = {schedule.start_billing(session, order, line, cur) if first is None else first for line, first in lines}
    due = {p.id: p for p in schedule.due_periods(session, today, order.id)}
    if firsts - set(due):                            # a first period not due yet (a later start)
        for period in lock_rows(session, BillingPeriod, BillingPeriod.id.in_(firsts - set(due)),
                                BillingPeriod.invoice_id.is_(None)):
            due[period.id] = period
    return sorted(due.values(), key=lambda p: (p.line_key, p.period_start))


def _period_charge(period: BillingPeriod, lines: list[OrderLine]) -> Charge:
    line = next(ln for ln in lines if ln.key == period.line_key)
    text = line.name                                 # the period itself is in period_start/_end
    full_start, full_end = schedule.full_period(period.period_start, period.period_end, line.charge)
    days = (period.period_end - period.period_start).days + 1
    if period.period_start != full_start:            # a short first period
        text += f" (prorated: {days} of {(full_end - full_start).days + 1} days)"
    elif period.period_end != full_end:              # cut at the term's end: the rest of what was sold
        text += f" (last {days} days of the term)"
    return Charge(text, line.quantity, period.amount, line.tax_category, line.product, line.key,
                  period.period_start, period.period_end)


def cancel_order(session: Session, actor: User, number: str, reason: str, today: date, *,
                 credit_invoices: bool = False, company=None) -> Order:
    """Cancel an order (sales.orders.cancel) and settle what was billed for it, in one
    transaction. Its drafts are void (they never left the company, and what they billed
    becomes billable again). An issued invoice that still stands refuses the cancellation,
    naming it, unless `credit_invoices` (finance or an admin): then what is left of each is
    credited, and what the customer paid stays with them as account credit to refund or use."""
    if credit_invoices and actor.role not in ("finance", "admin"):
        raise Forbidden("only finance or an admin credits invoices when cancelling an order")

    def settle(order: Order) -> None:
        billed = list(session.exec(select(Invoice).where(Invoice.order_id == order.id, Invoice.kind == "invoice")
                                   .order_by(Invoice.id)))
        standing = [i for i in billed if i.state in credit_notes.CREDITABLE and credit_notes.creditable(session, i)]
        if standing and not credit_invoices:
            raise InvalidTransition(orders.label(order), order.state, "cancel it",
                                    f"invoices {', '.join(i.number for i in standing)} stand against it: "
                                    "credit them first, or let finance cancel it crediting them")
        for invoice in standing:
            credit_notes.credit_note(session, invoice, None, f"Order {order.number} cancelled: {reason}", today,
                                     company=company)
        for draft_invoice in (i for i in billed if i.state == "draft"):
            draft_invoice.state = "void"
            session.add(draft_invoice)
            schedule.unbill(session, draft_invoice.id)
        session.flush()

    return orders.cancel(session, actor, number, reason, settle_billing=settle)
