"""Webhook subscriptions and the outbox of events to deliver to them.

`emit` is called by the domain inside the transaction that makes the change, and writes the
event and one pending delivery per matching subscription there: the change and its
notification commit together or not at all. `core/webhook_delivery.py` sends them later, through
the outbox mechanics of core/outbox.py (`OUTBOX`).

Secrets follow the Standard Webhooks convention ("whsec_" + base64 of 32 random bytes), are
shown once and stored encrypted (core/crypto.py), since signing needs them back. A rotation
keeps the previous secret signing alongside the new one for a grace period, so a receiver can
switch over without missing a delivery. URLs must point at public addresses unless the
operator allows the host (core/egress.py), checked here and again at each delivery.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, select

from core.crypto import SecretBox
from core.db import Table, aware, find_row, get_row, lock_rows, timestamp, utcnow
from core.egress import Egress
from core.errors import InvalidInput, NotFound
from core.outbox import PENDING, Outbox
from core.settings import Settings
from core.tokens import new_id

EVENT_TYPES: dict[str, str] = {
    "quote.submitted": "a quote went to approval (or was approved at once)",
    "quote.approved": "every approval a quote needs was given",
    "quote.rejected": "an approver rejected a quote",
    "quote.sent": "a quote's PDF was frozen and shared with the customer",
    "quote.accepted": "the customer accepted a quote",
    "quote.declined": "the customer declined a quote",
    "quote.expired": "a quote passed its validity date",
    "quote.revised": "a new revision of a quote was started (it needs approval and acceptance again)",
    "contract.created": "a contract was made from an accepted quote",
    "contract.signed": "the customer signed a contract",
    "contract.terminated": "a contract was terminated",
    "contract.renewed": "a contract renewed into a new one",
    "contract.withdrawn": "an unsigned contract was withdrawn because its quote is being revised",
    "order.created": "an order was made (possibly on credit hold)",
    "order.released": "finance released an order from credit hold",
    "order.cancelled": "an order was cancelled",
    "order.shipped": "a shipment of an order line was recorded",
    "order.delivered": "an order line was delivered",
    "invoice.issued": "an invoice or credit note was issued",
    "invoice.voided": "an invoice was voided",
    "payment.received": "a payment was recorded",
    "payment.refunded": "a refund was paid out",
    "document.ready": "a document (quote, contract or invoice PDF, e-invoice XML) was rendered and stored",
    "ping": "a test event sent on request",
}
#: (document kind, audit action) -> the event type it sends, for audit writers (emit_for)
ACTIONS: dict[tuple[str, str], str] = {
    ("quote", "submit"): "quote.submitted", ("quote", "approve"): "quote.approved",
    ("quote", "reject"): "quote.rejected", ("quote", "send"): "quote.sent", ("quote", "accept"): "quote.accepted",
    ("quote", "decline"): "quote.declined", ("quote", "expire"): "quote.expired", ("quote", "revise"): "quote.revised",
    ("contract", "create"): "contract.created", ("contract", "sign"): "contract.signed",
    ("contract", "terminate"): "contract.terminated", ("contract", "renew"): "contract.renewed",
    ("contract", "withdraw"): "contract.withdrawn",
    ("order", "create"): "order.created", ("order", "release"): "order.released",
    ("order", "cancel"): "order.cancelled", ("order", "ship"): "order.shipped", ("order", "deliver"): "order.delivered",
}
WILDCARD = "*"
ROTATION_GRACE = timedelta(hours=24)


class WebhookSubscription(Table, table=True):
    __tablename__ = "webhook_subscription"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    events: list = Field(default_factory=list, sa_type=JSON)
    description: str = Field(default="", max_length=200)
    secret: str = Field(max_length=300)                       # encrypted (SecretBox)
    previous_secret: str | None = Field(default=None, max_length=300)
    previous_secret_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    active: bool = True
    created_by: str = Field(max_length=254)
    created_at: datetime = timestamp()

    def wants(self, event_type: str) -> bool:
        return self.active and _wants(self.events, event_type)

    def signing_secrets(self, box: SecretBox, now: datetime) -> list[str]:
        keep = self.previous_secret and self.previous_secret_until and aware(self.previous_secret_until) > now
        return [box.open(s) for s in ([self.secret, self.previous_secret] if keep else [self.secret])]


class WebhookEvent(Table, table=True):
    """The outbox: one row per event, immutable once written."""
    __tablename__ = "webhook_event"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(default_factory=lambda: "evt_" + new_id(), max_length=40, unique=True)
    type: str = Field(max_length=64, index=True)
    data: dict = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = timestamp()


class WebhookDelivery(Table, table=True):
    """One event for one subscription; its id is the de-duplication key (the same on every retry)."""
    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(default_factory=lambda: "msg_" + new_id(), max_length=40, unique=True)
    subscription_id: int = Field(foreign_key="webhook_subscription.id", index=True)
    event_id: int = Field(foreign_key="webhook_event.id")
    status: str = Field(default=PENDING, max_length=16)       # pending, delivered, failed
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_status_code: int | None = None
    last_error: str = Field(default="", max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = timestamp()


#: the deliveries as an outbox (core/outbox.py): those of paused subscriptions are not due
OUTBOX = Outbox(WebhookDelivery, key="delivery_id", sent="delivered", sent_at="delivered_at",
                narrow=lambda query: query.join(WebhookSubscription,
                                                WebhookSubscription.id == WebhookDelivery.subscription_id)
                .where(WebhookSubscription.active))


class WebhookAttempt(Table, table=True):
    """The delivery log: every request made, with its outcome."""
    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    at: datetime = timestamp()
    status_code: int | None = None
    error: str = Field(default="", max_length=500)
    duration_ms: int = 0
    response_excerpt: str = Field(default="", max_length=500)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, egress: Egress) -> str:
    url = url.strip()
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("https", "http") or not parts.hostname or not port_ok:
        raise InvalidInput("url", "must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise InvalidInput("url", "must not carry credentials; the signature authenticates deliveries")
    egress.check_subscription(url)
    return url


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise InvalidInput("events", "name at least one event type (or '*')")
    unknown = sorted(set(events) - set(EVENT_TYPES) - {WILDCARD})
    if unknown:
        raise InvalidInput("events", f"unknown event type {unknown[0]!r}")
    return sorted(set(events))


def subscribe(session: Session, settings: Settings, url: str, events: list[str], created_by: str,
              description: str = "") -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (returned once; stored encrypted)."""
    secret = new_secret()
    subscription = WebhookSubscription(url=check_url(url, Egress(settings.webhook_allow_hosts)),
                                       events=check_events(events), secret=SecretBox.from_settings(settings).seal(secret),
                                       description=description.strip()[:200], created_by=created_by[:254])
    session.add(subscription)
    session.flush()
    return subscription, secret


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.exec(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def get_subscription(session: Session, subscription_id: int, *, lock: bool = False) -> WebhookSubscription:
    subscription = get_row(session, WebhookSubscription, subscription_id, lock=lock)
    if subscription is None:
        raise NotFound(f"unknown webhook subscription {subscription_id}")
    return subscription


def change(session: Session, settings: Settings, subscription_id: int, *, url: str | None = None,
           events: list[str] | None = None, active: bool | None = None,
           description: str | None = None) -> WebhookSubscription:
    subscription = get_subscription(session, subscription_id, lock=True)
    if url is not None:
        subscription.url = check_url(url, Egress(settings.webhook_allow_hosts))
    if events is not None:
        subscription.events = check_events(events)
    if active is not None:
        subscription.active = active
    if description is not None:
        subscription.description = description.strip()[:200]
    session.add(subscription)
    session.flush()                 # `emit` reads what is written, without flushing the session
    return subscription


def rotate_secret(session: Session, settings: Settings, subscription_id: int,
                  now: datetime | None = None) -> tuple[WebhookSubscription, str]:
    """A new secret (returned once); the old one keeps signing (as a second signature) for ROTATION_GRACE."""
    subscription = get_subscription(session, subscription_id, lock=True)
    secret = new_secret()
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_until = (now or utcnow()) + ROTATION_GRACE
    subscription.secret = SecretBox.from_settings(settings).seal(secret)
    session.add(subscription)
    return subscription, secret


def reencrypt_secrets(session: Session, box: SecretBox) -> int:
    """Encrypt every stored secret with the box's first key (after a new key was put first);
    how many subscriptions were rewritten."""
    subscriptions = lock_rows(session, WebhookSubscription)
    for subscription in subscriptions:
        subscription.secret = box.reseal(subscription.secret)
        if subscription.previous_secret:
            subscription.previous_secret = box.reseal(subscription.previous_secret)
        session.add(subscription)
    return len(subscriptions)


#: what `emit` needs of the active subscriptions, read on every change that sends an event: two
#: columns, not ORM objects (most changes find none that wants it), and without flushing the
#: session first (a flush there splits the caller's writes into more statements); what changes
#: a subscription flushes at once (`subscribe`, `change`)
_ACTIVE = sa.select(WebhookSubscription.__table__.c.id, WebhookSubscription.__table__.c.events).where(
    WebhookSubscription.__table__.c.active)


def emit(session: Session, event_type: str, data: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
         only: WebhookSubscription | None = None) -> WebhookEvent | None:
    """Write an event and its pending deliveries in the caller's transaction. Nothing is
    written when no subscription wants it (the outbox holds only what must go out), and
    `data` given as a function is built only when one does."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    targets = [only.id] if only is not None else [
        subscription_id for subscription_id, events in session.connection().execute(_ACTIVE)
        if _wants(events, event_type)]
    if not targets:
        return None
    event = WebhookEvent(type=event_type, data=dict(data() if callable(data) else data))
    session.add(event)
    session.flush()
    for subscription_id in targets:
        session.add(WebhookDelivery(subscription_id=subscription_id, event_id=event.id))
    return event


def _wants(events: list, event_type: str) -> bool:
    return event_type in events or (WILDCARD in events and event_type != "ping")


def emit_for(session: Session, kind: str, action: str, data: Callable[[], Mapping[str, Any]]) -> None:
    """Emit the event an audited action stands for, if any (`data` is built only then)."""
    event_type = ACTIONS.get((kind, action))
    if event_type is not None:
        emit(session, event_type, data)


def deliveries_of(session: Session, subscription_id: int, limit: int = 100) -> list[WebhookDelivery]:
    return list(session.exec(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
                             .order_by(WebhookDelivery.id.desc()).limit(limit)))


def attempts_of(session: Session, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(session.exec(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                             .order_by(WebhookAttempt.id)))


def redeliver(session: Session, subscription_id: int, delivery_id: str) -> WebhookDelivery:
    """Queue a delivery again now (e.g. after the receiver was fixed); it keeps its id."""
    delivery = find_row(session, WebhookDelivery, WebhookDelivery.delivery_id == delivery_id,
                        WebhookDelivery.subscription_id == subscription_id, lock=True)
    if delivery is None:
        raise NotFound(f"unknown delivery {delivery_id!r}")
    delivery.status, delivery.next_attempt_at, delivery.attempts = PENDING, utcnow(), 0   # a fresh schedule
    session.add(delivery)
    return delivery
