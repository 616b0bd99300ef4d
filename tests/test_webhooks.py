"""Webhooks end to end: the outbox written in the transaction of the change it reports,
delivery to a real local HTTP server signed the Standard Webhooks way (checked with the
`standardwebhooks` library and by hand), retries with exponential backoff up to
MAX_ATTEMPTS, secret rotation with two signatures during the grace period, the
/api/v1/webhooks endpoints, `cpq worker --once`, and a delivery never sent twice.

Time is moved with deliver_due's `now=` parameter instead of waiting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlmodel import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cli.main import cli
from billing.payments import refund
from billing.tax import load_demo_tax_rates
from billing_flow import make_account, pay
from core import webhooks
from core import egress
from core.crypto import SecretBox
from core.db import aware, session_scope, utcnow
from core.errors import InvalidInput, InvalidTransition
from core.settings import DEFAULT_DEMO_DIR, Settings
from core.outbox import backoff
from core.webhook_delivery import MAX_ATTEMPTS, deliver_due, http_sender
from core.webhooks import ROTATION_GRACE, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from quote_flow import act, call, create, customer, env, error_of, ok, sent  # noqa: F401
from sales.accounts import Account

pytestmark = pytest.mark.postgres


#: The local receiver is on a loopback address: the operator allows it (CPQ_WEBHOOK_ALLOW_HOSTS).
ALLOWED = ("127.0.0.1",)
SETTINGS = Settings(webhook_allow_hosts=ALLOWED)
#: A public address the test names *.example.com/org resolve to (there is no DNS here).
PUBLIC = "93.184.215.14"


@pytest.fixture(autouse=True)
def dns(request, monkeypatch) -> dict[str, list[str]]:
    """Names resolved as a public DNS would (example domains: a public address; add others to
    the returned dict), and the test app allowing the local receiver as the worker does."""
    names: dict[str, list[str]] = {}
    real = egress.resolve

    def resolve(host, port):
        if host in names:
            return names[host]
        return [PUBLIC] if host.endswith((".example.com", ".example.org")) else real(host, port)

    monkeypatch.setattr(egress, "resolve", resolve)
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], webhook_allow_hosts=ALLOWED,
                                                 secret_key=SETTINGS.secret_key)   # the tests' worker reads its secrets
    return names


# ---- a real receiver -------------------------------------------------------------------------

class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1 recording every POST; it answers the status codes
    queued in `statuses` in turn, then 200."""

    def __init__(self):
        self.requests: list[SimpleNamespace] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.requests.append(SimpleNamespace(
                        path=self.path, body=body, headers={k.lower(): v for k, v in self.headers.items()}))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = f"answered {status}".encode()
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):           # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def closed_port_url() -> str:
    """A URL nothing listens on: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# ---- helpers ---------------------------------------------------------------------------------

def subscribe(engine, url, events, description="") -> tuple[int, str]:
    """(id, secret) of a new subscription, made through core/webhooks."""
    with session_scope(engine) as session:
        subscription, secret = webhooks.subscribe(session, SETTINGS, url, events, "tests", description)
        return subscription.id, secret


def emit(engine, event_type="quote.sent", data=None, only_id=None) -> str:
    with session_scope(engine) as session:
        only = session.get(WebhookSubscription, only_id) if only_id else None
        return webhooks.emit(session, event_type, data or {"number": "Q-1"}, only=only).event_id


def all_of(engine, model) -> list:
    with session_scope(engine) as session:
        session.expire_on_commit = False
        return list(session.exec(select(model).order_by(model.id)))


def the_delivery(engine) -> WebhookDelivery:
    deliveries = all_of(engine, WebhookDelivery)
    assert len(deliveries) == 1, deliveries
    return deliveries[0]


def attempts(engine, delivery: WebhookDelivery | None = None) -> list[WebhookAttempt]:
    return [a for a in all_of(engine, WebhookAttempt) if delivery is None or a.delivery_id == delivery.id]


def event_types(engine) -> list[str]:
    return [e.type for e in all_of(engine, WebhookEvent)]


def at(moment: datetime):
    return lambda: moment


def signatures(headers) -> list[str]:
    return headers["webhook-signature"].split(" ")


def expected_signature(secret: str, headers, body: bytes) -> str:
    """v1,<base64 HMAC-SHA256 of "id.timestamp.body"> with the secret's key, computed by hand."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verifies(secret: str, body: bytes, headers, signature: str | None = None) -> bool:
    """Whether standardwebhooks accepts the request (optionally carrying only `signature`)."""
    if signature is not None:
        headers = {**headers, "webhook-signature": signature}
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def admin_subscribes(env, url, events, **extra):
    return call(env, "post", "/webhooks", "admin", {"url": url, "events": events, **extra})


# ---- 1. the outbox is written in the transaction of the change ----------------------------

def test_without_a_subscription_nothing_is_written(env):
    number = create(env)["number"]
    act(env, number, "submit")
    assert all_of(env.engine, WebhookEvent) == [] and all_of(env.engine, WebhookDelivery) == []


def test_submitting_a_quote_writes_one_event_and_one_pending_delivery(env):
    wanted = ok(admin_subscribes(env, "https://erp.example.com/hooks", ["quote.submitted"]), 201)
    ok(admin_subscribes(env, "https://crm.example.com/hooks", ["quote.sent", "order.created"]), 201)
    paused = ok(admin_subscribes(env, "https://old.example.com/hooks", ["quote.submitted"]), 201)
    ok(call(env, "patch", f"/webhooks/{paused['subscription']['id']}", "admin", {"active": False}))
    before = utcnow()
    number = create(env)["number"]
    assert all_of(env.engine, WebhookEvent) == []                     # creating a draft sends nothing
    assert act(env, number, "submit")["state"] == "approved"          # PLAIN lines need no approval

    [event] = all_of(env.engine, WebhookEvent)
    assert event.type == "quote.submitted" and event.event_id.startswith("evt_")
    assert event.data["number"] == number and event.data["account"] == "ACME" and event.data["currency"] == "USD"
    [delivery] = all_of(env.engine, WebhookDelivery)
    assert delivery.subscription_id == wanted["subscription"]["id"] and delivery.event_id == event.id
    assert delivery.status == "pending" and delivery.attempts == 0 and delivery.delivery_id.startswith("msg_")
    assert before - timedelta(seconds=5) <= aware(delivery.next_attempt_at) <= utcnow()   # due at once
    assert attempts(env.engine) == []


def test_a_quote_event_tells_the_state_the_quote_reached(env):
    ok(admin_subscribes(env, "https://erp.example.com/hooks", ["quote.submitted"]), 201)
    number = create(env)["number"]
    assert act(env, number, "submit")["state"] == "approved"
    [event] = all_of(env.engine, WebhookEvent)
    assert event.data["state"] == "approved"


def test_a_refused_change_writes_no_event(env):
    ok(admin_subscribes(env, "https://erp.example.com/hooks", ["quote.submitted"]), 201)
    number = create(env)["number"]
    act(env, number, "submit")
    assert len(all_of(env.engine, WebhookEvent)) == 1
    assert error_of(call(env, "post", f"/quotes/{number}/submit", "rep"), 409)["code"] == "invalid_state"
    assert len(all_of(env.engine, WebhookEvent)) == 1 and len(all_of(env.engine, WebhookDelivery)) == 1


def test_a_change_rolled_back_after_the_event_was_written_takes_the_event_with_it(env, monkeypatch):
    """The submit itself succeeds (and emits), then the request fails: all of it rolls back."""
    ok(admin_subscribes(env, "https://erp.example.com/hooks", ["quote.submitted"]), 201)
    number = create(env)["number"]

    def fail_after_the_change(session, quote):
        assert session.exec(select(WebhookEvent)).first() is not None     # emitted, not committed
        raise InvalidTransition(quote.label, quote.state, "show it", "failing on purpose")

    monkeypatch.setattr("api.quotes.quote_view", fail_after_the_change)
    assert error_of(call(env, "post", f"/quotes/{number}/submit", "rep"), 409)["code"] == "invalid_state"
    monkeypatch.undo()
    assert ok(call(env, "get", f"/quotes/{number}", "rep"))["state"] == "draft"
    assert all_of(env.engine, WebhookEvent) == [] and all_of(env.engine, WebhookDelivery) == []


def test_emit_in_a_transaction_that_rolls_back_leaves_nothing(engine):
    subscribe(engine, "https://erp.example.com/hooks", ["invoice.issued"])
    with pytest.raises(RuntimeError):
        with session_scope(engine) as session:
            assert webhooks.emit(session, "invoice.issued", {"number": "INV-1"}) is not None
            raise RuntimeError("the change failed")
    assert all_of(engine, WebhookEvent) == [] and all_of(engine, WebhookDelivery) == []


def test_emit_fans_out_to_every_subscription_that_wants_the_type(engine):
    first, _ = subscribe(engine, "https://a.example.com/", ["quote.sent"])
    everything, _ = subscribe(engine, "https://b.example.com/", ["*"])
    subscribe(engine, "https://c.example.com/", ["quote.accepted"])
    emit(engine, "quote.sent")
    [event] = all_of(engine, WebhookEvent)
    assert sorted(d.subscription_id for d in all_of(engine, WebhookDelivery)) == [first, everything]
    assert {d.event_id for d in all_of(engine, WebhookDelivery)} == {event.id}
    with session_scope(engine) as session:
        assert webhooks.emit(session, "ping", {}) is None          # '*' does not include pings
        assert webhooks.emit(session, "contract.signed", {}).type == "contract.signed"   # '*' only
        with pytest.raises(ValueError, match="unknown webhook event type"):
            webhooks.emit(session, "quote.teleported", {})
    assert event_types(engine) == ["quote.sent", "contract.signed"]


def test_the_quote_to_cash_chain_emits_each_event_once(env):
    ok(admin_subscribes(env, "https://erp.example.com/hooks", ["*"]), 201)
    with session_scope(env.engine) as session:
        load_demo_tax_rates(session, DEFAULT_DEMO_DIR)
        account = session.exec(select(Account).where(Account.code == "ACME")).one()
        account.billing_address = {"street": "1 Road", "city": "Austin", "region": "TX",
                                   "postal_code": "78701", "country": "US"}
    number, token = sent(env, [{"product": "RAIL-KIT-2U", "quantity": 10}])
    ok(customer(env, token, "accept"))
    contract = ok(call(env, "post", "/contracts", "rep", {"quote": number}), 201)
    link = ok(call(env, "post", f"/contracts/{contract['number']}/send", "rep"))
    ok(env.client.post(f"/api/v1/signing/{link['token']}/sign", json={"name": "Jo Buyer", "email": "jo@acme.com"}))
    order = ok(call(env, "post", "/orders", "rep", {"quote": number}), 201)
    draft = ok(call(env, "post", f"/orders/{order['number']}/invoices", "finance", {}), 201)
    issued = ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))
    ok(call(env, "post", f"/invoices/{draft['id']}/issue", "finance"))                  # a retry: no new event
    payment = {"account": "ACME", "amount": issued["gross_total"], "currency": "USD", "method": "bank_transfer",
               "reference": "BANK-001"}
    ok(call(env, "post", "/payments", "finance", payment), 201)
    ok(call(env, "post", "/payments", "finance", payment), 200)                          # a replay: no new event

    types = event_types(env.engine)
    for expected in ("quote.submitted", "quote.sent", "quote.accepted", "contract.created", "contract.signed",
                     "order.created", "invoice.issued", "payment.received"):
        assert types.count(expected) == 1, (expected, types)
    assert types.index("quote.submitted") < types.index("quote.sent") < types.index("quote.accepted") \
        < types.index("contract.created") < types.index("contract.signed") < types.index("order.created") \
        < types.index("invoice.issued") < types.index("payment.received")
    data = {e.type: e.data for e in all_of(env.engine, WebhookEvent)}
    assert data["quote.accepted"]["number"] == number
    assert data["contract.signed"]["number"] == contract["number"] and data["contract.signed"]["state"] == "signed"
    assert data["order.created"]["number"] == order["number"] and data["order.created"]["account"] == "ACME"
    assert data["invoice.issued"]["number"] == issued["number"]
    assert data["payment.received"]["reference"] == "BANK-001"
    assert data["payment.received"]["allocated_to"] == [issued["number"]]
    # one delivery per event, all to the one subscription
    assert len(all_of(env.engine, WebhookDelivery)) == len(types)


def test_payments_and_refunds_emit_in_the_billing_transaction(engine):
    subscribe(engine, "https://erp.example.com/hooks", ["payment.received", "payment.refunded"])
    with session_scope(engine) as session:
        account = make_account(session)
        payment = pay(session, account, "100.00", "WIRE-1")
        refund(session, payment, Decimal("40.00"), "over-payment", date(2026, 3, 2))
    received, refunded = all_of(engine, WebhookEvent)
    assert (received.type, refunded.type) == ("payment.received", "payment.refunded")
    assert Decimal(received.data["amount"]) == Decimal("100") and received.data["reference"] == "WIRE-1"
    assert Decimal(refunded.data["refund"]) == Decimal("40") and refunded.data["reason"] == "over-payment"
    with pytest.raises(InvalidInput):                             # refused: more than is unapplied
        with session_scope(engine) as session:
            refund(session, session.merge(payment), Decimal("1000"), "too much", date(2026, 3, 3))
    assert len(all_of(engine, WebhookEvent)) == 2


# ---- 2. delivery to a real HTTP server -------------------------------------------------------

def test_a_delivery_is_a_signed_standard_webhooks_post(engine, receiver):
    subscription_id, secret = subscribe(engine, receiver.url(), ["quote.sent"])
    event_id = emit(engine, "quote.sent", {"number": "Q-2026-00001", "contract_value": "1200.00"})
    run = deliver_due(engine, SETTINGS)
    assert (run.delivered, run.retrying, run.failed) == (1, 0, 0)

    [request] = receiver.requests
    delivery = the_delivery(engine)
    assert request.path == "/hook" and run.ids == [delivery.delivery_id]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "cpq-webhooks/1"
    assert request.headers["webhook-id"] == delivery.delivery_id
    assert abs(int(request.headers["webhook-timestamp"]) - utcnow().timestamp()) < 60
    payload = json.loads(request.body)
    assert set(payload) == {"id", "type", "created_at", "data"}
    assert payload["id"] == event_id and payload["type"] == "quote.sent"
    assert payload["data"] == {"number": "Q-2026-00001", "contract_value": "1200.00"}
    assert datetime.fromisoformat(payload["created_at"]).tzinfo is not None

    # the standardwebhooks library accepts it, and returns the parsed body
    assert Webhook(secret).verify(request.body, request.headers) == payload
    # by hand: one signature, HMAC-SHA256 of "id.timestamp.body"
    assert signatures(request.headers) == [expected_signature(secret, request.headers, request.body)]
    # another secret, a changed body or another id do not verify
    _other, other_secret = subscribe(engine, receiver.url("/other"), ["quote.sent"])
    assert not verifies(other_secret, request.body, request.headers)
    assert not verifies(secret, request.body.replace(b"1200.00", b"9999.00"), request.headers)
    assert not verifies(secret, request.body, {**request.headers, "webhook-id": "msg_forged"})

    assert delivery.status == "delivered" and delivery.attempts == 1 and delivery.last_status_code == 200
    assert delivery.next_attempt_at is None and delivery.delivered_at is not None and delivery.last_error == ""
    [attempt] = attempts(engine)
    assert attempt.status_code == 200 and attempt.error == "" and attempt.response_excerpt == "answered 200"
    assert attempt.duration_ms >= 0
    assert deliver_due(engine, SETTINGS).attempted == 0 and len(receiver.requests) == 1      # delivered is done


def test_only_due_deliveries_go_and_at_most_limit_per_run(engine, receiver):
    subscribe(engine, receiver.url(), ["quote.sent"])
    for n in range(3):
        emit(engine, "quote.sent", {"n": n})
    assert deliver_due(engine, SETTINGS, now=at(utcnow() - timedelta(minutes=5))).attempted == 0      # not due yet
    assert receiver.requests == []
    assert deliver_due(engine, SETTINGS, limit=2).delivered == 2
    assert deliver_due(engine, SETTINGS, limit=2).delivered == 1
    assert [json.loads(r.body)["data"]["n"] for r in receiver.requests] == [0, 1, 2]          # oldest first


# ---- 3. retries --------------------------------------------------------------------------------

def test_backoff_doubles_from_30_seconds_up_to_6_hours_with_10_percent_jitter():
    assert backoff(1, 1.0) == timedelta(seconds=30)
    assert [backoff(n, 1.0).total_seconds() for n in range(1, 8)] == [30, 60, 120, 240, 480, 960, 1920]
    assert backoff(11, 1.0) == backoff(40, 1.0) == timedelta(hours=6)
    assert backoff(1, 0.9) == timedelta(seconds=27) and backoff(1, 1.1) == timedelta(seconds=33)
    samples = [backoff(3) for _ in range(300)]
    assert all(timedelta(seconds=108) <= s <= timedelta(seconds=132) for s in samples)
    assert len(set(samples)) > 1                                                 # jittered, not constant
    assert all(timedelta(hours=5.4) <= backoff(50) <= timedelta(hours=6.6) for _ in range(50))


def test_a_failed_attempt_is_retried_after_the_backoff_with_the_same_id(engine, receiver):
    _id, secret = subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine)
    receiver.statuses = [500]
    start = utcnow()
    run = deliver_due(engine, SETTINGS, now=at(start))
    assert (run.delivered, run.retrying, run.failed) == (0, 1, 0)
    delivery = the_delivery(engine)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"
    wait = aware(delivery.next_attempt_at) - start
    assert timedelta(seconds=27) <= wait <= timedelta(seconds=33)

    assert deliver_due(engine, SETTINGS, now=at(start + timedelta(seconds=20))).attempted == 0         # not yet
    assert len(receiver.requests) == 1
    retry_at = aware(delivery.next_attempt_at)
    assert deliver_due(engine, SETTINGS, now=at(retry_at)).delivered == 1

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.delivery_id
    assert first.body == second.body                                     # the same bytes every time
    assert int(second.headers["webhook-timestamp"]) == int(retry_at.timestamp())  # signed when sent
    assert verifies(secret, second.body, second.headers)
    assert expected_signature(secret, second.headers, second.body) in signatures(second.headers)
    assert [(a.status_code, a.error, a.response_excerpt) for a in attempts(engine)] == [
        (500, "HTTP 500", ""), (200, "", "answered 200")]        # a private target's failure keeps no answer
    done = the_delivery(engine)
    assert done.status == "delivered" and done.attempts == 2 and aware(done.delivered_at) == retry_at


def test_after_max_attempts_the_delivery_fails_for_good(engine, receiver):
    subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine)
    receiver.statuses = [503] * MAX_ATTEMPTS
    moment = utcnow()
    for n in range(1, MAX_ATTEMPTS + 1):
        run = deliver_due(engine, SETTINGS, now=at(moment))
        delivery = the_delivery(engine)
        assert delivery.attempts == n
        if n < MAX_ATTEMPTS:
            assert run.retrying == 1 and delivery.status == "pending"
            wait = aware(delivery.next_attempt_at) - moment
            assert backoff(n, 0.9) <= wait <= backoff(n, 1.1), (n, wait)
            assert deliver_due(engine, SETTINGS, now=at(moment + backoff(n, 0.89))).attempted == 0   # too early
            moment = aware(delivery.next_attempt_at)
        else:
            assert run.failed == 1
    assert delivery.status == "failed" and delivery.next_attempt_at is None and delivery.last_status_code == 503
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery.delivery_id}
    assert len({r.body for r in receiver.requests}) == 1
    assert [a.status_code for a in attempts(engine)] == [503] * MAX_ATTEMPTS
    assert deliver_due(engine, SETTINGS, now=at(moment + timedelta(days=30))).attempted == 0       # given up
    assert len(receiver.requests) == MAX_ATTEMPTS


def test_a_network_error_is_a_failed_attempt_and_the_run_goes_on(engine, receiver):
    subscribe(engine, closed_port_url(), ["quote.sent"])
    subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine)
    start = utcnow()
    run = deliver_due(engine, SETTINGS, now=at(start))                               # no exception
    assert (run.delivered, run.retrying, run.failed) == (1, 1, 0)
    assert len(receiver.requests) == 1
    unreachable, reached = all_of(engine, WebhookDelivery)
    assert reached.status == "delivered"
    assert unreachable.status == "pending" and unreachable.attempts == 1 and unreachable.last_status_code is None
    assert "ConnectError" in unreachable.last_error
    assert timedelta(seconds=27) <= aware(unreachable.next_attempt_at) - start <= timedelta(seconds=33)
    [attempt] = attempts(engine, unreachable)
    assert attempt.status_code is None and "ConnectError" in attempt.error


# ---- 4. secret rotation -----------------------------------------------------------------------

def test_after_a_rotation_deliveries_carry_both_signatures_until_the_grace_period_ends(env, receiver):
    created = ok(admin_subscribes(env, receiver.url(), ["quote.sent"]), 201)
    subscription_id, old = created["subscription"]["id"], created["secret"]
    before = utcnow()
    rotated = ok(call(env, "post", f"/webhooks/{subscription_id}/rotate-secret", "admin"))
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    until = datetime.fromisoformat(rotated["subscription"]["previous_secret_until"])
    assert before + ROTATION_GRACE <= until <= utcnow() + ROTATION_GRACE
    assert ROTATION_GRACE == timedelta(hours=24)

    ok(call(env, "post", f"/webhooks/{subscription_id}/ping", "admin"), 202)
    assert deliver_due(env.engine, SETTINGS).delivered == 1
    request = receiver.requests[-1]
    both = signatures(request.headers)
    assert len(both) == 2 and all(s.startswith("v1,") for s in both)
    # each signature verifies with its own secret and only with it
    assert both == [expected_signature(new, request.headers, request.body),
                    expected_signature(old, request.headers, request.body)]
    for signature, secret, other in ((both[0], new, old), (both[1], old, new)):
        assert verifies(secret, request.body, request.headers, signature)
        assert not verifies(other, request.body, request.headers, signature)
    # a receiver still on the old secret, or already on the new one, accepts the whole request
    assert verifies(old, request.body, request.headers) and verifies(new, request.body, request.headers)

    ok(call(env, "post", f"/webhooks/{subscription_id}/ping", "admin"), 202)
    later = utcnow() + timedelta(hours=25)
    assert deliver_due(env.engine, SETTINGS, now=at(later)).delivered == 1
    request = receiver.requests[-1]
    assert int(request.headers["webhook-timestamp"]) == int(later.timestamp())
    assert signatures(request.headers) == [expected_signature(new, request.headers, request.body)]
    assert expected_signature(old, request.headers, request.body) not in request.headers["webhook-signature"]


def test_a_second_rotation_drops_the_first_secret(engine):
    subscription_id, first = subscribe(engine, "https://erp.example.com/", ["quote.sent"])
    now = utcnow()
    with session_scope(engine) as session:
        _subscription, second = webhooks.rotate_secret(session, SETTINGS, subscription_id, now)
    with session_scope(engine) as session:
        subscription, third = webhooks.rotate_secret(session, SETTINGS, subscription_id, now + timedelta(hours=1))
        box = SecretBox.from_settings(SETTINGS)
        assert subscription.signing_secrets(box, now + timedelta(hours=2)) == [third, second]
        assert subscription.signing_secrets(box, now + timedelta(hours=26)) == [third]
    assert len({first, second, third}) == 3


# ---- 5. the API --------------------------------------------------------------------------------

def test_only_admins_manage_webhooks(env):
    assert error_of(call(env, "get", "/webhooks", None), 401)
    for who in ("rep", "rep_manager", "manager", "finance", "erp"):
        assert error_of(call(env, "get", "/webhooks", who), 403)["code"] == "forbidden"
        assert error_of(call(env, "post", "/webhooks", who, {"url": "https://x.example.com/", "events": ["ping"]}),
                        403)
        assert error_of(call(env, "get", "/webhooks/event-types", who), 403)
    assert error_of(call(env, "post", "/webhooks", None, {"url": "https://x.example.com/", "events": ["ping"]}), 401)
    assert all_of(env.engine, WebhookSubscription) == []
    assert ok(call(env, "get", "/webhooks", "admin")) == []
    created = ok(admin_subscribes(env, "https://x.example.com/", ["ping"]), 201)
    sid = created["subscription"]["id"]
    for method, path in (("get", f"/webhooks/{sid}"), ("patch", f"/webhooks/{sid}"),
                         ("post", f"/webhooks/{sid}/rotate-secret"), ("post", f"/webhooks/{sid}/ping"),
                         ("get", f"/webhooks/{sid}/deliveries")):
        assert error_of(call(env, method, path, "rep"), 403), path
        assert error_of(call(env, method, path, None), 401), path
    assert all_of(env.engine, WebhookEvent) == []          # the refused ping queued nothing


def test_the_secret_is_shown_on_create_and_rotate_only(env):
    created = ok(admin_subscribes(env, "https://erp.example.com/hooks", ["quote.sent", "quote.accepted"],
                                  description="ERP order intake"), 201)
    secret, subscription = created["secret"], created["subscription"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert subscription["url"] == "https://erp.example.com/hooks"
    assert subscription["events"] == ["quote.accepted", "quote.sent"]
    assert subscription["description"] == "ERP order intake" and subscription["active"] is True
    assert "admin@example.com" in subscription["created_by"] and subscription["previous_secret_until"] is None
    assert "secret" not in subscription

    sid = subscription["id"]
    for path in (f"/webhooks/{sid}", "/webhooks"):
        response = call(env, "get", path, "admin")
        assert response.status_code == 200 and "whsec_" not in response.get_data(as_text=True), path
    shown = ok(call(env, "get", f"/webhooks/{sid}", "admin"))
    assert shown == subscription
    changed = call(env, "patch", f"/webhooks/{sid}", "admin", {"description": "ERP"})
    assert changed.status_code == 200 and "whsec_" not in changed.get_data(as_text=True)
    rotated = ok(call(env, "post", f"/webhooks/{sid}/rotate-secret", "admin"))
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    after = call(env, "get", f"/webhooks/{sid}", "admin")
    assert "whsec_" not in after.get_data(as_text=True) and after.get_json()["previous_secret_until"]


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://erp.example.com/hooks", "events": ["ping"]}, "url"),
    ({"url": "not a url", "events": ["ping"]}, "url"),
    ({"url": "https://user:pw@erp.example.com/hooks", "events": ["ping"]}, "url"),
    ({"url": "https://erp.example.com/hooks", "events": ["quote.teleported"]}, "events"),
    ({"url": "https://erp.example.com/hooks", "events": []}, "events"),
    ({"events": ["ping"]}, "url"),
    ({"url": "https://erp.example.com/hooks"}, "events"),
])
def test_bad_subscriptions_are_refused_naming_the_field(env, body, field):
    error = error_of(call(env, "post", "/webhooks", "admin", body), 422)
    assert any(name == field or name.startswith(f"{field}[") or name.startswith(f"{field}.")
               for name in error["fields"]), error
    assert all_of(env.engine, WebhookSubscription) == []


def test_changing_a_subscription(env):
    sid = ok(admin_subscribes(env, "https://erp.example.com/hooks", ["quote.sent"]), 201)["subscription"]["id"]
    changed = ok(call(env, "patch", f"/webhooks/{sid}", "admin",
                      {"url": "https://erp.example.com/v2", "events": ["*"], "description": "v2"}))
    assert (changed["url"], changed["events"], changed["description"]) == ("https://erp.example.com/v2", ["*"], "v2")
    assert "url" in error_of(call(env, "patch", f"/webhooks/{sid}", "admin", {"url": "mailto:x@y.com"}), 422)["fields"]
    assert any(f.startswith("events") for f in error_of(
        call(env, "patch", f"/webhooks/{sid}", "admin", {"events": ["nope"]}), 422)["fields"])
    assert ok(call(env, "get", f"/webhooks/{sid}", "admin"))["url"] == "https://erp.example.com/v2"
    assert error_of(call(env, "get", "/webhooks/999", "admin"), 404)
    assert error_of(call(env, "patch", "/webhooks/999", "admin", {"active": False}), 404)
    assert error_of(call(env, "post", "/webhooks/999/ping", "admin"), 404)
    assert error_of(call(env, "get", "/webhooks/999/deliveries", "admin"), 404)


def test_event_types_are_listed(env):
    listed = ok(call(env, "get", "/webhooks/event-types", "admin"))
    assert [t["type"] for t in listed] == list(webhooks.EVENT_TYPES)
    assert all(t["description"] for t in listed)


def test_a_ping_goes_to_that_subscription_only(env, receiver):
    a = ok(admin_subscribes(env, receiver.url("/a"), ["ping"]), 201)["subscription"]["id"]
    ok(admin_subscribes(env, receiver.url("/b"), ["ping", "quote.sent"]), 201)
    ok(admin_subscribes(env, receiver.url("/c"), ["*"]), 201)
    pinged = ok(call(env, "post", f"/webhooks/{a}/ping", "admin"), 202)
    [delivery] = all_of(env.engine, WebhookDelivery)
    assert delivery.subscription_id == a
    assert deliver_due(env.engine, SETTINGS).delivered == 1
    [request] = receiver.requests
    payload = json.loads(request.body)
    assert request.path == "/a" and payload["id"] == pinged["event_id"]
    assert payload["type"] == "ping" and payload["data"] == {"subscription": a}


def test_the_delivery_log_and_a_manual_retry(env, receiver):
    sid = ok(admin_subscribes(env, receiver.url(), ["ping"]), 201)["subscription"]["id"]
    other = ok(admin_subscribes(env, receiver.url("/other"), ["ping"]), 201)["subscription"]["id"]
    event_id = ok(call(env, "post", f"/webhooks/{sid}/ping", "admin"), 202)["event_id"]
    receiver.statuses = [500] * MAX_ATTEMPTS
    moment = utcnow()
    for _ in range(MAX_ATTEMPTS):
        deliver_due(env.engine, SETTINGS, now=at(moment))
        moment += timedelta(hours=7)                   # always past the next attempt
    [logged] = ok(call(env, "get", f"/webhooks/{sid}/deliveries", "admin"))
    assert logged["status"] == "failed" and logged["attempts"] == MAX_ATTEMPTS and logged["next_attempt_at"] is None
    assert logged["event_id"] == event_id and logged["event_type"] == "ping" and logged["last_status_code"] == 500
    assert [(a["status_code"], a["error"]) for a in logged["log"]] == [(500, "HTTP 500")] * MAX_ATTEMPTS
    assert all(a["response_excerpt"] == "" and a["at"] for a in logged["log"])    # a private target's failures
    assert ok(call(env, "get", f"/webhooks/{other}/deliveries", "admin")) == []

    delivery_id = logged["delivery_id"]
    assert error_of(call(env, "post", f"/webhooks/{other}/deliveries/{delivery_id}/retry", "admin"), 404)
    assert error_of(call(env, "post", f"/webhooks/{sid}/deliveries/msg_nope/retry", "admin"), 404)
    assert error_of(call(env, "post", f"/webhooks/{sid}/deliveries/{delivery_id}/retry", "rep"), 403)
    retried = ok(call(env, "post", f"/webhooks/{sid}/deliveries/{delivery_id}/retry", "admin"))
    assert retried["delivery_id"] == delivery_id and retried["status"] == "pending"
    assert len(retried["log"]) == MAX_ATTEMPTS
    assert deliver_due(env.engine, SETTINGS).delivered == 1                        # the receiver was fixed
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery_id}
    [logged] = ok(call(env, "get", f"/webhooks/{sid}/deliveries", "admin"))
    assert logged["status"] == "delivered" and logged["delivered_at"] and logged["last_status_code"] == 200
    assert [a["status_code"] for a in logged["log"]] == [500] * MAX_ATTEMPTS + [200]


def test_the_delivery_log_is_newest_first(env, receiver):
    sid = ok(admin_subscribes(env, receiver.url(), ["ping"]), 201)["subscription"]["id"]
    first = ok(call(env, "post", f"/webhooks/{sid}/ping", "admin"), 202)["event_id"]
    second = ok(call(env, "post", f"/webhooks/{sid}/ping", "admin"), 202)["event_id"]
    logged = ok(call(env, "get", f"/webhooks/{sid}/deliveries", "admin"))
    assert [d["event_id"] for d in logged] == [second, first]
    assert all(d["status"] == "pending" and d["log"] == [] for d in logged)


def test_a_paused_subscription_gets_no_new_deliveries(env, receiver):
    sid = ok(admin_subscribes(env, receiver.url(), ["quote.submitted"]), 201)["subscription"]["id"]
    queued = create(env)["number"]
    act(env, queued, "submit")                                # queued before the pause
    paused = ok(call(env, "patch", f"/webhooks/{sid}", "admin", {"active": False}))
    assert paused["active"] is False
    number = create(env)["number"]
    act(env, number, "submit")
    [delivery] = all_of(env.engine, WebhookDelivery)          # only the one queued before
    assert len(all_of(env.engine, WebhookEvent)) == 1

    run = deliver_due(env.engine, SETTINGS)                             # what was queued waits for the resume
    assert run.attempted == 0 and receiver.requests == []
    waiting = the_delivery(env.engine)
    assert waiting.status == "pending" and waiting.attempts == 0

    ok(call(env, "patch", f"/webhooks/{sid}", "admin", {"active": True}))
    third = create(env)["number"]
    act(env, third, "submit")
    assert deliver_due(env.engine, SETTINGS).delivered == 2
    assert [json.loads(r.body)["data"]["number"] for r in receiver.requests] == [queued, third]


# ---- 6. the worker command ----------------------------------------------------------------

def test_cpq_worker_once_delivers_what_is_pending(engine, database_url, receiver, monkeypatch):
    _id, secret = subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine, "quote.sent", {"number": "Q-1"})
    emit(engine, "quote.sent", {"number": "Q-2"})
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CPQ_WEBHOOK_ALLOW_HOSTS", " ".join(ALLOWED))
    monkeypatch.setenv("SECRET_KEY", SETTINGS.secret_key)          # the key the secrets were sealed with
    result = CliRunner().invoke(cli, ["worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 delivered, 0 to retry, 0 failed" in result.stderr
    assert [json.loads(r.body)["data"]["number"] for r in receiver.requests] == ["Q-1", "Q-2"]
    assert all(verifies(secret, r.body, r.headers) for r in receiver.requests)
    assert {d.status for d in all_of(engine, WebhookDelivery)} == {"delivered"}

    again = CliRunner().invoke(cli, ["worker", "--once"], catch_exceptions=False)
    assert again.exit_code == 0 and again.output == "" and len(receiver.requests) == 2


# ---- 7. never twice ---------------------------------------------------------------------------

def test_two_workers_one_after_the_other_send_a_delivery_once(engine, receiver):
    subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine)
    first, second = deliver_due(engine, SETTINGS), deliver_due(engine, SETTINGS)
    assert (first.delivered, second.attempted) == (1, 0)
    assert len(receiver.requests) == 1 and len(attempts(engine)) == 1


def test_a_worker_with_a_stale_list_skips_what_another_worker_sent(engine, receiver, monkeypatch):
    """Worker A reads the due list; worker B sends everything before A gets to it; A must then
    find each delivery no longer pending (the status check under the row lock) and send nothing."""
    import core.outbox as outbox_module

    subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine, "quote.sent", {"n": 1})
    emit(engine, "quote.sent", {"n": 2})
    real_scope = outbox_module.session_scope
    scopes = []

    def scope_after_the_list(bound):
        scopes.append(bound)
        if len(scopes) == 2:                    # A has its due list and is about to lock the first
            assert deliver_due(engine, SETTINGS).delivered == 2       # worker B
        return real_scope(bound)

    monkeypatch.setattr(outbox_module, "session_scope", scope_after_the_list)
    run = deliver_due(engine, SETTINGS)                                  # worker A
    assert run.attempted == 0
    assert len(receiver.requests) == 2 and len(attempts(engine)) == 2
    sent_ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert sent_ids == {d.delivery_id for d in all_of(engine, WebhookDelivery)}


def test_concurrent_workers_skip_a_delivery_being_sent(engine, database_url, receiver):
    """PostgreSQL: while worker A sends (and holds the row lock), worker B skips that delivery
    (SKIP LOCKED) and sends the other; A then finds B's one delivered and leaves it."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgresql://...): SQLite has no row locks")
    subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine, "quote.sent", {"n": 1})
    emit(engine, "quote.sent", {"n": 2})
    inner = []

    def send_a(target, body, headers):
        if not inner:
            inner.append(deliver_due(engine, SETTINGS))                  # worker B, while A is sending
        return http_sender(target, body, headers)

    outer = deliver_due(engine, SETTINGS, send=send_a)
    assert outer.delivered == 1 and inner[0].delivered == 1
    assert set(outer.ids).isdisjoint(inner[0].ids)
    assert len(receiver.requests) == 2
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 2
    assert {d.status for d in all_of(engine, WebhookDelivery)} == {"delivered"}
    assert len(attempts(engine)) == 2


# ---- 8. where deliveries may go (issue 16: SSRF) -------------------------------------------------

PRIVATE_TARGETS = ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/",
                   "http://metadata.google.internal/computeMetadata/v1/", "http://localhost:5432/",
                   "http://[::1]:6379/", "http://10.0.0.5/hooks", "http://192.168.1.10/hooks",
                   "http://2130706433/hooks", "http://0x7f000001/hooks", "http://[::ffff:127.0.0.1]/",
                   "http://100.100.100.200/", "http://224.0.0.1/", "http://0.0.0.0:8080/"]


@pytest.mark.parametrize("url", PRIVATE_TARGETS)
def test_subscriptions_to_loopback_private_link_local_or_metadata_addresses_are_refused(app, env, dns, url):
    """Issue 16: the worker would have probed these for whoever subscribed, and logged the answers."""
    app.extensions["cpq_settings"] = replace(app.extensions["cpq_settings"], webhook_allow_hosts=())
    dns["metadata.google.internal"] = ["169.254.169.254"]                      # as on Google Cloud
    refused = error_of(admin_subscribes(env, url, ["ping"]), 422)
    assert "url" in refused["fields"], refused
    sid = ok(admin_subscribes(env, "https://erp.example.com/hooks", ["ping"]), 201)["subscription"]["id"]
    assert "url" in error_of(call(env, "patch", f"/webhooks/{sid}", "admin", {"url": url}), 422)["fields"]
    assert [s.url for s in all_of(env.engine, WebhookSubscription)] == ["https://erp.example.com/hooks"]


def test_a_host_resolving_to_any_private_address_or_to_nothing_is_refused(env, dns):
    dns["mixed.example.net"] = [PUBLIC, "10.0.0.5"]
    assert "not a public address" in error_of(admin_subscribes(env, "https://mixed.example.net/", ["ping"]),
                                              422)["fields"]["url"][0]
    assert "does not resolve" in error_of(admin_subscribes(env, "https://nowhere.invalid/", ["ping"]),
                                          422)["fields"]["url"][0]


def test_the_operator_may_allow_hosts_addresses_and_networks(engine, dns):
    dns["erp.internal"] = ["10.1.2.3"]
    allowing = Settings(webhook_allow_hosts=("erp.internal", "192.168.0.0/16", "::1"))
    with session_scope(engine) as session:
        for url in ("http://erp.internal:8080/hooks", "http://192.168.7.7/", "http://[::1]:9000/",
                    "https://queue.internal/"):
            with pytest.raises(InvalidInput, match="url"):
                webhooks.subscribe(session, Settings(), url, ["ping"], "tests")
        for url in ("http://erp.internal:8080/hooks", "http://192.168.7.7/", "http://[::1]:9000/"):
            webhooks.subscribe(session, allowing, url, ["ping"], "tests")
        with pytest.raises(InvalidInput, match="not a public address"):
            webhooks.subscribe(session, allowing, "http://10.1.2.4/", ["ping"], "tests")   # only erp.internal's


def test_a_delivery_checks_the_address_again_and_sends_nothing_to_a_private_one(engine, receiver, dns):
    """DNS rebinding: public when subscribed, loopback when delivered. The delivery is refused,
    retried later like any failure, and nothing is sent or logged from the target."""
    port = receiver.server.server_port
    dns["rebind.example.net"] = [PUBLIC]
    subscribe(engine, f"http://rebind.example.net:{port}/hook", ["quote.sent"])
    dns["rebind.example.net"] = ["127.0.0.1"]
    emit(engine)
    run = deliver_due(engine, Settings())                          # no operator allowance
    assert (run.delivered, run.retrying) == (0, 1) and receiver.requests == []
    [attempt] = attempts(engine)
    assert attempt.status_code is None and attempt.response_excerpt == ""
    assert attempt.error.startswith("refused: ") and "not a public address" in attempt.error
    assert the_delivery(engine).status == "pending"


def test_a_delivery_connects_to_the_address_it_checked(engine, receiver, dns, monkeypatch):
    """The host is resolved once per delivery, and the request goes to that address with the
    name as its Host header; a second resolution (rebinding after the check) is never made."""
    port = receiver.server.server_port
    lookups = []
    dns_answers = iter([["127.0.0.1"], ["10.9.9.9"]])
    resolve = egress.resolve

    def counted(host, port_):
        if host == "hooks.test":
            lookups.append(host)
            return next(dns_answers)
        return resolve(host, port_)

    monkeypatch.setattr(egress, "resolve", counted)
    allowing = Settings(webhook_allow_hosts=("hooks.test",))
    with session_scope(engine) as session:
        webhooks.subscribe(session, allowing, f"http://hooks.test:{port}/named", ["ping"], "tests")
        only = session.exec(select(WebhookSubscription).where(WebhookSubscription.url.contains("hooks.test"))).one()
        webhooks.emit(session, "ping", {}, only=only)
    assert deliver_due(engine, allowing).delivered == 1 and lookups == ["hooks.test"]
    [request] = receiver.requests
    assert request.path == "/named" and request.headers["host"] == f"hooks.test:{port}"


def test_the_answer_of_a_private_target_is_kept_only_when_it_succeeded(engine, receiver):
    subscribe(engine, receiver.url(), ["quote.sent"])
    emit(engine)
    receiver.statuses = [404]
    moment = utcnow()
    deliver_due(engine, SETTINGS, now=at(moment))
    deliver_due(engine, SETTINGS, now=at(moment + timedelta(minutes=5)))
    assert [(a.status_code, a.response_excerpt) for a in attempts(engine)] == [(404, ""), (200, "answered 200")]


# ---- 9. secrets at rest (issue 16) -----------------------------------------------------------------

def test_secrets_are_stored_encrypted_and_read_back_only_with_the_keys(env, receiver):
    created = ok(admin_subscribes(env, receiver.url(), ["ping"]), 201)
    sid, secret = created["subscription"]["id"], created["secret"]
    [stored] = all_of(env.engine, WebhookSubscription)
    assert secret not in stored.secret and "whsec_" not in stored.secret
    assert SecretBox.from_settings(SETTINGS).open(stored.secret) == secret
    stranger = Settings(secret_key="another installation", webhook_allow_hosts=ALLOWED)
    ok(call(env, "post", f"/webhooks/{sid}/ping", "admin"), 202)
    run = deliver_due(env.engine, stranger)                       # keys that cannot read it: nothing sent
    assert run.retrying == 1 and receiver.requests == []
    assert "cannot be decrypted" in attempts(env.engine)[0].error
    rotated = ok(call(env, "post", f"/webhooks/{sid}/rotate-secret", "admin"))["secret"]
    [stored] = all_of(env.engine, WebhookSubscription)
    assert rotated not in stored.secret and secret not in stored.previous_secret


def test_keys_rotate_new_first_then_reencrypt_then_drop_the_old(engine, database_url, receiver, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = Settings(encryption_keys=(old,), webhook_allow_hosts=ALLOWED)
    with session_scope(engine) as session:
        _subscription, secret = webhooks.subscribe(session, before, receiver.url(), ["quote.sent"], "tests")
    both = replace(before, encryption_keys=(new, old))
    emit(engine)
    assert deliver_due(engine, both).delivered == 1                     # the old key still reads it
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CPQ_ENCRYPTION_KEYS", f"{new} {old}")
    result = CliRunner().invoke(cli, ["db", "reencrypt"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 webhook subscriptions re-encrypted" in result.output
    after = replace(before, encryption_keys=(new,))
    emit(engine)
    assert deliver_due(engine, after).delivered == 1                    # the new key alone reads it now
    assert all(verifies(secret, r.body, r.headers) for r in receiver.requests)
    with pytest.raises(ValueError, match="CPQ_ENCRYPTION_KEYS"):
        Settings.from_env({"CPQ_ENCRYPTION_KEYS": "not-a-key"})
