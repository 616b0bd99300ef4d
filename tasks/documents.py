"""Rendering documents after the transaction that asked for them commits (core/docstore.py).

A render reads only committed facts, so it can run any number of times, anywhere; a failure
is counted and the document stays pending for the sweep to send again (after a while, so a
broken template does not spin), until the last attempt marks it failed."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlmodel import Session

from billing import invoices
from core import docstore, queue
from core.db import session_scope
from core.docstore import Document
from core.settings import Settings
from sales import contracts, quote_data

ATTEMPTS = 5
log = logging.getLogger(__name__)


def _render(session: Session, document: Document, settings: Settings) -> tuple[bytes, dict]:
    company = dict(settings.company)
    if document.kind in ("quote", "preview"):
        return quote_data.render(session, document.ref, company, draft=document.kind == "preview")
    if document.kind == "contract":
        return contracts.render(session, document.ref, company)
    return invoices.render(session, document.ref, document.format)


@shared_task(name=docstore.RENDER)
def render(*document_ids: int) -> None:
    """Render these documents, each on its own (an object's formats, asked for at once, come
    in one message: one send after the commit instead of one per format)."""
    engine, settings = queue.context()
    for document_id in document_ids:
        _render_one(engine, settings, document_id)


def _render_one(engine, settings: Settings, document_id: int) -> None:
    with session_scope(engine) as session:
        document = docstore.pending(session, document_id)
        if document is None:
            return                                  # ready already, or gone
        final = document.attempts + 1 >= ATTEMPTS
        try:
            body, about = _render(session, document, settings)
        except Exception as exc:                    # counted, kept, tried again by the sweep
            log.exception("rendering document %s failed", document_id)
            failure = f"{type(exc).__name__}: {exc}"
        else:
            failure = None
    with session_scope(engine) as session:
        if failure is None:
            if docstore.store(session, document_id, body, about) is not None:
                log.info("rendered %s %s %s (%d bytes)", document.kind, document.format,
                         about.get(document.kind, document.ref), len(body))
        else:
            docstore.failed(session, document_id, failure, final=final)


@shared_task(name="documents.sweep")
def sweep() -> None:
    """Send again the renders that were lost (a worker died, a send failed after a commit)."""
    engine, _settings = queue.context()
    with session_scope(engine) as session:
        for document_id in docstore.stale(session):
            queue.enqueue(session, docstore.RENDER, document_id)
