"""Delivering webhooks from the outbox (core/webhook_delivery.py): every few seconds from the
scheduler; several workers may deliver at once (PostgreSQL locks each delivery)."""

from __future__ import annotations


from celery import shared_task

from core import queue
from core.webhook_delivery import deliver_due


@shared_task(name="webhooks.deliver")
def deliver() -> None:
    engine, settings = queue.context()
    deliver_due(engine, settings)
