"""Sending the e-mail outbox over SMTP (`cpq worker`), with retries and exponential backoff.

Each due message is locked while it is sent (SKIP LOCKED on PostgreSQL) and marked sent in the
same transaction, so a task that runs twice, or two workers, never send it twice; its
Message-ID is the same on every attempt. A message whose attachments are still being rendered
waits without using up an attempt; one whose attachment failed to render fails, saying so.
A refusal the server calls temporary (4xx) or a lost connection is retried like a webhook
(core/webhook_delivery.py's backoff); a permanent one (5xx) fails at once.

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
from sqlmodel import Session, select

from core import docstore
from core.db import aware, session_scope, utcnow
from core.docstore import Document
from core.crypto import MissingKey, UnreadableSecret
from core.mail import FAILED, PENDING, SENT, MailMessage, bodies
from core.settings import Settings, SmtpServer
from core.webhook_delivery import DeliveryRun, backoff

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
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = ", ".join(message.recipients)
    email["Date"] = format_datetime(aware(message.created_at))
    email["Message-ID"] = f"<{message.message_id}@{parseaddr(sender)[1].rpartition('@')[2] or 'localhost'}>"
    text, html = bodies(message, settings)
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    for filename, mime, body in files:
        maintype, _, subtype = mime.partition("/")
        email.add_attachment(body, maintype=maintype, subtype=subtype, filename=filename)
    return email


def deliver_due(engine: Engine, settings: Settings, *, limit: int = 100,
                now: Callable[[], datetime] = utcnow) -> DeliveryRun:
    """Attempt every pending message that is due (up to `limit`), each in its own transaction.
    Without an SMTP server nothing is attempted: the outbox keeps them."""
    if not settings.smtp_url:
        return DeliveryRun()
    send = functools.partial(smtp_send, SmtpServer.parse(settings.smtp_url))
    run = DeliveryRun()
    with session_scope(engine) as session:
        due = list(session.exec(select(MailMessage.id).where(MailMessage.status == PENDING,
                                                             MailMessage.next_attempt_at <= now())
                                .order_by(MailMessage.next_attempt_at, MailMessage.id).limit(limit)))
    for message_id in due:
        with session_scope(engine) as session:
            message = session.exec(select(MailMessage).where(MailMessage.id == message_id)
                                   .with_for_update(skip_locked=True)).first()
            if message is None or message.status != PENDING:
                continue                                  # another worker has it, or had it
            _attempt(session, message, settings, send, now(), run)
    return run


def _attempt(session: Session, message: MailMessage, settings: Settings, send: Callable[[EmailMessage], dict],
             moment: datetime, run: DeliveryRun) -> None:
    files, waiting, broken = _attachments(session, message)
    if waiting:
        message.next_attempt_at = moment + WAIT_FOR_DOCUMENTS       # not an attempt: it waits for them
        session.add(message)
        return
    error, permanent, note = "", False, ""
    if broken:
        error, permanent = broken, True
    elif not message.recipients:
        error, permanent = "no recipient", True
    else:
        try:
            refused = send(build(message, files, settings))
            if refused:                                   # sent to the others
                note = "refused by the server for " + ", ".join(sorted(refused))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            error, permanent = f"every recipient refused: {exc.recipients}", all(c >= 500 for c in codes)
        except smtplib.SMTPResponseException as exc:
            error, permanent = f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", exc.smtp_code >= 500
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except UnreadableSecret as exc:                 # a key was dropped: no retry reads it
            error, permanent = str(exc), True
        except MissingKey as exc:                       # the worker lacks SECRET_KEY: retried once it has it
            error = str(exc)
    message.attempts += 1
    message.last_error = (error or note)[:500]
    if not error:
        message.status, message.sent_at, message.next_attempt_at = SENT, moment, None
        run.delivered += 1
    elif permanent or message.attempts >= MAX_ATTEMPTS:
        message.status, message.next_attempt_at = FAILED, None
        run.failed += 1
    else:
        message.next_attempt_at = moment + backoff(message.attempts)
        run.retrying += 1
    run.ids.append(message.message_id)
    session.add(message)


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
