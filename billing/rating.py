"""Rating: a closed usage period becomes invoice lines, and the usage of an open one is
priced as it stands.

`rate_period` sums each account's usage per meter in one statement (GROUP BY account and
meter, accounts already rated left out), prices each sum with its metered price
(catalog.metered.rate, rounded once per line), and drafts one invoice per account through
billing.consolidation: a line per meter, and a true-up line where a minimum commitment was not
reached. A `UsageCharge` per meter keeps the usage summary (quantity, allowance used, tiers
applied) and closes the account's period. Rating is idempotent: an account is rated once per
period, and a period whose accounts are all rated is skipped. An account that cannot be
billed (no price for a meter, no tax jurisdiction) is reported and left for the next run; the
others are not held up. An account invoiced per billing day is rated on that day instead, its
usage a part of the day's invoice (`due_on_billing_day`). Rules: docs/usage.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, select

from billing import consolidation, invoices, tax
from billing.consolidation import Due
from billing.invoices import Charge
from billing.models import Invoice
from billing.terms import parse_terms
from billing.usage_models import (DEFAULT_GRACE_DAYS, UsageCharge, UsagePeriod, UsageRecord, closes_at,
                                  period_end, period_label)
from catalog.store import get_price_book
from billing.usage_prices import UsagePrices
from catalog.metered import Rated, Step, rate
from core.db import find_row
from core.errors import DomainError, InvalidTransition
from core.money import currency
from sales.accounts import Account

ACCOUNTS_AT_ONCE = 5_000               # accounts loaded and drafted per round


@dataclass(frozen=True)
class MeterUsage:
    """One meter's usage of an account in a period, priced (`rated`), or why it cannot be."""
    meter: str
    records: int
    quantity: Decimal
    product: str | None = None
    name: str = ""
    unit: str = ""
    tax_category: str = "standard"
    price_book: str | None = None
    price_book_version: int | None = None
    rated: Rated | None = None
    problem: str | None = None


@dataclass(frozen=True)
class RunningUsage:
    """An account's usage of a period per meter, and its price so far."""
    account: str
    currency: str
    period: date
    state: str                          # open | closing (grace over, rating due) | rated
    closes_at: datetime
    invoice_id: int | None              # the draft rating made, once rated
    meters: tuple[MeterUsage, ...]

    @property
    def total(self) -> Decimal:
        return sum((m.rated.total for m in self.meters if m.rated is not None), Decimal(0))


class Unrated(NamedTuple):
    account: str                        # code
    reason: str


@dataclass
class RatingRun:
    period: date
    invoices: list[int] = field(default_factory=list)            # draft invoice ids
    charges: int = 0
    failed: list[Unrated] = field(default_factory=list)          # left for the next run


# rating a period ------------------------------------------------------------------------------------

def rate_period(session: Session, period: date, now: datetime, *, grace_days: int = DEFAULT_GRACE_DAYS) -> RatingRun:
    """Rate every account with unrated usage in `period` (its first day), once its grace has
    ended, in the caller's transaction; the period's row stays locked until it commits.
    Accounts invoiced per billing day are rated on that day (due_on_billing_day)."""
    run = RatingRun(period)
    if now < closes_at(period, grace_days):
        raise InvalidTransition(f"usage period {period_label(period)}", "open", "rate it",
                                f"it takes late records until {closes_at(period, grace_days):%Y-%m-%d %H:%M} UTC")
    row = _close(session, period, now)
    if row is None or row.complete:
        return run                                  # no usage, or every account rated already
    usage = _unrated_sums(session, period)
    prices, rates = UsagePrices(session), tax.get_tax_rates(session)
    ids = sorted(usage)
    waiting = False
    for start in range(0, len(ids), ACCOUNTS_AT_ONCE):
        accounts = session.exec(select(Account).where(Account.id.in_(ids[start:start + ACCOUNTS_AT_ONCE]))
                                .order_by(Account.id)).all()
        now_due = [a for a in accounts if a.invoice_consolidation != "per_billing_day"]
        waiting = waiting or len(now_due) < len(accounts)
        rated = _rate_accounts(now_due, usage, period, prices, run, rates)
        if rated:
            drafted = consolidation.draft_all(session, [d for _a, _m, d in rated], now.date())
            _record(session, period, rated, drafted, now)
            run.invoices += [invoice.id for invoice in drafted]
            run.charges += sum(len(metered) for _account, metered, _draft in rated)
    row.complete = not run.failed and not waiting
    session.add(row)
    session.flush()
    return run


def close_due_periods(session: Session, now: datetime, *, grace_days: int = DEFAULT_GRACE_DAYS) -> list[RatingRun]:
    """Rate every period whose grace has ended and that is not rated yet (the daily job)."""
    return [rate_period(session, p, now, grace_days=grace_days) for p in _closed_unrated(session, now, grace_days)]


def due_on_billing_day(session: Session, account: Account, now: datetime, *,
                       grace_days: int = DEFAULT_GRACE_DAYS) -> tuple[list[Due], list[Unrated]]:
    """The account's usage of every closed period it is not rated for, rated: a due per period
    (its charges are written by the invoice that takes it), and why any could not be."""
    dues, failed = [], []
    prices, rates = UsagePrices(session), tax.get_tax_rates(session)
    for period in _closed_unrated(session, now, grace_days):
        usage = _unrated_sums(session, period, account.id)
        if not usage:
            continue
        _close(session, period, now)
        run = RatingRun(period)
        for rated in _rate_accounts([account], usage, period, prices, run, rates):
            dues.append(Due(rated[2], lambda invoice, rated=rated, period=period:
                            _record(session, period, [rated], [invoice], now)))
        failed += run.failed
    return dues, failed


def _closed_unrated(session: Session, now: datetime, grace_days: int) -> list[date]:
    due = session.exec(select(UsagePeriod.period).where(UsagePeriod.complete.is_(False))
                       .order_by(UsagePeriod.period)).all()
    return [p for p in due if closes_at(p, grace_days) <= now]


def _close(session: Session, period: date, now: datetime) -> UsagePeriod | None:
    """The period's row, locked, closed to records from now on."""
    row = find_row(session, UsagePeriod, UsagePeriod.period == period, lock=True)
    if row is not None and not row.complete:
        row.rated_at = row.rated_at or now
    return row


def _unrated_sums(session: Session, period: date, account_id: int | None = None) -> dict[int, dict[str, tuple[Decimal, int]]]:
    """account id -> meter -> (quantity, records), summed by the database, for the accounts of
    the period not rated yet (or the one account)."""
    record, charge = UsageRecord.__table__, UsageCharge.__table__
    rated = sa.exists().where(charge.c.account_id == record.c.account_id, charge.c.period == period)
    query = (sa.select(record.c.account_id, record.c.meter, sa.func.sum(record.c.quantity), sa.func.count())
             .where(record.c.period == period, ~rated).group_by(record.c.account_id, record.c.meter))
    if account_id is not None:
        query = query.where(record.c.account_id == account_id)
    usage: dict[int, dict[str, tuple[Decimal, int]]] = defaultdict(dict)
    for account_id, meter, quantity, count in session.execute(query):
        usage[account_id][meter] = (quantity, count)
    return usage


def _rate_accounts(accounts: list[Account], usage: dict, period: date, prices: UsagePrices, run: RatingRun,
                   rates: tax.TaxRates) -> list[tuple[Account, list[MeterUsage], invoices.Draft]]:
    """Each account's usage priced per meter, and the draft that bills it; an account that
    cannot be billed goes to `run.failed`."""
    rated = []
    for account in accounts:
        metered = [_priced(account, meter, quantity, count, period, prices)
                   for meter, (quantity, count) in sorted(usage[account.id].items())]
        try:
            problem = next((m.problem for m in metered if m.problem), None)
            if problem:
                raise DomainError(problem)
            rates.taxation(account.billing_address, account.tax_id, account.segment)   # refuses before anything is written
            terms = parse_terms(account.payment_terms).code
        except DomainError as exc:
            run.failed.append(Unrated(account.code, str(exc)))
            continue
        rated.append((account, metered, invoices.Draft(account, [c for m in metered for c in _lines(m, period)],
                                                       currency(account.currency), terms,
                                                       f"Usage {period_label(period)}")))
    return rated


def _record(session: Session, period: date, rated: list[tuple[Account, list[MeterUsage], invoices.Draft]],
            drafted: list[Invoice], now: datetime) -> None:
    """The charges of the rated accounts (closing their period) on the invoices that took
    them, in one multi-row INSERT."""
    session.execute(sa.insert(UsageCharge.__table__), [_charge_row(account, period, m, invoice, now)
                                                      for (account, metered, _draft), invoice in zip(rated, drafted)
                                                      for m in metered])


def _priced(account: Account, meter: str, quantity: Decimal, records: int, period: date,
            prices: UsagePrices) -> MeterUsage:
    """The meter's usage priced by the account's price for it in the period."""
    found = prices.find(account, meter, period)
    if found is None:
        return MeterUsage(meter, records, quantity, problem=f"no price book of account {account.code} prices "
                                                            f"meter {meter!r} in {period_label(period)}")
    price = found.metered.price
    return MeterUsage(meter, records, quantity, found.product, found.metered.name or found.product, price.unit,
                      price.tax_category, found.book.name, found.book.version,
                      rate(price, quantity, found.book.currency))


def _lines(usage: MeterUsage, period: date) -> list[Charge]:
    """The meter's invoice line, and its true-up line when the minimum was not reached."""
    rated = usage.rated
    lines = [Charge(_description(usage, period), rated.quantity, rated.amount, usage.tax_category, usage.product,
                    period_start=period, period_end=period_end(period))]
    if rated.true_up:
        lines.append(Charge(f"{usage.name}, {period_label(period)}: minimum commitment {rated.minimum} "
                            f"(usage {rated.amount}), true-up", Decimal(1), rated.true_up, usage.tax_category,
                            usage.product, period_start=period, period_end=period_end(period)))
    return lines


def _description(usage: MeterUsage, period: date) -> str:
    """'API calls, 2026-03: 12,500 calls; 10,000 included; 2,500 billed: 0-1,000 at 0.002 + 10.00; ...'"""
    rated = usage.rated
    text = f"{usage.name}, {period_label(period)}: {_number(rated.quantity)} {usage.unit}"
    if rated.allowance_used:
        text += f"; {_number(rated.allowance_used)} included; {_number(rated.billable)} billed"
    if rated.steps:
        text += ": " + "; ".join(_step(s) for s in rated.steps)
    return text


def _step(step: Step) -> str:
    band = f"{_number(step.above)}-{_number(step.up_to)}" if step.up_to is not None else f"over {_number(step.above)}"
    text = f"{_number(step.quantity)} ({band}) at {step.unit_price}"
    return text + (f" + {step.flat_fee}" if step.flat_fee else "")


def _number(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _charge_row(account: Account, period: date, usage: MeterUsage, invoice: Invoice, now: datetime) -> dict:
    rated = usage.rated
    return {"account_id": account.id, "period": period, "meter": usage.meter, "product": usage.product,
            "price_book": usage.price_book, "price_book_version": usage.price_book_version,
            "currency": account.currency, "records": usage.records, "quantity": rated.quantity,
            "allowance_used": rated.allowance_used, "billable": rated.billable, "steps": steps_data(rated.steps),
            "amount": rated.amount, "minimum": rated.minimum, "true_up": rated.true_up, "invoice_id": invoice.id,
            "rated_at": now}


def steps_data(steps: tuple[Step, ...]) -> list[dict]:
    """Steps as exact decimal text (stored as JSON with the charge)."""
    return [{"above": str(s.above), "up_to": None if s.up_to is None else str(s.up_to), "quantity": str(s.quantity),
             "unit_price": str(s.unit_price), "flat_fee": str(s.flat_fee), "amount": str(s.amount)} for s in steps]


# usage so far -------------------------------------------------------------------------------------

def running_usage(session: Session, account: Account, period: date, now: datetime, *,
                  grace_days: int = DEFAULT_GRACE_DAYS) -> RunningUsage:
    """The account's usage of `period` per meter priced as it stands (one GROUP BY over the
    account's records of the period); once rated, what rating charged."""
    ends = closes_at(period, grace_days)
    charges = session.exec(select(UsageCharge).where(UsageCharge.account_id == account.id,
                                                     UsageCharge.period == period).order_by(UsageCharge.meter)).all()
    if charges:
        return RunningUsage(account.code, account.currency, period, "rated", ends, charges[0].invoice_id,
                            tuple(_charged(session, c) for c in charges))
    record = UsageRecord.__table__
    rows = session.execute(sa.select(record.c.meter, sa.func.sum(record.c.quantity), sa.func.count())
                           .where(record.c.period == period, record.c.account_id == account.id)
                           .group_by(record.c.meter).order_by(record.c.meter))
    prices = UsagePrices(session)
    meters = tuple(_priced(account, meter, quantity, count, period, prices) for meter, quantity, count in rows)
    return RunningUsage(account.code, account.currency, period, "open" if now < ends else "closing", ends, None, meters)


def _charged(session: Session, charge: UsageCharge) -> MeterUsage:
    """A rated meter as rating charged it, named as the price book version it was rated on."""
    product = get_price_book(session, charge.price_book, charge.price_book_version).metered.get(charge.product)
    steps = tuple(Step(Decimal(s["above"]), None if s["up_to"] is None else Decimal(s["up_to"]),
                       Decimal(s["quantity"]), Decimal(s["unit_price"]), Decimal(s["flat_fee"]), Decimal(s["amount"]))
                  for s in charge.steps)
    rated = Rated(charge.quantity, charge.allowance_used, charge.billable, steps, charge.amount, charge.minimum,
                  charge.true_up)
    return MeterUsage(charge.meter, charge.records, charge.quantity, charge.product,
                      product.name if product and product.name else charge.product,
                      product.price.unit if product else "", product.price.tax_category if product else "standard",
                      charge.price_book, charge.price_book_version, rated)
