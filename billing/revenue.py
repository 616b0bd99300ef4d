"""Revenue recognition (ASC 606 / IFRS 15): a revenue schedule per contract, and what is
recognised and still deferred per month.

Each order line of the contract's orders (cancelled orders aside) is a performance
obligation. The transaction price is the sum of the lines' contract values, net of every
discount. It is allocated to the obligations in proportion to their standalone selling
prices, the list price over the line's term (list total x periods, as the quote's price
book priced it), with `core.money.allocate`: the shares are exact in minor units and sum to
the price. A discount is therefore shared by all obligations, and a line given away still
carries revenue.

When an obligation's share is recognised depends on how it is charged, not on what it is:

- one-time lines (hardware, and one-off services such as deployment or a training day) at
  a point in time, in the month they were delivered or performed (`OrderLine.delivered_on`).
  Until then they have no schedule rows and stay deferred.
- recurring lines (subscriptions, support) ratably over their term from the contract's
  start date, by days: what is recognised by the end of a month is the price times the
  term's days elapsed over its days, rounded once, and the month recognises the difference
  from the month before. Days rather than equal months, so that a term that starts
  mid-month earns half a month in its first month and the rest in its last. Rounding the
  running total, not each month, keeps the deferred balance at every month end the exact
  ratable balance rounded: 1,200.00 from 15 March 2026 over 12 months has 231 of 365 days
  elapsed at 31 October, so 759.45 recognised and 440.55 deferred (exactly 440.548).

Deferred is the transaction price less what has been recognised so far: revenue still to be
earned, whether billed or not.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from billing import revenue_changes
from billing.models import RevenueLine
from catalog.pricebook import PERIOD_MONTHS
from core.db import lock_row
from core.errors import InvalidInput
from core.money import ZERO, Currency, allocate, currency
from sales.accounts import Account
from core.dates import add_months
from sales.order_models import Contract, Order, OrderLine

POINT_IN_TIME, RATABLY = "point_in_time", "ratably"
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Obligation:
    key: str                  # the order line's key
    basis: str                # point_in_time | ratably
    ssp: Decimal              # standalone selling price: list price over the term
    price: Decimal            # the share of the transaction price allocated to it
    start: date | None        # first day of service, or the delivery date (None: not delivered)
    end: date | None          # last day of service (ratably only)


@dataclass(frozen=True)
class PeriodRow:
    currency: str
    period: str               # YYYY-MM
    recognised: Decimal       # in this month
    cumulative: Decimal       # up to and including this month
    deferred: Decimal         # transaction price - cumulative


def transaction_price(lines: Iterable[OrderLine]) -> Decimal:
    return sum((line.contract_value for line in lines), ZERO)


def obligations(contract: Contract, lines: Sequence[OrderLine]) -> list[Obligation]:
    """The contract's performance obligations, in the order of `lines`, with the transaction
    price allocated by relative standalone selling price."""
    quantum = currency(contract.currency).quantum
    price = transaction_price(lines)
    ssps = [line.list_total * _periods(contract, line) for line in lines]
    if not any(ssps):
        if price:
            raise InvalidInput("contract", "no standalone selling price to allocate the transaction price by")
        shares = [ZERO] * len(lines)
    else:
        shares = allocate(price, ssps, quantum)
    return [_obligation(contract, line, ssp, share) for line, ssp, share in zip(lines, ssps, shares)]


def recognise(obligation: Obligation, cur: Currency, until: date | None = None) -> list[tuple[str, Decimal]]:
    """(month, amount) pairs that sum to the obligation's price, months with nothing left
    out; none before delivery. With `until`, what it earns through that day only (a ratable
    obligation's running total through it, rounded once)."""
    if obligation.start is None or not obligation.price or (until is not None and until < obligation.start):
        return []
    if obligation.basis == POINT_IN_TIME:
        return [(month_of(obligation.start), obligation.price)]
    days = (obligation.end - obligation.start).days + 1
    parts, before = [], ZERO
    last = obligation.end if until is None else min(obligation.end, until)
    for period, elapsed in _days_elapsed(obligation.start, last):
        to_date = cur.round(obligation.price * elapsed / days)       # recognised by the month's end
        if to_date != before:
            parts.append((period, to_date - before))
        before = to_date
    return parts


def schedule(session: Session, contract: Contract) -> list[RevenueLine]:
    """Rebuild the contract's revenue schedule from its orders as they are now, through its
    amendments, credit notes and termination (billing/revenue_changes.py); run again after
    a delivery or an order change. The same facts always give the same rows. The
    transaction price it ends with is kept on the contract for the report."""
    contract = lock_row(session, Contract, contract.id)
    worked = revenue_changes.plan(session, contract)
    rows = [RevenueLine(contract_id=contract.id, obligation=key, period=period, amount=amount,
                        currency=contract.currency, basis=worked.basis[key])
            for (key, period), amount in worked.amounts.items() if amount]
    rows.sort(key=lambda row: row.period)                  # stable: obligations stay in line order
    session.execute(sa.delete(RevenueLine).where(RevenueLine.contract_id == contract.id))
    session.add_all(rows)
    contract.transaction_price = worked.price
    session.add(contract)
    session.flush()
    return rows


def refresh(session: Session, contract_id: int | None) -> None:
    """Rebuild a contract's schedule if it has one (after an amendment, a credit note or a
    termination changed what it earns)."""
    if contract_id is not None and session.exec(select(RevenueLine.id).where(
            RevenueLine.contract_id == contract_id)).first() is not None:
        schedule(session, session.get(Contract, contract_id))


def report(session: Session, scope: Contract | Account | None, through: str) -> list[PeriodRow]:
    """Recognised and deferred revenue per currency and month through `through` (YYYY-MM),
    for one contract, an account's contracts, or every contract (`scope` None), from the
    stored schedules."""
    if not isinstance(through, str) or not PERIOD_RE.match(through):
        raise InvalidInput("through", "a month as YYYY-MM")
    contracts = session.exec(_within(select(Contract), scope).order_by(Contract.id)).all()
    lines = _lines(session, _within(select(Contract.id), scope))
    revenue = session.exec(_within(select(RevenueLine).join(Contract), scope))
    return summarise([(c, transaction_price(lines[c.id]) if c.transaction_price is None else c.transaction_price)
                      for c in contracts], revenue, through)


def summarise(contracts: Sequence[tuple[Contract, Decimal]], revenue: Iterable[RevenueLine],
              through: str) -> list[PeriodRow]:
    """Rows per currency and month from the first contract start (or earlier revenue)
    through `through`; `contracts` pairs each contract with its transaction price."""
    price, first = defaultdict(lambda: ZERO), {}
    by_month = defaultdict(lambda: ZERO)
    for contract, contract_price in contracts:
        price[contract.currency] += contract_price
        start = month_of(contract.start_date)
        first[contract.currency] = min(first.get(contract.currency, start), start)
    for line in revenue:
        by_month[line.currency, line.period] += line.amount
        first[line.currency] = min(first.get(line.currency, line.period), line.period)
    rows = []
    for code in sorted(first):
        cumulative = ZERO
        for period in _months(first[code], through):
            recognised = by_month[code, period]
            cumulative += recognised
            rows.append(PeriodRow(code, period, recognised, cumulative, price[code] - cumulative))
    return rows


def _within(query, scope: Contract | Account | None):
    if isinstance(scope, Contract):
        return query.where(Contract.id == scope.id)
    if isinstance(scope, Account):
        return query.where(Contract.account_id == scope.id)
    if scope is None:
        return query
    raise TypeError(f"a contract, an account or None, not {type(scope).__name__}")


def _lines(session: Session, contract_ids) -> defaultdict[int, list[OrderLine]]:
    """The order lines (cancelled orders aside) of the contracts `contract_ids` (a list or a
    query) by contract, in order and line order."""
    found = defaultdict(list)
    query = (select(Order.contract_id, OrderLine).join(Order, OrderLine.order_id == Order.id)
             .where(Order.contract_id.in_(contract_ids), Order.state != "cancelled")
             .order_by(Order.id, OrderLine.position))
    for contract_id, line in session.exec(query):
        found[contract_id].append(line)
    return found


def _periods(contract: Contract, line: OrderLine) -> int:
    if line.charge == "one_time":
        return 1
    return _term(contract, line) // PERIOD_MONTHS[line.charge]


def _term(contract: Contract, line: OrderLine) -> int:
    return line.term_months or contract.term_months


def _obligation(contract: Contract, line: OrderLine, ssp: Decimal, price: Decimal) -> Obligation:
    if line.charge == "one_time":
        return Obligation(line.key, POINT_IN_TIME, ssp, price, line.delivered_on, None)
    end = add_months(contract.start_date, _term(contract, line)) - timedelta(days=1)
    return Obligation(line.key, RATABLY, ssp, price, contract.start_date, end)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"




def _months(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), both included."""
    start, stop = (int(p[:4]) * 12 + int(p[5:]) - 1 for p in (first, last))
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(start, stop + 1)]


def _days_elapsed(start: date, end: date) -> list[tuple[str, int]]:
    """(month, days of [start, end] up to the month's end) for every month the span touches."""
    out, day = [], start
    while day <= end:
        last = min(day.replace(day=calendar.monthrange(day.year, day.month)[1]), end)
        out.append((month_of(day), (last - start).days + 1))
        day = last + timedelta(days=1)
    return out
