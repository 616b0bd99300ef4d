"""`Idempotency-Key` for the POSTs that create something (orders, contracts, payments...).

The same key with the same body replays the stored response (with `Idempotent-Replayed:
true`); the same key with a different body is a 422. The response is stored in the same
transaction as what the request created, so a failed request stores nothing and can be
retried with its key; two concurrent requests with one key cannot both commit (the key is
unique), and the loser gets a 409 asking it to retry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

import sqlalchemy as sa
from flask import Response, request
from sqlmodel import Session

from api.auth import caller
from api.errors import ApiError
from core import idempotency

HEADER = "Idempotency-Key"


def _json(body, status: int, replayed: bool) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def respond(session: Session, status: int, create: Callable[[], tuple[object, bool]], dump: Callable) -> Response:
    """Run `create` (-> (result, created)) once per key; 201 when it created something, 200
    when the domain found it already done (e.g. the quote was already ordered; such views
    document that with Blueprint.creates)."""
    key = request.headers.get(HEADER)
    if key is not None and not 1 <= len(key) <= 200:
        raise ApiError(422, "validation_error", f"{HEADER}: 1 to 200 characters", {HEADER: ["1 to 200 characters"]})
    scope = f"{caller().scope} {request.method} {request.path}"
    digest = hashlib.sha256(request.get_data()).hexdigest()
    if key is not None:
        stored = idempotency.find(session, scope, key, digest)
        if stored is not None:
            return _json(stored.body, stored.status, replayed=True)
    result, created = create()
    body = dump(result)
    code = status if created else 200
    if key is not None:
        try:
            with session.begin_nested():
                idempotency.remember(session, scope, key, digest, code, body)
        except sa.exc.IntegrityError:
            raise ApiError(409, "conflict", f"another request with this {HEADER} is in progress; retry it")
    return _json(body, code, replayed=False)
