"""The rep's pages: quotes with filters, the quote builder, and the approvals inbox."""

from __future__ import annotations

from api.auth import current_user, requires
from api.blueprint import db_session
from catalog.store import get_price_book, list_products
from sales import access
from sales.accounts import list_accounts
from sales.models import STATES
from sales.quotes import get_quote
from web.shell import blp, page


@blp.get("/app/quotes")
@requires("quotes:read")
def quotes():
    with db_session() as session:
        accounts = [{"code": a.code, "name": a.name} for a in list_accounts(session, limit=None)]
    return page("pages/quotes.html", states=STATES, accounts=accounts)


@blp.get("/app/quotes/<number>")
@requires("quotes:read")
def quote(number):
    with db_session() as session:
        shown = access.check_quote(session, current_user(session), get_quote(session, number))
        products = [{"product": p.product, "name": p.name} for p in list_products(session)]
        book = get_price_book(session, shown.price_book, shown.price_book_version)
        plain = [{"code": code, "name": item.name} for code, item in sorted(book.products.items())
                 if code not in {p["product"] for p in products}]
    return page("pages/quote.html", number=number, products=products, plain_products=plain)


@blp.get("/app/approvals")
@requires("quotes:approve")
def approvals():
    return page("pages/approvals.html")
