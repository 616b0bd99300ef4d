"""/api/v1/webhooks: subscriptions per event type, secret rotation, test pings, and the
delivery log of each subscription. Delivery itself is `cpq worker` (core/webhook_delivery.py).
"""

from __future__ import annotations


from api import integration_schemas as xs
from api.auth import caller
from api.blueprint import Blueprint, app_settings, db_session
from core import webhooks

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1", description="Webhook subscriptions and deliveries")


@blp.get("/webhooks/event-types")
@blp.requires("webhooks:manage")
@blp.response(200, xs.EventTypeSchema(many=True))
def event_types():
    return [{"type": t, "description": d} for t, d in webhooks.EVENT_TYPES.items()]


@blp.get("/webhooks")
@blp.requires("webhooks:manage")
@blp.response(200, xs.WebhookSchema(many=True))
def subscriptions():
    with db_session() as session:
        return webhooks.list_subscriptions(session)


@blp.post("/webhooks")
@blp.requires("webhooks:manage")
@blp.arguments(xs.WebhookInSchema)
@blp.response(201, xs.NewWebhookSecretSchema)
def subscribe(data):
    """Subscribe a URL to event types ('*' for all); the signing secret is in this answer only."""
    with db_session() as session:
        subscription, secret = webhooks.subscribe(session, app_settings(), data["url"], data["events"], caller().label,
                                                  data["description"])
        return {"subscription": subscription, "secret": secret}


@blp.get("/webhooks/<int:subscription_id>")
@blp.requires("webhooks:manage")
@blp.response(200, xs.WebhookSchema)
def subscription(subscription_id):
    with db_session() as session:
        return webhooks.get_subscription(session, subscription_id)


@blp.patch("/webhooks/<int:subscription_id>")
@blp.requires("webhooks:manage")
@blp.arguments(xs.WebhookChangeSchema, required=False)
@blp.response(200, xs.WebhookSchema)
def change(data, subscription_id):
    """Change the URL, event types or description, or pause it (`active: false`)."""
    with db_session() as session:
        return webhooks.change(session, app_settings(), subscription_id, **data)


@blp.post("/webhooks/<int:subscription_id>/rotate-secret")
@blp.requires("webhooks:manage")
@blp.response(200, xs.NewWebhookSecretSchema)
def rotate(subscription_id):
    """A new secret (shown once); deliveries carry signatures with both for 24 hours."""
    with db_session() as session:
        subscription, secret = webhooks.rotate_secret(session, app_settings(), subscription_id)
        return {"subscription": subscription, "secret": secret}


@blp.post("/webhooks/<int:subscription_id>/ping")
@blp.requires("webhooks:manage")
@blp.response(202, xs.PingSchema)
def ping(subscription_id):
    """Queue a `ping` event to this subscription only."""
    with db_session() as session:
        subscription = webhooks.get_subscription(session, subscription_id)
        event = webhooks.emit(session, "ping", {"subscription": subscription.id}, only=subscription)
        return {"event_id": event.event_id}


@blp.get("/webhooks/<int:subscription_id>/deliveries")
@blp.requires("webhooks:manage")
@blp.response(200, xs.DeliverySchema(many=True))
def deliveries(subscription_id):
    """The latest 100 deliveries, newest first, each with every attempt made."""
    with db_session() as session:
        webhooks.get_subscription(session, subscription_id)
        return [_delivery_view(session, d) for d in webhooks.deliveries_of(session, subscription_id)]


@blp.post("/webhooks/<int:subscription_id>/deliveries/<delivery_id>/retry")
@blp.requires("webhooks:manage")
@blp.response(200, xs.DeliverySchema)
def retry(subscription_id, delivery_id):
    """Send a delivery again at the worker's next pass (it keeps its id)."""
    with db_session() as session:
        return _delivery_view(session, webhooks.redeliver(session, subscription_id, delivery_id))



def _delivery_view(session, delivery: webhooks.WebhookDelivery) -> dict:
    event = session.get(webhooks.WebhookEvent, delivery.event_id)
    return delivery.model_dump() | {"event_id": event.event_id, "event_type": event.type,
                                     "log": webhooks.attempts_of(session, delivery)}
