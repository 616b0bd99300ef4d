"""What the public configurator page calls besides the configurator itself: the customer's
price for a configuration (list, public promotions, net; one-time and recurring, never cost,
margin or the approvals a deal would need) and the request for a quote; and the reps'
review of those requests (sales/inbound.py).
"""

from __future__ import annotations

from datetime import date

from api import integration_schemas as xs
from api.auth import caller, current_user
from api.blueprint import Blueprint, app_settings, db_session
from api.errors import ApiError
from api.idempotency import respond
from core.permissions import PUBLIC
from rules.option_prices import option_prices as prices_of_options
from rules.pricing import LineRequest, PricingRequest, price_draft
from rules.schemas import CustomerPriceSchema
from sales import inbound

blp = Blueprint("storefront", __name__, url_prefix="/api/v1", description="The public configurator's price and quote requests")


def offered_price_book(requested: str | None) -> str:
    """The price book a public page prices with: the storefront's (CPQ_STOREFRONT_PRICE_BOOKS,
    the first by default). Anyone may see those; people who read the catalog may name any
    (the rep's builder prices with the quote's own, a partner's, say)."""
    offered = app_settings().storefront_price_books
    if requested is None:
        return offered[0]
    if requested not in offered and "catalog:read" not in caller().permissions:
        raise ApiError(422, "validation_error", f"price_book: {requested} is not offered here",
                       {"price_book": [f"not offered here; one of {', '.join(offered)}"]})
    return requested


@blp.post("/products/<product>/price")
@blp.requires(PUBLIC)
@blp.arguments(xs.StorefrontPriceInSchema)
@blp.response(200, CustomerPriceSchema)
def price(data, product):
    """A configuration's price as a customer sees it (the price book's list and public promotions).
    The response schema (the customer's projection) is what keeps cost, margin and approvals out."""
    with db_session() as session:
        request = PricingRequest(price_book=offered_price_book(data["price_book"]), promo_codes=tuple(data["promo_codes"]),
                                 lines=(LineRequest(product=product, quantity=data["quantity"],
                                                    selections=data["selections"]),))
        return price_draft(session, request)


@blp.post("/products/<product>/option-prices")
@blp.requires(PUBLIC)
@blp.arguments(xs.OptionPricesInSchema)
@blp.response(200, xs.OptionPricesSchema)
def option_prices(data, product):
    """What picking each other value would add to or take off the list price (for the quantity):
    the configurator shows it beside every value. List prices only, as a customer sees them."""
    with db_session() as session:
        return prices_of_options(session, offered_price_book(data["price_book"]), product, data["selections"],
                                 data["quantity"])


@blp.post("/quote-requests")
@blp.requires(PUBLIC)
@blp.arguments(xs.QuoteRequestSchema)
@blp.response(201, xs.QuoteRequestedSchema)
def request_quote(data):
    """Ask for a quote: kept as a request for a rep to match to an account or convert into a new one.
    Idempotency-Key supported (the page sends one per filled-in form, so a second click sends nothing new)."""
    book = offered_price_book(data["price_book"])
    with db_session() as session:
        contact = inbound.Requester(data["company"], data["name"], data["email"], data["country"], data["message"],
                                    data["language"])
        return respond(session, 201, lambda: (inbound.request_quote(session, data["product"], data["selections"],
                                                                    data["quantity"], contact, book), True),
                       lambda request: xs.QuoteRequestedSchema().dump({"reference": request.reference}))


# the reps' side: review, match, convert or dismiss ------------------------------------------------

@blp.get("/quote-requests")
@blp.requires("quotes:write")
@blp.arguments(xs.QuoteRequestQuery, location="query")
@blp.response(200, xs.QuoteRequestViewSchema(many=True))
def quote_requests(query):
    """Requests from the configurator, newest first (`state=open` for those waiting)."""
    with db_session() as session:
        return inbound.list_requests(session, query["state"])


@blp.get("/quote-requests/<reference>")
@blp.requires("quotes:write")
@blp.response(200, xs.QuoteRequestViewSchema)
def quote_request(reference):
    with db_session() as session:
        return inbound.get_request(session, reference)


@blp.post("/quote-requests/<reference>/match")
@blp.requires("quotes:write")
@blp.arguments(xs.QuoteRequestMatchSchema)
@blp.response(201, xs.QuoteRequestViewSchema)
def match(data, reference):
    """The requester belongs to this account (the rep checked): the draft quote is made there, yours."""
    with db_session() as session:
        inbound.match(session, current_user(session), reference, data["account"], date.today())
        return inbound.get_request(session, reference)


@blp.post("/quote-requests/<reference>/convert")
@blp.requires("quotes:write")
@blp.response(201, xs.QuoteRequestViewSchema)
def convert(reference):
    """A new WEB-… account from the requester's details, and the draft quote there (yours)."""
    with db_session() as session:
        inbound.convert(session, current_user(session), reference, date.today())
        return inbound.get_request(session, reference)


@blp.post("/quote-requests/<reference>/dismiss")
@blp.requires("quotes:write")
@blp.arguments(xs.QuoteRequestDismissSchema)
@blp.response(200, xs.QuoteRequestViewSchema)
def dismiss(data, reference):
    """Close a request that needs no quote (spam, a duplicate), saying why."""
    with db_session() as session:
        return inbound.dismiss(session, current_user(session), reference, data["reason"])
