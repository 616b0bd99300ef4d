"""Helpers for the billing tests: an account with a taxable address, invoices as issuing
leaves them (open, numbered, on the ledger), payments, and threads for concurrency tests.
Used by tests/test_payments.py and tests/test_collections.py (import what you need;
`session` and `acme` are fixtures)."""

from __future__ import annotations

import itertools
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session

from billing import ledger
from billing.models import Invoice
from billing.payments import record_payment
from billing.remittance import invoice_reference
from core.db import session_scope
from sales.accounts import Account, create_account

D = Decimal
DAY = date(2026, 3, 1)
invoice_numbers = itertools.count(1)     # test invoice numbers, unique in a run


ADDRESS = {"street": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701", "country": "US"}


def make_account(session: Session, code: str = "ACME", currency: str = "USD") -> Account:
    return create_account(session, {"code": code, "name": f"{code} Industries", "currency": currency,
                                    "billing_address": ADDRESS})


def issue(session: Session, account: Account, gross, due: date, *, issued: date | None = None,
          discount_percent=None, discount_date: date | None = None, number: str | None = None) -> Invoice:
    """An invoice as issuing leaves it (billing.invoices): open, numbered, with its payment
    reference and its +gross ledger entry on the issue date (30 days before it is due unless given)."""
    number = number or f"T-{next(invoice_numbers)}"
    invoice = Invoice(series="T", number=number, state="open", account_id=account.id, currency=account.currency,
                      payment_reference=invoice_reference(number),
                      issue_date=issued or due - timedelta(days=30), due_date=due, payment_terms="net30",
                      net_total=D(gross), gross_total=D(gross), discount_percent=discount_percent,
                      discount_date=discount_date)
    session.add(invoice)
    session.flush()
    ledger.post(session, account.id, invoice.issue_date, "invoice", D(gross), account.currency,
                invoice_id=invoice.id, memo=number)
    return invoice


def pay(session, account, amount, reference, on=DAY, allocations=None, currency=None):
    return record_payment(session, account, D(amount), currency or account.currency, "bank_transfer", reference,
                          on, allocations)


def kinds(session, account) -> list[tuple[str, Decimal]]:
    return [(e.kind, e.amount) for e in ledger.entries(session, account.id)]


@pytest.fixture
def session(engine):
    with session_scope(engine) as session:
        yield session


@pytest.fixture
def acme(session):
    return make_account(session)


def postgres_only(database_url):
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgresql://...): SQLite serialises writers")


def in_threads(*works) -> list:
    """Run each callable in its own thread; their results, or the first exception raised."""
    results: list = [None] * len(works)
    errors: list[BaseException] = []

    def run(i):
        try:
            results[i] = works[i]()
        except BaseException as exc:          # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results
