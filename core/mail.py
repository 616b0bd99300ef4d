"""The e-mail outbox: messages written in the transaction of the change that causes them.

`compose` renders a message from its templates (web/templates/mail/<template>.txt and .html;
the subject is the text template's `{% set subject %}` block, so all wording stays in the
templates) in the customer's language (core/locales.py, docs/i18n.md) and writes it, pending,
in the caller's transaction: the change and its e-mail commit together or not at all. The
language is fixed when it is written, as the words are. `core/mail_delivery.py` sends it later from a worker
(through core/outbox.py, `OUTBOX`), never inside a request. Attachments are documents (core/docstore.py) named by id: the message waits
while one is pending, and fails, saying which, when one failed to render.

A message keeps its Message-ID (`message_id`, the same on every attempt, so a receiver can
drop a duplicate) and its state: `pending` (with attempts, the last error and when it is
tried next), `sent`, or `failed`. Without SMTP settings messages simply stay pending, listed
by the API and `cpq mail list`, until the service is configured.

A message composed `later` (an issued invoice's, written on the request path) keeps its
template's values and language instead of its words: the delivering task renders it, the same
bytes, before anything sends or lists it (`render_waiting`); until then its subject is empty.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Iterable, Mapping

import jinja2
import jinja2.sandbox
import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.engine import Engine
from sqlmodel import JSON, Field, Session, select

from core import locales, queue
from core.crypto import SecretBox
from core.db import Table, get_row, insert_row, session_scope, timestamp, utcnow
from core.errors import NotFound
from core.outbox import FAILED, PENDING, Outbox
from core.settings import PROJECT_ROOT, Settings
from core.tokens import new_id
from core.users import EMAIL_RE

SENT = "sent"
STATUSES = (PENDING, SENT, FAILED)
DELIVER = "mail.deliver"                       # the task (tasks/mail.py)
MAX_RECIPIENTS = 20


class MailMessage(Table, table=True):
    __tablename__ = "mail_message"
    __table_args__ = (sa.Index("ix_mail_message_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(default_factory=lambda: "mail." + new_id(), max_length=40, unique=True)
    template: str = Field(max_length=40, index=True)
    about: str = Field(max_length=120)                       # what it is about: "invoice INV-2026-00001"
    recipients: list = Field(default_factory=list, sa_type=JSON)
    subject: str = Field(max_length=300)
    text: str = Field(sa_type=sa.Text)
    html: str = Field(sa_type=sa.Text)
    sealed: bool = False                                     # bodies encrypted: they carry a link's token
    attachments: list = Field(default_factory=list, sa_type=JSON)   # [{"document_id", "filename"}]
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_error: str = Field(default="", max_length=500)
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = timestamp()
    # {"language", "context"} of a message composed `later`, until it is rendered
    unrendered: dict | None = Field(default=None, sa_type=sa.JSON(none_as_null=True))


#: the messages as an outbox (core/outbox.py)
OUTBOX = Outbox(MailMessage, key="message_id", sent=SENT, sent_at="sent_at")


# Sandboxed like the dunning letters: these are templates an operator edits, and a template
# should read the values it is given and nothing else.
_FOLDER = PROJECT_ROOT / "web" / "templates" / "mail"


def _strong(value) -> Markup:
    """A value in bold inside a translated HTML sentence, whose text stays the plain text's."""
    return Markup("<strong>{}</strong>").format(value)


@lru_cache(maxsize=None)
def _environments(language: str) -> tuple[jinja2.Environment, jinja2.Environment]:
    """The (text, HTML) templates in one language: its catalog and its locale's amounts and
    dates (core.locales.install), made once per language."""
    text = jinja2.sandbox.SandboxedEnvironment(loader=jinja2.FileSystemLoader(_FOLDER),
                                               undefined=jinja2.StrictUndefined, autoescape=False,
                                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                               extensions=["jinja2.ext.i18n"])
    html = jinja2.sandbox.SandboxedEnvironment(loader=jinja2.FileSystemLoader(_FOLDER),
                                               undefined=jinja2.StrictUndefined, autoescape=True,
                                               trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    for env in (text, html):
        locales.install(env, language)
    text.filters["strong"] = str
    html.filters["strong"] = _strong
    return text, html


def render(template: str, context: Mapping[str, Any], language: str = locales.DEFAULT) -> tuple[str, str, str]:
    """(subject, text, html) of a message template in `language` (a customer's; staff mail is
    English). The templates also get `language` itself, for the HTML's `lang`."""
    language = locales.language_of(language)
    text_env, html_env = _environments(language)
    context = {**context, "language": language}
    text = text_env.get_template(f"{template}.txt").make_module(context)
    subject = " ".join(str(getattr(text, "subject", "")).split())
    if not subject:
        raise jinja2.TemplateError(f"{template}.txt sets no subject")
    return subject, str(text), html_env.get_template(f"{template}.html").render(context)


def recipients(addresses: Iterable[str]) -> tuple[list[str], list[str]]:
    """(addresses fit to send to, de-duplicated case-insensitively in the order given; those
    that are not), at most MAX_RECIPIENTS."""
    found: dict[str, str] = {}
    bad = []
    for address in addresses:
        address = (address or "").strip()
        if EMAIL_RE.match(address) and len(address) <= 254 and not any(c in address for c in ',;<>"\r\n'):
            found.setdefault(address.lower(), address)
        else:
            bad.append(address)
    return list(found.values())[:MAX_RECIPIENTS], bad


def compose(session: Session, template: str, context: Mapping[str, Any], to: Iterable[str], about: str,
            attachments: Iterable[tuple[int, str]] = (), seal: SecretBox | None = None,
            language: str = locales.DEFAULT, later: bool = False) -> MailMessage:
    """Write a message, rendered in `language`, to send after the commit; `attachments` are
    (document id, file name).
    With `seal`, its bodies are stored encrypted: a link's token is stored only as its hash
    elsewhere, and the outbox must not give it away either. With nobody to send to, or an
    address that is none (a contact's, stored long ago), it is written failed, so the gap shows
    in the outbox and the change that caused it still stands. With `later`, a message that will
    be sent is rendered by the task that sends it (its values of str, bool, Decimal, date and
    datetime are stored as JSON); never a sealed one, whose values hold what the seal hides."""
    if later and seal is not None:
        raise ValueError("a sealed message is rendered when it is written")
    good, bad = recipients(to)
    message = MailMessage(template=template, about=about[:120], recipients=good, subject="", text="", html="",
                          sealed=seal is not None,
                          attachments=[{"document_id": d, "filename": name} for d, name in attachments])
    if bad or not good:
        message.status, message.next_attempt_at = FAILED, None
        message.last_error = (f"not an e-mail address: {', '.join(map(repr, bad))}" if bad else
                              f"no recipient: {about} has no contact with an e-mail address")[:500]
    if later and message.status == PENDING:
        message.unrendered = {"language": language, "context": {k: _stored(v) for k, v in context.items()}}
    else:
        _fill(message, context, language, seal)
    insert_row(session, message)                 # written once: the outbox's own sessions read it
    if message.status == PENDING:
        queue.enqueue(session, DELIVER, once=True)
    return message


def _fill(message: MailMessage, context: Mapping[str, Any], language: str, seal: SecretBox | None = None) -> None:
    subject, text, html = render(message.template, context, language)
    if seal is not None:
        text, html = seal.seal(text), seal.seal(html)
    message.subject, message.text, message.html = subject[:300], text, html


# A value of a `later` message's context as JSON, and back: the types its templates format.
_TYPES = {"$decimal": Decimal, "$datetime": datetime.fromisoformat, "$date": date.fromisoformat}


def _stored(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, date):
        return {"$datetime" if isinstance(value, datetime) else "$date": value.isoformat()}
    return value


def _loaded(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TYPES:
        kind, text = next(iter(value.items()))
        return _TYPES[kind](text)
    return value


def _waiting(message: MailMessage) -> tuple[dict, str]:
    """(context, language) of a message composed `later`, as it was given."""
    return {k: _loaded(v) for k, v in message.unrendered["context"].items()}, message.unrendered["language"]


def rendered(message: MailMessage) -> MailMessage:
    """The message with its words: a `later` one rendered now (the caller holds its row)."""
    if message.unrendered is not None:
        _fill(message, *_waiting(message))
        message.unrendered = None
    return message


def render_waiting(engine: Engine, limit: int = 100) -> int:
    """Render the pending messages composed `later` (up to `limit`, each locked), whether or not
    they can be sent yet, so the outbox lists them as they will go; how many. One whose
    template an operator broke fails, saying so (retried once it is mended)."""
    with session_scope(engine) as session:
        waiting = list(session.exec(select(MailMessage)
                                    .where(MailMessage.status == PENDING, MailMessage.unrendered.is_not(None))
                                    .order_by(MailMessage.id).limit(limit).with_for_update(skip_locked=True)))
        for message in waiting:
            try:
                rendered(message)
            except jinja2.TemplateError as exc:
                message.status, message.next_attempt_at = FAILED, None
                message.last_error = f"mail template {message.template}: {exc}"[:500]
            session.add(message)
    return len(waiting)


def as_listed(message: MailMessage) -> dict[str, Any]:
    """The message's fields as the outbox lists them: one composed `later` with the subject
    its task will give it (rendered here, not stored)."""
    return message.model_dump() | {"subject": _words(message)[0]}


def as_shown(message: MailMessage, settings: Settings) -> dict[str, Any]:
    """As listed, with its text and HTML bodies as sent (or to be sent), decrypted when sealed
    (raises UnreadableSecret, or MissingKey without the keys)."""
    subject, text, html = _words(message)
    if message.sealed:
        box = SecretBox.from_settings(settings)
        text, html = box.open(text), box.open(html)
    return message.model_dump() | {"subject": subject, "text": text, "html": html}


def _words(message: MailMessage) -> tuple[str, str, str]:
    """(subject, text, html): stored, or for one composed `later`, as its task will render them
    (blank while its template is broken: the task fails it, saying why)."""
    if message.unrendered is not None:
        try:
            return render(message.template, *_waiting(message))
        except jinja2.TemplateError:
            pass
    return message.subject, message.text, message.html


def list_messages(session: Session, status: str | None = None, limit: int = 100) -> list[MailMessage]:
    query = select(MailMessage).order_by(MailMessage.id.desc()).limit(limit)
    if status is not None:
        query = query.where(MailMessage.status == status)
    return list(session.exec(query))


def get_message(session: Session, message_id: int, *, lock: bool = False) -> MailMessage:
    message = get_row(session, MailMessage, message_id, lock=lock)
    if message is None:
        raise NotFound(f"unknown mail message {message_id}")
    return message


def retry(session: Session, message_id: int) -> MailMessage:
    """Send a failed or waiting message again now, on a fresh schedule (e.g. after SMTP or the
    recipient was fixed); one that was sent stays sent (it never goes twice)."""
    message = get_message(session, message_id, lock=True)
    if message.status != SENT:
        message.status, message.next_attempt_at, message.attempts = PENDING, utcnow(), 0
        session.add(message)
        session.flush()
        queue.enqueue(session, DELIVER, once=True)
    return message

