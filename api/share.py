"""The customer's quote by share link as JSON: read it, accept it (typed-name e-signature) or
decline it. The same link's web page is web/share.py.

The token in the URL is the only credential; an unknown or expired one is a 404.
"""

from __future__ import annotations

from datetime import date

from api import sales_schemas as ss
from api.auth import client
from api.blueprint import Blueprint, db_session
from core.permissions import PUBLIC
from sales import acceptance

blp = Blueprint("shared", __name__, url_prefix="/api/v1", description="Customer view and acceptance by share link")


def _shared_view(shared: acceptance.Shared) -> dict:
    q = shared.quote
    return {"number": q.number, "revision": q.revision, "state": q.state, "superseded": shared.superseded,
            "expires_on": q.expires_on, "link_expires_at": shared.link_expires_at,
            "document_sha256": shared.document.sha256 if shared.document else None,
            "document_status": shared.document.status if shared.document else None,
            "price": q.priced, "decision": shared.decision}


@blp.get("/shared/<token>")
@blp.requires(PUBLIC)
@blp.response(200, ss.SharedQuoteSchema)
def shared_quote(token):
    with db_session() as session:
        return _shared_view(acceptance.open_link(session, token))


@blp.post("/shared/<token>/accept")
@blp.requires(PUBLIC)
@blp.arguments(ss.CustomerDecisionInSchema)
@blp.response(200, ss.CustomerDecisionSchema)
def accept(data, token):
    """Accept with a typed-name e-signature; accepting again returns the first acceptance."""
    with db_session() as session:
        ip, agent = client()
        return acceptance.accept(session, token, data["name"], data["email"], ip, agent, date.today(),
                                 data["document_sha256"])


@blp.post("/shared/<token>/decline")
@blp.requires(PUBLIC)
@blp.arguments(ss.CustomerDecisionInSchema)
@blp.response(200, ss.CustomerDecisionSchema)
def decline(data, token):
    with db_session() as session:
        ip, agent = client()
        return acceptance.decline(session, token, data["name"], data["email"], ip, agent, date.today(),
                                  data["reason"])
