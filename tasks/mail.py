"""Sending the e-mail outbox (core/mail_delivery.py): after each commit that wrote a message,
and every few seconds from the scheduler for retries and messages that waited for documents."""

from __future__ import annotations

from celery import shared_task

from core import mail, queue
from core.mail_delivery import deliver_due


@shared_task(name=mail.DELIVER)
def deliver() -> None:
    engine, settings = queue.context()
    deliver_due(engine, settings)
