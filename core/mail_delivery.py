"""Sending the e-mail outbox over SMTP (`cpq worker`), with retries.

Selecting due messages, locking each while it is sent and settling it in the same transaction
(so a message never goes twice), backoff and giving up are core/outbox.py's; its Message-ID is
the same on every attempt. A message whose attachments are still being rendered waits without
using up an attempt; one whose attachment failed to render fails, saying so. A refusal the
server calls temporary (4xx) or a lost connection is retried; a permanent one (5xx) fails at once.

CPQ_SMTP_URL (Settings.smtp_url, read by core.settings.SmtpServer) names the server. Without
it nothing is sent: messages stay pending in the outbox.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core import docstore
from core.db import aware, utcnow
from core.docstore import Document
from core.crypto import MissingKey, UnreadableSecret
from core.mail import OUTBOX, MailMessage, as_shown, render_waiting, rendered
from core.outbox import DeliveryRun, Outcome
from core.settings import Settings, SmtpServer

MAX_ATTEMPTS = 12                     # about 14 hours of retrying before a message fails
WAIT_FOR_DOCUMENTS = timedelta(seconds=10)
TIMEOUT_SECONDS = 30.0

def smtp_send(server: SmtpServer, message: EmailMessage) -> dict:
    """Send over SMTP; the recipients the server refused (the others got it)."""
    context = ssl.create_default_context()
    if server.tls:
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
    with client:
        if server.starttls:
            client.starttls(context=context)
        if server.user:
            client.login(server.user, server.password)
        return client.send_message(message)


def build(message: MailMessage, files: list[tuple[str, str, bytes]], settings: Settings) -> EmailMessage:
    """The message as sent: text with an HTML alternative, then each attachment."""
    sender = settings.mail_from or str(settings.company.get("email", ""))
    shown = as_shown(message, settings)
    email = EmailMessage()
    email["Subject"] = shown["subject"]
    email["From"] = sender
    email["To"] = ", ".join(message.recipients)
    email["Date"] = format_datetime(aware(message.created_at))
    email["Message-ID"] = f"<{message.message_id}@{parseaddr(sender)[1].rpartition('@')[2] or 'localhost'}>"
    email.set_content(shown["text"])
    email.add_alternative(shown["html"], subtype="html")
    for filename, mime, body in files:
        maintype, _, subtype = mime.partition("/")
        email.add_attachment(body, maintype=maintype, subtype=subtype, filename=filename)
    return email


def deliver_due(engine: Engine, settings: Settings, *, limit: int = 100,
                now: Callable[[], datetime] = utcnow) -> DeliveryRun:
    """Attempt every pending message that is due (up to `limit`), each in its own transaction,
    after rendering those composed to be rendered here (core.mail.render_waiting). Without an
    SMTP server nothing is attempted: the outbox keeps them."""
    render_waiting(engine, limit)
    if not settings.smtp_url:
        return DeliveryRun()
    send = functools.partial(smtp_send, SmtpServer.parse(settings.smtp_url))
    return OUTBOX.deliver_due(engine, functools.partial(_attempt, settings=settings, send=send),
                              max_attempts=MAX_ATTEMPTS, limit=limit, now=now)


def _attempt(session: Session, message: MailMessage, moment: datetime, *, settings: Settings,
             send: Callable[[EmailMessage], dict]) -> Outcome | None:
    """Send the message once, unless its attachments are still being rendered."""
    files, waiting, broken = _attachments(session, message)
    if waiting:
        message.next_attempt_at = moment + WAIT_FOR_DOCUMENTS       # not an attempt: it waits for them
        session.add(message)
        return None
    if broken:
        return Outcome(broken, permanent=True)
    if not message.recipients:
        return Outcome("no recipient", permanent=True)
    try:
        refused = send(build(rendered(message), files, settings))     # composed `later` since render_waiting
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _text in exc.recipients.values()]
        return Outcome(f"every recipient refused: {exc.recipients}", permanent=all(c >= 500 for c in codes))
    except smtplib.SMTPResponseException as exc:
        return Outcome(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500)
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(f"{type(exc).__name__}: {exc}")
    except UnreadableSecret as exc:                 # a key was dropped: no retry reads it
        return Outcome(str(exc), permanent=True)
    except MissingKey as exc:                       # the worker lacks SECRET_KEY: retried once it has it
        return Outcome(str(exc))
    note = "refused by the server for " + ", ".join(sorted(refused)) if refused else ""
    return Outcome(note=note)                       # sent (to the others, when some were refused)


def _attachments(session: Session, message: MailMessage) -> tuple[list[tuple[str, str, bytes]], bool, str]:
    """(file name, MIME type, bytes) of each attachment; whether one is still being rendered;
    why one cannot be attached (it failed to render, or is gone)."""
    files, waiting = [], False
    for attachment in message.attachments:
        document = session.get(Document, attachment["document_id"])
        if document is None:
            return [], False, f"attachment {attachment['filename']}: the document is gone"
        if document.status == docstore.FAILED:
            return [], False, f"attachment {attachment['filename']}: the document failed to render ({document.error})"
        if document.status != docstore.READY:
            waiting = True
            continue
        files.append((attachment["filename"], docstore.FORMATS[document.format], document.content))
    return files, waiting, ""


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
