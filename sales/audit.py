"""The audit trail of quotes: who did what, when, from which state to which, and why.

Events are written in the caller's transaction (core.db.append), so they commit or roll back
with the change they describe: there is never a change without its event, nor an event
without its change.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlmodel import Session, select

from core import webhooks
from core.db import append
from core.users import User, describe
from sales.accounts import Account
from sales.models import Quote, QuoteEvent


def record(session: Session, quote: Quote, actor: User | str | None, action: str,
           from_state: str | None, to_state: str | None, reason: str = "",
           data: Mapping[str, Any] | None = None) -> None:
    """`actor` is a user, or a plain description for the customer or the system."""
    append(session, QuoteEvent, dict(quote_id=quote.id, actor_id=actor.id if isinstance(actor, User) else None,
                                     actor=describe(actor)[:254], action=action, from_state=from_state,
                                     to_state=to_state, reason=(reason or "")[:2000], data=dict(data or {})))
    webhooks.emit_for(session, "quote", action, lambda: summary(session, quote) | {"state": to_state or quote.state})


def summary(session: Session, quote: Quote) -> dict:
    """What webhooks tell about a quote (the receiver reads the rest through the API)."""
    return {"number": quote.number, "revision": quote.revision, "state": quote.state,
            "account": session.get(Account, quote.account_id).code, "currency": quote.currency,
            "contract_value": ((quote.priced or {}).get("totals") or {}).get("contract_value")}


def history(session: Session, quote: Quote) -> list[QuoteEvent]:
    return list(session.exec(select(QuoteEvent).where(QuoteEvent.quote_id == quote.id)
                             .order_by(QuoteEvent.id)))
