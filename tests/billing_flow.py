"""Helpers for the billing tests: an account with a taxable address, invoices as issuing
leaves them (open, numbered, on the ledger), payments, and threads for concurrency tests.
Used by tests/test_payments.py and tests/test_collections.py (import what you need;
`session` and `acme` are fixtures)."""

from __future__ import annotations

import itertools
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from billing import invoices, ledger, order_billing, schedule
from billing.models import Invoice
from billing.payments import record_payment
from billing.remittance import invoice_reference
from core.db import session_scope
from core.users import User
from sales.accounts import Account, create_account
from sales.models import Quote
from sales.order_models import Contract, Order, OrderLine

D = Decimal
DAY = date(2026, 3, 1)
invoice_numbers = itertools.count(1)     # test invoice numbers, unique in a run
_orders = itertools.count(1)


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


def order_for(session: Session, account_id: int, owner_id: str, lines=(), *, billing="on_order", milestones=(),
              terms="net30", state="open", contract_start: date | None = None) -> Order:
    """An order of an accepted quote, with `lines` given as (key, charge, quantity, net_total[,
    term_months, tax_category]), and a contract when `contract_start` is given."""
    n = next(_orders)
    cur = session.get(Account, account_id).currency
    quote = Quote(number=f"Q-2026-{n:05d}", account_id=account_id, owner_id=owner_id, currency=cur,
                  price_book="list", rule_set="standard", payment_terms=terms, expires_on=date(2026, 12, 31),
                  state="accepted")
    session.add(quote)
    session.flush()
    contract_id = None
    if contract_start is not None:
        contract = Contract(number=f"C-{n}", quote_id=quote.id, account_id=account_id, currency=cur,
                            start_date=contract_start, end_date=date(2027, 12, 31), term_months=12,
                            contract_value=D(0), state="active")
        session.add(contract)
        session.flush()
        contract_id = contract.id
    one_time = sum((D(ln[3]) for ln in lines if ln[1] == "one_time"), D(0))
    order = Order(number=f"O-2026-{n:05d}", quote_id=quote.id, contract_id=contract_id, account_id=account_id,
                  state=state, currency=cur, one_time_total=one_time, contract_value=one_time, billing=billing,
                  milestones=list(milestones), created_at=datetime(2026, 3, 15, 9, 0, tzinfo=timezone.utc))
    session.add(order)
    session.flush()
    for position, (key, charge, quantity, net, *rest) in enumerate(lines):
        term = rest[0] if rest else (12 if charge != "one_time" else None)
        category = rest[1] if len(rest) > 1 else "standard"
        periods = 1 if charge == "one_time" else term // schedule.PERIOD_MONTHS[charge]
        session.add(OrderLine(order_id=order.id, key=key, position=position, product=f"P-{key}", name=f"Item {key}",
                              quantity=D(quantity), charge=charge, term_months=term, list_total=D(net),
                              net_total=D(net), contract_value=D(net) * periods, tax_category=category))
    session.flush()
    return order


def issued_invoice(session: Session, account_code: str, lines, today: date = DAY) -> Invoice:
    """The real thing: an order of `lines` for the account, invoiced and issued (its documents
    asked for)."""
    account = session.exec(select(Account).where(Account.code == account_code)).one()
    owner = session.exec(select(User.id)).first()
    order = order_for(session, account.id, owner, lines)
    return invoices.issue(session, order_billing.invoice_order(session, order, today), today)


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
