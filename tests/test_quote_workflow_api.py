"""/api/v1 quotes end to end through the Flask test client: build, submit, approve (stages in
sequence, levels of a stage in parallel), reject, recall, send, and the customer's acceptance
by share link; every way around an approval closed; wrong transitions a 409 naming the state;
bad input a 4xx naming the field; the sent PDF frozen."""

from __future__ import annotations

import hashlib
import os
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from core.db import session_scope
from quote_flow import (API, MANAGER, PLAIN, VP, act, approved, call, create, customer, env, error_of, get,  # noqa: F401
                        ok, sent, set_expires_on, year)
from sales import workflow
from core.docstore import Document
from sales.models import Decision

pytestmark = pytest.mark.postgres

ON_POSTGRES = make_url(os.environ.get("DATABASE_URL") or "sqlite://").get_backend_name() == "postgresql"

# ---- the happy path --------------------------------------------------------------------------

def test_happy_path_from_draft_to_accepted(env):
    saved = ok(env.client.post(f"{API}/configurations", json={
        "product": "solar-installation", "selections": {"panel_count": 24}}), 201)
    quote = create(env, [
        {"product": "rack-server", "selections": {"cpu_count": 2}, "quantity": 3,
         "discount_percent": "20", "group": "Hardware"},
        {"configuration": saved["id"], "group": "Solar"},
        {"product": "SUP-MC-Y", "quantity": 3}], title="Servers and solar")
    number = quote["number"]
    assert number == f"Q-{year()}-00001"
    assert quote["state"] == "draft" and quote["revision"] == 1 and quote["latest"]
    assert quote["account"] == "ACME" and quote["currency"] == "USD"
    assert quote["price_book"] == "list-usd" and quote["price_book_version"] == 2
    assert quote["rule_set"] == "standard" and quote["rule_set_version"] == 1
    lines = {line["key"]: line for line in quote["lines"]}
    assert [line["product"] for line in quote["lines"]] == ["rack-server", "solar-installation", "SUP-MC-Y"]
    assert lines["2"]["configuration"] == saved["id"]
    assert quote["contract_value"] == quote["price"]["totals"]["contract_value"]
    needed = {a["level"]: a["stage"] for a in quote["approvals_required"]}
    assert needed == {"sales_manager": 1}                     # the 20% discount on the servers
    assert quote["document_sha256"] is None and quote["approval_steps"] == []

    quote = act(env, number, "submit", comment="please")
    assert quote["state"] == "pending_approval"
    steps = {s["level"]: s for s in quote["approval_steps"]}
    assert {level: s["stage"] for level, s in steps.items()} == needed
    assert all(s["status"] == "pending" for s in steps.values())

    quote = act(env, number, "approve", "manager", level="sales_manager", comment="fine")
    assert quote["state"] == "approved"
    assert all(s["status"] == "approved" and s["decided_by"] for s in quote["approval_steps"])

    result = act(env, number, "send")
    assert result["quote"]["state"] == "sent" and result["quote"]["sent_at"]
    assert result["quote"]["document_status"] == "pending"          # rendered after the answer's commit
    sha = get(env, number)["document_sha256"]
    link = result["share_link"]
    token = link["token"]
    assert len(sha) == 64 and link["url"].endswith(f"/q/{token}") and link["expires_at"]

    page = env.client.get(f"/q/{token}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert number in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    pdf = env.client.get(f"/q/{token}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert hashlib.sha256(pdf.data).hexdigest() == sha == pdf.headers["X-Document-SHA256"]
    shared = ok(env.client.get(f"{API}/shared/{token}"))
    assert shared["number"] == number and shared["state"] == "sent" and shared["document_sha256"] == sha
    assert shared["superseded"] is False and shared["decision"] is None

    first = ok(customer(env, token, "accept", document_sha256=sha))
    assert first["accepted"] is True and first["document_sha256"] == sha
    quote = get(env, number)
    assert quote["state"] == "accepted" and quote["decided_at"]
    again = ok(customer(env, token, "accept"))
    assert again == first                                   # idempotent: the first decision stands
    assert get(env, number)["state"] == "accepted"
    assert error_of(customer(env, token, "decline", reason="no"), 409)["state"] == "accepted"
    assert error_of(call(env, "post", f"/quotes/{number}/send"), 409)["state"] == "accepted"

    history = ok(call(env, "get", f"/quotes/{number}/history"))
    transitions = [(e["action"], e["from_state"], e["to_state"]) for e in history if e["to_state"]]
    assert transitions == [("create", None, "draft"), ("submit", "draft", "pending_approval"),
                           ("approve", "pending_approval", "approved"), ("send", "approved", "sent"),
                           ("accept", "sent", "accepted")]
    assert history[-1]["actor"] == "customer Jo Buyer <jo@acme.com>"


def test_a_quote_that_needs_no_approval_is_approved_on_submit(env):
    number = create(env)["number"]
    quote = act(env, number, "submit")
    assert quote["state"] == "approved" and quote["approval_steps"] == []


# ---- approvals -------------------------------------------------------------------------------

def test_stages_decide_in_sequence(env):
    number = create(env, VP)["number"]
    quote = act(env, number, "submit")
    assert quote["state"] == "pending_approval"
    assert [(s["level"], s["stage"]) for s in quote["approval_steps"]] == [("sales_manager", 1), ("vp_sales", 2)]
    error = error_of(call(env, "post", f"/quotes/{number}/approve", "vp", {"level": "vp_sales"}), 409)
    assert error["state"] == "pending_approval" and "stage 1" in error["message"]
    quote = act(env, number, "approve", "manager", level="sales_manager")
    assert quote["state"] == "pending_approval"
    assert {s["level"]: s["status"] for s in quote["approval_steps"]} == {"sales_manager": "approved",
                                                                         "vp_sales": "pending"}
    quote = act(env, number, "approve", "vp", level="vp_sales")
    assert quote["state"] == "approved"


@pytest.mark.parametrize("order", [("vp_sales", "finance"), ("finance", "vp_sales")])
def test_levels_of_one_stage_decide_in_either_order(env, order):
    number = create(env, VP, payment_terms="net60")["number"]
    quote = act(env, number, "submit")
    assert sorted((s["stage"], s["level"]) for s in quote["approval_steps"]) == [
        (1, "sales_manager"), (2, "finance"), (2, "vp_sales")]
    act(env, number, "approve", "manager", level="sales_manager")
    who = {"vp_sales": "vp", "finance": "finance"}
    quote = act(env, number, "approve", who[order[0]], level=order[0])
    assert quote["state"] == "pending_approval"
    quote = act(env, number, "approve", who[order[1]], level=order[1])
    assert quote["state"] == "approved"


def test_approving_a_level_the_quote_does_not_need_is_422(env):
    number = create(env, MANAGER)["number"]
    act(env, number, "submit")
    error = error_of(call(env, "post", f"/quotes/{number}/approve", "vp", {"level": "vp_sales"}), 422)
    assert "level" in error["fields"]


def test_a_rejection_needs_a_comment_and_rejects_the_quote(env):
    number = create(env, VP)["number"]
    act(env, number, "submit")
    error = error_of(call(env, "post", f"/quotes/{number}/reject", "manager", {"level": "sales_manager"}), 422)
    assert "comment" in error["fields"]
    error = error_of(call(env, "post", f"/quotes/{number}/reject", "manager",
                          {"level": "sales_manager", "comment": "   "}), 422)
    assert "comment" in error["fields"]
    assert get(env, number)["state"] == "pending_approval"
    quote = act(env, number, "reject", "manager", level="sales_manager", comment="too deep a discount")
    assert quote["state"] == "rejected"
    assert {s["level"]: s["status"] for s in quote["approval_steps"]} == {"sales_manager": "rejected",
                                                                         "vp_sales": "void"}
    assert quote["approval_steps"][0]["comment"] == "too deep a discount"


def test_recall_returns_the_quote_to_draft_and_voids_its_steps(env):
    number = create(env, VP)["number"]
    act(env, number, "submit")
    act(env, number, "approve", "manager", level="sales_manager")
    error = error_of(call(env, "post", f"/quotes/{number}/recall", "rep2"), 404)
    assert error["code"] == "not_found"
    quote = act(env, number, "recall", comment="one more line")
    assert quote["state"] == "draft"
    assert {s["level"]: s["status"] for s in quote["approval_steps"]} == {"sales_manager": "approved",
                                                                         "vp_sales": "void"}
    error = error_of(call(env, "post", f"/quotes/{number}/approve", "vp", {"level": "vp_sales"}), 409)
    assert error["state"] == "draft"
    # a draft again: it changes in place
    quote = ok(call(env, "patch", f"/quotes/{number}", body={"title": "changed"}))
    assert quote["revision"] == 1 and quote["state"] == "draft"


def test_a_recalled_and_resubmitted_quote_can_be_approved(env):
    number = create(env, VP)["number"]
    act(env, number, "submit")
    act(env, number, "recall")
    quote = act(env, number, "submit")
    assert quote["state"] == "pending_approval"
    act(env, number, "approve", "manager", level="sales_manager")
    quote = act(env, number, "approve", "vp", level="vp_sales")
    assert quote["state"] == "approved"


def test_a_rejected_fixed_and_resubmitted_quote_can_be_approved(env):
    number = create(env, MANAGER)["number"]
    act(env, number, "submit")
    act(env, number, "reject", "manager", level="sales_manager", comment="too much")
    quote = ok(call(env, "patch", f"/quotes/{number}", body={
        "lines": [{"product": "SUP-MC-Y", "discount_percent": "18", "key": "1"}]}))
    assert quote["state"] == "draft" and quote["revision"] == 1
    act(env, number, "submit")
    quote = act(env, number, "approve", "manager", level="sales_manager")
    assert quote["state"] == "approved"


# ---- wrong transitions -----------------------------------------------------------------------

@pytest.mark.parametrize("setup, action, who, body, state", [
    ("draft", "send", "rep", {}, "draft"),
    ("draft", "approve", "manager", {"level": "sales_manager"}, "draft"),
    ("draft", "reject", "manager", {"level": "sales_manager", "comment": "no"}, "draft"),
    ("draft", "recall", "rep", {}, "draft"),
    ("pending", "submit", "rep", {}, "pending_approval"),
    ("pending", "send", "rep", {}, "pending_approval"),
    ("approved", "submit", "rep", {}, "approved"),
    ("approved", "approve", "manager", {"level": "sales_manager"}, "approved"),
    ("approved", "recall", "rep", {}, "approved"),
])
def test_wrong_transitions_are_409_naming_the_state(env, setup, action, who, body, state):
    number = create(env, MANAGER)["number"]
    if setup in ("pending", "approved"):
        act(env, number, "submit")
    if setup == "approved":
        act(env, number, "approve", "manager", level="sales_manager")
    error = error_of(call(env, "post", f"/quotes/{number}/{action}", who, body), 409)
    assert error["code"] == "invalid_state" and error["state"] == state
    assert get(env, number)["state"] == {"draft": "draft", "pending": "pending_approval"}.get(setup, setup)


def test_another_rep_cannot_revise_a_quote_they_do_not_own(env):
    number, token = sent(env)
    response = call(env, "patch", f"/quotes/{number}", "rep2", {"title": "mine now"})
    assert error_of(response, 404)["code"] == "not_found"           # not theirs to see, either
    assert get(env, number)["revision"] == 1
    assert ok(customer(env, token, "accept"))["accepted"] is True


def test_a_pending_quote_cannot_be_edited(env):
    number = create(env, MANAGER)["number"]
    act(env, number, "submit")
    error = error_of(call(env, "patch", f"/quotes/{number}", body={"title": "x"}), 409)
    assert error["state"] == "pending_approval"
    error = error_of(call(env, "post", f"/quotes/{number}/lines", body={"product": "TRAINING-DAY"}), 409)
    assert error["state"] == "pending_approval"


def test_a_stale_lock_version_is_409(env):
    number = create(env)["number"]
    lock = get(env, number)["lock_version"]
    quote = ok(call(env, "patch", f"/quotes/{number}", body={"title": "first", "lock_version": lock}))
    assert quote["lock_version"] > lock
    error = error_of(call(env, "patch", f"/quotes/{number}", body={"title": "second", "lock_version": lock}), 409)
    assert error["state"] == "draft"
    assert get(env, number)["title"] == "first"


def test_the_lock_version_a_create_returns_is_current(env):
    created = create(env)
    assert created["lock_version"] == get(env, created["number"])["lock_version"]
    quote = ok(call(env, "patch", f"/quotes/{created['number']}",
                    body={"title": "first", "lock_version": created["lock_version"]}))
    assert quote["title"] == "first"


# ---- the bypasses, each closed ---------------------------------------------------------------

def test_bypass_a_sending_without_approval(env):
    draft = create(env, MANAGER)["number"]
    pending = create(env, MANAGER)["number"]
    act(env, pending, "submit")
    rejected = create(env, MANAGER)["number"]
    act(env, rejected, "submit")
    act(env, rejected, "reject", "manager", level="sales_manager", comment="no")
    for number, state in ((draft, "draft"), (pending, "pending_approval"), (rejected, "rejected")):
        error = error_of(call(env, "post", f"/quotes/{number}/send"), 409)
        assert error["state"] == state
        quote = get(env, number)
        assert quote["state"] == state and quote["document_sha256"] is None
    with session_scope(env.engine) as session:
        assert session.exec(select(Document).where(Document.kind == "quote")).all() == []


def test_bypass_b_editing_after_approval_makes_a_new_revision_that_needs_approval(env):
    number = approved(env, MANAGER)
    quote = ok(call(env, "patch", f"/quotes/{number}", body={
        "lines": [{"product": "SUP-MC-Y", "discount_percent": "28", "key": "1"}], "reason": "more discount"}))
    assert quote["revision"] == 2 and quote["state"] == "draft" and quote["latest"]
    assert quote["approval_steps"] == []
    old = ok(call(env, "get", f"/quotes/{number}/revisions/1"))
    assert old["state"] == "approved" and old["latest"] is False
    assert Decimal(old["lines"][0]["discount_percent"]) == 20
    # the approved revision 1 is history: a send reaches only the latest revision, a draft
    error = error_of(call(env, "post", f"/quotes/{number}/send"), 409)
    assert error["state"] == "draft"
    with session_scope(env.engine) as session:
        assert session.exec(select(Document).where(Document.kind == "quote")).all() == []
    quote = act(env, number, "submit")
    assert quote["state"] == "pending_approval"
    assert [(s["level"], s["status"]) for s in quote["approval_steps"]] == [("sales_manager", "pending")]
    error = error_of(call(env, "post", f"/quotes/{number}/send"), 409)
    assert error["state"] == "pending_approval"


def test_bypass_c_a_clone_of_an_approved_quote_needs_approval(env):
    number = approved(env, MANAGER)
    clone = ok(call(env, "post", f"/quotes/{number}/clone"), 201)
    assert clone["number"] != number and clone["state"] == "draft" and clone["revision"] == 1
    assert clone["cloned_from"] == f"{number} r1" and clone["approval_steps"] == []
    assert [a["level"] for a in clone["approvals_required"]] == ["sales_manager"]
    error = error_of(call(env, "post", f"/quotes/{clone['number']}/send"), 409)
    assert error["state"] == "draft"
    assert act(env, clone["number"], "submit")["state"] == "pending_approval"
    error = error_of(call(env, "post", f"/quotes/{clone['number']}/send"), 409)
    assert error["state"] == "pending_approval"
    assert get(env, number)["state"] == "approved"           # the source is untouched


def test_bypass_d_the_old_share_link_of_a_revised_quote_cannot_be_accepted(env):
    number, token = sent(env)
    quote = ok(call(env, "patch", f"/quotes/{number}", body={"title": "revised"}))
    assert quote["revision"] == 2 and quote["state"] == "draft"
    error = error_of(customer(env, token, "accept"), 409)
    assert error["state"] == "superseded"
    error = error_of(customer(env, token, "decline", reason="changed my mind"), 409)
    assert error["state"] == "superseded"
    shared = ok(env.client.get(f"{API}/shared/{token}"))
    assert shared["superseded"] is True and shared["revision"] == 1 and shared["decision"] is None
    assert ok(call(env, "get", f"/quotes/{number}/revisions/1"))["state"] == "sent"
    assert get(env, number)["state"] == "draft"
    with session_scope(env.engine) as session:
        assert session.exec(select(Decision)).all() == []


def test_bypass_e_a_rep_cannot_approve_their_own_quote_even_holding_the_level(env):
    number = create(env, MANAGER, who="rep_manager")["number"]
    act(env, number, "submit", "rep_manager")
    error = error_of(call(env, "post", f"/quotes/{number}/approve", "rep_manager", {"level": "sales_manager"}), 403)
    assert error["code"] == "forbidden"
    error_of(call(env, "post", f"/quotes/{number}/reject", "rep_manager",
                  {"level": "sales_manager", "comment": "x"}), 403)
    assert get(env, number)["state"] == "pending_approval"
    # the same user approves another rep's quote
    other = create(env, MANAGER)["number"]
    act(env, other, "submit")
    assert act(env, other, "approve", "rep_manager", level="sales_manager")["state"] == "approved"


def test_bypass_f_an_approver_without_the_level_is_403(env):
    number = create(env, VP)["number"]
    act(env, number, "submit")
    for who in ("nobody", "vp", "finance"):
        error = error_of(call(env, "post", f"/quotes/{number}/approve", who, {"level": "sales_manager"}), 403)
        assert error["code"] == "forbidden"
    error_of(call(env, "post", f"/quotes/{number}/approve", "rep2", {"level": "sales_manager"}), 404)
    act(env, number, "approve", "manager", level="sales_manager")
    error_of(call(env, "post", f"/quotes/{number}/approve", "manager", {"level": "vp_sales"}), 403)
    quote = get(env, number)
    assert quote["state"] == "pending_approval"
    assert {s["level"]: s["status"] for s in quote["approval_steps"]} == {"sales_manager": "approved",
                                                                         "vp_sales": "pending"}


def test_bypass_g_an_expired_quote_can_be_neither_sent_nor_accepted(env):
    yesterday = date.today() - timedelta(days=1)
    number, token = sent(env)
    unsent = approved(env)
    set_expires_on(env, number, yesterday)
    set_expires_on(env, unsent, yesterday)
    error = error_of(customer(env, token, "accept"), 409)
    assert error["state"] == "expired"
    error = error_of(call(env, "post", f"/quotes/{unsent}/send"), 409)
    assert error["state"] == "approved" and "expired" in error["message"]
    with session_scope(env.engine) as session:
        due = workflow.expire_due(session, date.today())
        assert sorted(q.number for q in due) == sorted([number, unsent])
    assert get(env, number)["state"] == "expired" and get(env, unsent)["state"] == "expired"
    error = error_of(customer(env, token, "accept"), 409)
    assert error["state"] in ("expired",)
    error = error_of(call(env, "post", f"/quotes/{unsent}/send"), 409)
    assert error["state"] == "expired"
    with session_scope(env.engine) as session:
        assert session.exec(select(Decision)).all() == []


# ---- customer acceptance ---------------------------------------------------------------------

def test_decline_needs_a_reason_and_a_declined_quote_cannot_be_accepted(env):
    number, token = sent(env)
    error = error_of(customer(env, token, "decline"), 422)
    assert "reason" in error["fields"]
    decision = ok(customer(env, token, "decline", reason="  too expensive "))
    assert decision["accepted"] is False and decision["reason"] == "too expensive"
    assert get(env, number)["state"] == "declined"
    assert ok(customer(env, token, "decline", reason="again")) == decision      # a retry
    error = error_of(customer(env, token, "accept"), 409)
    assert error["state"] == "declined"
    page = env.client.get(f"/q/{token}")
    assert page.status_code == 200 and "too expensive" in page.get_data(as_text=True)


def test_the_share_page_form_accepts_with_the_box_ticked(env):
    number, token = sent(env)
    page = env.client.get(f"/q/{token}?error=<script>alert(1)</script>")
    assert "<script>alert(1)" not in page.get_data(as_text=True)          # the message is escaped
    form = {"name": "Jo Buyer", "email": "jo@acme.com"}
    response = env.client.post(f"/q/{token}/accept", data=form)
    assert response.status_code == 303 and "error=agree" in response.headers["Location"]
    assert get(env, number)["state"] == "sent"
    response = env.client.post(f"/q/{token}/accept", data={**form, "agree": "yes"})
    assert response.status_code == 303 and "error" not in response.headers["Location"]
    assert get(env, number)["state"] == "accepted"
    assert "Accepted by Jo Buyer" in env.client.get(f"/q/{token}").get_data(as_text=True)


@pytest.mark.parametrize("token", ["nope", "x" * 43, "a" * 500, "%00"])
def test_an_unknown_token_is_a_404(env, token):
    """JSON from the API; a page from the customer's pages (in their language: tests/test_i18n.py)."""
    for response in (customer(env, token, "accept"), env.client.get(f"{API}/shared/{token}")):
        error = error_of(response, 404)
        assert error["code"] == "not_found"
    pages = (env.client.get(f"/q/{token}"), env.client.get(f"/q/{token}/pdf"))
    assert [page.status_code for page in pages] == [404, 404]
    if token != "%00":                  # a NUL is refused before any page is chosen: the API's JSON
        assert all(page.mimetype == "text/html" and "Link not found" in page.get_data(as_text=True) for page in pages)


def test_acceptance_records_ip_user_agent_and_document_hash(env):
    number, token = sent(env)
    sha = get(env, number)["document_sha256"]
    wrong = hashlib.sha256(b"another document").hexdigest()
    error = error_of(customer(env, token, "accept", document_sha256=wrong), 422)
    assert "document_sha256" in error["fields"]
    error = error_of(customer(env, token, "accept", document_sha256="abc"), 422)
    assert "document_sha256" in error["fields"]
    error = error_of(customer(env, token, "accept", name="", email="not-an-email"), 422)
    assert {"name", "email"} & set(error["fields"])
    assert get(env, number)["state"] == "sent"
    response = env.client.post(f"{API}/shared/{token}/accept",
                               json={"name": " Jo Buyer ", "email": "Jo@Acme.com", "document_sha256": sha},
                               headers={"User-Agent": "TestBrowser/1.0"},
                               environ_base={"REMOTE_ADDR": "203.0.113.7"})
    decision = ok(response)
    assert decision["name"] == "Jo Buyer" and decision["email"] == "jo@acme.com"
    with session_scope(env.engine) as session:
        stored = session.exec(select(Decision)).one()
        assert (stored.ip, stored.user_agent, stored.document_sha256) == ("203.0.113.7", "TestBrowser/1.0", sha)
        assert stored.accepted is True
    assert get(env, number)["state"] == "accepted"


# ---- auth ------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer cpq_not-a-token"},
    {"Authorization": "Bearer garbage"}, {"Authorization": "Basic cnVnOnB3"}])
def test_no_or_a_bad_token_is_401(env, headers):
    number = create(env)["number"]
    for method, path, body in (("get", "/quotes", None), ("post", "/quotes", {"account": "ACME", "lines": PLAIN}),
                               ("get", f"/quotes/{number}", None), ("post", f"/quotes/{number}/submit", {}),
                               ("get", f"/quotes/{number}/pdf", None), ("get", "/accounts", None)):
        response = getattr(env.client, method)(f"{API}{path}", headers=headers, json=body)
        error = error_of(response, 401)
        assert error["code"] == "unauthorized"


def test_a_deactivated_users_token_is_401(env):
    from core.users import User
    with session_scope(env.engine) as session:
        rep = session.exec(select(User).where(User.email == "rep@example.com")).one()
        rep.active = False
        session.add(rep)
    assert error_of(call(env, "get", "/quotes"), 401)["code"] == "unauthorized"
    assert ok(call(env, "get", "/quotes", "rep2")) == []


def test_a_real_users_token_in_another_scheme_is_401(env):
    response = env.client.get(f"{API}/quotes", headers={"Authorization": f"Token {env.tokens['rep']}"})
    assert error_of(response, 401)["code"] == "unauthorized"


def test_only_reps_create_quotes(env):
    response = call(env, "post", "/quotes", "manager", {"account": "ACME", "lines": PLAIN})
    assert error_of(response, 403)["code"] == "forbidden"


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"account": "NOPE"}, "account"),
    ({"lines": [{"product": "NOPE"}]}, "lines[0].product"),
    ({"lines": [{"quantity": 2}]}, "lines[0].product"),
    ({"lines": [{"product": "SUP-MC-Y", "quantity": 0}]}, "lines[0].quantity"),
    ({"lines": [{"product": "SUP-MC-Y", "quantity": "2"}]}, "lines[0].quantity"),
    ({"lines": [{"product": "SUP-MC-Y", "discount_percent": 150}]}, "lines[0].discount_percent"),
    ({"lines": [{"product": "SUP-MC-Y", "discount_percent": 5, "discount_amount": 1}]}, "lines[0].discount_amount"),
    ({"lines": [{"product": "rack-server", "selections": {"cpu": "x9999"}}]}, "lines[0].selections.cpu"),
    ({"lines": [{"configuration": "nope"}]}, "lines[0].configuration"),
    ({"discount_percent": 150}, "discount_percent"),
    ({"discount_percent": 5, "discount_amount": 1}, "discount_amount"),
    ({"colour": "red"}, "colour"),
    ({"expires_on": "2020-01-01"}, "expires_on"),
    ({"expires_on": "someday"}, "expires_on"),
    ({"terms_template": "nope"}, "terms_template"),
    ({"price_book": "nope"}, "price_book"),
    ({"price_book": "list-eur"}, "price_book"),
])
def test_bad_input_to_create_is_a_4xx_naming_the_field(env, body, field):
    body = {"account": "ACME", "lines": PLAIN, **body}
    response = call(env, "post", "/quotes", "rep", body)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert field in error.get("fields", {}), error
    # nothing was written, and no number was used up
    assert create(env)["number"] == f"Q-{year()}-00001"


@pytest.mark.parametrize("body, field", [
    ({"colour": "red"}, "colour"),
    ({"expires_on": "2020-01-01"}, "expires_on"),
    ({"terms_template": "nope"}, "terms_template"),
    ({"discount_percent": "101"}, "discount_percent"),
    ({"lines": [{"product": "NOPE"}]}, "lines[0].product"),
    ({"lines": [{"product": "SUP-MC-Y", "quantity": 0}]}, "lines[0].quantity"),
])
def test_bad_input_to_an_edit_is_a_4xx_naming_the_field_and_changes_nothing(env, body, field):
    quote = get(env, create(env, title="before")["number"])
    response = call(env, "patch", f"/quotes/{quote['number']}", "rep", {"title": "after", **body})
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert field in response.get_json()["error"].get("fields", {})
    after = get(env, quote["number"])
    assert after["title"] == "before" and after["lock_version"] == quote["lock_version"]


def test_a_bad_edit_of_an_approved_quote_leaves_no_new_revision(env):
    number = approved(env, MANAGER)
    response = call(env, "patch", f"/quotes/{number}", "rep", {"lines": [{"product": "NOPE"}]})
    assert "lines[0].product" in error_of(response, 422)["fields"]
    revisions = ok(call(env, "get", f"/quotes/{number}/revisions"))
    assert [(r["revision"], r["state"]) for r in revisions] == [(1, "approved")]
    assert get(env, number)["latest"] is True


def test_line_endpoints_name_unknown_lines(env):
    number = create(env)["number"]
    error = error_of(call(env, "patch", f"/quotes/{number}/lines/9", body={"quantity": 2}), 422)
    assert "lines.9" in error["fields"]
    error = error_of(call(env, "delete", f"/quotes/{number}/lines/9"), 422)
    assert "lines.9" in error["fields"]
    quote = ok(call(env, "post", f"/quotes/{number}/lines", body={"product": "TRAINING-DAY", "quantity": 2}), 201)
    assert [(line["key"], line["product"]) for line in quote["lines"]] == [("1", "SUP-MC-Y"), ("2", "TRAINING-DAY")]
    quote = ok(call(env, "patch", f"/quotes/{number}/lines/2", body={"quantity": 3}))
    assert quote["lines"][1]["quantity"] == 3
    quote = ok(call(env, "delete", f"/quotes/{number}/lines/1"))
    assert [line["key"] for line in quote["lines"]] == ["2"]


def test_unknown_quotes_are_404(env):
    for method, path in (("get", "/quotes/Q-1999-00001"), ("post", "/quotes/Q-1999-00001/submit"),
                         ("patch", "/quotes/Q-1999-00001"), ("get", "/quotes/Q-1999-00001/pdf"),
                         ("get", "/quotes/Q-1999-00001/history")):
        assert error_of(call(env, method, path), 404)["code"] == "not_found"
    number = create(env)["number"]
    assert error_of(call(env, "get", f"/quotes/{number}/revisions/2"), 404)["code"] == "not_found"


def test_stored_amounts_leave_in_the_currencys_minor_units(env):
    number = create(env, MANAGER)["number"]
    quote = get(env, number)
    totals = quote["price"]["totals"]
    assert (quote["contract_value"], quote["one_time_net"]) == (totals["contract_value"], totals["one_time_net"])


# ---- the PDF ---------------------------------------------------------------------------------

def test_a_draft_pdf_is_a_preview_and_the_sent_pdf_is_frozen(env):
    number = create(env)["number"]
    preview = call(env, "get", f"/quotes/{number}/pdf")
    assert preview.status_code == 200 and preview.mimetype == "application/pdf"
    assert preview.data.startswith(b"%PDF")
    assert preview.headers["X-Document-SHA256"] == hashlib.sha256(preview.data).hexdigest()
    assert "draft" in preview.headers["Content-Disposition"]
    assert get(env, number)["document_sha256"] is None
    with session_scope(env.engine) as session:
        assert session.exec(select(Document).where(Document.kind == "quote")).all() == []

    act(env, number, "submit")
    token = act(env, number, "send")["share_link"]["token"]
    sha = get(env, number)["document_sha256"]
    first = call(env, "get", f"/quotes/{number}/pdf")
    second = call(env, "get", f"/quotes/{number}/pdf")
    by_revision = call(env, "get", f"/quotes/{number}/revisions/1/pdf")
    shared = env.client.get(f"/q/{token}/pdf")
    assert first.data == second.data == by_revision.data == shared.data
    assert hashlib.sha256(first.data).hexdigest() == sha == first.headers["X-Document-SHA256"]
    assert "draft" not in first.headers["Content-Disposition"]
    with session_scope(env.engine) as session:
        assert len(session.exec(select(Document).where(Document.kind == "quote")).all()) == 1


def test_another_share_link_opens_the_same_document(env):
    number, token = sent(env)
    link = ok(call(env, "post", f"/quotes/{number}/share-links", body={"link_days": 3}), 201)
    assert link["token"] != token
    one = env.client.get(f"/q/{token}/pdf").data
    two = env.client.get(f"/q/{link['token']}/pdf").data
    assert one == two
    error = error_of(call(env, "post", f"/quotes/{number}/share-links", "rep2"), 404)
    assert error["code"] == "not_found"


# ---- promotions: acceptance uses up the codes the price applied ---------------------------------

EPYC = [{"product": "rack-server", "selections": {"cpu": "e9354"}}]


def test_acceptance_redeems_the_applied_promo_codes_once(env):
    from rules.promotions import PromoRedemption
    number, token = sent(env, EPYC, promo_codes=["epyc300"])
    assert [(p["rule"], p["applied"]) for p in get(env, number)["price"]["promotions"]] == [("EPYC300", True)]
    ok(customer(env, token, "accept"))
    ok(customer(env, token, "accept"))                          # a retry uses nothing more
    with session_scope(env.engine) as session:
        rows = session.exec(select(PromoRedemption)).all()
        assert [(r.code, r.customer, r.reference) for r in rows] == [("EPYC300", "ACME", f"{number} r1")]


def test_a_promo_used_up_meanwhile_refuses_the_acceptance_and_changes_nothing(env):
    from rules.promotions import PromoCounter
    number, token = sent(env, EPYC, promo_codes=["EPYC300"])
    with session_scope(env.engine) as session:                 # every use taken since it was sent
        session.add(PromoCounter(code="EPYC300", used=200))
    error = error_of(customer(env, token, "accept"), 409)
    assert error["code"] == "promo_limit_reached"
    assert get(env, number)["state"] == "sent"
    with session_scope(env.engine) as session:
        assert session.exec(select(Decision)).all() == []
        assert session.get(PromoCounter, "EPYC300").used == 200
