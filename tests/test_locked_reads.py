"""Rows read for writing (core.db.lock_rows) show what is stored once the lock is held.

A row the session loaded earlier stays in its identity map; a SELECT ... FOR UPDATE alone waits
for the lock but keeps the session's old values, so a change another transaction committed
meanwhile would be written over. Each getter that takes `lock` must re-read the row under the
lock and own it (core.db.owned) for the rest of the transaction."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import billing as api_billing
from billing import rating
from billing.models import Invoice
from billing.usage_models import UsagePeriod
from core.db import owned, utcnow
from core.errors import NotFound
from core.tokens import token_hash
from sales import acceptance, contracts, inbound, subscriptions
from sales.inbound import QuoteRequest
from sales.models import Quote, ShareLink
from sales.order_models import Subscription
from subscription_flow import contract_order, setup  # noqa: F401  (a fixture)

pytestmark = pytest.mark.postgres

QUOTE_TOKEN, CONTRACT_TOKEN = "quote-token", "contract-token"
PERIOD = date(2026, 1, 1)


@dataclass(frozen=True)
class Made:
    contract: str
    subscription: int
    request: str
    invoice: int


#: how each getter reads its row (session, made, lock) -> row, and a change another transaction makes
CASES = {
    "get_contract": (lambda s, m, lock: contracts.get_contract(s, m.contract, lock=lock), "notice_days", 30),
    "contract link": (lambda s, m, lock: contracts.open_link(s, CONTRACT_TOKEN, lock=lock), "notice_days", 30),
    "get_subscription": (lambda s, m, lock: subscriptions.get_subscription(s, m.subscription, lock=lock),
                         "anchor_day", 15),
    "get_request": (lambda s, m, lock: inbound.get_request(s, m.request, lock=lock), "message", "changed"),
    "quote link": (lambda s, m, lock: acceptance.opened(s, QUOTE_TOKEN, Quote, lock=lock)[1], "title", "changed"),
    "invoice API": (lambda s, m, lock: api_billing._invoice(s, m.invoice, lock=lock), "reason", "changed"),
    "usage period": (lambda s, m, lock: rating._close(s, PERIOD, utcnow()) if lock else s.get(UsagePeriod, PERIOD),
                     "complete", True),
}


@pytest.fixture
def made(setup) -> tuple:
    engine, user, accounts = setup
    with Session(engine) as session:
        contract, order = contract_order(session, user, accounts["USD"], "USD", date(2026, 1, 1), 12,
                                         [("monthly", 1, 100)])
        subscription = Subscription(account_id=contract.account_id, contract_id=contract.id, order_id=order.id,
                                    line_key="1", product="SUP", name="Support", currency="USD", charge="monthly",
                                    term_months=12, start_date=contract.start_date, end_date=contract.end_date)
        request = QuoteRequest(reference="REQ-T1", company="Acme", name="Ann", email="ann@example.com",
                               country="US", product="SUP", price_book="list")
        invoice = Invoice(series="T", account_id=contract.account_id, currency="USD", payment_terms="net30")
        expires = utcnow() + timedelta(days=30)
        session.add_all([subscription, request, invoice, UsagePeriod(period=PERIOD),
                         ShareLink(token_hash=token_hash(QUOTE_TOKEN), quote_id=contract.quote_id, expires_at=expires),
                         ShareLink(token_hash=token_hash(CONTRACT_TOKEN), contract_id=contract.id, expires_at=expires)])
        session.commit()
        return engine, Made(contract.number, subscription.id, request.reference, invoice.id)


@pytest.mark.parametrize("read, column, value", CASES.values(), ids=CASES)
def test_a_row_locked_after_another_transaction_changed_it_shows_the_change(made, read, column, value):
    """Mine read the row unlocked; theirs locks it, changes it and commits while mine waits for
    the lock: what mine then holds is theirs, and mine owns it."""
    engine, rows = made
    with Session(engine) as mine:
        seen = read(mine, rows, False)
        theirs_locked = threading.Event()

        def theirs():
            with Session(engine) as session:
                row = read(session, rows, True)
                theirs_locked.set()
                time.sleep(0.3)                         # mine is waiting for the lock by now
                setattr(row, column, value)
                session.add(row)
                session.commit()

        thread = threading.Thread(target=theirs)
        thread.start()
        assert theirs_locked.wait(30)
        locked = read(mine, rows, True)
        thread.join(30)
        assert locked is seen
        assert getattr(locked, column) == value
        assert owned(mine, type(locked), sa.inspect(locked).identity[0]) is locked
        mine.rollback()


@pytest.mark.parametrize("read", [
    lambda s: contracts.get_contract(s, "C-NONE", lock=True),
    lambda s: subscriptions.get_subscription(s, 10**6, lock=True),
    lambda s: inbound.get_request(s, "REQ-NONE", lock=True),
    lambda s: acceptance.opened(s, "no-such-token", Quote, lock=True),
    lambda s: api_billing._invoice(s, 10**6, lock=True),
])
def test_locking_a_row_that_does_not_exist_is_not_found(engine, read):
    with Session(engine) as session, pytest.raises(NotFound):
        read(session)
