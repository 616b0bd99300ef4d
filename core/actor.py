"""Who is acting, for audit records written deep inside the domain (e.g. an invoice's state
moving because a payment was allocated). The API sets it per request from the
authenticated user; jobs and scripts leave the default, "system"."""

from __future__ import annotations

from contextvars import ContextVar

current_actor: ContextVar[str] = ContextVar("current_actor", default="system")
