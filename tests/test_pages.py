"""The web pages and what they call besides the API proper: the public price of a
configuration, quote requests from the configurator, sign-in redirects, the frame-ancestors
policy for embedding, and the dashboard's figures."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from core.db import session_scope
from quote_flow import MANAGER, call, create, customer, env, error_of, ok, sent  # noqa: F401
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


def test_a_quote_request_with_a_known_contacts_email_touches_nothing_of_that_account(env):
    """Issue 16: anyone could type jo@acme.com and get a draft made on ACME's real account."""
    before = ok(call(env, "get", "/quotes", "admin"))
    made = ok(env.client.post("/api/v1/quote-requests", json=REQUEST | {"email": "jo@acme.com"}), 201)
    assert set(made) == {"reference"} and made["reference"].startswith("REQ-")
    assert ok(call(env, "get", "/quotes", "admin")) == before
    assert [c["email"] for c in ok(call(env, "get", "/accounts/ACME", "rep"))["contacts"]] == ["jo@acme.com"]
    [waiting] = ok(call(env, "get", "/quote-requests?state=open", "rep"))
    assert waiting["reference"] == made["reference"] and waiting["state"] == "open"
    assert (waiting["email"], waiting["company"], waiting["quantity"]) == ("jo@acme.com", "Initech", 2)
    assert waiting["selections"] == REQUEST["selections"] and waiting["price_book"] == "list-usd"
    assert waiting["account_code"] is None and waiting["quote_number"] is None


def test_a_rep_matches_a_request_to_an_account_and_the_quote_is_made_there(env):
    reference = ok(env.client.post("/api/v1/quote-requests", json=REQUEST | {"message": "by Friday"}), 201)["reference"]
    matched = ok(call(env, "post", f"/quote-requests/{reference}/match", "rep", {"account": "ACME"}), 201)
    assert matched["state"] == "quoted" and matched["account_code"] == "ACME" and matched["handled_at"]
    quote = ok(call(env, "get", f"/quotes/{matched['quote_number']}", "rep"))
    assert quote["state"] == "draft" and quote["account"] == "ACME" and quote["lines"][0]["quantity"] == 2
    assert "peter@initech.example" in quote["notes"] and reference in quote["notes"] and "by Friday" in quote["notes"]
    assert quote["title"] == "RS7 Configurable Rack Server"        # the customer reads it: the product, not "Web request: rack-server"
    again = error_of(call(env, "post", f"/quote-requests/{reference}/match", "rep", {"account": "ACME"}), 409)
    assert again["state"] == "quoted"
    assert error_of(call(env, "post", "/quote-requests/REQ-99999/match", "rep", {"account": "ACME"}), 404)
    other = ok(env.client.post("/api/v1/quote-requests", json=REQUEST), 201)["reference"]
    assert error_of(call(env, "post", f"/quote-requests/{other}/match", "rep", {"account": "NOPE"}), 404)
    assert ok(call(env, "get", f"/quote-requests/{other}", "rep"))["state"] == "open"        # nothing happened


def test_a_rep_converts_a_request_into_a_new_account_or_dismisses_it(env):
    reference = ok(env.client.post("/api/v1/quote-requests", json=REQUEST | {"price_book": "list-eur"}), 201)["reference"]
    converted = ok(call(env, "post", f"/quote-requests/{reference}/convert", "rep"), 201)
    code = converted["account_code"]
    assert code.startswith("WEB-") and converted["state"] == "quoted"
    account = ok(call(env, "get", f"/accounts/{code}", "rep"))
    assert account["name"] == "Initech" and account["currency"] == "EUR"
    assert [(c["email"], c["primary"]) for c in account["contacts"]] == [("peter@initech.example", True)]
    assert ok(call(env, "get", f"/quotes/{converted['quote_number']}", "rep"))["price_book"] == "list-eur"
    french = ok(env.client.post("/api/v1/quote-requests", json=REQUEST | {"language": "fr"}), 201)["reference"]
    code = ok(call(env, "post", f"/quote-requests/{french}/convert", "rep"), 201)["account_code"]
    assert ok(call(env, "get", f"/accounts/{code}", "rep"))["language"] == "fr"        # asked in French
    assert account["language"] == "en"
    assert "language" in error_of(env.client.post("/api/v1/quote-requests", json=REQUEST | {"language": "xx"}),
                                  422)["fields"]
    spam = ok(env.client.post("/api/v1/quote-requests", json=REQUEST), 201)["reference"]
    assert "reason" in error_of(call(env, "post", f"/quote-requests/{spam}/dismiss", "rep", {}), 422)["fields"]
    dismissed = ok(call(env, "post", f"/quote-requests/{spam}/dismiss", "rep", {"reason": "spam"}))
    assert (dismissed["state"], dismissed["reason"]) == ("dismissed", "spam")
    assert error_of(call(env, "post", f"/quote-requests/{spam}/convert", "rep"), 409)["state"] == "dismissed"
    assert [r["reference"] for r in ok(call(env, "get", "/quote-requests?state=open", "rep"))] == []


def test_quote_requests_are_for_people_who_quote(env):
    reference = ok(env.client.post("/api/v1/quote-requests", json=REQUEST), 201)["reference"]
    assert error_of(env.client.get("/api/v1/quote-requests"), 401)
    for who in ("manager", "finance", "erp"):
        assert error_of(call(env, "get", f"/quote-requests/{reference}", who), 403)
        assert error_of(call(env, "post", f"/quote-requests/{reference}/convert", who), 403)


def test_a_bad_quote_request_is_refused_naming_the_field_and_nothing_is_kept(env):
    bad = env.client.post("/api/v1/quote-requests", json=REQUEST | {"email": "nope"})
    assert bad.status_code == 422 and "email" in bad.get_json()["error"]["fields"]
    wrong = env.client.post("/api/v1/quote-requests", json=REQUEST | {"selections": {"chassis": "c9nope"}})
    assert wrong.status_code == 422, wrong.get_data(as_text=True)
    assert env.client.post("/api/v1/quote-requests", json=REQUEST | {"product": "nope"}).status_code in (404, 422)
    assert ok(call(env, "get", "/quote-requests", "rep")) == []


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


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test/", "/%5Cevil.test/", "/%5C/evil.test/",
                                    "/%09/evil.test/", "/%0D%0A/evil.test", "%20//evil.test", "/%00/evil.test",
                                    "javascript:alert(1)", "/%2F%2Fevil.test/%5C"])
def test_sign_in_never_leads_off_the_site_however_the_next_address_is_spelled(env, target):
    """A browser drops tabs and newlines from an address and reads a backslash as a slash, so
    each of these is another site once it reaches location.href."""
    login = env.client.get(f"/login?next={target}")
    assert login.status_code in (200, 422)
    assert b"evil" not in login.data and b"javascript" not in login.data


def test_sign_in_leads_back_to_the_page_asked_for(env):
    login = env.client.get("/login?next=/app/quotes/Q-2026-00001%3Fembed%3D1")
    assert b'const next = new URL("/app/quotes/Q-2026-00001?embed=1", location.origin)' in login.data


def test_embedding_origins_are_allowed_to_frame_the_pages(app, env):
    app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], embed_origins=("https://crm.example",))
    page = env.client.get("/configure/rack-server?embed=1")
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self' https://crm.example"
    assert b'data-embedded="true"' in page.data and b"https://crm.example" in page.data


def test_nobody_frames_the_customers_quote_and_contract_pages(app, env):
    """The customer accepts and signs on these pages: a page framing them could overlay the
    button (clickjacking), and no CRM needs to frame the customer's own link."""
    app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], embed_origins=("https://crm.example",))
    _number, token = sent(env)
    for path in (f"/q/{token}", f"/q/{token}/pdf", "/q/unknown-token", "/c/unknown-token"):
        response = env.client.get(path)
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "no-referrer", path          # the token is in the address
    declined = env.client.post(f"/q/{token}/decline", data={"name": "Jo", "email": "jo@acme.com", "reason": "no"})
    assert declined.status_code == 303 and declined.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


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


def test_each_value_shows_what_it_would_change_in_the_list_price(env):
    """The difference of a value is the list price with it picked minus the current one, for the
    quantity: the same figures the price box shows after the click. List prices only."""
    def listed(selections):
        priced = ok(env.client.post("/api/v1/products/rack-server/price", json={"selections": selections, "quantity": 3}))
        return Decimal(priced["lines"][0]["list_total"])

    current = {"chassis": "c1u10sff"}
    options = ok(env.client.post("/api/v1/products/rack-server/option-prices",
                                 json={"selections": current, "quantity": 3, "price_book": "list-eur"}))
    assert options["currency"] == "EUR" and "cost" not in str(options) and "margin" not in str(options)
    options = ok(env.client.post("/api/v1/products/rack-server/option-prices", json={"selections": current, "quantity": 3}))
    assert Decimal(options["total"]) == listed(current)
    differences = {(v["attribute"], v["value"]): Decimal(v["difference"]) for v in options["values"]}
    assert differences[("chassis", "c2u24sff")] == listed({"chassis": "c2u24sff"}) - listed(current)
    assert differences[("rails", "none")] == listed({**current, "rails": "none"}) - listed(current)
    assert ("chassis", "c1u10sff") not in differences             # the current value
    assert not any(a == "gpu" and v != "none" for a, v in differences)   # GPUs need a 2U chassis: a switch
    bad = env.client.post("/api/v1/products/rack-server/option-prices", json={"selections": {"chassis": "c9"}})
    assert "selections.chassis" in error_of(bad, 422)["fields"]
    clash = env.client.post("/api/v1/products/rack-server/option-prices",
                            json={"selections": {"chassis": "c1u10sff", "gpu": "l4"}})
    assert "GPUs need a 2U chassis" in error_of(clash, 422)["fields"]["selections"][0]


def test_option_prices_follow_a_new_price_book_or_model_version_at_once(env):
    """Option prices are kept per price book and model version: a new active price book, or a
    new model version whose rules offer less, is answered afresh, never from what was kept."""
    from catalog.loader import load_model_dict
    from catalog.pricebook import load_price_book_dict
    from catalog.store import get_model, get_price_book, save_model, save_price_book

    def differences():
        body = {"selections": {"chassis": "c1u10sff"}, "quantity": 3}
        options = ok(env.client.post("/api/v1/products/rack-server/option-prices", json=body))
        return {(v["attribute"], v["value"]): Decimal(v["difference"]) for v in options["values"]}

    before = differences()
    assert before == differences() and ("rails", "none") in before
    with session_scope(env.engine) as session:
        book = get_price_book(session, "list-usd").source
        options = book["options"]["rack-server"]
        chassis = {**options["chassis"], "c2u24sff": Decimal(options["chassis"]["c2u24sff"]) + 100}
        save_price_book(session, load_price_book_dict({**book, "version": book["version"] + 1,
                                                       "options": {**book["options"], "rack-server": {
                                                           **options, "chassis": chassis}}}), activate=True)
    repriced = differences()
    assert repriced[("chassis", "c2u24sff")] == before[("chassis", "c2u24sff")] + 300
    assert {k: v for k, v in repriced.items() if k != ("chassis", "c2u24sff")} == \
        {k: v for k, v in before.items() if k != ("chassis", "c2u24sff")}
    with session_scope(env.engine) as session:
        model = get_model(session, "rack-server").source
        save_model(session, load_model_dict({**model, "version": model["version"] + 1, "rules": [
            *model["rules"], {"id": "rails_needed", "message": "Ship with rails.", "constraint": "rails != none"}]}))
    assert ("rails", "none") not in differences()


@pytest.mark.parametrize("country", ["XX", "ZZ", "EU"])
def test_a_quote_request_needs_an_iso_3166_country(env, country):
    error = error_of(env.client.post("/api/v1/quote-requests", json=REQUEST | {"country": country}), 422)
    assert list(error["fields"]) == ["country"]


def test_a_quote_request_sent_twice_with_one_key_is_kept_once(env):
    headers = {"Idempotency-Key": "form-1"}
    first = env.client.post("/api/v1/quote-requests", json=REQUEST | {"country": "fr"}, headers=headers)
    again = env.client.post("/api/v1/quote-requests", json=REQUEST | {"country": "fr"}, headers=headers)
    assert ok(first, 201) == ok(again, 201) and again.headers["Idempotent-Replayed"] == "true"
    assert len(ok(call(env, "get", "/quote-requests?state=open", "rep"))) == 1
