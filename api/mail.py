"""/api/v1/mail: the e-mail outbox (what was sent, what waits and why, what failed) and
sending a message again. Sending itself is `cpq worker` (core/mail_delivery.py)."""

from __future__ import annotations

from api import mail_schemas as ms
from api.blueprint import Blueprint, app_settings, db_session
from core import mail

blp = Blueprint("mail", __name__, url_prefix="/api/v1", description="The e-mail outbox")


@blp.get("/mail")
@blp.requires("mail:manage")
@blp.arguments(ms.MailQuery, location="query")
@blp.response(200, ms.MailMessageSchema(many=True))
def outbox(query):
    """The newest messages first, with their status, attempts and last error."""
    with db_session() as session:
        return [mail.as_listed(message) for message in mail.list_messages(session, query["status"], query["limit"])]


@blp.get("/mail/<int:message_id>")
@blp.requires("mail:manage")
@blp.response(200, ms.MailMessageBodySchema)
def message(message_id):
    """One message with its text and HTML bodies, as sent (or to be sent)."""
    with db_session() as session:
        return mail.as_shown(mail.get_message(session, message_id), app_settings())


@blp.post("/mail/<int:message_id>/retry")
@blp.requires("mail:manage")
@blp.response(202, ms.MailMessageSchema)
def retry(message_id):
    """Send a failed or waiting message again now; a sent one is never sent twice."""
    with db_session() as session:
        return mail.retry(session, message_id)
