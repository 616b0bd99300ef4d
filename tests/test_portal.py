"""The customer's billing portal: a link for one of the account's contacts, showing the
account's balance, issued invoices and credit notes (PDF, e-invoice), payments and contracts,
and nothing of anyone else's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from billing import remittance
from billing.portal import PortalLink
from core.db import session_scope, utcnow
from quote_flow import call, env, error_of, ok  # noqa: F401
from test_billing_api import chain  # noqa: F401

pytestmark = pytest.mark.postgres


@pytest.fixture
def billed(chain):
    """The chain's order invoiced and issued, half paid; another draft invoice left unissued."""
    env, _quote, contract, order = chain
    issued = ok(call(env, "post", f"/invoices/{ok(call(env, 'post', f'/orders/{order}/invoices', 'finance', {}), 201)['id']}/issue",
                     "finance"))
    ok(call(env, "post", "/payments", "finance", {"account": "ACME", "amount": "10.00", "currency": "USD",
                                                  "method": "bank_transfer", "reference": "BANK-1"}), 201)
    link = ok(call(env, "post", "/accounts/ACME/portal-links", "finance", {"email": "jo@acme.com"}), 201)
    return env, issued, contract, link


def test_finance_sends_a_contact_a_link_and_nobody_else_may(env):
    assert error_of(call(env, "post", "/accounts/ACME/portal-links", "rep", {"email": "jo@acme.com"}), 403)
    refused = error_of(call(env, "post", "/accounts/ACME/portal-links", "finance", {"email": "eve@evil.example"}), 422)
    assert "not a contact of account ACME" in refused["fields"]["email"][0]
    assert error_of(call(env, "post", "/accounts/ACME/portal-links", "finance",
                         {"email": "jo@acme.com", "days": 91}), 422)["fields"]["days"]
    link = ok(call(env, "post", "/accounts/ACME/portal-links", "finance", {"email": "JO@acme.com"}), 201)
    assert link["url"].endswith(f"/p/{link['token']}") and link["email"] == "JO@acme.com"
    with session_scope(env.engine) as session:
        stored = session.exec(select(PortalLink)).one()
        assert stored.token_hash != link["token"] and link["token"] not in stored.token_hash   # only its hash


def test_the_portal_shows_the_accounts_billing_as_a_projection(billed):
    env, issued, contract, link = billed
    view = ok(call(env, "get", f"/portal/{link['token']}", None))
    assert set(view) == {"account", "currency", "balance", "contracts", "invoices", "payments", "subscriptions", "usage"}
    assert view["account"] == {"code": "ACME", "name": "Acme Corp", "currency": "USD"}
    [invoice] = view["invoices"]
    assert invoice["number"] == issued["number"] and invoice["payment_reference"] == issued["payment_reference"]
    assert set(invoice) == {"id", "number", "kind", "state", "issue_date", "due_date", "currency", "gross_total",
                            "amount_paid", "balance", "payment_reference", "transfer", "document_status", "has_einvoice"}
    assert invoice["transfer"] == {"reference": remittance.printed(issued["payment_reference"]), "iban": None,
                                   "bic": None, "company": "Northwind Systems Inc."}   # what to quote, to whom
    assert Decimal(invoice["balance"]) == Decimal(issued["gross_total"]) - 10
    assert view["balance"] == invoice["balance"]
    assert [p["reference"] for p in view["payments"]] == ["BANK-1"]
    assert [c["number"] for c in view["contracts"]] == [contract]
    assert "cost" not in str(view) and "margin" not in str(view) and "seller" not in view["invoices"][0]


def test_the_portal_shows_subscriptions_and_the_usage_of_the_open_period_priced_so_far(billed):
    env, _issued, contract, link = billed
    now = utcnow()
    ok(call(env, "post", "/usage", "finance", {"records": [
        {"account": "ACME", "meter": "solar_api_calls", "quantity": quantity, "event_time": now.isoformat(),
         "idempotency_key": key} for key, quantity in (("a", "12000"), ("b", "13000.5"))]}), 201)
    view = ok(call(env, "get", f"/portal/{link['token']}", None))
    internal = ok(call(env, "get", f"/subscriptions?contract={contract}", "finance"))
    assert [s["product"] for s in view["subscriptions"]] == [s["name"] for s in internal]
    for shown, sub in zip(view["subscriptions"], internal):
        assert set(shown) == {"product", "state", "quantity", "unit_price", "amount", "charge", "currency",
                              "start_date", "end_date", "term_months", "next_billing_date"}
        assert (shown["quantity"], shown["amount"]) == (sub["current"]["quantity"], sub["current"]["amount"])
        assert shown["next_billing_date"] > now.date().isoformat() >= sub["start_date"]   # the first period is billed
    usage = view["usage"]
    assert usage["period"] == f"{now:%Y-%m}" and usage["currency"] == "USD"
    assert usage["meters"] == [{"name": "Solar fleet API calls", "unit": "call", "quantity": "25000.5",
                                "amount": "30.00"}]          # 10,000 included, 15,000.5 at 0.002, rounded once
    assert usage["total"] == ok(call(env, "get", "/accounts/ACME/usage", "finance"))["total"] == "30.00"
    assert "price_book" not in str(usage) and "tiers" not in str(usage)


def test_the_customer_downloads_their_invoice_and_no_one_elses(billed):
    env, issued, _contract, link = billed
    token = link["token"]
    pdf = env.client.get(f"/api/v1/portal/{token}/invoices/{issued['id']}/pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.headers["Cache-Control"] == "no-store"
    assert pdf.headers["X-Document-SHA256"] == ok(call(env, "get", f"/invoices/{issued['id']}", "finance"))["document_sha256"]
    other = ok(call(env, "post", "/accounts", "rep", {"code": "GLOBEX", "name": "Globex", "currency": "USD",
                                                     "contacts": [{"name": "G", "email": "g@globex.example"}]}), 201)
    assert other["code"] == "GLOBEX"
    theirs = ok(call(env, "post", "/accounts/GLOBEX/portal-links", "finance", {"email": "g@globex.example"}), 201)
    assert env.client.get(f"/api/v1/portal/{theirs['token']}/invoices/{issued['id']}/pdf").status_code == 404
    assert ok(call(env, "get", f"/portal/{theirs['token']}", None))["invoices"] == []
    assert env.client.get(f"/api/v1/portal/{token}/invoices/999999/pdf").status_code == 404
    page = env.client.get(f"/p/{token}")
    assert page.status_code == 200 and issued["number"] in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_a_revoked_or_expired_link_opens_nothing(billed):
    env, _issued, _contract, link = billed
    assert ok(call(env, "delete", "/accounts/ACME/portal-links", "finance"))["revoked"] == 1
    assert error_of(call(env, "get", f"/portal/{link['token']}", None), 404)["message"] == "this link is unknown or has expired"
    assert env.client.get(f"/p/{link['token']}").status_code == 404
    fresh = ok(call(env, "post", "/accounts/ACME/portal-links", "finance", {"email": "jo@acme.com", "days": 1}), 201)
    with session_scope(env.engine) as session:
        for stored in session.exec(select(PortalLink).where(PortalLink.revoked_at.is_(None))):
            stored.expires_at = utcnow() - timedelta(seconds=1)
    assert error_of(call(env, "get", f"/portal/{fresh['token']}", None), 404)
