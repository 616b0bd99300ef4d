"""The chain through the API, from an accepted quote to cash and revenue: contract, order,
shipment, invoice (PDF and EN 16931 XML), payment, the ledger, aging, DSO, dunning and the
revenue report; every POST that creates something retried safely."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from lxml import etree
from sqlmodel import select

from billing.models import Invoice
from billing.tax import load_demo_tax_rates
from core.db import session_scope
from core.settings import DEFAULT_DEMO_DIR
from quote_flow import call, customer, env, error_of, ok, sent  # noqa: F401
from sales.accounts import Account

pytestmark = pytest.mark.postgres

LINES = [{"product": "RAIL-KIT-2U", "quantity": 10}, {"product": "SUP-MC-Y", "quantity": 2}]
CII = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
       "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}


@pytest.fixture
def chain(env):
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        account = session.exec(select(Account).where(Account.code == "ACME")).one()
        account.billing_address = {"street": "1 Road", "city": "Austin", "region": "TX",
                                   "postal_code": "78701", "country": "US"}
    number, token = sent(env, LINES)
    ok(customer(env, token, "accept"))
    contract = ok(call(env, "post", "/contracts", "rep", {"quote": number}), 201)
    link = ok(call(env, "post", f"/contracts/{contract['number']}/send", "rep"))
    ok(env.client.post(f"/api/v1/signing/{link['token']}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    order = ok(call(env, "post", "/orders", "rep", {"quote": number}), 201)
    return env, number, contract["number"], order["number"]


def test_from_order_to_cash(chain):
    env, _quote, _contract, order = chain
    draft = ok(call(env, "post", f"/orders/{order}/invoices", "finance", {}), 201)
    assert draft["state"] == "draft" and draft["number"] is None
    assert error_of(call(env, "post", f"/orders/{order}/invoices", "rep", {}), 403)
    issued = ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))
    assert issued["state"] == "open" and issued["number"].startswith(f"INV-{date.today().year}-")
    assert ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))["number"] == issued["number"]
    gross = Decimal(issued["gross_total"])
    assert gross == Decimal(issued["net_total"]) + Decimal(issued["tax_total"])
    assert sum(Decimal(ln["net_amount"]) for ln in issued["lines"]) == Decimal(issued["net_total"])

    assert issued["document_status"] == "pending"                   # the answer does not wait for the render
    shown = ok(call(env, "get", f"/invoices/{draft['id']}", "finance"))
    pdf = call(env, "get", f"/invoices/{draft['id']}/pdf", "rep")
    assert shown["document_status"] == "ready"
    assert pdf.data.startswith(b"%PDF") and pdf.headers["X-Document-SHA256"] == shown["document_sha256"]
    xml = call(env, "get", f"/invoices/{draft['id']}/einvoice", "rep")
    tree = etree.fromstring(xml.data)
    assert tree.findtext(".//rsm:ExchangedDocument/ram:ID", namespaces=CII) == issued["number"]
    assert Decimal(tree.findtext(".//ram:GrandTotalAmount", namespaces=CII)) == gross

    body = {"account": "ACME", "amount": str(gross - 100), "currency": "USD", "method": "bank_transfer",
            "reference": "BANK-001"}
    first = call(env, "post", "/payments", "finance", body)
    assert first.status_code == 201
    assert ok(call(env, "get", f"/invoices/{draft['id']}", "rep"))["state"] == "partially_paid"
    again = call(env, "post", "/payments", "finance", body)            # a retry: the same payment
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    ok(call(env, "post", "/payments", "finance", body | {"amount": "150.00", "reference": "BANK-002"}), 201)
    paid = ok(call(env, "get", f"/invoices/{draft['id']}", "rep"))
    assert paid["state"] == "paid" and Decimal(paid["balance"]) == 0
    history = ok(call(env, "get", f"/invoices/{draft['id']}/history", "rep"))
    assert [(e["from_state"], e["to_state"]) for e in history] == [
        ("draft", "open"), ("open", "partially_paid"), ("partially_paid", "paid")]
    assert {e["actor"] for e in history} == {"Finance <finance@example.com>"}
    listed = ok(call(env, "get", "/payments?account=ACME", "finance"))
    assert [p["reference"] for p in listed] == ["BANK-002", "BANK-001"]              # newest first
    assert [p["reference"] for p in ok(call(env, "get", "/payments?with_credit=true", "finance"))] == ["BANK-002"]
    assert error_of(call(env, "get", "/payments", "rep"), 403)
    assert error_of(call(env, "get", "/payments?account=NOPE", "finance"), 404)

    ledger = ok(call(env, "get", "/accounts/ACME/ledger", "finance"))
    assert Decimal(ledger["balance"]) == Decimal("-50.00")               # the over-payment is credit
    assert sum(Decimal(e["amount"]) for e in ledger["entries"]) == Decimal(ledger["balance"])
    aging = ok(call(env, "get", "/collections/aging?account=ACME", "finance"))
    assert Decimal(aging["accounts"]["ACME"]["credit"]) == Decimal("50.00")
    dso = ok(call(env, "get", "/collections/dso", "finance"))
    assert dso[0]["currency"] == "USD"


def test_shipping_and_revenue(chain):
    env, _quote, contract, order = chain
    ok(call(env, "post", f"/orders/{order}/lines/1/shipments", "erp", {"quantity": "10"}), 201)
    ok(call(env, "post", f"/orders/{order}/lines/1/delivery", "erp", {}))
    rows = ok(call(env, "post", f"/contracts/{contract}/revenue-schedule", "finance"))
    assert {r["basis"] for r in rows} == {"point_in_time", "ratably"}
    through = date.today().replace(day=1) + timedelta(days=40 * 30)
    report = ok(call(env, "get", f"/revenue?contract={contract}&through={through:%Y-%m}", "finance"))
    price = ok(call(env, "get", f"/contracts/{contract}", "rep"))["contract_value"]
    assert Decimal(report[-1]["cumulative"]) == Decimal(price) and Decimal(report[-1]["deferred"]) == 0
    assert all(Decimal(r["cumulative"]) + Decimal(r["deferred"]) == Decimal(price) for r in report)


def test_credit_notes_void_and_an_idempotent_invoice(chain):
    env, _quote, _contract, order = chain
    headers = {"Idempotency-Key": "inv-1"}
    first = call(env, "post", f"/orders/{order}/invoices", "finance", {}, headers=dict(headers))
    replay = call(env, "post", f"/orders/{order}/invoices", "finance", {}, headers=dict(headers))
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json()["id"] == first.get_json()["id"]
    invoice = ok(call(env, "post", f"/invoices/{first.get_json()['id']}/issue", "finance"))
    note = ok(call(env, "post", f"/invoices/{invoice['id']}/credit-notes", "finance",
                   {"amount": "100.00", "reason": "damaged rail"}), 201)
    assert note["kind"] == "credit_note" and note["original"] == invoice["number"]
    assert note["number"].startswith(f"CN-{date.today().year}-")
    assert error_of(call(env, "post", f"/invoices/{invoice['id']}/void", "finance", {"reason": "x"}), 409)
    with session_scope(env.engine) as session:            # issued invoices never change
        stored = session.get(Invoice, invoice["id"])
        stored.net_total = Decimal(1)
        with pytest.raises(Exception, match="issued"):
            session.flush()
        session.rollback()


def test_overdue_invoices_are_dunned_once(chain):
    env, _quote, _contract, order = chain
    invoice = ok(call(env, "post", f"/orders/{order}/invoices", "finance", {}), 201)
    issued = ok(call(env, "post", f"/invoices/{invoice['id']}/issue", "finance"))
    late = date.fromisoformat(issued["due_date"]) + timedelta(days=22)
    run = ok(call(env, "post", f"/collections/dunning?today={late}", "finance"))
    assert [(n["invoice"], n["level"]) for n in run] == [(issued["number"], 2)] and Decimal(run[0]["fee"]) > 0
    assert ok(call(env, "post", f"/collections/dunning?today={late}", "finance")) == []
    aging = ok(call(env, "get", f"/collections/aging?today={late}", "finance"))
    assert Decimal(aging["totals"]["USD"]["buckets"]["1-30"]) == Decimal(issued["gross_total"])


def test_billing_needs_finance_and_names_bad_fields(chain):
    env, *_ = chain
    assert error_of(call(env, "post", "/payments", "rep", {"account": "ACME", "amount": "1", "currency": "USD",
                                                           "method": "card", "reference": "r"}), 403)
    bad = call(env, "post", "/payments", "finance", {"account": "ACME", "amount": "-1", "currency": "USD",
                                                      "method": "card", "reference": "r"})
    assert "amount" in error_of(bad, 422)["fields"]
    wrong = call(env, "post", "/payments", "finance", {"account": "ACME", "amount": "1", "currency": "EUR",
                                                        "method": "card", "reference": "r"})
    assert error_of(wrong, 422)
    assert error_of(call(env, "get", "/invoices/999999", "rep"), 404)
    assert "through" in error_of(call(env, "get", "/revenue?through=2026-13", "finance"), 422)["fields"]
