"""Payments: recording them, allocating them to invoices, account credit, refunds and
write-offs, and `check_account`, the invariant that every change here keeps.

A payment posts one `payment` entry of -amount however it is allocated: the receivable drops
once, by what the customer paid. Allocating (at once or later from credit) moves no money, so
it posts nothing; it only records which invoices the money settled. A refund posts +amount
(`refund`); an early-payment discount or an uncollectible balance posts a -amount `write_off`
tagged with its invoice. An invoice's `amount_paid` is everything that settled it: its
allocations, the credit notes applied to it (billing.invoices) and those write-offs. So for
every account:

    ledger balance == sum(gross_total - amount_paid) of issued invoices
                      - credit left on open credit notes - unapplied payments

Every change locks the rows it changes first (SELECT ... FOR UPDATE in id order, re-read), so
concurrent payments on PostgreSQL queue on an invoice instead of over-allocating it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from billing import ledger
from billing.invoices import label
from billing.models import Invoice, LedgerEntry, Payment, PaymentAllocation
from core import webhooks
from core.db import insert_new, insert_row, lock_row, lock_rows, locked, locking, utcnow
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.locales import money
from core.money import HUNDRED, ZERO, Currency, CurrencyError, currency
from sales.accounts import Account

OPEN_STATES = ("open", "partially_paid")
CLOSED_STATES = ("paid", "uncollectible", "void")
METHODS = ("bank_transfer", "card", "cheque", "cash", "direct_debit", "other")


def early_payment_discount(invoice: Invoice, on: date | None) -> Decimal:
    """The discount the invoice's terms give if it is settled on `on`: gross x percent,
    rounded once, up to and including the discount date; zero after it or without terms."""
    if on is None or invoice.discount_date is None or not invoice.discount_percent or on > invoice.discount_date:
        return ZERO
    return currency(invoice.currency).round(invoice.gross_total * invoice.discount_percent / HUNDRED)


def balance_due(invoice: Invoice, on: date | None = None) -> Decimal:
    """What still settles the invoice; with `on`, net of the discount a payment received that
    day earns. Without it, the nominal balance that aging and dunning chase."""
    return invoice.gross_total - invoice.amount_paid - early_payment_discount(invoice, on)


#: the account's open invoices, locked (built once)
_OPEN_INVOICES = locking(Invoice, Invoice.account_id == sa.bindparam("of_account"), Invoice.kind == "invoice",
                         Invoice.state.in_(OPEN_STATES))


def record_payment(session: Session, account: Account, amount: Decimal, currency_code: str, method: str,
                   reference: str, received_on: date,
                   allocations: Sequence[tuple[Invoice, Decimal]] | None = None) -> Payment:
    """Record money received from `account` and allocate it: to the given (invoice, amount)
    pairs, or with `allocations=None` to the open invoices oldest due first. What is not
    allocated stays on the payment as `unapplied`, the account's credit.

    The bank's `reference` identifies the payment: recording it again with the same amount
    returns the payment already recorded (a retried import is harmless); another amount is
    an error, since two different payments cannot share a reference.
    """
    cur = _account_currency(account, currency_code)
    amount = _amount("amount", amount, cur)
    if method not in METHODS:
        raise InvalidInput("method", f"must be one of {', '.join(METHODS)}")
    reference = _text("reference", reference, 100)
    received_on = _date("received_on", received_on)
    if allocations is None:                 # a plan that cannot fail: a retry is found by the INSERT's conflict
        invoices = locked(session, _OPEN_INVOICES, {"of_account": account.id})
        plan = _oldest_due_first(invoices, amount, received_on)
    else:                                   # the invoices of a retry are paid now: it is found first
        existing = _by_reference(session, account.id, reference)
        if existing is not None:
            return _replay(existing, amount)
        plan = _explicit_plan(session, account, allocations, amount, cur, received_on)
    payment = Payment(account_id=account.id, amount=amount, currency=cur.code, method=method, reference=reference,
                      received_on=received_on, unapplied=amount - sum((part for _, part in plan), ZERO))
    payment = insert_new(session, payment, "account_id", "reference")
    if payment is None:                     # recorded already (a retry, or a concurrent recording won): replay it
        return _replay(_by_reference(session, account.id, reference), amount)
    ledger.post(session, account.id, received_on, "payment", -amount, cur.code, payment_id=payment.id,
                memo=f"{method} {reference}")
    for invoice, part in plan:
        _allocate(session, payment, invoice, part)
    session.flush()
    webhooks.emit(session, "payment.received", lambda: summary(payment, account) | {
        "allocated_to": [invoice.number for invoice, _part in plan]})
    return payment


def summary(payment: Payment, account: Account) -> dict:
    """What webhooks tell about a payment."""
    return {"id": payment.id, "account": account.code, "amount": str(payment.amount), "currency": payment.currency,
            "method": payment.method, "reference": payment.reference, "received_on": payment.received_on.isoformat(),
            "unapplied": str(payment.unapplied), "refunded": str(payment.refunded)}


def payments_of(session: Session, invoice: Invoice) -> list[Payment]:
    """The payments that paid (part of) the invoice, in the order they came in."""
    paid = select(PaymentAllocation.payment_id).where(PaymentAllocation.invoice_id == invoice.id)
    return list(session.exec(select(Payment).where(Payment.id.in_(paid)).order_by(Payment.id)))


def apply_credit(session: Session, payment: Payment, invoice: Invoice, amount: Decimal) -> PaymentAllocation:
    """Allocate `amount` of a payment's unapplied credit to an open invoice of its account.
    The early-payment discount is judged on the day the money was received."""
    payment = lock_row(session, Payment, payment.id)
    amount = _amount("amount", amount, currency(payment.currency))
    if amount > payment.unapplied:
        raise InvalidInput("amount", f"more than the {money(payment.unapplied, payment.currency)} unapplied on payment "
                                     f"{payment.reference}")
    if invoice.account_id != payment.account_id:
        raise InvalidInput("invoice", f"{label(invoice)} belongs to another account")
    invoice = lock_row(session, Invoice, invoice.id)
    _check_payable(invoice, amount, payment.received_on, "amount")
    allocation = _settle(session, payment, invoice, amount)
    session.flush()
    return allocation


def refund(session: Session, payment: Payment, amount: Decimal, reason: str, on: date) -> Payment:
    """Pay back part of a payment's unapplied credit. Money already allocated to an invoice
    is not refundable here: that needs a credit note on the invoice first."""
    payment = lock_row(session, Payment, payment.id)
    amount = _amount("amount", amount, currency(payment.currency))
    reason = _text("reason", reason, 400)
    on = _date("on", on)
    if on < payment.received_on:
        raise InvalidInput("on", f"before the payment was received on {payment.received_on}")
    if amount > payment.unapplied:
        raise InvalidInput("amount", f"only the unapplied {money(payment.unapplied, payment.currency)} of payment "
                                     f"{payment.reference} can be refunded")
    payment.unapplied -= amount
    payment.refunded += amount
    session.add(payment)
    ledger.post(session, payment.account_id, on, "refund", amount, payment.currency, payment_id=payment.id,
                memo=f"refund of {payment.reference}: {reason}")
    webhooks.emit(session, "payment.refunded", summary(payment, session.get(Account, payment.account_id)) | {
        "refund": str(amount), "on": on.isoformat(), "reason": reason})
    return payment


def mark_uncollectible(session: Session, invoice: Invoice, reason: str, on: date) -> Invoice:
    """Write off what an open invoice still owes; it stays on the books as uncollectible."""
    invoice = lock_row(session, Invoice, invoice.id)
    reason = _text("reason", reason, 400)
    on = _date("on", on)
    if invoice.kind != "invoice" or invoice.state not in OPEN_STATES:
        raise InvalidTransition(label(invoice), invoice.state, "mark it uncollectible")
    _write_off(session, invoice, balance_due(invoice), on, f"uncollectible: {reason}")
    invoice.state = "uncollectible"
    session.flush()
    return invoice


def check_account(session: Session, account_id: int) -> list[str]:
    """Every way the account's books disagree with themselves (empty when they agree): the
    ledger against open balances and credit, each invoice against what settled it, each
    payment against where its money went."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"unknown account {account_id}")
    documents = list(session.exec(select(Invoice).where(Invoice.account_id == account_id, Invoice.state != "draft")))
    invoices = [d for d in documents if d.kind == "invoice"]
    notes = [d for d in documents if d.kind == "credit_note"]
    payments = list(session.exec(select(Payment).where(Payment.account_id == account_id)))
    allocations = list(session.exec(select(PaymentAllocation).join(Payment)
                                    .where(Payment.account_id == account_id)))
    entries = ledger.entries(session, account_id)
    errors = [f"ledger entry {e.id} is in {e.currency}, the account in {account.currency}"
              for e in entries if e.currency != account.currency]
    expected = (sum((i.gross_total - i.amount_paid for i in invoices), ZERO)
                - sum((n.gross_total - n.amount_paid for n in notes), ZERO)
                - sum((p.unapplied for p in payments), ZERO))
    actual = sum((e.amount for e in entries), ZERO)
    if actual != expected:
        errors.append(f"ledger balance {actual} != open invoice balances less credit {expected}")
    errors += _invoice_errors(invoices, notes, allocations, entries)
    errors += [error for document in documents if (error := _state_error(document))]
    errors += _payment_errors(payments, allocations, entries)
    return errors


# ---- allocation --------------------------------------------------------------------------

def _oldest_due_first(invoices: Iterable[Invoice], amount: Decimal, on: date) -> list[tuple[Invoice, Decimal]]:
    """Issued invoices always have a due date; ties go to the invoice issued first."""
    plan, left = [], amount
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.id)):
        part = min(left, balance_due(invoice, on))
        if part > 0:
            plan.append((invoice, part))
            left -= part
    return plan


def _explicit_plan(session: Session, account: Account, allocations, amount: Decimal, cur: Currency,
                   on: date) -> list[tuple[Invoice, Decimal]]:
    requested: dict[int, tuple[int, Decimal]] = {}
    for i, pair in enumerate(allocations):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], Invoice)):
            raise InvalidInput(f"allocations[{i}]", "expected an (invoice, amount) pair")
        invoice, part = pair
        if invoice.account_id != account.id:
            raise InvalidInput(f"allocations[{i}].invoice", f"{label(invoice)} belongs to another account")
        if invoice.id in requested:
            raise InvalidInput(f"allocations[{i}].invoice", f"{label(invoice)} is allocated twice")
        requested[invoice.id] = (i, _amount(f"allocations[{i}].amount", part, cur))
    total = sum((part for _, part in requested.values()), ZERO)
    if total > amount:
        raise InvalidInput("allocations", f"they allocate {money(total, cur.code)}, more than the payment's "
                                          f"{money(amount, cur.code)}")
    invoices = lock_rows(session, Invoice, Invoice.id.in_(list(requested)))
    for invoice in invoices:
        i, part = requested[invoice.id]
        _check_payable(invoice, part, on, f"allocations[{i}].amount")
    return [(invoice, requested[invoice.id][1]) for invoice in sorted(invoices, key=lambda inv: requested[inv.id][0])]


def _check_payable(invoice: Invoice, amount: Decimal, on: date, field: str) -> None:
    """On the locked invoice, so the balance is the committed one."""
    if invoice.kind != "invoice" or invoice.state not in OPEN_STATES:
        raise InvalidTransition(label(invoice), invoice.state, "take a payment")
    due = balance_due(invoice, on)
    if amount > due:
        raise InvalidInput(field, f"more than the {money(due, invoice.currency)} due on {label(invoice)}")


def _settle(session: Session, payment: Payment, invoice: Invoice, amount: Decimal) -> PaymentAllocation:
    """Allocate part of the payment's unapplied credit to a locked invoice (_allocate)."""
    payment.unapplied -= amount
    session.add(payment)
    return _allocate(session, payment, invoice, amount)


def _allocate(session: Session, payment: Payment, invoice: Invoice, amount: Decimal) -> PaymentAllocation:
    """Allocate to a locked invoice money the payment's unapplied no longer counts (a new
    payment is written with what its plan leaves); if that leaves exactly the early-payment
    discount, the discount is written off and the invoice is paid."""
    allocation = insert_row(session, PaymentAllocation(payment_id=payment.id, invoice_id=invoice.id, amount=amount))
    invoice.amount_paid += amount
    discount = early_payment_discount(invoice, payment.received_on)
    if discount and balance_due(invoice) == discount:
        _write_off(session, invoice, discount, payment.received_on,
                   f"early payment discount {invoice.discount_percent}% on {invoice.number}", payment.id)
    invoice.state = "paid" if invoice.amount_paid == invoice.gross_total else "partially_paid"
    invoice.updated_at = utcnow()
    session.add(invoice)
    return allocation


def _write_off(session: Session, invoice: Invoice, amount: Decimal, on: date, memo: str,
               payment_id: int | None = None) -> None:
    ledger.post(session, invoice.account_id, on, "write_off", -amount, invoice.currency,
                invoice_id=invoice.id, payment_id=payment_id, memo=memo)
    invoice.amount_paid += amount
    invoice.updated_at = utcnow()
    session.add(invoice)


# ---- invariant ---------------------------------------------------------------------------

def _invoice_errors(invoices: list[Invoice], notes: list[Invoice], allocations: list[PaymentAllocation],
                    entries: list[LedgerEntry]) -> list[str]:
    settled: dict[int, Decimal] = defaultdict(Decimal)
    for allocation in allocations:
        settled[allocation.invoice_id] += allocation.amount
    for note in notes:                  # what a credit note took off its invoice
        settled[note.original_id] += note.amount_paid
    for entry in entries:
        if entry.kind == "write_off" and entry.invoice_id is not None:
            settled[entry.invoice_id] -= entry.amount
    return [f"{label(i)}: amount_paid {i.amount_paid} != allocations, credit notes and write-offs {settled[i.id]}"
            for i in invoices if i.amount_paid != settled[i.id]]


def _state_error(document: Invoice) -> str | None:
    """Closed documents are settled in full; an open invoice has nothing settled yet (an open
    credit note has credit left); a partially paid invoice is between."""
    paid, gross = document.amount_paid, document.gross_total
    if document.state in CLOSED_STATES:
        consistent = paid == gross
    elif document.state == "open":
        consistent = ZERO <= paid < gross and (paid == 0 or document.kind == "credit_note")
    else:
        consistent = document.state == "partially_paid" and ZERO < paid < gross and document.kind == "invoice"
    return None if consistent else f"{label(document)}: {document.state} with {paid} of {gross} settled"


def _payment_errors(payments: list[Payment], allocations: list[PaymentAllocation],
                    entries: list[LedgerEntry]) -> list[str]:
    allocated: dict[int, Decimal] = defaultdict(Decimal)
    for allocation in allocations:
        allocated[allocation.payment_id] += allocation.amount
    posted: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for entry in entries:
        if entry.payment_id is not None and entry.kind in ("payment", "refund"):
            posted[entry.payment_id, entry.kind] += entry.amount
    errors = []
    for p in payments:
        name = f"payment {p.reference}"
        if p.unapplied < 0 or p.refunded < 0:
            errors.append(f"{name}: unapplied {p.unapplied} and refunded {p.refunded} must not be negative")
        if allocated[p.id] + p.unapplied + p.refunded != p.amount:
            errors.append(f"{name}: allocated {allocated[p.id]} + unapplied {p.unapplied} + refunded "
                          f"{p.refunded} != amount {p.amount}")
        if posted[p.id, "payment"] != -p.amount:
            errors.append(f"{name}: ledger payment entries {posted[p.id, 'payment']} != -{p.amount}")
        if posted[p.id, "refund"] != p.refunded:
            errors.append(f"{name}: ledger refund entries {posted[p.id, 'refund']} != refunded {p.refunded}")
    return errors


# ---- helpers -----------------------------------------------------------------------------

_BY_REFERENCE = select(Payment).where(Payment.account_id == sa.bindparam("of_account"),
                                     Payment.reference == sa.bindparam("of_reference"))


def _by_reference(session: Session, account_id: int, reference: str) -> Payment | None:
    return session.exec(_BY_REFERENCE, params={"of_account": account_id, "of_reference": reference}).first()


def _replay(existing: Payment, amount: Decimal) -> Payment:
    if existing.amount != amount:
        raise InvalidInput("reference", f"already used by payment {existing.id} of "
                                        f"{money(existing.amount, existing.currency)}")
    return existing


def _account_currency(account: Account, code) -> Currency:
    try:
        cur = currency(code)
    except CurrencyError as exc:
        raise InvalidInput("currency", str(exc)) from exc
    if cur.code != account.currency:
        raise InvalidInput("currency", f"account {account.code} pays in {account.currency}, not {cur.code}")
    return cur


def _amount(field: str, value, cur: Currency) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidInput(field, "expected a decimal amount greater than 0")
    if not cur.is_exact(value):
        raise InvalidInput(field, f"finer than the minor unit of {cur.code}")
    return cur.round(value)


def _text(field: str, value, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "is required")
    if len(value.strip()) > limit:
        raise InvalidInput(field, f"at most {limit} characters")
    return value.strip()


def _date(field: str, value) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(field, "expected a date")
    return value
