"""What the customer accepted is what is ordered, contracted and billed: an accepted quote is
final (revised only on purpose, and only while nothing was ordered or signed), and only the
people the policy names move a sold quote along, per role."""

from __future__ import annotations

import pytest

from billing.tax import load_demo_tax_rates
from core.db import session_scope
from quote_flow import PLAIN, act, call, create, customer, env, error_of, get, ok, sent  # noqa: F401

pytestmark = pytest.mark.postgres

SERVER = [{"product": "rack-server", "selections": {"cpu": "xg6430"}}, {"product": "SUP-MC-Y"}]


def accepted(env, lines=SERVER):
    number, token = sent(env, lines)
    ok(customer(env, token, "accept"))
    return number


def order(env, quote, who="rep", status=201):
    return ok(call(env, "post", "/orders", who, {"quote": quote}), status)


# ---- an accepted quote is final ---------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", [
    ("patch", "/quotes/{n}", {"title": "changed"}),
    ("patch", "/quotes/{n}/lines/1", {"quantity": 5}),
    ("post", "/quotes/{n}/lines", {"product": "SUP-MC-Y"}),
    ("delete", "/quotes/{n}/lines/2", None),
    ("post", "/quotes/{n}/reprice", None),
])
def test_an_edit_of_an_accepted_quote_is_refused_and_makes_no_revision(env, method, path, body):
    number = accepted(env)
    order(env, number)
    before = get(env, number)
    error = error_of(call(env, method, path.format(n=number), body=body), 409)
    assert "accepted" in error["message"] and "final" in error["message"]
    after = get(env, number)
    assert (after["revision"], after["state"], after["lines"]) == (before["revision"], "accepted", before["lines"])
    assert [r["revision"] for r in ok(call(env, "get", f"/quotes/{number}/revisions"))] == [1]


def test_an_accepted_quote_with_an_order_cannot_be_revised_either(env):
    number = accepted(env)
    made = order(env, number)
    error = error_of(call(env, "post", f"/quotes/{number}/revise", body={"reason": "more servers"}), 409)
    assert made["number"] in error["message"] and "amendment" in error["message"]
    assert get(env, number)["revision"] == 1


def test_an_accepted_quote_with_a_signed_contract_cannot_be_revised(env):
    number = accepted(env)
    contract = ok(call(env, "post", "/contracts", body={"quote": number}), 201)
    link = ok(call(env, "post", f"/contracts/{contract['number']}/send"))
    ok(env.client.post(f"/api/v1/signing/{link['token']}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    error = error_of(call(env, "post", f"/quotes/{number}/revise", body={"reason": "more"}), 409)
    assert contract["number"] in error["message"] and "amendment" in error["message"]


def test_revising_an_accepted_quote_on_purpose_withdraws_its_unsigned_contract(env):
    number = accepted(env)
    contract = ok(call(env, "post", "/contracts", body={"quote": number}), 201)
    link = ok(call(env, "post", f"/contracts/{contract['number']}/send"))
    error_of(call(env, "post", f"/quotes/{number}/revise", body={"reason": ""}), 422)
    revised = ok(call(env, "post", f"/quotes/{number}/revise", body={"reason": "two more servers"}))
    assert (revised["revision"], revised["state"]) == (2, "draft")
    assert ok(call(env, "get", f"/contracts/{contract['number']}"))["state"] == "withdrawn"
    signing = env.client.post(f"/api/v1/signing/{link['token']}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"})
    assert "withdrawn" in error_of(signing, 409)["message"]
    error_of(call(env, "post", "/orders", body={"quote": number}), 409)    # revision 2 is not accepted
    revised = ok(call(env, "patch", f"/quotes/{number}/lines/1", body={"quantity": 3}))   # a draft again
    assert revised["lines"][0]["quantity"] == 3


def test_a_draft_cannot_be_revised_and_others_cannot_revise(env):
    number = create(env)["number"]
    error_of(call(env, "post", f"/quotes/{number}/revise", body={"reason": "why"}), 409)
    number = accepted(env, PLAIN)
    error_of(call(env, "post", f"/quotes/{number}/revise", "rep_manager", {"reason": "mine now"}), 403)


# ---- who moves a sold quote along --------------------------------------------------------------

@pytest.mark.parametrize("who, allowed", [("rep", True), ("admin", True), ("rep_manager", False)])
def test_only_the_owner_or_an_admin_orders_or_contracts_a_quote(env, who, allowed):
    number = accepted(env, PLAIN)
    for path in ("/orders", "/contracts"):
        response = call(env, "post", path, who, {"quote": number})
        if allowed:
            assert response.status_code == 201, response.get_data(as_text=True)
        else:
            assert "owner" in error_of(response, 403)["message"]


@pytest.mark.parametrize("who, status", [("rep", 200), ("finance", 200), ("admin", 200), ("rep_manager", 403)])
def test_only_the_owner_finance_or_an_admin_cancels_an_order(env, who, status):
    number = accepted(env, PLAIN)
    made = order(env, number)
    response = call(env, "post", f"/orders/{made['number']}/cancel", who, {"reason": "customer changed plans"})
    if status == 200:
        assert ok(response)["state"] == "cancelled"
    else:
        assert "owner" in error_of(response, 403)["message"]


def test_a_teammate_may_clone_a_quote_and_the_clone_is_theirs(env):
    number = accepted(env, PLAIN)
    clone = ok(call(env, "post", f"/quotes/{number}/clone", "rep_manager"), 201)
    assert clone["state"] == "draft" and clone["number"] != number
    assert clone["owner"] == ok(call(env, "get", "/session", "rep_manager"))["user"]["id"]


# ---- cancelling an order that was billed ------------------------------------------------------

@pytest.fixture
def billing_env(env):
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session)
    ok(call(env, "patch", "/accounts/ACME", "rep", {"billing_address": {
        "street": "1 Road", "city": "Austin", "region": "TX", "country": "US"}}))
    return env


def invoiced(env, lines=SERVER):
    made = order(env, accepted(env, lines))
    invoice = ok(call(env, "post", f"/orders/{made['number']}/invoices", "finance", {}), 201)
    return made, invoice


def test_an_order_with_an_issued_invoice_is_not_cancelled_and_nothing_changes(billing_env):
    env = billing_env
    made, invoice = invoiced(env)
    issued = ok(call(env, "post", f"/invoices/{invoice['id']}/issue", "finance"))
    error = error_of(call(env, "post", f"/orders/{made['number']}/cancel", "rep", {"reason": "changed plans"}), 409)
    assert issued["number"] in error["message"]
    assert ok(call(env, "get", f"/orders/{made['number']}"))["state"] == "open"
    assert ok(call(env, "get", f"/invoices/{invoice['id']}", "finance"))["state"] == "open"
    forbidden = call(env, "post", f"/orders/{made['number']}/cancel", "rep",
                     {"reason": "changed plans", "credit_invoices": True})
    assert "finance" in error_of(forbidden, 403)["message"]


def test_finance_cancels_a_partly_paid_order_crediting_its_invoices_in_one_go(billing_env):
    env = billing_env
    made, invoice = invoiced(env)
    issued = ok(call(env, "post", f"/invoices/{invoice['id']}/issue", "finance"))
    ok(call(env, "post", "/payments", "finance", {"account": "ACME", "amount": "100.00", "currency": "USD",
                                                  "method": "bank_transfer", "reference": "PART-1"}), 201)
    cancelled = ok(call(env, "post", f"/orders/{made['number']}/cancel", "finance",
                        {"reason": "customer withdrew", "credit_invoices": True}))
    assert cancelled["state"] == "cancelled"
    notes = [i for i in ok(call(env, "get", "/invoices?account=ACME", "finance")) if i["kind"] == "credit_note"]
    assert [(n["original"], n["gross_total"]) for n in notes] == [(issued["number"], issued["gross_total"])]
    assert ok(call(env, "get", f"/invoices/{invoice['id']}", "finance"))["balance"] == "0.00"
    ledger = ok(call(env, "get", "/accounts/ACME/ledger", "finance"))
    assert ledger["balance"] == "-100.00"                  # what was paid is the customer's credit


def test_cancelling_voids_the_orders_drafts(billing_env):
    env = billing_env
    made, invoice = invoiced(env)
    ok(call(env, "post", f"/orders/{made['number']}/cancel", "rep", {"reason": "changed plans"}))
    draft = ok(call(env, "get", f"/invoices/{invoice['id']}", "finance"))
    assert (draft["state"], draft["number"]) == ("void", None)
    error_of(call(env, "post", f"/invoices/{invoice['id']}/issue", "finance"), 409)


# ---- price books an account is entitled to -------------------------------------------------------

@pytest.fixture
def euro(env):
    """A direct customer billed in euros (the partner book is in euros too)."""
    ok(call(env, "post", "/accounts", "rep", {"code": "EURO", "name": "Euro Direct", "currency": "EUR"}), 201)
    return env


def test_a_rep_cannot_quote_a_direct_customer_on_the_reseller_book(euro):
    env = euro
    body = {"account": "EURO", "price_book": "partner-eur", "lines": [{"product": "SUP-MC-Y"}]}
    error = error_of(call(env, "post", "/quotes", "rep", body), 403)
    assert "partner-eur" in error["message"] and list(error["fields"]) == ["price_book"]
    number = ok(call(env, "post", "/quotes", "rep", {**body, "price_book": "list-eur"}), 201)["number"]
    error = error_of(call(env, "patch", f"/quotes/{number}", "rep", {"price_book": "partner-eur"}), 403)
    assert list(error["fields"]) == ["price_book"] and get(env, number)["price_book"] == "list-eur"
    error = error_of(call(env, "patch", f"/quotes/{number}", "rep", {"channel": "partner"}), 403)
    assert list(error["fields"]) == ["channel"] and get(env, number)["channel"] is None


def test_only_sales_operations_entitle_an_account_to_a_book_or_channel(euro):
    env = euro
    for change in ({"price_books": ["partner-eur"]}, {"channel": "partner"}):
        error = error_of(call(env, "patch", "/accounts/EURO", "rep", change), 403)
        assert list(error["fields"]) == list(change)
    assert ok(call(env, "get", "/accounts/EURO", "rep"))["price_books"] == []
    ok(call(env, "patch", "/accounts/EURO", "admin", {"price_books": ["partner-eur"]}))
    quote = ok(call(env, "post", "/quotes", "rep", {"account": "EURO", "price_book": "partner-eur",
                                                    "lines": [{"product": "SUP-MC-Y"}]}), 201)
    assert quote["price_book"] == "partner-eur"


def test_a_partner_account_is_entitled_by_its_channel_and_quoted_in_it(euro):
    env = euro
    ok(call(env, "patch", "/accounts/EURO", "admin", {"channel": "partner"}))
    quote = ok(call(env, "post", "/quotes", "rep", {"account": "EURO", "price_book": "partner-eur",
                                                    "lines": [{"product": "SUP-MC-Y"}]}), 201)
    assert (quote["price_book"], quote["channel"]) == ("partner-eur", "partner")


def test_someone_with_quotes_any_price_book_may_quote_any_book(euro):
    env = euro
    quote = ok(call(env, "post", "/quotes", "admin", {"account": "EURO", "price_book": "partner-eur",
                                                      "lines": [{"product": "SUP-MC-Y"}]}), 201)
    assert quote["price_book"] == "partner-eur"
