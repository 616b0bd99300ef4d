"""The receivables ledger: every change to what an account owes is one entry, written once.

+ amounts raise the receivable (an invoice, a late fee, a refund paid out), - amounts lower it
(a payment, a credit note, a write-off). An account's balance is the sum of its entries, so
it can always be recomputed and audited; nothing else stores a balance.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import Session, select

from billing.models import LedgerEntry
from core.money import ZERO

KINDS = ("invoice", "credit_note", "payment", "refund", "late_fee", "write_off")


def post(session: Session, account_id: int, on: date, kind: str, amount: Decimal, currency: str, *,
         invoice_id: int | None = None, payment_id: int | None = None, memo: str = "") -> LedgerEntry:
    if kind not in KINDS:
        raise ValueError(f"unknown ledger entry kind {kind!r}")
    entry = LedgerEntry(account_id=account_id, on=on, kind=kind, amount=amount, currency=currency,
                        invoice_id=invoice_id, payment_id=payment_id, memo=memo[:500])
    session.add(entry)
    session.flush()
    return entry


def balance(session: Session, account_id: int, currency: str | None = None) -> Decimal:
    """What the account owes (negative: it has credit), from its entries. Summed in Python,
    exactly, on both databases (SQLite would sum text columns as floats)."""
    query = select(LedgerEntry.amount).where(LedgerEntry.account_id == account_id)
    if currency is not None:
        query = query.where(LedgerEntry.currency == currency)
    return sum(session.exec(query).all(), ZERO)


def entries(session: Session, account_id: int) -> list[LedgerEntry]:
    return list(session.exec(select(LedgerEntry).where(LedgerEntry.account_id == account_id)
                             .order_by(LedgerEntry.on, LedgerEntry.id)))

