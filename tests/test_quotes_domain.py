"""sales.quotes and sales.workflow called directly: creating and pricing a quote, gapless
numbers, what an edit does in each state (in place, back to draft, refused, a new revision),
cloning, line changes, optimistic locking, the audit trail and expiry."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlmodel import select

from catalog.store import load_demo_catalog, load_demo_price_books
from core.db import session_scope
from core.errors import Forbidden, ImmutableRecord, InvalidInput, InvalidTransition
from core.users import User, create_user
from rules.store import approval_levels, load_demo_rule_sets
from sales import acceptance, audit, documents, quotes, workflow
from sales.accounts import create_account
from sales.models import Decision, Quote, QuoteEvent
from sales.quotes import LineSpec

pytestmark = pytest.mark.postgres

TODAY = date(2026, 12, 1)
COMPANY = {"name": "Test Seller", "address": ["1 Street"], "email": "s@example.com",
           "website": "example.com", "colour": "#123456"}
PLAIN = [LineSpec(product="SUP-MC-Y")]                                           # no approval
MANAGER = [LineSpec(product="SUP-MC-Y", discount_percent=Decimal("20"))]         # sales_manager


@pytest.fixture
def env(engine, monkeypatch):
    # the PDF's bytes do not matter here; rendering the real one takes most of a second
    monkeypatch.setattr(documents, "render_pdf", lambda doc: f"%PDF {doc['number']} r{doc['revision']}".encode())
    users = {}
    with session_scope(engine) as session:
        load_demo_catalog(session)
        load_demo_price_books(session)
        load_demo_rule_sets(session)
        for key, role, levels in [("rep", "rep", ()), ("manager", "approver", ("sales_manager",)),
                                  ("vp", "approver", ("vp_sales",))]:
            user, _token = create_user(session, f"{key}@example.com", key.title(), role, levels,
                                       defined_levels=approval_levels(session))
            users[key] = user.id
        create_account(session, {"code": "ACME", "name": "Acme Corp", "currency": "USD", "segment": "enterprise",
                                 "contacts": [{"name": "Jo", "email": "jo@acme.com", "primary": True}]})
    return SimpleNamespace(engine=engine, users=users)


def user(session, env, key="rep") -> User:
    return session.get(User, env.users[key])


def new_quote(env, lines=PLAIN, today=TODAY, **header) -> str:
    with session_scope(env.engine) as session:
        return quotes.create_quote(session, user(session, env), "ACME", header, lines, today).number


def submit(env, number, today=TODAY):
    with session_scope(env.engine) as session:
        return workflow.submit(session, user(session, env), number, today).state


def approve(env, number, level="sales_manager", who="manager", approve=True, comment=""):
    with session_scope(env.engine) as session:
        return workflow.decide(session, user(session, env, who), number, level, approve, comment).state


def send(env, number, today=TODAY) -> str:
    with session_scope(env.engine) as session:
        return workflow.send(session, user(session, env), number, today)[1]


def edit(env, number, today=TODAY, **kwargs) -> tuple[int, str]:
    with session_scope(env.engine) as session:
        quote = quotes.edit(session, user(session, env), number, today, **kwargs)
        return quote.revision, quote.state


def to_state(env, state: str) -> str:
    """A quote (needing the sales manager) brought to `state`."""
    number = new_quote(env, MANAGER)
    if state == "draft":
        return number
    submit(env, number)
    if state == "pending_approval":
        return number
    if state == "rejected":
        approve(env, number, approve=False, comment="no")
        return number
    approve(env, number)
    if state == "approved":
        return number
    if state == "expired":
        with session_scope(env.engine) as session:
            workflow.expire_due(session, TODAY + timedelta(days=365))
        return number
    token = send(env, number)
    if state in ("accepted", "declined"):
        with session_scope(env.engine) as session:
            decide = acceptance.accept if state == "accepted" else acceptance.decline
            extra = {} if state == "accepted" else {"reason": "too dear"}
            decide(session, token, "Jo", "jo@acme.com", "10.0.0.1", "pytest", TODAY, **extra)
    return number


def snapshot(env, number, revision=None) -> dict:
    """Everything a revision shows: its columns and its lines."""
    with session_scope(env.engine) as session:
        quote = quotes.get_quote(session, number, revision)
        columns = quote.model_dump(exclude={"lock_version", "updated_at", "latest"})
        lines = [ln.model_dump(exclude={"id"}) for ln in quotes.lines_of(session, quote)]
        return copy.deepcopy({"quote": columns, "lines": lines, "latest": quote.latest})


# ---- creating and numbering ------------------------------------------------------------------

def test_create_prices_the_quote_and_stores_versions_fingerprint_and_totals(env):
    with session_scope(env.engine) as session:
        rep = user(session, env)
        quote = quotes.create_quote(session, rep, "ACME", {"title": "Support", "promo_codes": [" epyc300 "]}, [
            LineSpec(product="SUP-MC-Y", quantity=2),
            LineSpec(product="TRAINING-DAY", quantity=3, discount_percent=Decimal("5"), group="Services"),
            LineSpec(product="rack-server", selections={"cpu_count": 2}, key="srv")], TODAY)
        number = quote.number
        assert (quote.state, quote.revision, quote.latest) == ("draft", 1, True)
        assert quote.owner_id == rep.id and quote.currency == "USD" and quote.payment_terms == "net30"
        assert (quote.price_book, quote.price_book_version) == ("list-usd", 2)
        assert (quote.rule_set, quote.rule_set_version) == ("standard", 1)
        assert quote.promo_codes == ["EPYC300"]
        assert len(quote.fingerprint) == 64 and int(quote.fingerprint, 16) >= 0
        assert quote.expires_on == TODAY + timedelta(days=quotes.VALIDITY_DAYS) and quote.priced_on == TODAY
        totals = quote.priced["totals"]
        assert quote.one_time_net == Decimal(totals["one_time_net"]) > 0
        assert quote.contract_value == Decimal(totals["contract_value"]) > quote.one_time_net
        lines = quotes.lines_of(session, quote)
        assert [(ln.key, ln.product, ln.position) for ln in lines] == [
            ("1", "SUP-MC-Y", 0), ("2", "TRAINING-DAY", 1), ("srv", "rack-server", 2)]
        assert lines[2].model_version is not None               # a configured line is pinned to its model
        priced_ids = [line["id"] for line in quote.priced["lines"]]
        assert priced_ids[:3] == ["1", "2", "srv"]
    with session_scope(env.engine) as session:                  # as stored
        stored = quotes.get_quote(session, number)
        assert stored.contract_value == Decimal(totals["contract_value"])
        assert stored.priced["totals"] == totals


def test_the_same_inputs_give_the_same_fingerprint_and_a_price_change_another(env):
    a, b = new_quote(env), new_quote(env)
    c = new_quote(env, MANAGER)
    with session_scope(env.engine) as session:
        prints = [quotes.get_quote(session, n).fingerprint for n in (a, b, c)]
    assert prints[0] == prints[1] != prints[2]


def test_numbers_are_consecutive_and_a_failed_create_gives_its_number_back(env):
    assert new_quote(env) == "Q-2026-00001"
    assert new_quote(env) == "Q-2026-00002"
    with pytest.raises(InvalidInput) as bad_product:
        with session_scope(env.engine) as session:
            quotes.create_quote(session, user(session, env), "ACME", {}, [LineSpec(product="NOPE")], TODAY)
    assert bad_product.value.field == "lines[0].product"
    with pytest.raises(InvalidInput) as bad_account:
        with session_scope(env.engine) as session:
            quotes.create_quote(session, user(session, env), "NOPE", {}, PLAIN, TODAY)
    assert bad_account.value.field == "account"
    assert new_quote(env) == "Q-2026-00003"
    assert new_quote(env, today=date(2027, 1, 2)) == "Q-2027-00001"       # a series per year
    with session_scope(env.engine) as session:
        numbers = [q.number for q in session.exec(select(Quote).order_by(Quote.id))]
    assert numbers == ["Q-2026-00001", "Q-2026-00002", "Q-2026-00003", "Q-2027-00001"]


def test_unknown_header_fields_and_bad_values_are_named(env):
    cases = [({"colour": "red"}, "colour"), ({"expires_on": TODAY - timedelta(days=1)}, "expires_on"),
             ({"discount_percent": Decimal(5), "discount_amount": Decimal(1)}, "discount_amount"),
             ({"discount_percent": Decimal(101)}, "discount_percent"), ({"terms_template": "nope"}, "terms_template"),
             ({"payment_terms": ""}, "payment_terms")]
    for header, field in cases:
        with pytest.raises(InvalidInput) as exc_info:
            with session_scope(env.engine) as session:
                quotes.create_quote(session, user(session, env), "ACME", header, PLAIN, TODAY)
        assert exc_info.value.field == field, header
    assert new_quote(env) == "Q-2026-00001"


# ---- editing ---------------------------------------------------------------------------------

def test_a_draft_is_edited_in_place(env):
    number = new_quote(env)
    before = snapshot(env, number)
    with session_scope(env.engine) as session:
        lock = quotes.get_quote(session, number).lock_version
    assert edit(env, number, header={"title": "New title", "discount_percent": Decimal("10")},
                lines=[LineSpec(product="SUP-MC-Y", quantity=2, key="1")]) == (1, "draft")
    after = snapshot(env, number)
    assert after["quote"]["id"] == before["quote"]["id"] and after["quote"]["title"] == "New title"
    assert after["lines"][0]["quantity"] == 2 and after["lines"][0]["key"] == "1"
    assert after["quote"]["fingerprint"] != before["quote"]["fingerprint"]
    assert after["quote"]["contract_value"] != before["quote"]["contract_value"]
    with session_scope(env.engine) as session:
        quote = quotes.get_quote(session, number)
        assert quote.lock_version > lock
        assert len(quotes.revisions(session, number)) == 1
        last = audit.history(session, quote)[-1]
        assert (last.action, last.from_state, last.to_state) == ("edit", None, None)
        assert last.data == {"changed": ["discount_percent", "title", "lines"], "price_changed": True}


def test_a_title_only_edit_does_not_change_the_fingerprint(env):
    number = new_quote(env)
    before = snapshot(env, number)["quote"]["fingerprint"]
    edit(env, number, header={"title": "x", "notes": "y"})
    assert snapshot(env, number)["quote"]["fingerprint"] == before


def test_editing_a_rejected_quote_returns_it_to_draft(env):
    number = to_state(env, "rejected")
    assert edit(env, number, header={"title": "fixed"}, reason="fixing") == (1, "draft")
    with session_scope(env.engine) as session:
        last = audit.history(session, quotes.get_quote(session, number))[-1]
        assert (last.action, last.from_state, last.to_state, last.reason) == ("edit", "rejected", "draft", "fixing")


def test_a_pending_quote_cannot_be_edited(env):
    number = to_state(env, "pending_approval")
    before = snapshot(env, number)
    with pytest.raises(InvalidTransition) as exc_info:
        edit(env, number, header={"title": "x"})
    assert exc_info.value.state == "pending_approval"
    assert snapshot(env, number) == before


@pytest.mark.parametrize("state", ["approved", "sent", "declined", "expired"])
def test_editing_a_frozen_quote_makes_a_new_draft_revision_and_keeps_the_old_one(env, state):
    """An accepted quote is final instead: tests/test_sold_quotes.py."""
    number = to_state(env, state)
    before = snapshot(env, number)
    assert before["quote"]["state"] == state
    revision, new_state = edit(env, number, today=TODAY, reason="customer asked",
                               header={"expires_on": TODAY + timedelta(days=60)},
                               lines=[LineSpec(product="SUP-MC-Y", discount_percent=Decimal("25"), key="1")])
    assert (revision, new_state) == (2, "draft")
    old = snapshot(env, number, 1)
    assert old["latest"] is False
    assert old["quote"] == before["quote"]                 # priced JSON, totals, state: as they were
    assert old["lines"] == before["lines"]
    new = snapshot(env, number)
    assert new["latest"] is True and new["quote"]["revision"] == 2
    assert new["quote"]["sent_at"] is None and new["quote"]["submitted_at"] is None
    assert new["quote"]["fingerprint"] != old["quote"]["fingerprint"]
    assert Decimal(new["lines"][0]["discount_percent"]) == 25
    with session_scope(env.engine) as session:
        r2 = quotes.get_quote(session, number)
        assert workflow.steps_of(session, r2) == []
        events = audit.history(session, r2)
        assert [(e.action, e.from_state, e.to_state) for e in events] == [
            ("revise", None, "draft"), ("edit", None, None)]
        assert events[0].data == {"from_revision": 1} and events[0].reason == "customer asked"
        assert [q.revision for q in quotes.revisions(session, number)] == [1, 2]


def test_a_revision_of_a_revision_is_numbered_on(env):
    number = to_state(env, "approved")
    edit(env, number, header={"title": "r2"})
    submit(env, number)
    approve(env, number)
    assert edit(env, number, header={"title": "r3"}) == (3, "draft")
    with session_scope(env.engine) as session:
        rows = quotes.revisions(session, number)
        assert [(q.revision, q.state, q.latest) for q in rows] == [
            (1, "approved", False), (2, "approved", False), (3, "draft", True)]


def test_clone_makes_a_new_draft_quote_with_no_approvals(env):
    number = to_state(env, "approved")
    before = snapshot(env, number)
    with session_scope(env.engine) as session:
        clone = quotes.clone(session, user(session, env), number, None, TODAY + timedelta(days=1))
        cloned = clone.number
        assert workflow.steps_of(session, clone) == []
    assert cloned == "Q-2026-00002"
    new = snapshot(env, cloned)
    assert (new["quote"]["state"], new["quote"]["revision"]) == ("draft", 1)
    assert new["quote"]["cloned_from"] == f"{number} r1"
    assert new["quote"]["expires_on"] == TODAY + timedelta(days=1 + quotes.VALIDITY_DAYS)
    strip = lambda lines: [{k: v for k, v in ln.items() if k != "quote_id"} for ln in lines]
    assert strip(new["lines"]) == strip(before["lines"])
    assert snapshot(env, number) == before
    with session_scope(env.engine) as session:
        events = audit.history(session, quotes.get_quote(session, cloned))
        assert [(e.action, e.to_state) for e in events] == [("create", "draft"), ("clone", "draft")]
        assert events[1].data == {"from": f"{number} r1"}
    with pytest.raises(InvalidTransition) as exc_info:
        send(env, cloned)
    assert exc_info.value.state == "draft"


def test_line_changer_adds_updates_and_removes_by_key(env):
    number = new_quote(env, [LineSpec(product="SUP-MC-Y"), LineSpec(product="TRAINING-DAY"),
                             LineSpec(product="RAIL-KIT-2U", quantity=2)])
    change = quotes.line_changer(add=[LineSpec(product="SVC-DEPLOY", quantity=4)],
                                 update={"2": {"quantity": 3, "discount_percent": Decimal("5")}},
                                 remove=["3"])
    edit(env, number, change_lines=change)
    lines = snapshot(env, number)["lines"]
    assert [(ln["key"], ln["product"], ln["quantity"], ln["position"]) for ln in lines] == [
        ("1", "SUP-MC-Y", 1, 0), ("2", "TRAINING-DAY", 3, 1), ("4", "SVC-DEPLOY", 4, 2)]
    assert Decimal(lines[1]["discount_percent"]) == 5
    with session_scope(env.engine) as session:
        priced = quotes.get_quote(session, number).priced
    assert [line["id"] for line in priced["lines"]] == ["1", "2", "4"]


@pytest.mark.parametrize("change, field", [
    ({"update": {"9": {"quantity": 2}}}, "lines.9"),
    ({"remove": ["9"]}, "lines.9"),
    ({"update": {"1": {"colour": "red"}}}, "lines.1.colour"),
    ({"update": {"1": {"quantity": 0}}}, "lines[0].quantity"),
])
def test_line_changer_names_unknown_lines_and_fields(env, change, field):
    number = new_quote(env)
    before = snapshot(env, number)
    with pytest.raises(InvalidInput) as exc_info:
        edit(env, number, change_lines=quotes.line_changer(**change))
    assert exc_info.value.field == field
    assert snapshot(env, number) == before


def test_expected_lock_refuses_a_lost_update(env):
    number = new_quote(env)
    with session_scope(env.engine) as session:
        lock = quotes.get_quote(session, number).lock_version
    edit(env, number, header={"title": "first"}, expected_lock=lock)
    with pytest.raises(InvalidTransition) as exc_info:
        edit(env, number, header={"title": "second"}, expected_lock=lock)
    assert exc_info.value.state == "draft"
    assert snapshot(env, number)["quote"]["title"] == "first"


# ---- the workflow and its audit trail --------------------------------------------------------

def test_every_transition_is_audited_with_states_and_actor(env):
    number = new_quote(env, MANAGER)
    submit(env, number)
    with session_scope(env.engine) as session:
        workflow.recall(session, user(session, env), number, "oops")
    submit(env, number)
    approve(env, number, approve=False, comment="no")
    edit(env, number, header={"title": "again"})
    number2 = to_state(env, "accepted")
    number3 = to_state(env, "approved")
    with session_scope(env.engine) as session:
        workflow.expire_due(session, TODAY + timedelta(days=365))
        names = {u.id: f"{u.name} <{u.email}>" for u in session.exec(select(User))}
        by_number = {n: [(e.action, e.from_state, e.to_state, e.actor_id, e.actor)
                         for e in audit.history(session, quotes.get_quote(session, n))]
                     for n in (number, number2, number3)}
    rep, manager = env.users["rep"], env.users["manager"]
    R, M = (rep, names[rep]), (manager, names[manager])
    assert by_number[number] == [
        ("create", None, "draft", *R), ("submit", "draft", "pending_approval", *R),
        ("recall", "pending_approval", "draft", *R), ("submit", "draft", "pending_approval", *R),
        ("reject_level", None, None, *M), ("reject", "pending_approval", "rejected", *M),
        ("edit", "rejected", "draft", *R)]
    assert by_number[number2] == [
        ("create", None, "draft", *R), ("submit", "draft", "pending_approval", *R),
        ("approve_level", None, None, *M), ("approve", "pending_approval", "approved", *M),
        ("send", "approved", "sent", *R), ("accept", "sent", "accepted", None, "customer Jo <jo@acme.com>")]
    assert by_number[number3][-1] == ("expire", "approved", "expired", None, "system")
    with session_scope(env.engine) as session:
        transitions = session.exec(select(QuoteEvent).where(QuoteEvent.to_state.is_not(None))).all()
        assert all(e.at is not None and e.actor for e in transitions)


def test_events_are_written_once(env):
    number = new_quote(env)
    with pytest.raises(ImmutableRecord):
        with session_scope(env.engine) as session:
            event = audit.history(session, quotes.get_quote(session, number))[0]
            event.reason = "rewritten"
            session.add(event)
            session.flush()


def test_submit_creates_the_steps_the_price_needs(env):
    number = new_quote(env, [LineSpec(product="SUP-MC-Y", discount_percent=Decimal("35"))],
                       payment_terms="net60")
    assert submit(env, number) == "pending_approval"
    with session_scope(env.engine) as session:
        quote = quotes.get_quote(session, number)
        steps = workflow.steps_of(session, quote)
        assert [(s.stage, s.level, s.status) for s in steps] == [
            (1, "sales_manager", "pending"), (2, "finance", "pending"), (2, "vp_sales", "pending")]
        assert all(s.fingerprint == quote.fingerprint and s.reasons for s in steps)


def test_nobody_approves_their_own_quote_and_approvers_act_for_their_levels(env):
    with session_scope(env.engine) as session:
        manager = user(session, env, "manager")
        number = quotes.create_quote(session, manager, "ACME", {}, MANAGER, TODAY).number
        workflow.submit(session, manager, number, TODAY)
    with pytest.raises(Forbidden):
        approve(env, number, who="manager")
    with pytest.raises(Forbidden):
        approve(env, number, who="vp")
    with pytest.raises(Forbidden):
        approve(env, number, who="rep")


def test_a_rejected_quote_fixed_and_resubmitted_can_be_approved(env):
    number = to_state(env, "rejected")
    edit(env, number, lines=[LineSpec(product="SUP-MC-Y", discount_percent=Decimal("18"), key="1")])
    assert submit(env, number) == "pending_approval"
    assert approve(env, number) == "approved"


# ---- expiry ----------------------------------------------------------------------------------

def test_expire_due_expires_approved_and_sent_revisions_past_their_date_once(env):
    numbers = {state: to_state(env, state) for state in ("draft", "pending_approval", "approved", "sent")}
    late = new_quote(env, expires_on=TODAY + timedelta(days=90))
    submit(env, late)
    expires_on = TODAY + timedelta(days=quotes.VALIDITY_DAYS)
    with session_scope(env.engine) as session:
        assert workflow.expire_due(session, expires_on) == []          # valid through its last day
    with session_scope(env.engine) as session:
        due = workflow.expire_due(session, expires_on + timedelta(days=1))
        assert sorted(q.number for q in due) == sorted([numbers["approved"], numbers["sent"]])
    with session_scope(env.engine) as session:
        assert workflow.expire_due(session, expires_on + timedelta(days=1)) == []
        states = {n: quotes.get_quote(session, n).state for n in numbers.values()}
        assert quotes.get_quote(session, late).state == "approved"
    assert states == {numbers["draft"]: "draft", numbers["pending_approval"]: "pending_approval",
                      numbers["approved"]: "expired", numbers["sent"]: "expired"}


def test_expire_due_leaves_superseded_revisions_alone(env):
    number = to_state(env, "approved")
    edit(env, number, header={"title": "r2"})
    with session_scope(env.engine) as session:
        assert workflow.expire_due(session, TODAY + timedelta(days=365)) == []
        assert [q.state for q in quotes.revisions(session, number)] == ["approved", "draft"]


def test_an_expired_quote_can_be_neither_sent_nor_accepted(env):
    unsent = to_state(env, "approved")
    number = to_state(env, "approved")
    token = send(env, number)
    later = TODAY + timedelta(days=quotes.VALIDITY_DAYS + 1)
    with pytest.raises(InvalidTransition):
        send(env, unsent, today=later)
    with pytest.raises(InvalidTransition) as exc_info:
        with session_scope(env.engine) as session:
            acceptance.accept(session, token, "Jo", "jo@acme.com", "", "", later)
    assert exc_info.value.state == "expired"
    with session_scope(env.engine) as session:
        assert quotes.get_quote(session, number).state == "sent"
        assert quotes.get_quote(session, unsent).state == "approved"
        assert session.exec(select(Decision)).all() == []
