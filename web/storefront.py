"""The customer's pages: the products, and each product's configurator (anyone), with the
models' names and labels in the page's language."""

from __future__ import annotations

from dataclasses import replace

from flask import request

from api.auth import requires
from api.blueprint import db_session
from api.storefront import offered_price_book
from catalog.store import get_model, get_price_book, list_products
from core.permissions import PUBLIC
from web.i18n import language
from web.shell import blp, page


@blp.get("/")
@requires(PUBLIC)
def home():
    with db_session() as session:
        products = []
        for product in list_products(session):
            model = get_model(session, product.product).in_language(language())
            products.append(replace(product, name=model.name, description=model.description))
    return page("pages/home.html", products=products)


@blp.get("/configure/<product>")
@requires(PUBLIC)
def configure(product):
    with db_session() as session:
        model = get_model(session, product).in_language(language())
        book = offered_price_book(request.args.get("price_book"))
        get_price_book(session, book)
    return page("pages/configure.html", model=model, price_book=book)
