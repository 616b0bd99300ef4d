"""The pages after acceptance (issue 19): contracts, orders and invoices listed and shown,
each offering only the actions the user's role may take; the builder's readable lines and
approval preview; the customer's page for a link that does not work; the dashboard's names
and figures."""

from __future__ import annotations

import pytest
from sqlmodel import select

from billing.tax import load_demo_tax_rates
from core.db import session_scope
from core.settings import DEFAULT_DEMO_DIR
from quote_flow import MANAGER, PLAIN, call, create, customer, env, error_of, ok, sent  # noqa: F401
from sales.accounts import Account

pytestmark = pytest.mark.postgres

SERVER = [{"product": "rack-server", "selections": {"cpu": "e9354", "dimm_count": 8}, "quantity": 10,
           "discount_percent": "20"}]


def page(env, path, who):
    response = env.client.get(path, headers={"Authorization": f"Bearer {env.tokens[who]}"})
    return response.status_code, response.get_data(as_text=True)


def accepted(env, lines=PLAIN):
    number, token = sent(env, lines)
    ok(customer(env, token, "accept"))
    return number


def invoiced(env) -> tuple[str, dict]:
    """(order number, issued invoice) of an accepted quote, taxed by the demo's rates."""
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        account = session.exec(select(Account).where(Account.code == "ACME")).one()
        account.billing_address = {"street": "1 Road", "city": "Austin", "region": "TX",
                                   "postal_code": "78701", "country": "US"}
    made = ok(call(env, "post", "/orders", "rep", {"quote": accepted(env)}), 201)
    draft = ok(call(env, "post", f"/orders/{made['number']}/invoices", "finance", {}), 201)
    return made["number"], ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))


def test_the_navigation_lists_contracts_orders_and_invoices_to_who_may_read_them(env):
    _status, rep = page(env, "/app/quotes", "rep")
    assert all(f'href="/app/{kind}"' in rep for kind in ("contracts", "orders", "invoices"))
    _status, approver = page(env, "/app/quotes", "manager")
    assert 'href="/app/contracts"' in approver and 'href="/app/invoices"' not in approver
    status, refused = page(env, "/app/invoices", "manager")
    assert status == 403 and "invoices:read" in refused
    for path, heading in (("/app/contracts", "Contracts"), ("/app/orders", "Orders"), ("/app/invoices", "Invoices")):
        status, html = page(env, path, "finance")
        assert status == 200 and f"<h1>{heading}</h1>" in html and f"<title>{heading} · " in html
        assert 'id="rows"' in html and f'aria-label="Filter {heading.lower()}"' in html
        assert f'tables.listed("/{heading.lower()}"' in html
        assert env.client.get(path).status_code == 302                     # to sign in


def test_the_contract_page_offers_sending_to_who_may_and_hides_others_contracts(env):
    number = accepted(env)
    contract = ok(call(env, "post", "/contracts", "rep", {"quote": number}), 201)["number"]
    assert [c["number"] for c in ok(call(env, "get", f"/contracts?quote={number}", "rep"))] == [contract]
    assert ok(call(env, "get", "/contracts", "rep2")) == []
    assert ok(call(env, "get", "/contracts?state=draft", "finance"))[0]["number"] == contract
    status, html = page(env, f"/app/contracts/{contract}", "rep")
    assert status == 200 and f'data-api="POST /contracts/{contract}/send"' in html and "Not sent yet." in html
    assert 'id="create-order"' in html                  # no order yet, and the rep may make it
    status, html = page(env, f"/app/contracts/{contract}", "manager")          # reads, may not send
    assert status == 200 and 'id="send"' not in html and 'id="create-order"' not in html
    assert page(env, f"/app/contracts/{contract}", "rep2")[0] == 404
    sent_ = ok(call(env, "post", f"/contracts/{contract}/send", "rep"))
    assert sent_["url"].endswith(sent_["token"])
    _status, html = page(env, f"/app/contracts/{contract}", "rep")
    assert "Send a new signing link" in html and 'id="document"' in html and ">Sent<" in html
    made = ok(call(env, "post", "/orders", "rep", {"quote": number}), 201)["number"]
    _status, html = page(env, f"/app/contracts/{contract}", "rep")
    assert f'href="/app/orders/{made}"' in html and 'id="create-order"' not in html


def test_the_order_page_shows_the_credit_check_and_only_finance_invoices(env):
    quote = accepted(env)
    made = ok(call(env, "post", "/orders", "rep", {"quote": quote}), 201)["number"]
    status, html = page(env, f"/app/orders/{made}", "rep")
    assert status == 200 and 'id="credit-result"' in html and "Passed: no credit limit" in html
    assert 'id="invoice-order"' not in html and 'id="release"' not in html and "No invoice yet." in html
    _status, html = page(env, f"/app/orders/{made}", "finance")
    assert f'data-api="POST /orders/{made}/invoices"' in html
    _status, html = page(env, f"/app/orders/{made}", "manager")          # no invoices:read: no invoices
    assert 'id="invoices-title"' not in html
    _status, quote_page = page(env, f"/app/quotes/{quote}", "rep")
    assert "contracts:write" in quote_page and "orders:write" in quote_page      # what the builder may offer


def test_the_invoice_page_shows_lines_tax_and_documents_and_lets_only_finance_act(env):
    order, invoice = invoiced(env)
    path = f"/app/invoices/{invoice['id']}"
    status, html = page(env, path, "finance")
    assert status == 200 and invoice["number"] in html and 'id="lines"' in html and 'id="totals"' in html
    assert f'href="/api/v1/invoices/{invoice["id"]}/pdf"' in html and f"/app/orders/{order}" in html
    for form in ('id="record-payment"', 'id="credit-note"', 'id="void"'):
        assert form in html
    status, html = page(env, path, "rep")                    # reads the invoice, acts on nothing
    assert status == 200 and invoice["number"] in html
    assert not any(form in html for form in ('id="record-payment"', 'id="credit-note"', 'id="void"', 'id="payments"'))
    assert error_of(call(env, "post", f"/invoices/{invoice['id']}/void", "rep", {"reason": "no"}), 403)

    paid = ok(call(env, "post", "/payments", "finance", {
        "account": "ACME", "amount": "10.00", "currency": "USD", "method": "bank_transfer", "reference": "BANK-77",
        "allocations": [{"invoice": invoice["id"], "amount": "10.00"}]}), 201)
    assert paid["allocations"][0]["invoice"] == invoice["id"]
    _status, html = page(env, path, "finance")
    assert "BANK-77" in html and "Partially paid" in html and 'id="void"' not in html    # paid in part: credit it
    _status, account = page(env, "/app/accounts/ACME", "finance")
    assert 'id="payments"' in account


def test_a_link_that_does_not_work_is_a_page_for_the_customer_not_json(env):
    for path in ("/q/nope", "/q/nope/pdf", "/c/nope", "/p/nope"):
        response = env.client.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html", path
        text = response.get_data(as_text=True)
        assert "Link not found" in text and "new link" in text, path
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    declined = env.client.post("/q/nope/accept", data={"name": "Jo", "email": "jo@acme.com", "agree": "yes"})
    assert declined.status_code == 404 and declined.mimetype == "text/html"


def test_builder_lines_read_as_option_labels_and_the_discounts_say_how_they_stack(env):
    quote = create(env, SERVER)
    [line] = quote["lines"]
    assert line["chosen"] == ["AMD EPYC 9354 (32C, 3.25 GHz, 280 W)", "Number of DIMMs: 8"]
    [(key, text)] = quote["discount_explanations"].items()          # not the free rail kit's
    assert key == quote["price"]["lines"][0]["id"] and quote["price"]["lines"][1]["free_of"] == key
    assert "manual discount 20%: 20% of the remainder" in text and text.endswith("line discount")
    assert text.split(" = ")[1].split("%")[0] in str(quote["approvals_required"])     # the figure rules test


def test_an_empty_quote_needs_no_approval(env):
    empty = create(env, [])
    assert empty["approvals_required"] == [] and empty["discount_explanations"] == {}


def test_the_dashboard_names_states_and_formats_figures(env):
    create(env, MANAGER)
    status, html = page(env, "/app/dashboard", "rep")
    assert status == 200 and ">Draft<" in html and ">draft<" not in html
    assert "<svg" not in html and 'class="bars"' in html
