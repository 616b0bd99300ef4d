"""Customer acceptance through a share link, with an e-signature.

A share link is a random token stored only as its hash (core/tokens.py). The customer sees the exact PDF that was sent and accepts it by typing
their name and email; the decision records time, IP address, user agent and the SHA-256 of
the document accepted. Accepting again returns the first acceptance; a revision that expired
or was superseded by a newer one cannot be accepted; declining records a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlmodel import Session, select

from core import docstore
from core.db import aware, insert_row, locked, locking_of, utcnow
from core.docstore import Document
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.tokens import new_token, token_hash
from core.users import EMAIL_RE, User
from rules import promotions
from rules.store import get_rule_set
from sales.accounts import Account
from sales.audit import record
from sales.models import Decision, Quote, ShareLink
from sales.order_models import Contract


def create_link(session: Session, quote: Quote, actor: User, days: int | None = None) -> str:
    """A new share link to a sent (or being sent) revision; the token is returned once.
    It lasts until the end of the quote's validity unless `days` says otherwise."""
    token = new_token()
    if days is not None:
        expires = utcnow() + timedelta(days=days)
    else:
        expires = datetime.combine(quote.expires_on + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    session.add(ShareLink(token_hash=token_hash(token), quote_id=quote.id, expires_at=expires, created_by=actor.id))
    session.flush()
    return token


@dataclass(frozen=True)
class Shared:
    quote: Quote
    document: Document | None          # its facts (status, SHA-256), not its bytes
    decision: Decision | None
    superseded: bool
    link_expires_at: datetime


def open_link(session: Session, token: str) -> Shared:
    """What a share link shows; an unknown or expired link is not found (nothing leaks)."""
    link, quote = opened(session, token, Quote)
    return Shared(quote, docstore.facts(session, "quote", quote.id), session.get(Decision, quote.id),
                  not quote.latest, aware(link.expires_at))


#: a share link and what it opens (a quote revision, a contract) read in one statement, and with
#: that row locked for writing (core.db.locking_of), built once
_OPENS = {table: select(ShareLink, table).join(table, table.id == column).where(
    ShareLink.token_hash == sa.bindparam("hashed")) for table, column in ((Quote, ShareLink.quote_id),
                                                                         (Contract, ShareLink.contract_id))}
_OPENS_LOCKING = {table: locking_of(statement, table) for table, statement in _OPENS.items()}


def opened(session: Session, token: str, table, *, lock: bool = False) -> tuple[ShareLink, Quote | Contract]:
    """A share link to a row of `table` (Quote or Contract) that is known and has not expired
    (else NotFound), and that row, read in one statement (`lock`: the row locked for writing,
    re-read and owned, as core.db.lock_rows does)."""
    rows = []
    if isinstance(token, str) and len(token) <= 100:
        params = {"hashed": token_hash(token)}
        rows = (locked(session, _OPENS_LOCKING[table], params, of=table) if lock
                else list(session.exec(_OPENS[table], params=params)))
    if not rows or aware(rows[0][0].expires_at) < utcnow():
        raise NotFound("this link is unknown or has expired")
    link, row = rows[0]
    return link, row


def accept(session: Session, token: str, name: str, email: str, ip: str, user_agent: str,
           today: date, document_sha256: str | None = None) -> Decision:
    return _decide(session, token, True, name, email, ip, user_agent, today, document_sha256, "")


def decline(session: Session, token: str, name: str, email: str, ip: str, user_agent: str,
            today: date, reason: str) -> Decision:
    if not (reason or "").strip():
        raise InvalidInput("reason", "say why the quote is declined")
    return _decide(session, token, False, name, email, ip, user_agent, today, None, reason.strip())


def _decide(session: Session, token: str, accepted: bool, name: str, email: str, ip: str,
            user_agent: str, today: date, document_sha256: str | None, reason: str) -> Decision:
    quote = opened(session, token, Quote, lock=True)[1]
    # a decision moves its quote out of "sent" for good (a change makes a new revision), so only
    # a quote past it can have one: a retry, answered with the first decision
    earlier = session.get(Decision, quote.id) if quote.state != "sent" else None
    action = "accept it" if accepted else "decline it"
    if earlier is not None:
        if earlier.accepted == accepted:
            return earlier                          # a retry: the first decision stands
        raise InvalidTransition(quote.label, quote.state, action)
    if not quote.latest:
        raise InvalidTransition(quote.label, "superseded", action, "a newer revision was issued")
    if quote.state != "sent":
        raise InvalidTransition(quote.label, quote.state, action)
    if quote.expires_on < today:
        raise InvalidTransition(quote.label, "expired", action, f"it was valid until {quote.expires_on.isoformat()}")
    name, email = (name or "").strip(), (email or "").strip().lower()
    if not name:
        raise InvalidInput("name", "type your full name to sign")
    if not EMAIL_RE.match(email):
        raise InvalidInput("email", "expected an email address")
    document = docstore.ready(session, "quote", quote.id)        # what the customer accepts exists
    if document_sha256 is not None and document_sha256 != document.sha256:
        raise InvalidInput("document_sha256", "this is not the document that was sent; reload the page")
    if accepted:
        _redeem_promotions(session, quote)
    decision = Decision(quote_id=quote.id, accepted=accepted, name=name[:200], email=email[:254],
                        ip=(ip or "")[:64], user_agent=(user_agent or "")[:500],
                        document_sha256=document.sha256, reason=reason[:2000])
    insert_row(session, decision)                   # a retry finds it with a query
    to = "accepted" if accepted else "declined"
    record(session, quote, f"customer {name} <{email}>", "accept" if accepted else "decline", quote.state, to,
           reason, {"ip": decision.ip, "sha256": document.sha256})
    quote.state, quote.decided_at = to, utcnow()
    session.add(quote)
    session.flush()
    return decision


def _redeem_promotions(session: Session, quote: Quote) -> None:
    """Acceptance commits the deal, so it uses up the promo codes its price applied (a draft
    only reads their usage). A code whose limit was reached meanwhile refuses the acceptance
    (PromoLimitReached) and nothing is recorded: the rep must re-quote."""
    codes = [o["rule"] for o in (quote.priced or {}).get("promotions", []) if o["applied"]]
    if not codes:
        return
    rule_set = get_rule_set(session, quote.rule_set, quote.rule_set_version)
    customer = session.get(Account, quote.account_id).code
    for code in codes:
        promotions.redeem(session, rule_set, code, customer, f"{quote.number} r{quote.revision}")
