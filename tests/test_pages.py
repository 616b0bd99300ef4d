"""The web pages and what they call besides the API proper: the public price of a
configuration, quote requests from the configurator, sign-in redirects, the frame-ancestors
policy for embedding, and the dashboard's figures."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.db import session_scope
from quote_flow import MANAGER, call, create, customer, env, ok, sent  # noqa: F401
from sales import analytics

pytestmark = pytest.mark.postgres

REQUEST = {"product": "rack-server", "selections": {"chassis": "c2u12lff"}, "quantity": 2,
           "company": "Initech", "name": "Peter Gibbons", "email": "peter@initech.example", "country": "US"}


def test_the_public_price_shows_list_discounts_and_totals_but_never_cost_or_approvals(env):
    priced = ok(env.client.post("/api/v1/products/rack-server/price", json={"selections": {"chassis": "c1u10sff"}}))
    assert priced["currency"] == "USD" and priced["totals"]["one_time_net"] == priced["lines"][0]["net_total"]
    text = str(priced)
    assert "cost" not in text and "margin" not in text and "approvals" not in text


def test_anonymous_visitors_price_only_with_the_storefronts_price_books(env):
    partner = {"selections": {"chassis": "c1u10sff"}, "price_book": "partner-eur"}
    refused = env.client.post("/api/v1/products/rack-server/price", json=partner)
    assert refused.status_code == 422 and "price_book" in refused.get_json()["error"]["fields"]
    assert env.client.get("/configure/rack-server?price_book=partner-eur").status_code == 422
    assert env.client.post("/api/v1/quote-requests", json=REQUEST | {"price_book": "partner-eur"}).status_code == 422
    euro = ok(env.client.post("/api/v1/products/rack-server/price", json=partner | {"price_book": "list-eur"}))
    assert euro["currency"] == "EUR"
    staff = ok(call(env, "post", "/products/rack-server/price", "rep", partner))       # the builder's quote's book
    assert staff["price_book"] == "partner-eur"


def test_a_quote_request_becomes_a_draft_for_the_first_rep_on_a_new_or_known_account(env):
    first = ok(env.client.post("/api/v1/quote-requests", json=REQUEST), 201)["reference"]
    quote = ok(call(env, "get", f"/quotes/{first}", "rep"))
    assert quote["state"] == "draft" and quote["account"].startswith("WEB-")
    assert quote["lines"][0]["quantity"] == 2 and "peter@initech.example" in quote["notes"]
    again = ok(env.client.post("/api/v1/quote-requests", json=REQUEST | {"quantity": 1}), 201)["reference"]
    assert ok(call(env, "get", f"/quotes/{again}", "rep"))["account"] == quote["account"]   # known by email
    bad = env.client.post("/api/v1/quote-requests", json=REQUEST | {"email": "nope"})
    assert bad.status_code == 422 and "email" in bad.get_json()["error"]["fields"]


def test_pages_need_a_sign_in_and_say_who_may_frame_them(app, env):
    page = env.client.get("/app/quotes")
    assert page.status_code == 302 and "/login?next=/app/quotes" in page.headers["Location"]
    assert "/login" in env.client.get("/app/quotes/../../etc").headers.get("Location", "/login")
    public = env.client.get("/configure/rack-server")
    assert public.status_code == 200 and public.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert b'data-embedded="false"' in public.data
    assert env.client.get("/configure/nope").status_code == 404
    login = env.client.get("/login?next=https://evil.example/")
    assert b'"/app/quotes"' in login.data and b"evil" not in login.data


def test_embedding_origins_are_allowed_to_frame_the_pages(app, env):
    app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], embed_origins=("https://crm.example",))
    page = env.client.get("/configure/rack-server?embed=1")
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self' https://crm.example"
    assert b'data-embedded="true"' in page.data and b"https://crm.example" in page.data


def test_the_dashboard_counts_wins_losses_cycle_and_the_pipeline(env):
    won, token = sent(env)
    ok(customer(env, token, "accept"))
    lost, token = sent(env)
    ok(customer(env, token, "decline", reason="too dear"))
    draft = create(env, MANAGER)["number"]
    with session_scope(env.engine) as session:
        figures = analytics.figures(session)
    assert (figures.won, figures.lost, figures.win_rate) == (1, 1, 50)
    assert figures.cycle_days is not None and figures.cycle_days >= 0
    assert figures.pipeline["accepted"][0] == 1 and figures.pipeline["declined"][0] == 1
    assert figures.pipeline["draft"][0] == 1 and draft
    assert set(figures.deal_size) == {"USD"} and won != lost
    page = call(env, "get", "/session", "finance")
    assert page.status_code == 200


def test_the_builder_page_offers_the_quotes_own_price_book_to_whoever_may_see_it(env):
    number = create(env)["number"]
    book = ok(call(env, "get", f"/quotes/{number}"))["price_book"]
    as_ = lambda who: {"Authorization": f"Bearer {env.tokens[who]}"}      # noqa: E731
    page = env.client.get(f"/app/quotes/{number}", headers=as_("rep"))
    assert page.status_code == 200 and b"SUP-MC-Y" in page.data and book == "list-usd"
    assert env.client.get(f"/app/quotes/{number}", headers=as_("rep2")).status_code == 404


def test_the_account_pages_show_credit_to_finance_and_let_only_finance_change_it(env):
    as_ = lambda who: {"Authorization": f"Bearer {env.tokens[who]}"}      # noqa: E731
    listing = env.client.get("/app/accounts", headers=as_("rep"))
    assert listing.status_code == 200 and b'id="new-account"' in listing.data and b'id="new-credit"' not in listing.data
    rep_view = env.client.get("/app/accounts/ACME", headers=as_("rep")).get_data(as_text=True)
    assert 'id="f-credit"' in rep_view and "Set by finance." in rep_view and "Receivables" not in rep_view
    finance_view = env.client.get("/app/accounts/ACME", headers=as_("finance")).get_data(as_text=True)
    assert "Empty: no limit." in finance_view and "Receivables" in finance_view and 'id="payments"' in finance_view
    missing = env.client.get("/app/accounts/NOPE", headers=as_("rep"))
    assert missing.status_code == 404 and missing.mimetype == "text/html" and b"unknown account" in missing.data
    assert env.client.get("/app/accounts/ACME").status_code == 302
