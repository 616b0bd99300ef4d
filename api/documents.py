"""Serving stored documents (core/docstore.py): the bytes with their SHA-256 once rendered,
else a 202 saying the document is on its way, so no request waits for a render."""

from __future__ import annotations

from flask import Response, jsonify
from sqlmodel import Session

from core import docstore

RETRY_AFTER = "2"
#: how the views document an answer that is a document, or its status while it renders
DOCUMENT_RESPONSES = {"200": {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                     "headers": {"X-Document-SHA256": {"schema": {"type": "string"}}}},
             "202": {"description": "the document is being rendered: ask again after Retry-After seconds",
                     "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}


def served(session: Session, kind: str, ref: int, fmt: str, filename: str, extra_headers: dict | None = None
           ) -> Response:
    """The document's bytes (inline, named `filename`), or 202 with its status."""
    document = docstore.facts(session, kind, ref, fmt)
    content = docstore.content(session, kind, ref, fmt) if document is not None else None
    if content is None:
        status = document.status if document is not None else docstore.PENDING
        response = jsonify({"document": {"status": status, "error": document.error if document else ""}})
        response.status_code, response.headers["Retry-After"] = 202, RETRY_AFTER
        response.headers.update(extra_headers or {})
        return response
    return Response(content, mimetype=docstore.FORMATS[fmt], headers={
        "Content-Disposition": f'inline; filename="{filename}"', "X-Document-SHA256": document.sha256,
        **(extra_headers or {})})
