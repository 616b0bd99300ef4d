"""A customer's request for a quote from the online configurator, and how a rep takes it on.

The customer is not signed in, and anyone can type anyone's email address, so a request
never attaches anything to an existing account by itself: it is kept as it came
(`QuoteRequest`: the requester's details, the configured product, the price book and the
message) and waits for a rep. The rep either matches it to an account, where the quote is
made, or converts it into a new `WEB-…` account with the requester as its primary contact.
Either way the quote is the rep's draft, priced like any other. The selections are priced
when the request is made, so the customer hears about a bad one at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pycountry
import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, select

from catalog.store import get_price_book
from core.db import Table, find_row, timestamp, utcnow
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.locales import DEFAULT as DEFAULT_LANGUAGE, LANGUAGES
from core.sequences import next_number
from core.users import EMAIL_RE, User
from rules.pricing import LineRequest, PricingRequest, price_draft
from sales import audit, quotes
from sales.accounts import Account, create_account, get_account

STATES = ("open", "quoted", "dismissed")


class QuoteRequest(Table, table=True):
    __tablename__ = "quote_request"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, unique=True)          # REQ-00042, what the customer is told
    state: str = Field(default="open", max_length=16, index=True)
    company: str = Field(max_length=200)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    country: str = Field(max_length=2)
    language: str = Field(default=DEFAULT_LANGUAGE, max_length=8)     # the configurator's: the new account's
    message: str = Field(default="", max_length=2000)
    product: str = Field(max_length=100)
    selections: dict = Field(default_factory=dict, sa_type=JSON)
    quantity: int = 1
    price_book: str = Field(max_length=100)
    account_code: str | None = Field(default=None, max_length=40)      # where the quote was made
    quote_number: str | None = Field(default=None, max_length=32)
    handled_by: str | None = Field(default=None, foreign_key="app_user.id", max_length=32)
    handled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    reason: str = Field(default="", max_length=500)                     # why it was dismissed
    created_at: datetime = timestamp()

    @property
    def label(self) -> str:
        return f"quote request {self.reference}"


@dataclass(frozen=True)
class Requester:
    company: str
    name: str
    email: str
    country: str
    message: str = ""
    language: str = DEFAULT_LANGUAGE                 # the page's, so a converted account speaks it


def request_quote(session: Session, product: str, selections: dict, quantity: int, contact: Requester,
                  price_book: str) -> QuoteRequest:
    """Keep a request for a rep to review (after pricing it, so bad selections are refused now)."""
    if not EMAIL_RE.match(contact.email.strip()):
        raise InvalidInput("email", "is not an email address")
    if pycountry.countries.get(alpha_2=contact.country.upper()) is None:
        raise InvalidInput("country", "is not an ISO 3166-1 two-letter country code")
    if contact.language not in LANGUAGES:
        raise InvalidInput("language", f"must be one of {', '.join(LANGUAGES)}")
    price_draft(session, PricingRequest(price_book=price_book, lines=(
        LineRequest(product=product, quantity=quantity, selections=dict(selections)),)))
    request = QuoteRequest(reference=f"REQ-{next_number(session, 'quote-request'):05d}", company=contact.company,
                           name=contact.name, email=contact.email.strip().lower(), country=contact.country.upper(),
                           language=contact.language, message=contact.message, product=product, selections=dict(selections),
                           quantity=quantity, price_book=price_book)
    session.add(request)
    session.flush()
    return request


def list_requests(session: Session, state: str | None = None) -> list[QuoteRequest]:
    query = select(QuoteRequest).order_by(QuoteRequest.id.desc())
    return list(session.exec(query.where(QuoteRequest.state == state) if state else query))


def get_request(session: Session, reference: str, *, lock: bool = False) -> QuoteRequest:
    """A quote request by reference; `lock` takes its row lock for writing (core.db.lock_rows)."""
    request = find_row(session, QuoteRequest, QuoteRequest.reference == reference, lock=lock)
    if request is None:
        raise NotFound(f"unknown quote request {reference!r}")
    return request


def _open(session: Session, reference: str, action: str) -> QuoteRequest:
    request = get_request(session, reference, lock=True)
    if request.state != "open":
        raise InvalidTransition(request.label, request.state, action)
    return request


def match(session: Session, actor: User, reference: str, account_code: str, today: date) -> quotes.Quote:
    """The rep vouches that the requester belongs to this account: the quote is made there, on
    the request's price book when it is in the account's currency, else the account's own."""
    request = _open(session, reference, "match")
    account = get_account(session, account_code)
    book = request.price_book if get_price_book(session, request.price_book).currency.code == account.currency else None
    return _quote(session, actor, request, account, book, today)


def convert(session: Session, actor: User, reference: str, today: date) -> quotes.Quote:
    """A new account from the requester's details (they are its primary contact; its documents and
    pages in the language they asked in), and the quote there."""
    request = _open(session, reference, "convert")
    account = create_account(session, {
        "code": f"WEB-{next_number(session, 'web-account'):05d}", "name": request.company,
        "currency": get_price_book(session, request.price_book).currency.code,
        "billing_address": {"country": request.country}, "language": request.language,
        "contacts": [{"name": request.name, "email": request.email, "primary": True}]})
    return _quote(session, actor, request, account, request.price_book, today)


def dismiss(session: Session, actor: User, reference: str, reason: str) -> QuoteRequest:
    """Close a request that needs no quote (spam, a duplicate), saying why."""
    request = _open(session, reference, "dismiss")
    if not reason.strip():
        raise InvalidInput("reason", "say why the request is dismissed")
    request.state, request.reason = "dismissed", reason.strip()[:500]
    request.handled_by, request.handled_at = actor.id, utcnow()
    session.add(request)
    return request


def _quote(session: Session, actor: User, request: QuoteRequest, account: Account, price_book: str | None,
           today: date) -> quotes.Quote:
    line = quotes.LineSpec(product=request.product, selections=dict(request.selections), quantity=request.quantity)
    requester = f"{request.name} <{request.email}>"
    offered = get_price_book(session, request.price_book).products.get(request.product)
    header = {"title": offered.name if offered else request.product,      # the customer reads it, in any language
              "notes": f"Requested online by {requester} of {request.company} ({request.reference}). "
                       f"{request.message}".strip()}
    quote = quotes.create_quote(session, actor, account.code, header | ({"price_book": price_book} if price_book else {}),
                                [line], today)
    audit.record(session, quote, f"customer {requester}", "request", None, quote.state, request.message)
    request.state, request.account_code, request.quote_number = "quoted", account.code, quote.number
    request.handled_by, request.handled_at = actor.id, utcnow()
    session.add(request)
    return quote
