"""Contracts and orders through the API: from an accepted quote to a signed contract and an
order; Idempotency-Key replays; credit hold and release; partial shipments and delivery;
the ERP's write-backs; contract key dates run by the job, never twice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from billing import ledger
from core.db import session_scope
from core.errors import InvalidTransition
from core.users import User
from quote_flow import PLAIN, act, call, create, customer, env, error_of, ok, sent  # noqa: F401
from sales import contracts
from sales.accounts import Account
from sales.order_models import Contract, ContractEvent

pytestmark = pytest.mark.postgres

HARDWARE = [{"product": "RAIL-KIT-2U", "quantity": 10}, {"product": "SUP-PRO-M", "quantity": 2}]
SERVER = [{"product": "rack-server", "selections": {"cpu": "xg6430"}}]


def accepted(env, lines=PLAIN):
    number, token = sent(env, lines)
    ok(customer(env, token, "accept"))
    return number


def order(env, quote, status=201, **body):
    return ok(call(env, "post", "/orders", "rep", {"quote": quote, **body}), status)


# ---- orders ----------------------------------------------------------------------------------

def test_an_order_copies_the_accepted_lines_with_configuration_and_bom(env):
    quote = accepted(env, SERVER + PLAIN)
    result = order(env, quote)
    assert result["state"] == "open" and result["quote"] == quote and result["account"] == "ACME"
    server, support = result["lines"]
    assert server["product"] == "rack-server" and server["configuration"]["cpu"] == "xg6430"
    assert server["model_version"] == 2 and server["bom"] and {"part", "quantity", "uom"} <= set(server["bom"][0])
    assert support["configuration"] == {} and support["bom"] == [] and support["charge"] == "annual"
    assert result["credit_check"]["passed"] is True


def test_ordering_twice_returns_the_same_order(env):
    quote = accepted(env)
    first = order(env, quote)
    again = order(env, quote, status=200)
    assert again["number"] == first["number"]


def test_asking_again_for_an_order_contract_or_payment_answers_a_documented_200(client):
    """respond() answers 200 with the one already made when the domain finds it done; the
    OpenAPI document says so (schemathesis: an undocumented status)."""
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ("/api/v1/orders", "/api/v1/contracts", "/api/v1/payments"):
        responses = paths[path]["post"]["responses"]
        assert responses["200"]["content"] == responses["201"]["content"], path


def test_an_idempotency_key_replays_the_answer_and_refuses_another_body(env):
    quote = accepted(env)
    headers = {"Idempotency-Key": "order-42"}
    first = call(env, "post", "/orders", "rep", {"quote": quote}, headers=dict(headers))
    assert first.status_code == 201
    replay = call(env, "post", "/orders", "rep", {"quote": quote}, headers=dict(headers))
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    other = call(env, "post", "/orders", "rep", {"quote": quote, "billing": "on_shipment"}, headers=dict(headers))
    assert "Idempotency-Key" in error_of(other, 422)["fields"]


def test_a_failed_create_stores_no_key_so_it_can_be_retried(env):
    number, token = sent(env)                     # not accepted yet: the order is refused
    headers = {"Idempotency-Key": "retry-me"}
    error_of(call(env, "post", "/orders", "rep", {"quote": number}, headers=dict(headers)), 409)
    ok(customer(env, token, "accept"))
    assert call(env, "post", "/orders", "rep", {"quote": number}, headers=dict(headers)).status_code == 201


def test_only_accepted_quotes_are_ordered(env):
    number = create(env)["number"]
    error = error_of(call(env, "post", "/orders", "rep", {"quote": number}), 409)
    assert error["state"] == "draft"


def test_over_the_credit_limit_the_order_waits_for_finance(env):
    with session_scope(env.engine) as session:
        account = session.exec(select(Account).where(Account.code == "ACME")).one()
        account.credit_limit = Decimal("1000.00")
        ledger.post(session, account.id, date.today(), "invoice", Decimal("800.00"), "USD", memo="older invoice")
    quote = accepted(env, HARDWARE)
    held = order(env, quote)
    assert held["state"] == "credit_hold"
    check = held["credit_check"]
    assert check["passed"] is False and Decimal(check["receivables"]) == Decimal("800.00")
    assert Decimal(check["exposure"]) == Decimal("800.00") + Decimal(check["order"])
    error_of(call(env, "post", f"/orders/{held['number']}/lines/1/shipments", "erp", {"quantity": "1"}), 409)
    assert error_of(call(env, "post", f"/orders/{held['number']}/release", "rep", {"reason": "ok"}), 403)
    error_of(call(env, "post", f"/orders/{held['number']}/release", "finance", {}), 422)
    released = ok(call(env, "post", f"/orders/{held['number']}/release", "finance", {"reason": "paid upfront"}))
    assert released["state"] == "open"
    error_of(call(env, "post", f"/orders/{held['number']}/release", "finance", {"reason": "again"}), 409)


def test_partial_shipments_then_delivery_fulfil_the_order(env):
    result = order(env, accepted(env, HARDWARE))
    n = result["number"]
    base = f"/orders/{n}/lines/1"
    ok(call(env, "put", f"{base}/status", "erp", {"status": "in_production"}))
    first = ok(call(env, "post", f"{base}/shipments", "erp",
                    {"quantity": "4", "carrier": "UPS", "tracking": "1Z999"}), 201)
    assert first["lines"][0]["status"] == "in_production" and first["lines"][0]["shipped_quantity"] == "4"
    assert error_of(call(env, "post", f"{base}/shipments", "erp", {"quantity": "7"}), 422)["fields"]["quantity"]
    second = ok(call(env, "post", f"{base}/shipments", "erp", {"quantity": "6"}), 201)
    assert second["lines"][0]["status"] == "shipped" and len(second["shipments"]) == 2
    error_of(call(env, "post", f"/orders/{n}/lines/2/shipments", "erp", {"quantity": "1"}), 422)  # a service
    ok(call(env, "post", f"{base}/delivery", "erp", {"delivered_on": date.today().isoformat()}))
    done = ok(call(env, "post", f"/orders/{n}/lines/2/delivery", "erp", {}))
    assert done["state"] == "fulfilled"
    assert [e["action"] for e in ok(call(env, "get", f"/orders/{n}/history", "rep"))][-1] == "fulfil"


def test_the_erp_writes_back_its_order_number(env):
    n = order(env, accepted(env))["number"]
    result = ok(call(env, "put", f"/orders/{n}/erp-number", "erp", {"erp_order_number": "SAP-4711"}))
    assert result["erp_order_number"] == "SAP-4711"
    assert ok(call(env, "get", f"/orders/{n}", "rep"))["erp_order_number"] == "SAP-4711"


def test_milestones_must_sum_to_100(env):
    quote = accepted(env, HARDWARE)
    bad = call(env, "post", "/orders", "rep", {"quote": quote, "billing": "milestones",
                                                "milestones": [{"label": "a", "percent": "30"}]})
    assert "milestones" in error_of(bad, 422)["fields"]
    good = order(env, quote, billing="milestones",
                 milestones=[{"label": "signature", "percent": "30"}, {"label": "delivery", "percent": "70"}])
    assert good["billing"] == "milestones" and len(good["milestones"]) == 2


def test_orders_need_a_token(env):
    assert env.client.post("/api/v1/orders", json={"quote": "Q-1"}).status_code == 401


# ---- contracts -------------------------------------------------------------------------------

def contract(env, quote, status=201, **body):
    return ok(call(env, "post", "/contracts", "rep", {"quote": quote, **body}), status)


def test_a_contract_is_signed_through_its_link_and_becomes_active(env):
    quote = accepted(env, [{"product": "SUP-MC-Y"}])
    c = contract(env, quote, escalation_percent="3")
    assert c["state"] == "draft" and c["term_months"] == 36 and c["escalation_percent"] == "3"
    assert contract(env, quote, status=200)["number"] == c["number"]       # asking again
    sent_ = ok(call(env, "post", f"/contracts/{c['number']}/send", "rep"))
    token = sent_["token"]
    shown = ok(env.client.get(f"/api/v1/signing/{token}"))
    assert shown["state"] == "sent" and len(shown["document_sha256"]) == 64
    wrong = env.client.post(f"/api/v1/signing/{token}/sign",
                            json={"name": "Jo", "email": "jo@acme.com", "document_sha256": "0" * 64})
    assert error_of(wrong, 422)["fields"]["document_sha256"]
    signed = ok(env.client.post(f"/api/v1/signing/{token}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    assert signed["state"] == "active" and signed["signed_name"] == "Jo Buyer"
    again = ok(env.client.post(f"/api/v1/signing/{token}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    assert again["signed_at"] == signed["signed_at"]
    pdf = call(env, "get", f"/contracts/{c['number']}/pdf", "rep")
    assert pdf.mimetype == "application/pdf" and pdf.headers["X-Document-SHA256"] == shown["document_sha256"]
    assert error_of(env.client.get("/api/v1/signing/garbage"), 404)


def test_orders_from_contracts_when_the_setting_says_so(env, app):
    import dataclasses
    app.extensions["cpq_settings"] = dataclasses.replace(app.extensions["cpq_settings"], orders_from="contract")
    quote = accepted(env)
    assert error_of(call(env, "post", "/orders", "rep", {"quote": quote}), 409)
    c = contract(env, quote)
    token = ok(call(env, "post", f"/contracts/{c['number']}/send", "rep"))["token"]
    ok(env.client.post(f"/api/v1/signing/{token}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    assert order(env, quote)["contract"] == c["number"]


def _signed(env, lines=PLAIN, **body) -> str:
    c = contract(env, accepted(env, lines), **body)
    token = ok(call(env, "post", f"/contracts/{c['number']}/send", "rep"))["token"]
    ok(env.client.post(f"/api/v1/signing/{token}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    return c["number"]


def test_key_dates_remind_once_then_renew_with_escalation(env):
    number = _signed(env, escalation_percent="5")
    with session_scope(env.engine) as session:
        c = contracts.get_contract(session, number)
        deadline = c.end_date - timedelta(days=c.notice_days)
        value, end = c.contract_value, c.end_date
        first = contracts.run_jobs(session, deadline - timedelta(days=3))
        again = contracts.run_jobs(session, deadline - timedelta(days=2))
        assert first == [f"{number}: renewal notice reminder"] and again == []
        renewed = contracts.run_jobs(session, end + timedelta(days=1))
        assert renewed == [f"{number}: renewed as {number}/R1"]
        following = contracts.get_contract(session, f"{number}/R1")
        assert following.state == "active" and following.start_date == end + timedelta(days=1)
        assert following.contract_value == (value * Decimal("1.05")).quantize(Decimal("0.01"))
        assert contracts.get_contract(session, number).state == "renewed"
        reminders = session.exec(select(ContractEvent).where(ContractEvent.action == "remind")).all()
        assert len(reminders) == 1


def test_notice_stops_renewal_and_the_contract_expires(env):
    number = _signed(env)
    ok(call(env, "post", f"/contracts/{number}/notice", "rep", {"reason": "moving to another vendor"}))
    with session_scope(env.engine) as session:
        c = contracts.get_contract(session, number)
        assert c.auto_renew is False
        assert contracts.run_jobs(session, c.end_date - timedelta(days=10)) == [f"{number}: expiry reminder"]
        assert contracts.run_jobs(session, c.end_date - timedelta(days=9)) == []
        assert contracts.run_jobs(session, c.end_date + timedelta(days=1)) == [f"{number}: expired"]
        assert session.exec(select(Contract).where(Contract.renewal_of == c.id)).first() is None


def test_notice_after_the_deadline_is_refused_and_finance_terminates(env):
    number = _signed(env)
    with session_scope(env.engine) as session:
        c = contracts.get_contract(session, number)
        rep = session.exec(select(User).where(User.email == "rep@example.com")).one()
        late = c.end_date - timedelta(days=c.notice_days - 1)
        with pytest.raises(InvalidTransition, match="notice period ended"):
            contracts.give_notice(session, rep, number, late)
    error_of(call(env, "post", f"/contracts/{number}/terminate", "rep", {"reason": "x"}), 403)
    error_of(call(env, "post", f"/contracts/{number}/terminate", "finance", {}), 422)
    done = ok(call(env, "post", f"/contracts/{number}/terminate", "finance", {"reason": "breach"}))
    assert done["state"] == "terminated"
    assert error_of(call(env, "post", f"/contracts/{number}/notice", "rep", {}), 409)["state"] == "terminated"


@pytest.mark.parametrize("path, body", [
    ("/quotes", {"account": "ACME", "lines": PLAIN}),
    ("/accounts", {"code": "NEWCO", "name": "New Co", "currency": "USD"}),
    ("/configurations", {"product": "rack-server", "selections": {"cpu": "xg6430"}}),
])
def test_every_creating_post_replays_its_idempotency_key(env, path, body):
    headers = {"Idempotency-Key": f"key-{path}"}
    first = call(env, "post", path, "rep", body, headers=dict(headers))
    assert first.status_code == 201, first.get_data(as_text=True)
    replay = call(env, "post", path, "rep", body, headers=dict(headers))
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == first.get_json()


def test_the_customer_signs_on_the_contract_page(env):
    c = contract(env, accepted(env))
    link = ok(call(env, "post", f"/contracts/{c['number']}/send", "rep"))
    path = "/c/" + link["token"]
    assert link["url"].endswith(path)
    page = env.client.get(path)
    assert page.status_code == 200 and c["number"] in page.get_data(as_text=True)
    assert env.client.get(f"{path}/pdf").mimetype == "application/pdf"
    unticked = env.client.post(f"{path}/sign", data={"name": "Jo Buyer", "email": "jo@acme.com"})
    assert unticked.status_code == 303 and "error=" in unticked.headers["Location"]
    signed = env.client.post(f"{path}/sign", data={"name": "Jo Buyer", "email": "jo@acme.com", "agree": "yes"})
    assert signed.status_code == 303
    assert ok(call(env, "get", f"/contracts/{c['number']}", "rep"))["state"] == "active"
    assert "Signed by Jo Buyer" in env.client.get(path).get_data(as_text=True)


# ---- the ERP's pull ------------------------------------------------------------------------------

def test_the_order_bom_as_json_and_csv_with_etags(env):
    n = order(env, accepted(env, [{"product": "rack-server", "quantity": 3, "selections": {"cpu": "xg6430"}}]))["number"]
    bom = call(env, "get", f"/orders/{n}/bom", "erp")
    rows = ok(bom)["lines"]
    assert rows and all(r["line"] == "1" and r["product"] == "rack-server" for r in rows)
    per_unit = ok(call(env, "get", f"/orders/{n}", "rep"))["lines"][0]["bom"]
    assert [Decimal(r["quantity"]) for r in rows] == [Decimal(p["quantity"]) * 3 for p in per_unit]
    etag = bom.headers["ETag"]
    unchanged = call(env, "get", f"/orders/{n}/bom", "erp", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    csv_ = call(env, "get", f"/orders/{n}/bom?format=csv", "erp")
    assert csv_.mimetype == "text/csv" and csv_.get_data(as_text=True).splitlines()[0] == \
        "line,product,part,description,uom,quantity"
    first = call(env, "get", f"/orders/{n}", "rep")
    assert call(env, "get", f"/orders/{n}", "rep", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    ok(call(env, "put", f"/orders/{n}/erp-number", "erp", {"erp_order_number": "SAP-1"}))
    assert call(env, "get", f"/orders/{n}", "rep", headers={"If-None-Match": first.headers["ETag"]}).status_code == 200


def test_the_change_feed_pages_without_skipping_or_repeating(env):
    numbers = [order(env, accepted(env))["number"] for _ in range(3)]
    page = ok(call(env, "get", "/erp/orders?limit=2", "erp"))
    assert [o["number"] for o in page["orders"]] == numbers[:2]
    ok(call(env, "put", f"/orders/{numbers[0]}/erp-number", "erp", {"erp_order_number": "SAP-9"}))  # changes again
    rest = ok(call(env, "get", f"/erp/orders?after={page['next']}&limit=2", "erp"))
    assert [o["number"] for o in rest["orders"]] == [numbers[2], numbers[0]]
    assert rest["orders"][1]["erp_order_number"] == "SAP-9"
    empty = ok(call(env, "get", f"/erp/orders?after={rest['next']}", "erp"))
    assert empty == {"orders": [], "next": rest["next"]}
