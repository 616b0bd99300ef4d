"""The web pages: the customer's configurator, and for signed-in people the quote builder,
approvals, finance and the dashboard. Views only gather what a page starts with; the pages
then work through the JSON API with the session cookie (web/static/*.js).

Pages need the same permissions as the API behind them. A page that needs a signed-in user
sends anyone else to the sign-in page. Any page can be framed by the origins in
CPQ_EMBED_ORIGINS (`?embed=1` drops the navigation; docs/web.md has the postMessage protocol).
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from api.auth import caller, current_user, requires
from api.errors import ApiError
from api.sales_schemas import AccountOutSchema
from api.storefront import offered_price_book
from billing import collections, revenue
from catalog.store import get_model, get_price_book, list_products
from core.db import session_scope
from core.errors import NotFound
from core.permissions import PUBLIC
from core.users import User
from core.websessions import WebSession
from sales import access, analytics
from sales.accounts import DEFAULT_TERMS, SEGMENTS, account_dict, get_account, list_accounts
from sales.quotes import get_quote
from sales.models import STATES

blp = Blueprint("pages", __name__, template_folder="../web/templates", static_folder="../web/static",
                static_url_path="/static")


def _page(template: str, **context):
    settings = current_app.extensions["cpq_settings"]
    who = caller()
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        session.expire_on_commit = False
        user = session.get(User, who.user_id) if who.user_id else None
        web = session.get(WebSession, who.session_id) if who.session_id else None
        context.setdefault("user", user)
    embedded = request.args.get("embed") == "1"
    html = render_template(template, company=settings.company, csrf=web.csrf_token if web else "",
                           permissions=who.permissions, embedded=embedded,
                           embed_origins=list(settings.embed_origins), **context)
    ancestors = " ".join(("'self'", *settings.embed_origins))
    return html, 200, {"Content-Security-Policy": f"frame-ancestors {ancestors}",
                       "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@blp.errorhandler(ApiError)
def _refused(exc: ApiError):
    if exc.status == 401:
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    return _error_page(exc.status, exc.message)


@blp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return _error_page(404, exc.message)


def _error_page(status: int, message: str):
    html, _status, headers = _page("pages/error.html", status=status, message=message)
    return html, status, headers


@blp.get("/")
@requires(PUBLIC)
def home():
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        products = list_products(session)
    return _page("pages/home.html", products=products)


@blp.get("/configure/<product>")
@requires(PUBLIC)
def configure(product):
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        model = get_model(session, product)
        book = offered_price_book(request.args.get("price_book"))
        get_price_book(session, book)
    return _page("pages/configure.html", model=model, price_book=book)


@blp.get("/login")
@requires(PUBLIC)
def login():
    target = request.args.get("next") or url_for("pages.quotes")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("pages.quotes")                   # never redirect off the site
    return _page("pages/login.html", next=target)


@blp.get("/app/quotes")
@requires("quotes:read")
def quotes():
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        accounts = [{"code": a.code, "name": a.name} for a in list_accounts(session, limit=None)]
    return _page("pages/quotes.html", states=STATES, accounts=accounts)


@blp.get("/app/quotes/<number>")
@requires("quotes:read")
def quote(number):
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        shown = access.check_quote(session, current_user(session), get_quote(session, number))
        products = [{"product": p.product, "name": p.name} for p in list_products(session)]
        book = get_price_book(session, shown.price_book, shown.price_book_version)
        plain = [{"code": code, "name": item.name} for code, item in sorted(book.products.items())
                 if code not in {p["product"] for p in products}]
    return _page("pages/quote.html", number=number, products=products, plain_products=plain)


@blp.get("/app/accounts")
@requires("accounts:read")
def accounts_page():
    return _page("pages/accounts.html", segments=SEGMENTS, default_terms=DEFAULT_TERMS)


@blp.get("/app/accounts/<code>")
@requires("accounts:read")
def account_page(code):
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        account = get_account(session, code)
        facts = AccountOutSchema().dump(account_dict(session, account))    # as the API shows it
        aged = collections.aging(session, date.today(), account) if "collections:read" in caller().permissions else None
    return _page("pages/account.html", account=facts, segments=SEGMENTS,
                 aged=aged.accounts.get(facts["code"]) if aged else None)


@blp.get("/app/approvals")
@requires("quotes:approve")
def approvals():
    return _page("pages/approvals.html")


@blp.get("/app/finance")
@requires("collections:read")
def finance():
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        aged = collections.aging(session, date.today())
        accounts = [{"code": a.code, "name": a.name, "currency": a.currency} for a in list_accounts(session, limit=None)]
    return _page("pages/finance.html", aging=aged, buckets=collections.BUCKETS, accounts=accounts)


@blp.get("/app/dashboard")
@requires("quotes:read")
def dashboard():
    today = date.today()
    permissions = caller().permissions
    with session_scope(current_app.extensions["cpq_engine"]) as session:
        user = session.get(User, caller().user_id)
        sales = analytics.figures(session, access.quote_filter(session, user))
        dso = collections.dso(session, today) if "collections:read" in permissions else {}
        months = revenue.report(session, None, f"{today:%Y-%m}")[-12:] if "revenue:read" in permissions else []
    charts = [_chart("outcomes", "Decided quotes", [("won", sales.won), ("lost", sales.lost)] if sales.won + sales.lost else []),
              _chart("pipeline", "Pipeline: quotes by status", [(s, n) for s, (n, _v) in sales.pipeline.items()])]
    currencies = sorted({c for _n, values in sales.pipeline.values() for c in values})
    for code in currencies:
        charts.append(_chart(f"pipeline-{code}", f"Pipeline value by status ({code})",
                             [(s, values.get(code, 0)) for s, (_n, values) in sales.pipeline.items() if values.get(code)]))
        if code in sales.deal_size:
            charts.append(_chart(f"deal-{code}", f"Average deal size ({code})", [("won quotes", sales.deal_size[code])]))
        charts.append(_chart(f"discount-{code}", f"Discount given per rep ({code})",
                             [(rep, by[code]) for rep, by in sales.discount_by_rep.items() if code in by]))
    if dso:
        charts.append(_chart("dso", "Days sales outstanding (90 days)",
                             [(code, d.value) for code, d in dso.items() if d.value is not None], " d"))
    for code in sorted({row.currency for row in months}):
        rows = [row for row in months if row.currency == code]
        charts.append(_chart(f"recognised-{code}", f"Revenue recognised per month ({code})", [(r.period, r.recognised) for r in rows]))
        charts.append(_chart(f"deferred-{code}", f"Revenue deferred at month end ({code})", [(r.period, r.deferred) for r in rows]))
    return _page("pages/dashboard.html", sales=sales, charts=charts)


def _chart(chart_id: str, title: str, rows, unit: str = "") -> dict:
    return {"id": chart_id, "title": title, "rows": list(rows), "unit": unit}
