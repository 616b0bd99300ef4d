"""Rows a transaction owns (core.db.owned): those it inserted, and on PostgreSQL those it
locked. Nobody else changes them before it ends, so what the session holds of them is what is
stored, and the checks that read stored values (the issued-invoice guard) need not ask again."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from billing.models import Invoice, InvoiceLine
from core.db import lock_rows, owned
from core.errors import ImmutableRecord
from sales.accounts import create_account

pytestmark = pytest.mark.postgres


def invoice_of(session: Session) -> Invoice:
    account = create_account(session, {"code": "OWN", "name": "Own", "currency": "USD"})
    invoice = Invoice(series="T", account_id=account.id, currency="USD", payment_terms="net30",
                      net_total=Decimal(10), gross_total=Decimal(10))
    session.add(invoice)
    session.flush()
    return invoice


def line_of(invoice: Invoice) -> InvoiceLine:
    return InvoiceLine(invoice_id=invoice.id, position=1, product="P", description="P", quantity=Decimal(1),
                       unit_price=Decimal(5), net_amount=Decimal(5), tax_category="standard", tax_rate=Decimal(0),
                       tax_amount=Decimal(0))


def test_what_a_transaction_inserted_is_owned_until_it_ends(engine):
    with Session(engine) as session:
        invoice = invoice_of(session)
        assert owned(session, Invoice, invoice.id) is invoice
        session.commit()
        assert owned(session, Invoice, invoice.id) is None


def test_a_rolled_back_savepoint_forgets_what_the_transaction_owned(engine):
    with Session(engine) as session:
        kept = invoice_of(session)
        with pytest.raises(RuntimeError), session.begin_nested():
            session.add(Invoice(series="T", account_id=kept.account_id, currency="USD", payment_terms="net30"))
            session.flush()
            raise RuntimeError("undo")
        assert owned(session, Invoice, kept.id) is None          # forgotten, read again when asked
        session.rollback()


def test_a_locked_row_is_owned(engine):
    """Locked: a row lock on PostgreSQL, the write lock taken before the read on SQLite."""
    with Session(engine) as session:
        invoice_id = invoice_of(session).id
        session.commit()
        locked = lock_rows(session, Invoice, Invoice.id == invoice_id)[0]
        assert owned(session, Invoice, invoice_id) is locked
        session.rollback()


@pytest.mark.parametrize("committed", [False, True])
def test_the_guard_reads_the_state_only_of_an_invoice_it_does_not_own(engine, committed):
    with Session(engine) as session:
        invoice = invoice_of(session)
        invoice.state, invoice.number = "open", "T-1"
        session.commit() if committed else session.flush()      # committed: owned no longer
        line = line_of(invoice)
        statements = []

        def count(_conn, _cursor, statement, *_rest):
            statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count)
        session.add(line)
        with pytest.raises(ImmutableRecord, match="lines of issued invoice"):
            session.flush()
        sa.event.remove(engine, "before_cursor_execute", count)
        assert len([s for s in statements if "invoice.state" in s]) == (1 if committed else 0)
        session.rollback()
