"""Billing schedules of recurring order lines: periods billed in advance, prorated by days.

Periods start on the first of a month, so invoices for recurring charges go out on the
first. A line that starts on another day gets a short first period up to the end of its
month; the term ends `term_months` after the start, so the last period is cut short too.
A short period costs the line's price per period times its days over the days of the full
period it belongs to (the one that would have ended, or started, with it). The exact
amounts of a schedule are rounded together (`round_to_total`), so its periods sum to its
exact total rounded once: a 12-month term from 15 March costs exactly 12 months (17/31 of
the first March and 14/31 of the last).

A period is billed once: `invoice_id` is set when an invoice takes it, and cleared only
when that invoice is voided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from billing.models import BillingPeriod
from catalog.pricebook import PERIOD_MONTHS
from core.errors import InvalidInput
from core.dates import add_months
from core.money import ZERO, Currency, round_to_total
from sales.order_models import Order, OrderLine

BILLABLE_ORDER_STATES = ("open", "fulfilled")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    start: date
    end: date                                  # inclusive
    amount: Decimal
    days: int
    full_days: int                             # days of the full period; more when prorated


def full_period(start: date, end: date, charge: str) -> tuple[date, date]:
    """The full period a period of `charge` belongs to: the one it starts (periods from the
    first of a month), or for a first period starting on another day, the one it ends."""
    months = PERIOD_MONTHS[charge]
    if start.day == 1:
        return start, add_months(start, months) - _DAY
    return add_months(end + _DAY, -months), end


def plan(start: date, term_months: int, charge: str, amount: Decimal, cur: Currency) -> list[Period]:
    """The periods of a recurring charge of `amount` per `charge` period over a term."""
    last = add_months(start, term_months) - _DAY
    spans = []
    begin = start
    while begin <= last:
        if begin.day == 1:
            end = add_months(begin, PERIOD_MONTHS[charge]) - _DAY
        else:                                   # a first period ends with its month
            end = add_months(begin.replace(day=1), 1) - _DAY
        end = min(end, last)
        spans.append((begin, end, full_period(begin, end, charge)))
        begin = end + _DAY
    exact = [amount * ((end - s).days + 1) / ((fe - fs).days + 1) for s, end, (fs, fe) in spans]
    amounts = round_to_total(exact, cur.round(sum(exact, ZERO)), cur.quantum)
    return [Period(s, end, value, (end - s).days + 1, (fe - fs).days + 1)
            for (s, end, (fs, fe)), value in zip(spans, amounts)]


def schedule_line(session: Session, order: Order, line: OrderLine, start: date, cur: Currency) -> list[BillingPeriod]:
    """The billing periods of a recurring order line, created on first use (then as stored)."""
    stored = list(session.exec(select(BillingPeriod).where(BillingPeriod.order_id == order.id,
                                                           BillingPeriod.line_key == line.key)
                               .order_by(BillingPeriod.period_start)))
    if stored:
        return stored
    if line.charge not in PERIOD_MONTHS:
        raise InvalidInput(f"lines.{line.key}.charge", f"{line.charge!r} is not a recurring charge")
    if not line.term_months or line.term_months < 1:
        raise InvalidInput(f"lines.{line.key}.term_months", "a recurring line needs a term to be billed")
    rows = [BillingPeriod(order_id=order.id, line_key=line.key, period_start=p.start, period_end=p.end,
                          amount=p.amount, bill_on=p.start)
            for p in plan(start, line.term_months, line.charge, line.net_total, cur)]
    session.add_all(rows)
    session.flush()
    return rows


def due_periods(session: Session, today: date, order_id: int | None = None) -> list[BillingPeriod]:
    """Unbilled periods to bill on `today` (billed in advance: from their first day) of open
    and fulfilled orders, locked so that two billing runs cannot take the same period."""
    query = (select(BillingPeriod).join(Order, Order.id == BillingPeriod.order_id)
             .where(BillingPeriod.invoice_id.is_(None), BillingPeriod.bill_on <= today,
                    Order.state.in_(BILLABLE_ORDER_STATES))
             .order_by(BillingPeriod.order_id, BillingPeriod.line_key, BillingPeriod.period_start)
             .with_for_update(of=BillingPeriod))
    if order_id is not None:
        query = query.where(BillingPeriod.order_id == order_id)
    return list(session.exec(query))


def unbill(session: Session, invoice_id: int) -> None:
    """Make the periods a voided invoice billed billable again."""
    for period in session.exec(select(BillingPeriod).where(BillingPeriod.invoice_id == invoice_id)):
        period.invoice_id = None
        session.add(period)
    session.flush()
