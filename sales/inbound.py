"""A customer's request for a quote from the online configurator.

The customer is not signed in: they give their company and contact details. The request
becomes a draft quote, priced like any other, on the account whose contact has that email
(or a new account made from the details), owned by the rep who takes web requests
(`CPQ_INBOUND_REP`, else the longest-standing active rep). The rep takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from catalog.store import get_price_book
from core.errors import DomainError, InvalidInput
from core.sequences import next_number
from core.users import EMAIL_RE, User, find_user
from sales import audit, quotes
from sales.accounts import Account, Contact, create_account


@dataclass(frozen=True)
class Requester:
    company: str
    name: str
    email: str
    country: str
    message: str = ""


def inbound_rep(session: Session, email: str | None) -> User:
    if email:
        return find_user(session, email)
    rep = session.exec(select(User).where(User.active, User.role == "rep").order_by(User.created_at)).first()
    if rep is None:
        raise DomainError("no rep receives web requests yet; set CPQ_INBOUND_REP or add a rep")
    return rep


def _account(session: Session, contact: Requester, currency: str) -> Account:
    known = session.exec(select(Contact).where(Contact.email == contact.email.strip().lower())).first()
    if known is not None:
        return session.get(Account, known.account_id)
    code = f"WEB-{next_number(session, 'web-account'):05d}"
    return create_account(session, {
        "code": code, "name": contact.company, "currency": currency,
        "billing_address": {"country": contact.country},
        "contacts": [{"name": contact.name, "email": contact.email, "primary": True}]})


def request_quote(session: Session, product: str, selections: dict, quantity: int, contact: Requester,
                  price_book: str, today: date, rep_email: str | None = None) -> quotes.Quote:
    """A draft quote for the configured product, for the rep to take on; a new account has
    the price book's currency."""
    if not EMAIL_RE.match(contact.email.strip()):
        raise InvalidInput("email", "is not an email address")
    rep = inbound_rep(session, rep_email)
    account = _account(session, contact, get_price_book(session, price_book).currency.code)
    line = quotes.LineSpec(product=product, selections=dict(selections), quantity=quantity)
    quote = quotes.create_quote(session, rep, account.code, {
        "title": f"Web request: {product}", "price_book": price_book,
        "notes": f"Requested online by {contact.name} <{contact.email}>. {contact.message}".strip()}, [line], today)
    audit.record(session, quote, f"customer {contact.name} <{contact.email}>", "request", None, quote.state,
                 contact.message)
    return quote
