"""Sending the outbox: signed POSTs with retries and exponential backoff (`cpq worker`).

Each request carries the Standard Webhooks headers: `webhook-id` (the delivery's id, the same
on every retry, for de-duplication), `webhook-timestamp` (Unix seconds) and
`webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, once per live secret
(two during a rotation), space-separated. A receiver checks any one of them and refuses old
timestamps to stop replays.

Each delivery checks its URL again (core/egress.py): the host is resolved, every address must
be public or allowed by the operator, and the request goes to that checked address. A refused
target is a failed attempt that sends nothing; the answer of a private (allowed) target is kept
in the log only when it succeeded, so the log cannot be used to read internal services.

Several workers may run at once on PostgreSQL: each delivery is locked while it is sent
(SKIP LOCKED), so no delivery is sent twice concurrently. SQLite has no row locks: run one
worker there. Deliveries of a paused subscription wait until it is resumed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from core.crypto import SecretBox, UnreadableSecret
from core.db import aware, session_scope, utcnow
from core.egress import Egress, Target
from core.errors import InvalidInput
from core.settings import Settings
from core.webhooks import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription

MAX_ATTEMPTS = 15                  # about 32 hours of retrying before a delivery fails
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
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


def backoff(attempts: int, jitter: float | None = None) -> timedelta:
    """The wait after the `attempts`-th failure: 30 s doubling each time, at most 6 h, ±10%."""
    wait = min(FIRST_RETRY * 2 ** min(attempts - 1, 20), LONGEST_WAIT)     # 2**20 * 30 s > 6 h; no overflow
    return wait * (jitter if jitter is not None else random.uniform(0.9, 1.1))


def http_sender(target: Target, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST to the checked address, with the URL's host as the Host header and TLS name (SNI and
    certificate check), as if connected by name. No proxy from the environment (it would resolve
    the name again) and no redirects (they could lead anywhere)."""
    with httpx.Client(trust_env=False, timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        response = client.post(target.url, content=body, headers=headers | {"host": target.netloc},
                               extensions={"sni_hostname": target.host})
    return response.status_code, response.text[:500]


@dataclass
class DeliveryRun:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.delivered + self.retrying + self.failed


def deliver_due(engine: Engine, settings: Settings, *, limit: int = 100, send: Sender = http_sender,
                now: Callable[[], datetime] = utcnow) -> DeliveryRun:
    """Attempt every pending delivery that is due (up to `limit`), each in its own transaction,
    within the settings' egress policy and with their encryption keys."""
    egress, box = Egress(settings.webhook_allow_hosts), SecretBox.from_settings(settings)
    run = DeliveryRun()
    with session_scope(engine) as session:
        due = list(session.exec(_due(select(WebhookDelivery.id), now())
                                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)))
    for delivery_id in due:
        with session_scope(engine) as session:
            delivery = session.exec(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                                    .with_for_update(skip_locked=True)).first()
            if delivery is None or delivery.status != "pending":
                continue                                  # another worker has it, or had it
            _attempt(session, delivery, egress, box, send, now(), run)
    return run


def due_count(session, moment: datetime) -> int:
    """How many deliveries are due and waiting for a worker: the outbox's queue depth."""
    return session.exec(_due(select(sa.func.count(WebhookDelivery.id)), moment)).one()


def _due(query, moment: datetime):
    return query.join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id).where(
        WebhookSubscription.active, WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= moment)


def _attempt(session, delivery: WebhookDelivery, egress: Egress, box: SecretBox, send: Sender, moment: datetime,
             run: DeliveryRun) -> None:
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    if not subscription.active:
        return                         # paused meanwhile: it waits, and goes when resumed
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
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status, error
    if not error:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", moment, None
        run.delivered += 1
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = "failed", None
        run.failed += 1
    else:
        delivery.next_attempt_at = moment + backoff(delivery.attempts)
        run.retrying += 1
    run.ids.append(delivery.delivery_id)
    session.add(delivery)
