"""The caller, once the quote, contract or order a view names is known to be theirs to see.

Views that take a number call one of these before acting, so an object outside the caller's
reach (sales/access.py) is a 404 whatever the action.
"""

from __future__ import annotations

from sqlmodel import Session

from api.auth import current_user
from core.users import User
from sales import access, contracts, orders, quotes


def seeing_quote(session: Session, number: str, revision: int | None = None) -> User:
    user = current_user(session)
    access.check_quote(session, user, quotes.get_quote(session, number, revision))
    return user


def seeing_contract(session: Session, number: str) -> User:
    user = current_user(session)
    access.check_contract(session, user, contracts.get_contract(session, number))
    return user


def seeing_order(session: Session, number: str) -> User:
    user = current_user(session)
    access.check_order(session, user, orders.get_order(session, number))
    return user
