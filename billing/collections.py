"""Collections: how old the open receivables are (aging), how fast they are collected (days
sales outstanding), and the dunning job that reminds customers of overdue invoices and
charges late fees.

Amounts are never summed across currencies: every figure here is per currency (shown in one
reporting currency by billing/reporting.py). Dunning is
safe to run any number of times: an invoice gets each level's notice at most once (its
`dunning_level` is raised under a row lock, and the notice table is unique per invoice and
level), so a second run on the same day does nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

import jinja2
import jinja2.sandbox
from sqlmodel import Session, select

from billing import mail as billing_mail
from billing.invoices import issue_fee_invoice
from billing.models import DunningNotice, Invoice, LedgerEntry, Payment
from billing.payments import OPEN_STATES, balance_due
from core.db import compared, lock_rows, utcnow
from core.errors import DomainError, InvalidInput
from core import locales
from core.money import HUNDRED, ROUNDING, ZERO, currency
from core.settings import PROJECT_ROOT
from sales.accounts import Account

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
_UPPER_BOUNDS = (0, 30, 60, 90)            # the last day past due of each bucket but "90+"
SALES_KINDS = ("invoice", "credit_note")   # ledger entries that are (net) credit sales
TENTH = Decimal("0.1")                     # DSO is shown to a tenth of a day


def bucket(days_past_due: int) -> str:
    """'current' up to and including the due date, then 1-30, 31-60, 61-90, 90+ (91 days on)."""
    return BUCKETS[bisect_left(_UPPER_BOUNDS, days_past_due)]


def days_past_due(invoice: Invoice, today: date) -> int:
    return (today - invoice.due_date).days


# ---- aging -------------------------------------------------------------------------------

@dataclass
class AgedBalance:
    """Open invoice balances by days past due, and the customer's credit (unapplied payments,
    open credit notes), which is not aged, not being late, but belongs to the balance:
    `balance` equals the ledger balance."""
    currency: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKETS, ZERO))
    credit: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def balance(self) -> Decimal:
        return self.total - self.credit


@dataclass(frozen=True)
class Aging:
    today: date
    accounts: dict[str, AgedBalance]   # by account code, in code order
    totals: dict[str, AgedBalance]     # by currency


def aging(session: Session, today: date, account: Account | None = None) -> Aging:
    """The open receivables of every account (or one) on `today`, exactly, per currency.
    Credit is what unapplied payments and open credit notes leave to the customer."""
    documents = (select(Invoice, Account).join(Account, Invoice.account_id == Account.id)
                 .where(Invoice.state.in_(OPEN_STATES)))
    payments = (select(Payment, Account).join(Account, Payment.account_id == Account.id)
                .where(compared(Payment.unapplied) > 0))
    if account is not None:
        documents = documents.where(Invoice.account_id == account.id)
        payments = payments.where(Payment.account_id == account.id)
    accounts: dict[str, AgedBalance] = {}
    totals: dict[str, AgedBalance] = {}
    for document, owner in session.exec(documents):
        for aged in _aged(accounts, owner.code, totals, owner.currency):
            if document.kind == "invoice":
                aged.buckets[bucket(days_past_due(document, today))] += balance_due(document)
            else:
                aged.credit += balance_due(document)     # what a credit note has left
    for payment, owner in session.exec(payments):
        for aged in _aged(accounts, owner.code, totals, owner.currency):
            aged.credit += payment.unapplied
    return Aging(today, dict(sorted(accounts.items())), dict(sorted(totals.items())))


def _aged(accounts: dict, code: str, totals: dict, currency_code: str) -> tuple[AgedBalance, AgedBalance]:
    return (accounts.setdefault(code, AgedBalance(currency_code)),
            totals.setdefault(currency_code, AgedBalance(currency_code)))


# ---- days sales outstanding --------------------------------------------------------------

@dataclass(frozen=True)
class Dso:
    """receivables / credit_sales x days, in days to one decimal; None without sales."""
    currency: str
    receivables: Decimal     # the ledger balance at the end of `today`
    credit_sales: Decimal    # invoiced less credit notes, in the `days` days ending `today`
    days: int
    value: Decimal | None


def dso(session: Session, today: date, days: int = 90) -> dict[str, Dso]:
    """Days sales outstanding per currency, from the ledger: entries are dated and never
    change, so the figure for a past day can be recomputed at any time."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInput("days", "expected a whole number of days, at least 1")
    start = today - timedelta(days=days)          # the period is start (excluded) .. today
    receivables: dict[str, Decimal] = defaultdict(Decimal)
    sales: dict[str, Decimal] = defaultdict(Decimal)
    rows = session.exec(select(LedgerEntry.currency, LedgerEntry.kind, LedgerEntry.on, LedgerEntry.amount)
                        .where(LedgerEntry.on <= today))
    for code, kind, on, amount in rows:
        receivables[code] += amount
        if kind in SALES_KINDS and on > start:
            sales[code] += amount
    return {code: Dso(code, receivables[code], sales[code], days, dso_days(receivables[code], sales[code], days))
            for code in sorted(receivables)}


def dso_days(receivables: Decimal, credit_sales: Decimal, days: int) -> Decimal | None:
    """receivables / credit_sales x days, to a tenth of a day; None without credit sales."""
    return (receivables / credit_sales * days).quantize(TENTH, ROUNDING) if credit_sales > 0 else None


# ---- dunning -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DunningLevel:
    level: int
    days_overdue: int        # reached this many days after the due date
    template: str            # a file in web/templates/letters
    late_fee: bool = False


@dataclass(frozen=True)
class DunningPolicy:
    """Levels in ascending order; a late fee is `fee_percent` of the overdue balance, at
    least the currency's minimum (no minimum for a currency not listed)."""
    levels: tuple[DunningLevel, ...]
    fee_percent: Decimal
    minimum_fee: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self):
        if not self.levels or any(a.level >= b.level or a.days_overdue >= b.days_overdue
                                  for a, b in zip(self.levels, self.levels[1:])):
            raise ValueError("dunning levels must rise in level and in days overdue")
        if self.levels[0].level < 1 or self.levels[0].days_overdue < 1 or self.fee_percent < 0:
            raise ValueError("dunning starts at level 1, a day overdue at the earliest; fees are not negative")
        for code, minimum in self.minimum_fee.items():
            if minimum < 0 or not currency(code).is_exact(minimum):
                raise ValueError(f"minimum fee {minimum} {code} must be a non-negative amount in minor units")

    def level_for(self, days_overdue: int) -> DunningLevel | None:
        """The highest level reached: an invoice found late by a lot skips the gentler letters."""
        reached = [lv for lv in self.levels if days_overdue >= lv.days_overdue]
        return reached[-1] if reached else None

    def fee(self, overdue: Decimal, currency_code: str) -> Decimal:
        cur = currency(currency_code)
        return max(cur.round(overdue * self.fee_percent / HUNDRED), self.minimum_fee.get(cur.code, ZERO))


DEFAULT_POLICY = DunningPolicy(
    levels=(DunningLevel(1, 7, "dunning_1.txt"),
            DunningLevel(2, 21, "dunning_2.txt", late_fee=True),
            DunningLevel(3, 45, "dunning_3.txt", late_fee=True)),
    fee_percent=Decimal("1.5"),
    minimum_fee=MappingProxyType({"USD": Decimal("15.00"), "EUR": Decimal("15.00"), "GBP": Decimal("12.00"),
                                  "CHF": Decimal("15.00"), "JPY": Decimal("2000")}),
)


@dataclass(frozen=True)
class DunningAction:
    """One notice the job wrote (and the fee it charged, if any)."""
    notice_id: int
    invoice_id: int
    invoice_number: str
    account_code: str
    level: int
    days_overdue: int
    amount_due: Decimal
    currency: str
    fee: Decimal
    fee_invoice_id: int | None


@dataclass(frozen=True)
class DunningRun:
    """What a run did, and the invoices it could not dun (left for the next run)."""
    notices: list[DunningAction] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)    # (invoice number, why)


def run_dunning(session: Session, today: date, policy: DunningPolicy = DEFAULT_POLICY) -> DunningRun:
    """Raise every overdue open invoice to the level its days overdue reach, once per level:
    write the notice with its letter, e-mail it (billing/mail.py) and, where the level charges
    one, issue a late-fee invoice. Late-fee invoices are not dunned themselves, so fees never bear fees. Each
    invoice is dunned in a savepoint: one that fails (say, its fee cannot be taxed) is
    reported and does not stop the others."""
    fee_invoices = select(DunningNotice.fee_invoice_id).where(DunningNotice.fee_invoice_id.is_not(None))
    overdue = lock_rows(session, Invoice, Invoice.kind == "invoice", Invoice.state.in_(OPEN_STATES),
                   Invoice.due_date <= today - timedelta(days=policy.levels[0].days_overdue),
                   Invoice.dunning_level < policy.levels[-1].level, Invoice.id.not_in(fee_invoices))
    run = DunningRun()
    for invoice in sorted(overdue, key=lambda i: (i.due_date, i.id)):
        level = policy.level_for(days_past_due(invoice, today))
        if level is None or level.level <= invoice.dunning_level:
            continue
        number = invoice.number
        try:
            with session.begin_nested():
                run.notices.append(_dun(session, invoice, level, policy, today))
        except DomainError as exc:
            run.failed.append((number, str(exc)))
    return run


def _dun(session: Session, invoice: Invoice, level: DunningLevel, policy: DunningPolicy,
         today: date) -> DunningAction:
    account = session.get(Account, invoice.account_id)
    days, due = days_past_due(invoice, today), balance_due(invoice)
    fee = policy.fee(due, invoice.currency) if level.late_fee else ZERO
    fee_invoice = None
    if fee:
        fee_invoice = issue_fee_invoice(
            session, account, fee, invoice.currency,
            locales.translations(account.language).gettext(
                "Late fee: invoice %(invoice)s, %(days)s days overdue (reminder %(level)s)")
            % {"invoice": invoice.number, "days": days, "level": level.level}, today,
            original_invoice_id=invoice.id)
    letter = render_letter(level.template, account.language, account=account.name, account_code=account.code,
                           invoice=invoice.number, currency=invoice.currency, gross_total=invoice.gross_total,
                           amount_paid=invoice.amount_paid, amount_due=due, due_date=invoice.due_date,
                           days_overdue=days, level=level.level, today=today, fee=fee,
                           fee_invoice=fee_invoice.number if fee_invoice else None)
    notice = DunningNotice(invoice_id=invoice.id, level=level.level, sent_on=today, days_overdue=days,
                           fee_invoice_id=fee_invoice.id if fee_invoice else None, letter=letter)
    invoice.dunning_level, invoice.updated_at = level.level, utcnow()
    session.add_all([notice, invoice])
    session.flush()
    billing_mail.dunning_letter(session, notice, invoice, account)
    return DunningAction(notice.id, invoice.id, invoice.number, account.code, level.level, days, due,
                         invoice.currency, fee, notice.fee_invoice_id)


# ---- letters -----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _letters(language: str) -> jinja2.sandbox.SandboxedEnvironment:
    """The letters in one language (its catalog, its locale's amounts and dates). Sandboxed
    although the shipped letters are trusted: letters are the templates a finance team edits,
    and a template should read the values it is given and nothing else."""
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(PROJECT_ROOT / "web" / "templates" / "letters"),
        undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])
    locales.install(env, language)
    return env


def render_letter(template: str, language: str = locales.DEFAULT, **context) -> str:
    """A letter in `language` (an account's)."""
    return _letters(locales.language_of(language)).get_template(template).render(**context)
