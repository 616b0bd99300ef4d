"""Sending the webhook outbox: signed POSTs with retries (`cpq worker`).

Each request carries the Standard Webhooks headers: `webhook-id` (the delivery's id, the same
on every retry, for de-duplication), `webhook-timestamp` (Unix seconds) and
`webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, once per live secret
(two during a rotation), space-separated. A receiver checks any one of them and refuses old
timestamps to stop replays.

Each delivery checks its URL again (core/egress.py): the host is resolved, every address must
be public or allowed by the operator, and the request goes to that checked address. A refused
target is a failed attempt that sends nothing; the answer of a private (allowed) target is kept
in the log only when it succeeded, so the log cannot be used to read internal services.

Selecting due deliveries, locking, retries with backoff and giving up are core/outbox.py's:
several workers may run at once on PostgreSQL (SKIP LOCKED), so no delivery is sent twice
concurrently. SQLite has no row locks: run one worker there. Deliveries of a paused
subscription wait until it is resumed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Callable

import httpx
from sqlalchemy.engine import Engine

from core.crypto import SecretBox, UnreadableSecret
from core.db import aware, utcnow
from core.egress import Egress, Target
from core.errors import InvalidInput
from core.outbox import DeliveryRun, Outcome
from core.settings import Settings
from core.webhooks import OUTBOX, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription

MAX_ATTEMPTS = 15                  # about 32 hours of retrying before a delivery fails
TIMEOUT_SECONDS = 10.0

#: (checked target, body, headers) -> (status code, response text); raises on network errors
Sender = Callable[[Target, bytes, dict[str, str]], tuple[int, str]]


def body_of(event: WebhookEvent) -> bytes:
    """The exact bytes signed and sent (the same on every retry)."""
    payload = {"id": event.event_id, "type": event.type, "created_at": aware(event.created_at).isoformat(),
               "data": event.data}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, msg_id: str, stamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers_for(subscription: WebhookSubscription, box: SecretBox, delivery: WebhookDelivery, body: bytes,
                now: datetime) -> dict[str, str]:
    stamp = int(now.timestamp())
    signatures = " ".join(signature(s, delivery.delivery_id, stamp, body)
                          for s in subscription.signing_secrets(box, now))
    return {"content-type": "application/json", "user-agent": "cpq-webhooks/1", "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(stamp), "webhook-signature": signatures}


def http_sender(target: Target, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST to the checked address, with the URL's host as the Host header and TLS name (SNI and
    certificate check), as if connected by name. No proxy from the environment (it would resolve
    the name again) and no redirects (they could lead anywhere)."""
    with httpx.Client(trust_env=False, timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        response = client.post(target.url, content=body, headers=headers | {"host": target.netloc},
                               extensions={"sni_hostname": target.host})
    return response.status_code, response.text[:500]


def deliver_due(engine: Engine, settings: Settings, *, limit: int = 100, send: Sender = http_sender,
                now: Callable[[], datetime] = utcnow) -> DeliveryRun:
    """Attempt every pending delivery that is due (up to `limit`), each in its own transaction,
    within the settings' egress policy and with their encryption keys."""
    egress, box = Egress(settings.webhook_allow_hosts), SecretBox.from_settings(settings)
    return OUTBOX.deliver_due(engine, functools.partial(_attempt, egress=egress, box=box, send=send),
                              max_attempts=MAX_ATTEMPTS, limit=limit, now=now)


def _attempt(session, delivery: WebhookDelivery, moment: datetime, *, egress: Egress, box: SecretBox,
             send: Sender) -> Outcome | None:
    """POST the delivery once and log the request (WebhookAttempt)."""
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    if not subscription.active:
        return None                    # paused meanwhile: it waits, and goes when resumed
    event = session.get(WebhookEvent, delivery.event_id)
    body = body_of(event)
    started = time.perf_counter()
    status, error, excerpt = None, "", ""
    try:
        target = egress.check(subscription.url)
        status, answer = send(target, body, headers_for(subscription, box, delivery, body, moment))
        if not 200 <= status < 300:
            error = f"HTTP {status}"
        excerpt = "" if target.private and error else answer
    except InvalidInput as exc:
        error = f"refused: {exc.reason}"[:500]
    except UnreadableSecret as exc:
        error = str(exc)[:500]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    session.add(WebhookAttempt(delivery_id=delivery.id, at=moment, status_code=status, error=error,
                               duration_ms=int((time.perf_counter() - started) * 1000), response_excerpt=excerpt))
    delivery.last_status_code = status
    return Outcome(error)
