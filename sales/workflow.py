"""A quote's life: submit, approve or reject, recall, send, expire, revise.

draft -> pending_approval -> approved | rejected -> sent -> accepted | declined | expired
approved | sent | accepted | declined | expired -> (revise) a new revision, as a draft

Submitting creates the approval steps the stored price needs (the approval policy of the
rule set, docs/pricing.md): levels of one stage decide in parallel, stages in sequence. A
revision that needs none is approved on submit. Nobody approves their own quote, and an
approver acts only for a level they hold. Each step records the fingerprint of the inputs it
approved; sending checks that every step approved exactly what is being sent, so no path
(editing, cloning, a new revision) reaches a customer without the approvals its price needs.
Each transition is recorded in the audit trail in the same transaction.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from core.db import lock_rows, utcnow
from core.errors import Forbidden, InvalidInput, InvalidTransition
from core.users import User
from core import docstore
from sales import acceptance, contracts
from sales.audit import record
from sales.models import FINAL, FROZEN, ApprovalStep, Quote
from sales.order_models import Contract, Order, SubscriptionVersion
from sales.quotes import check_owner, get_quote, lines_of, new_revision, required_approvals


def _expect(quote: Quote, states: tuple[str, ...], action: str) -> None:
    if not quote.latest:
        raise InvalidTransition(quote.label, "superseded", action, "a newer revision exists")
    if quote.state not in states:
        raise InvalidTransition(quote.label, quote.state, action)


def _move(session: Session, quote: Quote, actor, action: str, to: str, reason: str = "",
          data: dict | None = None) -> Quote:
    record(session, quote, actor, action, quote.state, to, reason, data)
    quote.state = to
    quote.updated_at = utcnow()
    session.add(quote)
    session.flush()
    return quote


def steps_of(session: Session, quote: Quote) -> list[ApprovalStep]:
    """Every approval step of the revision, all rounds (history included)."""
    return list(session.exec(select(ApprovalStep).where(ApprovalStep.quote_id == quote.id)
                             .order_by(ApprovalStep.round, ApprovalStep.stage, ApprovalStep.id)))


def current_steps(session: Session, quote: Quote) -> list[ApprovalStep]:
    """The steps of the latest submission: earlier rounds (recalled or rejected) are history."""
    steps = steps_of(session, quote)
    last = max((s.round for s in steps), default=0)
    return [s for s in steps if s.round == last]


def submit(session: Session, actor: User, number: str, today: date, comment: str = "") -> Quote:
    quote = get_quote(session, number, lock=True)
    _expect(quote, ("draft",), "submit it")
    check_owner(quote, actor, "submit")
    if not lines_of(session, quote):
        raise InvalidInput("lines", "a quote needs at least one line")
    if quote.expires_on < today:
        raise InvalidInput("expires_on", f"the quote expired on {quote.expires_on.isoformat()}")
    needed = required_approvals(quote)
    quote.submitted_at = utcnow()
    if not needed:
        return _move(session, quote, actor, "submit", "approved", comment or "no approval required")
    round_ = max((s.round for s in steps_of(session, quote)), default=0) + 1
    for level in needed:
        session.add(ApprovalStep(quote_id=quote.id, round=round_, level=level["level"], label=level["label"],
                                 stage=level["stage"], reasons=level["reasons"], fingerprint=quote.fingerprint))
    return _move(session, quote, actor, "submit", "pending_approval", comment,
                 {"levels": [level["level"] for level in needed]})


def recall(session: Session, actor: User, number: str, reason: str = "") -> Quote:
    """Take a revision back from approval to change it; its pending steps are void."""
    quote = get_quote(session, number, lock=True)
    _expect(quote, ("pending_approval",), "recall it")
    check_owner(quote, actor, "recall")
    _void(session, quote, "recalled")
    return _move(session, quote, actor, "recall", "draft", reason)


def decide(session: Session, actor: User, number: str, level: str, approve: bool, comment: str = "") -> Quote:
    """An approver's decision on one level of the latest revision."""
    quote = get_quote(session, number, lock=True)
    _expect(quote, ("pending_approval",), "approve or reject it")
    if actor.id == quote.owner_id:
        raise Forbidden(f"{actor.name} owns {quote.label} and cannot approve it")
    if not actor.holds(level):
        raise Forbidden(f"{actor.name} does not hold the approval level {level}")
    if not approve and not comment.strip():
        raise InvalidInput("comment", "a rejection needs a reason")
    steps = current_steps(session, quote)
    pending = [s for s in steps if s.status == "pending"]
    step = next((s for s in pending if s.level == level), None)
    if step is None:
        raise InvalidInput("level", f"{quote.label} has no pending approval at level {level}")
    current = min(s.stage for s in pending)
    if step.stage != current:
        waiting = ", ".join(s.level for s in pending if s.stage == current)
        raise InvalidTransition(quote.label, quote.state, f"approve level {level} yet",
                                f"stage {current} ({waiting}) decides first")
    if step.fingerprint != quote.fingerprint:      # cannot happen through edit(); checked anyway
        raise InvalidTransition(quote.label, quote.state, "approve it", "it changed after it was submitted")
    step.status = "approved" if approve else "rejected"
    step.decided_by, step.decided_at, step.comment = actor.id, utcnow(), comment
    session.add(step)
    record(session, quote, actor, "approve_level" if approve else "reject_level", None, None, comment, {"level": level})
    if not approve:
        _void(session, quote, f"rejected at level {level}")
        quote.decided_at = utcnow()
        return _move(session, quote, actor, "reject", "rejected", comment, {"level": level})
    if all(s.status == "approved" for s in steps):
        return _move(session, quote, actor, "approve", "approved", "every required approval is given")
    session.flush()
    return quote


def _void(session: Session, quote: Quote, why: str) -> None:
    for step in current_steps(session, quote):
        if step.status == "pending":
            step.status, step.comment = "void", why
            session.add(step)


def check_approved(session: Session, quote: Quote) -> None:
    """Refuse unless every approval the stored price needs was given to exactly this price."""
    needed = {a["level"] for a in required_approvals(quote)}
    approved = {s.level for s in current_steps(session, quote)
                if s.status == "approved" and s.fingerprint == quote.fingerprint}
    missing = sorted(needed - approved)
    if missing:
        raise InvalidTransition(quote.label, quote.state, "send it", "missing approvals: " + ", ".join(missing))


def send(session: Session, actor: User, number: str, today: date,
         link_days: int | None = None) -> tuple[Quote, str]:
    """Ask for the approved revision's PDF (rendered once after the commit and stored with its
    SHA-256: core/docstore.py) and open a share link to it; returns the quote and the link's
    token (shown once). The customer accepts once the PDF is ready, exactly those bytes."""
    quote = get_quote(session, number, lock=True)
    _expect(quote, ("approved",), "send it")
    check_owner(quote, actor, "send")
    if quote.expires_on < today:
        raise InvalidTransition(quote.label, quote.state, "send it", f"it expired on {quote.expires_on.isoformat()}")
    check_approved(session, quote)
    docstore.request(session, "quote", quote.id)
    quote.sent_at = utcnow()
    token = acceptance.create_link(session, quote, actor, link_days)
    _move(session, quote, actor, "send", "sent")
    return quote, token


def share(session: Session, actor: User, number: str, link_days: int | None = None) -> str:
    """Another share link to the sent latest revision; returns its token (shown once)."""
    quote = get_quote(session, number)
    _expect(quote, ("sent",), "share it")
    check_owner(quote, actor, "share")
    return acceptance.create_link(session, quote, actor, link_days)


def expire_due(session: Session, today: date) -> list[Quote]:
    """Mark approved and sent revisions past their validity as expired (safe to rerun)."""
    due = lock_rows(session, Quote, Quote.latest, Quote.state.in_(("approved", "sent")), Quote.expires_on < today)
    for quote in due:
        _move(session, quote, "system", "expire", "expired", f"valid until {quote.expires_on.isoformat()}")
    return due


def revise(session: Session, actor: User, number: str, reason: str) -> Quote:
    """Start the next revision of a frozen or accepted quote on purpose. An accepted quote is
    sold: it is revised only while nothing was ordered or signed from it (a contract out for
    signature is withdrawn, so the customer cannot sign what is changing); after that the
    deal changes by an amendment. The new revision needs approval and acceptance again."""
    quote = get_quote(session, number, lock=True)
    _expect(quote, FROZEN + FINAL, "revise it")
    check_owner(quote, actor, "revise")
    if not reason.strip():
        raise InvalidInput("reason", "say why the quote is revised")
    if quote.state in FINAL:
        order = session.exec(select(Order.number).where(Order.quote_id == quote.id)).first()
        if order is not None:
            raise InvalidTransition(quote.label, quote.state, "revise it",
                                    f"order {order} was made from it; change the deal by an amendment")
        contract = session.exec(select(Contract).where(Contract.quote_id == quote.id)).first()
        if contract is not None and contract.state not in ("draft", "sent"):
            raise InvalidTransition(quote.label, quote.state, "revise it",
                                    f"contract {contract.number} is {contract.state}; change the deal by an amendment")
        if quote.kind == "amendment" and session.exec(select(SubscriptionVersion.id).where(
                SubscriptionVersion.quote_id == quote.id)).first() is not None:
            raise InvalidTransition(quote.label, quote.state, "revise it",
                                    "it was applied to its contract; change the deal by another amendment")
        if contract is not None:
            contracts.withdraw(session, actor, contract, f"{quote.label} is revised: {reason}")
    return new_revision(session, actor, quote, reason)
