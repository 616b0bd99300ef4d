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
1,201.72. A term's whole periods are counted from the start's day, so its total always
covers the short first period. Co-termed, it may not (monthly from 25 August to 1 March:
30 months from 25 August and 5 of 28 days, 30.18 periods; the calendar has 30 full months
and 7/31 of August): the first short period then bills no more than the short periods are
worth together and the last bills nothing, never a negative amount.

A price that changes during the term (an amendment: subscriptions' versions) bills by the
same worth, exactly: each day is worth its period's share over the period's days, at the
price in force that day. Every period bills the cumulative worth through its last day,
rounded once, less the same through the day before it (`plan_versions`), so what a term
bills is the exact sum over its prices rounded once, and with one price the periods are
the ones above.

A period is billed once: `invoice_id` is set when an invoice takes it, and cleared only
when that invoice is voided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from billing.models import BillingPeriod
from catalog.pricebook import PERIOD_MONTHS
from core.db import locked, locking
from core.errors import InvalidInput
from core.dates import add_months
from core.money import ZERO, Currency
from sales import subscriptions
from sales.order_models import Order, OrderLine, Subscription, SubscriptionVersion

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
    return plan_versions(start, charge, [(start, amount)], cur, term_months=term_months, end=end)


def plan_versions(start: date, charge: str, prices: Sequence[tuple[date, Decimal]], cur: Currency, *,
                  term_months: int | None = None, end: date | None = None) -> list[Period]:
    """The periods of a recurring charge whose price per period changed over its term:
    `prices` are (first day, amount per period), the first on `start`, in order of their days.

    Each period bills the difference of two rounded cumulative amounts: what the charge is
    worth from the start through the period's last day (the exact sum over the prices of
    price x the periods' worth of its days, `worth_through`), rounded once, less the same
    through the day before the period. Rounding never accumulates, the whole term bills the
    exact total rounded once, and with one price this is the schedule described above: a full
    period bills the price, a short first one its days' worth, the last the rest."""
    if not prices or prices[0][0] != start or any(b[0] <= a[0] for a, b in zip(prices, prices[1:])):
        raise ValueError("prices start on the start day, one per day, in order")
    for _day, amount in prices:
        if not cur.is_exact(amount):
            raise ValueError(f"{amount} is not in {cur.code} minor units")
    parts = spans(start, charge, term_months=term_months, end=end)
    out, before = [], ZERO
    for part, cumulative in zip(parts, _cumulative(parts, prices)):
        to_date = cur.round_exact(cumulative)
        out.append(Period(part.start, part.end, to_date - before, part.days, part.full_days))
        before = to_date
    return out


@dataclass(frozen=True)
class Span:
    """A calendar period of a term and what it is worth in periods of the price, exactly:
    1 for a full period; each of its days is worth an equal part of it."""
    start: date
    end: date
    share: Fraction
    days: int
    full_days: int                             # of the full period it belongs to


def spans(start: date, charge: str, *, term_months: int | None = None, end: date | None = None) -> list[Span]:
    """The calendar periods from `start` over `term_months` or to `end`, with their worth: the
    term is worth its whole periods and the days left (`_periods`); a full period is worth 1,
    a short first one its days over the days of the full period it ends (but never more than
    the short periods are worth together, so no period is negative when co-terming), and the
    short last one the rest."""
    last = _last_day(start, charge, term_months, end)
    calendar = _spans(start, last, charge)
    days = [(_days(s, e), _days(*full_period(s, e, charge))) for s, e in calendar]
    shares: list[Fraction | None] = [Fraction(1) if n == full else None for n, full in days]
    short = [i for i, share in enumerate(shares) if share is None]
    if short:                                         # the short ones share the rest of the worth
        rest = _periods(start, last, charge) - (len(calendar) - len(short))
        if len(short) == 2:
            n, full = days[0]
            shares[0] = min(Fraction(n, full), rest)
            rest -= shares[0]
        shares[short[-1]] = rest
    return [Span(s, e, share, n, full) for (s, e), share, (n, full) in zip(calendar, shares, days)]


def worth_through(parts: Sequence[Span], prices: Sequence[tuple[date, Decimal]], day: date) -> Fraction:
    """What a charge with `prices` (first day, amount per period) is worth from the start of
    `parts` through `day`, exactly."""
    segments, total = _segments(prices), Fraction(0)
    for part in parts:
        if part.start > day:
            break
        total += _worth(part, segments, part.start, min(part.end, day))
    return total


def _cumulative(parts: Sequence[Span], prices: Sequence[tuple[date, Decimal]]) -> list[Fraction]:
    """The exact worth from the start through the end of each span."""
    segments, out, total = _segments(prices), [], Fraction(0)
    for part in parts:
        total += _worth(part, segments, part.start, part.end)
        out.append(total)
    return out


_FOREVER = date.max


def _segments(prices: Sequence[tuple[date, Decimal]]) -> list[tuple[date, date, Fraction]]:
    """(first day, last day, exact amount) of each price."""
    ends = [day - _DAY for day, _ in prices[1:]] + [_FOREVER]
    return [(since, until, Fraction(amount)) for (since, amount), until in zip(prices, ends)]


def _worth(part: Span, segments: list[tuple[date, date, Fraction]], first: date, last: date) -> Fraction:
    """The exact worth of the days `first`..`last` of one span, each day at the price in force."""
    whole = first == part.start and last == part.end
    total = Fraction(0)
    for since, until, amount in segments:
        if since <= first and last <= until and whole:        # one price for the whole span
            return amount * part.share if part.share != 1 else amount
        a, b = max(since, first), min(until, last)
        if a <= b and amount:
            total += amount * part.share * _days(a, b) / part.days
    return total


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


def _periods(start: date, last: date, charge: str) -> Fraction:
    """How many periods of `charge` run from `start` to `last` (inclusive): the whole ones,
    counted from the start's day, and the days left over the days of the period they begin."""
    months = PERIOD_MONTHS[charge]
    whole = 0
    while add_months(start, (whole + 1) * months) - _DAY <= last:
        whole += 1
    begin = add_months(start, whole * months)
    left = _days(begin, last) if begin <= last else 0
    return whole + Fraction(left, _days(begin, add_months(start, (whole + 1) * months) - _DAY))


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


#: the id of an order line's first billing period (None before its periods are made): a column
#: for a statement that reads order lines, so that billing finds it with the lines
FIRST_PERIOD = (select(BillingPeriod.id).where(BillingPeriod.order_id == OrderLine.order_id,
                                              BillingPeriod.line_key == OrderLine.key)
                .order_by(BillingPeriod.period_start).limit(1).scalar_subquery())


#: start_billing's insert of a line's periods, their ids in the rows' order; built once
_INSERT = sa.insert(BillingPeriod.__table__).returning(BillingPeriod.__table__.c.id, sort_by_parameter_order=True)


def start_billing(session: Session, order: Order, line: OrderLine, cur: Currency) -> int:
    """Create the billing periods of a recurring order line that has none (FIRST_PERIOD) from
    its subscription: its days at the price of the version in force; the first one's id. They
    are written in one Core statement: a year of monthly periods as ORM objects cost more to
    build and flush than the invoice that bills the first one (the due ones are read back locked)."""
    if line.charge not in PERIOD_MONTHS:
        raise InvalidInput(f"lines.{line.key}.charge", f"{line.charge!r} is not a recurring charge")
    months = PERIOD_MONTHS[line.charge]
    if not line.term_months or line.term_months < 1 or line.term_months % months:
        raise InvalidInput(f"lines.{line.key}.term_months",
                           f"a recurring line is billed over a term of whole periods of {months} months")
    rows = [{"order_id": order.id, "line_key": line.key, "period_start": p.start, "period_end": p.end,
             "amount": p.amount, "bill_on": p.start}
            for p in periods_of(*subscriptions.line_versions(session, order, line), cur)]
    return session.connection().execute(_INSERT, rows).scalars().first()


def subscription_periods(session: Session, subscription: Subscription, cur: Currency) -> list[Period]:
    """What each period of a subscription bills, by its versions; none from its cancellation on."""
    return periods_of(subscription, subscriptions.versions_of(session, subscription), cur)


def periods_of(subscription: Subscription, versions: list[SubscriptionVersion], cur: Currency) -> list[Period]:
    """`subscription_periods` of the subscription's versions as read."""
    periods = plan_versions(subscription.start_date, subscription.charge, subscriptions.prices(versions), cur,
                            end=subscription.end_date)
    return [p for p in periods if subscription.cancelled_on is None or p.start < subscription.cancelled_on]


def due_periods(session: Session, today: date, order_id: int | None = None) -> list[BillingPeriod]:
    """Unbilled periods to bill on `today` (billed in advance: from their first day) of open
    and fulfilled orders, locked so that two billing runs cannot take the same period (the
    orders are not: a subquery), by order, line and start."""
    params = {"day": today} if order_id is None else {"day": today, "of_order": order_id}
    return sorted(locked(session, _DUE[order_id is not None], params),
                  key=lambda p: (p.order_id, p.line_key, p.period_start))


def _due(of_order: bool):
    conditions = [BillingPeriod.invoice_id.is_(None), BillingPeriod.bill_on <= sa.bindparam("day"),
                  BillingPeriod.order_id.in_(select(Order.id).where(Order.state.in_(BILLABLE_ORDER_STATES)))]
    if of_order:
        conditions.append(BillingPeriod.order_id == sa.bindparam("of_order"))
    return locking(BillingPeriod, *conditions)


#: due_periods' statements (by whether for one order), built once
_DUE = {of_order: _due(of_order) for of_order in (False, True)}


def unbill(session: Session, invoice_id: int) -> None:
    """Make the periods a voided invoice billed billable again."""
    for period in session.exec(select(BillingPeriod).where(BillingPeriod.invoice_id == invoice_id)):
        period.invoice_id = None
        session.add(period)
    session.flush()
