"""Credit control: an order is placed only after checking the account's exposure.

Exposure = what the account owes now (its receivables ledger) plus the order's first-year
billing (one-time lines plus up to twelve months of each recurring line). Over the account's
credit limit the order waits on credit hold until finance releases it (sales/orders.py).
The check lives here, beside the ledger it reads; orders hand it the order's amount.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial

from sqlmodel import Session

from billing import ledger
from core.users import User
from sales import orders
from sales.accounts import Account
from sales.order_models import Order


def check(session: Session, account: Account, order_exposure: Decimal) -> dict:
    """The credit check an order records: limit, receivables, order, exposure, passed, reason."""
    receivables = ledger.balance(session, account.id, account.currency)
    exposure = receivables + order_exposure
    limit = account.credit_limit
    passed = limit is None or exposure <= limit
    return {"limit": None if limit is None else str(limit), "receivables": str(receivables),
            "order": str(order_exposure), "exposure": str(exposure), "passed": passed,
            "reason": "no credit limit" if limit is None else
            ("within the credit limit" if passed else f"exposure {exposure} is above the credit limit {limit}")}


def place_order(session: Session, actor: User | str, quote_number: str, today: date, **options) -> tuple[Order, bool]:
    """The order of an accepted quote (sales.orders.create_order, whose options it takes),
    credit checked; returns it and whether it is new."""
    return orders.create_order(session, actor, quote_number, today, credit_check=partial(check, session), **options)
