"""Rendered documents (quote, contract and invoice PDFs, e-invoice XML), stored apart from the
rows they belong to and loaded only when asked for.

Issuing an invoice, sending a quote or a contract commits its number and facts at once and
asks for its documents (`request`); a worker renders them after the commit (`tasks.documents`)
and stores the bytes with their SHA-256 (`store`). Rendering reads only what was committed,
so the bytes are the same whenever and however often it runs; storing twice keeps the first.
Until then a document is `pending`; a periodic sweep sends again what waits too long.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Field, Session, select

from core import queue, webhooks
from core.db import Table, insert_ignoring, lock_row, timestamp, utcnow, with_defaults
from core.errors import DomainError

KINDS = ("quote", "preview", "contract", "invoice")
FORMATS = {"pdf": "application/pdf", "cii": "application/xml"}
PENDING, READY, FAILED = "pending", "ready", "failed"
RENDER = "documents.render"                    # the task (tasks/documents.py)


class Document(Table, table=True):
    __tablename__ = "document"
    __table_args__ = (sa.UniqueConstraint("kind", "ref", "format"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)              # quote | preview | contract | invoice
    ref: int = Field(index=True)                  # the quote revision's, contract's or invoice's id
    format: str = Field(max_length=8)             # pdf | cii
    status: str = Field(default=PENDING, max_length=16)
    source: str = Field(default="", max_length=64)   # what a preview was rendered from (its fingerprint)
    sha256: str | None = Field(default=None, max_length=64)
    size: int | None = None
    content: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True))
    attempts: int = 0
    error: str = Field(default="", max_length=500)
    requested_at: datetime = timestamp()
    ready_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


#: every column but the bytes: what a view, a status or a sweep reads. A read returns them as a
#: row (attributes named as the Document's, immutable), never as a half-loaded Document.
_FACTS = tuple(c for c in Document.__table__.c if c.name != "content")
Facts = sa.Row
#: a document's facts by kind, ref and format: built once (building it costs more than running it)
_FACTS_OF = select(*_FACTS).where(Document.kind == sa.bindparam("of_kind"), Document.ref == sa.bindparam("of_ref"),
                                  Document.format == sa.bindparam("of_format"))


def request(session: Session, kind: str, ref: int, fmt: str = "pdf", source: str = "") -> Facts | Document:
    """Ask for a document (rendered after the commit); asking again for the same `source`
    changes nothing, for another source (a changed draft) it is rendered anew."""
    return request_formats(session, kind, ref, (fmt,), source)[0]


def request_formats(session: Session, kind: str, ref: int, formats: tuple[str, ...],
                    source: str = "") -> list[Facts | Document]:
    """`request` for an object's documents in several formats, written at once: one INSERT
    that skips those stored already (a new object's documents need nothing more), which are
    then read, and rendered anew where asked for from another source."""
    now = utcnow()
    new = {row.format: row for row in session.connection().execute(
        insert_ignoring(session, Document.__table__, "kind", "ref", "format", returning=_FACTS),
        [with_defaults(Document, dict(kind=kind, ref=ref, format=fmt, source=source, requested_at=now))
         for fmt in formats])}
    if new:                                         # one task for them all (tasks/documents.py)
        queue.enqueue(session, RENDER, *sorted(row.id for row in new.values()))
    if len(new) == len(formats):
        return [new[fmt] for fmt in formats]
    stored = {row.format: row for row in session.exec(select(*_FACTS).where(
        Document.kind == kind, Document.ref == ref, Document.format.in_(set(formats) - set(new))))}
    out, asked = [], []
    for fmt in formats:
        if fmt in new:
            out.append(new[fmt])
            continue
        found = stored[fmt]
        if found.source == source:
            out.append(found)
            continue
        found = session.get(Document, found.id)
        found.status, found.source, found.sha256, found.size, found.content = PENDING, source, None, None, None
        found.attempts, found.error, found.requested_at, found.ready_at = 0, "", now, None
        session.add(found)
        out.append(found)
        asked.append(found)
    if asked:
        session.flush()
        queue.enqueue(session, RENDER, *(document.id for document in asked))
    return out


def facts(session: Session, kind: str, ref: int, fmt: str = "pdf") -> Facts | None:
    """The document's status and hash, without its bytes."""
    return session.exec(_FACTS_OF, params={"of_kind": kind, "of_ref": ref, "of_format": fmt}).first()


def facts_of(session: Session, kind: str, refs: list[int]) -> dict[tuple[int, str], Facts]:
    """The documents of a page of objects, by (ref, format), in one statement."""
    if not refs:
        return {}
    rows = session.exec(select(*_FACTS).where(Document.kind == kind, Document.ref.in_(refs)))
    return {(row.ref, row.format): row for row in rows}


class NotReady(DomainError):
    """The document is still being rendered: ask again in a moment."""


def ready(session: Session, kind: str, ref: int, fmt: str = "pdf") -> Facts:
    """The document's facts once it is ready (a customer accepts or signs only what exists)."""
    found = facts(session, kind, ref, fmt)
    if found is None or found.status != READY:
        state = "failed to render" if found is not None and found.status == FAILED else "still being prepared"
        raise NotReady(f"the {kind} document is {state}; try again in a moment")
    return found


def pending(session: Session, document_id: int) -> Facts | None:
    """A document still to render, without its bytes (None when ready already, or gone)."""
    row = session.exec(select(*_FACTS).where(Document.id == document_id, Document.status == PENDING)).first()
    return None if row is None else row


def content(session: Session, kind: str, ref: int, fmt: str = "pdf") -> bytes | None:
    """A ready document's bytes (None while it is not ready)."""
    return session.exec(select(Document.content).where(Document.kind == kind, Document.ref == ref,
                                                        Document.format == fmt, Document.status == READY)).first()


def store(session: Session, document_id: int, body: bytes, about: dict) -> Document | None:
    """Keep rendered bytes with their SHA-256, unless the document is ready already (a render
    that ran twice); returns it when stored. `about` (its number...) goes into the
    `document.ready` event."""
    document = lock_row(session, Document, document_id)
    if document is None or document.status == READY:
        return None
    document.content, document.size = body, len(body)
    document.sha256 = hashlib.sha256(body).hexdigest()
    document.status, document.ready_at, document.error = READY, utcnow(), ""
    session.add(document)
    webhooks.emit(session, "document.ready", {**about, "kind": document.kind, "format": document.format,
                                              "sha256": document.sha256, "size": document.size})
    return document


def failed(session: Session, document_id: int, error: str, final: bool) -> None:
    """Count a failed render (and give up after the last attempt: status `failed`)."""
    document = session.get(Document, document_id)
    if document is not None and document.status != READY:
        document.attempts += 1
        document.error = error[:500]
        document.status = FAILED if final else PENDING
        session.add(document)


def waiting(session: Session) -> list[int]:
    """Every document still to render, oldest first."""
    return list(session.exec(select(Document.id).where(Document.status == PENDING).order_by(Document.id)))


def stale(session: Session, older_than: timedelta = timedelta(minutes=2)) -> list[int]:
    """Documents still pending long after they were asked for (their task was lost, or the
    render failed): each is asked for again now, so the next sweep leaves it a while."""
    ids = list(session.exec(select(Document.id).where(Document.status == PENDING,
                                                      Document.requested_at < utcnow() - older_than)))
    if ids:
        session.execute(sa.update(Document).where(Document.id.in_(ids)).values(requested_at=utcnow()))
    return ids


def pending_count(session: Session) -> int:
    """Documents waiting to be rendered: the render queue's depth."""
    return session.exec(select(sa.func.count(Document.id)).where(Document.status == PENDING)).one()
