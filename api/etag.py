"""ETag / If-None-Match for what systems poll (orders, BOMs, the change feed): an unchanged
answer costs them a 304 and no body."""

from __future__ import annotations

import hashlib
import json

from flask import Response, request


def conditional(body, mimetype: str = "application/json") -> Response:
    """`body` (JSON-able data, or text for other types) with a strong ETag; 304 when the
    client already holds it."""
    data = json.dumps(body, sort_keys=True) if mimetype == "application/json" else body
    response = Response(data, mimetype=mimetype)
    response.set_etag(hashlib.sha256(data.encode()).hexdigest()[:32])
    return response.make_conditional(request)
