"""List endpoints run a constant number of SQL statements whatever the page size: what a
page's rows point to (accounts, lines, allocations...) is loaded once for the page, not once
per row (no N+1)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from billing.models import Invoice, InvoiceLine, Payment, PaymentAllocation
from core.db import session_scope
from core.users import create_user
from sales.accounts import create_account
from sales.models import Quote
from sales.order_models import Order, OrderLine, Shipment

DAY = date(2026, 3, 1)
LISTS = ["/api/v1/quotes", "/api/v1/orders", "/api/v1/invoices", "/api/v1/payments", "/api/v1/accounts"]


@pytest.fixture
def rows(app):
    """60 accounts, each with a contact, a quote, an order with two lines and a shipment, an
    invoice with two lines, and a payment allocated to it; and an admin's token."""
    with session_scope(app.extensions["cpq_engine"]) as session:
        admin, token = create_user(session, "admin@example.com", "Admin", "admin")
        for n in range(60):
            account = create_account(session, {"code": f"A{n:03d}", "name": f"Account {n}", "currency": "USD",
                                               "contacts": [{"name": "Jo", "email": f"jo{n}@example.com"}]})
            quote = Quote(number=f"Q-{n:05d}", account_id=account.id, owner_id=admin.id, currency="USD",
                          price_book="list-usd", rule_set="standard", payment_terms="net30", expires_on=DAY,
                          state="accepted")
            session.add(quote)
            session.flush()
            order = Order(number=f"SO-{n:05d}", quote_id=quote.id, account_id=account.id, state="open",
                          currency="USD", one_time_total=Decimal(10), contract_value=Decimal(10))
            session.add(order)
            session.flush()
            for key in ("1", "2"):
                session.add(OrderLine(order_id=order.id, key=key, position=int(key), product="P", name="P",
                                      quantity=Decimal(1), charge="one_time", list_total=Decimal(5),
                                      net_total=Decimal(5), contract_value=Decimal(5)))
            session.add(Shipment(order_id=order.id, line_key="1", quantity=Decimal(1), shipped_on=DAY))
            invoice = Invoice(series="T", account_id=account.id, order_id=order.id, currency="USD", payment_terms="net30",
                              net_total=Decimal(10), gross_total=Decimal(10))
            session.add(invoice)
            session.flush()
            for position in (1, 2):
                session.add(InvoiceLine(invoice_id=invoice.id, position=position, product="P", description="P",
                                        quantity=Decimal(1), unit_price=Decimal(5), net_amount=Decimal(5),
                                        tax_category="standard", tax_rate=Decimal(0), tax_amount=Decimal(0)))
            payment = Payment(account_id=account.id, amount=Decimal(10), currency="USD", method="bank_transfer",
                              reference=f"P-{n}", received_on=DAY, unapplied=Decimal(0))
            session.add(payment)
            session.flush()
            session.add(PaymentAllocation(payment_id=payment.id, invoice_id=invoice.id, amount=Decimal(10)))
    return token


def statements(app, client, path: str, token: str) -> tuple[int, int]:
    """(rows answered, SQL statements run) for one GET."""
    engine = app.extensions["cpq_engine"]
    count = [0]

    def counted(*_args):
        count[0] += 1

    sa.event.listen(engine, "before_cursor_execute", counted)
    try:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    finally:
        sa.event.remove(engine, "before_cursor_execute", counted)
    assert response.status_code == 200, response.get_data(as_text=True)
    return len(response.get_json()), count[0]


@pytest.mark.parametrize("path", LISTS)
def test_a_list_costs_the_same_statements_for_5_rows_as_for_50(app, client, rows, path):
    small, large = (statements(app, client, f"{path}?limit={n}", rows) for n in (5, 50))
    assert (small[0], large[0]) == (5, 50)
    assert small[1] == large[1], f"{path}: {small[1]} statements for 5 rows, {large[1]} for 50"
