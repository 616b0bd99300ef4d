"""The customer's pages: the products, and each product's configurator (anyone)."""

from __future__ import annotations

from flask import current_app, request

from api.auth import requires
from api.storefront import offered_price_book
from catalog.store import get_model, get_price_book, list_products
from core.db import session_scope
from core.permissions import PUBLIC
from web.shell import blp, page


@blp.get("/")
@requires(PUBLIC)
def home():
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        products = list_products(session)
    return page("pages/home.html", products=products)


@blp.get("/configure/<product>")
@requires(PUBLIC)
def configure(product):
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        model = get_model(session, product)
        book = offered_price_book(request.args.get("price_book"))
        get_price_book(session, book)
    return page("pages/configure.html", model=model, price_book=book)
