"""Billing schedules of recurring order lines: periods billed in advance, prorated by days.

Periods start on the first of a month, so invoices for recurring charges go out on the
first. A line that starts on another day gets a short first period up to the end of its
month; the term ends `term_months` after the start, so its last period is cut short too.

What a span of days is worth is counted from its start's day: its whole periods (15 March
to 14 April is one month) and, for the days left, the price times those days over the days
of the period they begin, rounded once. A term is whole periods, so it bills exactly what
was sold, the line's price per period times its periods (its contract value), whatever the
start day; co-terming (to an `end` date, the end of a contract) bills the same way, so
co-terming to where a term would end bills exactly the term. Annual 365.00 from 15 March
2025 to 31 December 2025: no whole year, and 292 of the 365 days from 15 March 2025 to
14 March 2026: 292.00.

That total is split over the calendar periods: a full period bills the price; a short first
period bills the price times its days over the days of the full period it belongs to (the
one it ends), rounded once; the short last period takes the rest (the short first and last
periods together make the days left over). Monthly 100.00 from 15 February 2024 for 12
months: 15-29 February 51.72 (15/29), March to January 100.00 each, 1-14 February 2025
48.28: 1,200.00. Prorating the last period by its own days too (14/28: 50.00) would bill
1,201.72. The whole periods are counted from the start's day, so the total always covers the
first period's days and the rest is never negative.

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
from core.money import Currency
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


def plan(start: date, charge: str, amount: Decimal, cur: Currency, *, term_months: int | None = None,
         end: date | None = None) -> list[Period]:
    """The periods of a recurring charge of `amount` (in minor units) per `charge` period from
    `start`, over `term_months` (whole periods), or co-termed to `end` (inclusive)."""
    if not cur.is_exact(amount):
        raise ValueError(f"{amount} is not in {cur.code} minor units")
    last = _last_day(start, charge, term_months, end)
    spans = _spans(start, last, charge)
    days = [(_days(s, e), _days(*full_period(s, e, charge))) for s, e in spans]
    amounts = [amount if n == full else None for n, full in days]          # full periods: the price
    short = [i for i, value in enumerate(amounts) if value is None]
    if short:                                         # the short ones share the rest of the total
        rest = cur.round(amount * _periods(start, last, charge)) - amount * (len(spans) - len(short))
        if len(short) == 2:                           # a short first period: its days' worth, rounded once
            n, full = days[0]
            amounts[0] = cur.round(amount * n / full)
            rest -= amounts[0]
        amounts[short[-1]] = rest
    return [Period(s, e, value, n, full) for (s, e), (n, full), value in zip(spans, days, amounts)]


def _last_day(start: date, charge: str, term_months: int | None, end: date | None) -> date:
    """The last day of a term of whole periods from `start`, or `end`; exactly one is given."""
    if (term_months is None) == (end is None):
        raise TypeError("plan takes one of a term and an end date")
    if term_months is not None:
        months = PERIOD_MONTHS[charge]
        if term_months < 1 or term_months % months:
            raise ValueError(f"a {charge} term is whole periods of {months} months, not {term_months}")
        return add_months(start, term_months) - _DAY
    if end < start:
        raise ValueError(f"the end {end} is before the start {start}")
    return end


def _periods(start: date, last: date, charge: str) -> Decimal:
    """How many periods of `charge` run from `start` to `last` (inclusive): the whole ones,
    counted from the start's day, and the days left over the days of the period they begin."""
    months = PERIOD_MONTHS[charge]
    whole = 0
    while add_months(start, (whole + 1) * months) - _DAY <= last:
        whole += 1
    begin = add_months(start, whole * months)
    left = _days(begin, last) if begin <= last else 0
    return whole + Decimal(left) / _days(begin, add_months(start, (whole + 1) * months) - _DAY)


def _spans(start: date, last: date, charge: str) -> list[tuple[date, date]]:
    """(first day, last day) of each period from `start` to `last`: periods start on the
    first of a month, except the first, which ends with its month."""
    spans, begin = [], start
    while begin <= last:
        if begin.day == 1:
            end = add_months(begin, PERIOD_MONTHS[charge]) - _DAY
        else:
            end = add_months(begin.replace(day=1), 1) - _DAY
        spans.append((begin, min(end, last)))
        begin = spans[-1][1] + _DAY
    return spans


def _days(first: date, last: date) -> int:
    return (last - first).days + 1


def schedule_line(session: Session, order: Order, line: OrderLine, start: date, cur: Currency) -> list[BillingPeriod]:
    """The billing periods of a recurring order line, created on first use (then as stored)."""
    stored = list(session.exec(select(BillingPeriod).where(BillingPeriod.order_id == order.id,
                                                           BillingPeriod.line_key == line.key)
                               .order_by(BillingPeriod.period_start)))
    if stored:
        return stored
    if line.charge not in PERIOD_MONTHS:
        raise InvalidInput(f"lines.{line.key}.charge", f"{line.charge!r} is not a recurring charge")
    months = PERIOD_MONTHS[line.charge]
    if not line.term_months or line.term_months < 1 or line.term_months % months:
        raise InvalidInput(f"lines.{line.key}.term_months",
                           f"a recurring line is billed over a term of whole periods of {months} months")
    rows = [BillingPeriod(order_id=order.id, line_key=line.key, period_start=p.start, period_end=p.end,
                          amount=p.amount, bill_on=p.start)
            for p in plan(start, line.charge, line.net_total, cur, term_months=line.term_months)]
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
