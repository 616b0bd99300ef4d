"""/api/v1 billing portal: finance sends an account's contact a link (by e-mail; the token is
also shown once), and
the customer's portal as JSON through it. The same link's web page is web/share.py (/p/<token>).

The token in the URL is the only credential; an unknown, expired or revoked one is a 404.
"""

from __future__ import annotations

from flask import url_for

from api import billing_schemas as bs
from api.auth import caller
from api.blueprint import Blueprint, app_settings, db_session
from api.documents import DOCUMENT_RESPONSES, served
from billing import mail as billing_mail
from billing import portal
from core.crypto import SecretBox
from core.permissions import PUBLIC
from sales.accounts import get_account

blp = Blueprint("portal", __name__, url_prefix="/api/v1", description="The customer's billing portal")


@blp.post("/accounts/<code>/portal-links")
@blp.requires("portal:invite")
@blp.arguments(bs.PortalInviteSchema)
@blp.response(201, bs.PortalLinkSchema)
def invite(data, code):
    """A link to the account's billing portal for one of its contacts (the token is shown once),
    e-mailed to that contact unless `send_email` is false."""
    with db_session() as session:
        link, token = portal.invite(session, get_account(session, code), data["email"], data["days"],
                                    caller().user_id)
        url = url_for("share.portal_page", token=token, _external=True)
        settings = app_settings()
        sent = billing_mail.portal_link(session, link, url, str(settings.company["name"]),
                                        SecretBox.from_settings(settings)) if data["send_email"] else None
        return {"email": link.email, "token": token, "expires_at": link.expires_at, "url": url, "mail": sent}


@blp.delete("/accounts/<code>/portal-links")
@blp.requires("portal:invite")
@blp.response(200, bs.RevokedSchema)
def revoke(code):
    """End every portal link of the account at once."""
    with db_session() as session:
        return {"revoked": portal.revoke_all(session, get_account(session, code))}


@blp.get("/portal/<token>")
@blp.requires(PUBLIC)
@blp.response(200, bs.PortalSchema)
def overview(token):
    with db_session() as session:
        return portal.overview(session, portal.open_link(session, token),
                               grace_days=app_settings().usage_grace_days)


@blp.get("/portal/<token>/invoices/<int:invoice_id>/<any(pdf, einvoice):what>")
@blp.requires(PUBLIC)
@blp.response(200)
@blp.doc(responses=DOCUMENT_RESPONSES)
def document(token, invoice_id, what):
    """An invoice's PDF or EN 16931 XML (202 while it is being rendered)."""
    with db_session() as session:
        invoice = portal.invoice_of(session, portal.open_link(session, token), invoice_id)
        fmt, suffix = ("pdf", "pdf") if what == "pdf" else ("cii", "xml")
        return served(session, "invoice", invoice.id, fmt, f"{invoice.number}.{suffix}",
                      {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
