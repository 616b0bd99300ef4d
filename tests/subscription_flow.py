"""Helpers for the subscription, amendment and revenue tests: an account per currency with
the demo tax rates, contracts and orders with recurring lines built directly, drafts issued,
and what was invoiced for a subscription (import what you need; `setup` is a fixture).

Examples work in a session they roll back: nothing commits, so no document is rendered."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from itertools import count

import pytest
from sqlmodel import Session, select

from billing.invoices import issue
from billing.models import Invoice, InvoiceLine
from billing.tax import load_demo_tax_rates
from catalog.pricebook import PERIOD_MONTHS
from core.dates import add_months
from core.settings import DEFAULT_DEMO_DIR
from core.users import create_user
from sales.accounts import create_account
from sales.models import Quote
from sales.order_models import Contract, Order, OrderLine, Subscription

COMPANY = {"name": "Test Seller", "address": ["1 Street"], "email": "billing@seller.example"}
DAY = timedelta(days=1)
ACCOUNTS = {"USD": {"code": "ACME", "name": "Acme", "currency": "USD",
                    "billing_address": {"city": "Austin", "region": "TX", "country": "US"}},
            "JPY": {"code": "TANAKA", "name": "Tanaka KK", "currency": "JPY",
                    "billing_address": {"city": "Tokyo", "country": "JP"}},
            "KWD": {"code": "SABAH", "name": "Sabah Trading", "currency": "KWD",
                    "billing_address": {"city": "Kuwait City", "country": "KW"}}}
_numbers = count(1)


@pytest.fixture
def setup(engine):
    """Tax rates, a user and one account per currency, committed once; each example then works
    in a transaction it rolls back (nothing commits, so no document is ever rendered)."""
    with Session(engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        user = create_user(session, "rep@example.com", "Rep", "rep")[0].id
        accounts = {code: create_account(session, raw).id for code, raw in ACCOUNTS.items()}
        session.commit()
    return engine, user, accounts


def contract_order(session, user, account_id, code, start, term, lines) -> tuple[Contract, Order]:
    """An active contract and its order, with recurring `lines` of (charge, quantity, amount
    per period[, list price per period])."""
    quote = accepted_quote(session, user, account_id, code)
    contract = Contract(number=f"C-T-{next(_numbers)}", quote_id=quote.id, account_id=account_id, currency=code,
                        start_date=start, end_date=add_months(start, term) - DAY, term_months=term,
                        contract_value=D(0), state="active")
    session.add(contract)
    session.flush()
    return contract, order_of(session, quote, contract, lines, term)


def accepted_quote(session, user, account_id, code) -> Quote:
    quote = Quote(number=f"Q-T-{next(_numbers)}", account_id=account_id, owner_id=user, currency=code,
                  price_book="list", rule_set="standard", payment_terms="net30", expires_on=date(2030, 1, 1),
                  state="accepted")
    session.add(quote)
    session.flush()
    return quote


def order_of(session, quote, contract, lines, term) -> Order:
    order = Order(number=f"O-T-{next(_numbers)}", quote_id=quote.id, contract_id=contract.id,
                  account_id=contract.account_id, state="open", currency=contract.currency, one_time_total=D(0),
                  contract_value=D(0), created_at=datetime(2020, 1, 1, tzinfo=timezone.utc))
    session.add(order)
    session.flush()
    for position, (charge, quantity, amount, *listed) in enumerate(lines):
        session.add(OrderLine(order_id=order.id, key=str(position + 1), position=position, product="SUP",
                              name="Support", quantity=D(quantity), charge=charge, term_months=term,
                              list_total=listed[0] if listed else amount, net_total=amount,
                              contract_value=amount * (term // PERIOD_MONTHS[charge])))
    session.flush()
    return order


def issue_drafts(session, today):
    for draft in session.exec(select(Invoice).where(Invoice.state == "draft")).all():
        issue(session, draft, today, company=COMPANY)


def invoiced(session, subscription: Subscription) -> D:
    """Invoice lines less credit note lines of a subscription, net."""
    rows = session.exec(select(Invoice.kind, InvoiceLine.net_amount).join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
                        .where(Invoice.order_id == subscription.order_id, Invoice.state != "void",
                               InvoiceLine.order_line_key == subscription.line_key)).all()
    return sum((amount if kind == "invoice" else -amount for kind, amount in rows), D(0))
