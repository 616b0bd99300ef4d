"""The receivables ledger: every change to what an account owes is one entry, written once.

+ amounts raise the receivable (an invoice, a late fee, a refund paid out), - amounts lower it
(a payment, a credit note, a write-off). An account's balance is the sum of its entries, so
it can always be recomputed and audited; nothing else stores a balance.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from billing.models import LedgerEntry
from core.db import append
from core.money import ZERO, trim

KINDS = ("invoice", "credit_note", "payment", "refund", "late_fee", "write_off")


def post(session: Session, account_id: int, on: date, kind: str, amount: Decimal, currency: str, *,
         invoice_id: int | None = None, payment_id: int | None = None, memo: str = "") -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown ledger entry kind {kind!r}")
    append(session, LedgerEntry, dict(account_id=account_id, on=on, kind=kind, amount=amount, currency=currency,
                                      invoice_id=invoice_id, payment_id=payment_id, memo=memo[:500]))


def balance(session: Session, account_id: int, currency: str | None = None) -> Decimal:
    """What the account owes (negative: it has credit), from its entries, exactly: summed by
    PostgreSQL (NUMERIC), in Python on SQLite (which would sum its text amounts as floats), so
    an order's credit check does not read every entry the account ever had. Trimmed like a
    stored amount (core.money.trim), so both databases give the same figure."""
    summed = session.get_bind().dialect.name != "sqlite"
    params = {"of_account": account_id} if currency is None else {"of_account": account_id, "of_currency": currency}
    found = session.exec(_BALANCE[summed, currency is not None], params=params)
    return trim((found.one() if summed else sum(found.all(), ZERO)) or ZERO)


def _balance(summed: bool, in_currency: bool):
    conditions = [LedgerEntry.account_id == sa.bindparam("of_account")]
    if in_currency:
        conditions.append(LedgerEntry.currency == sa.bindparam("of_currency"))
    return select(sa.func.sum(LedgerEntry.amount) if summed else LedgerEntry.amount).where(*conditions)


#: balance's statements (by whether the database sums, and whether in one currency), built once
_BALANCE = {(summed, in_currency): _balance(summed, in_currency) for summed in (False, True) for in_currency in (False, True)}


def entries(session: Session, account_id: int) -> list[LedgerEntry]:
    return list(session.exec(select(LedgerEntry).where(LedgerEntry.account_id == account_id)
                             .order_by(LedgerEntry.on, LedgerEntry.id)))

