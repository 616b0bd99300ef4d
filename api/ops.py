"""What operators see: health and readiness checks, a request id on every request (its
response header and every log line), one log line per request, and Prometheus metrics.

`/healthz` says the process can reach its database (restart it if not); `/readyz` says it
should get traffic: the database is reachable and migrated to the newest revision, and the
rate-limit store (Redis, when configured) answers. `/metrics` needs the permission
`metrics:read` (admins; give Prometheus an API key with that scope): request counts and
latency per endpoint leak how the service is used, so they are not public. Under gunicorn the
workers share their metrics through files in PROMETHEUS_MULTIPROC_DIR (api/gunicorn_config.py
sets it up), so any worker answers for all of them.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from api.auth import requires
from api.context import app_engine
from api.errors import ApiError
from core import docstore, mail, webhooks
from core.db import migrated_to_head, session_scope, utcnow
from core.permissions import PUBLIC

REQUEST_ID_HEADER = "X-Request-ID"
#: an incoming id is kept only if it is short and plain (it goes into logs and a header)
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

access_log = logging.getLogger("cpq.access")

REQUEST_SECONDS = Histogram(
    "cpq_http_request_duration_seconds", "Time to answer a request, by endpoint, method and status",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def request_id() -> str:
    return g.get("request_id", "-") if has_request_context() else "-"


class RequestIdFilter(logging.Filter):
    """Gives every log record a `request_id` (`-` outside a request), for the log format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        return True


class QueueDepths:
    """What waits for the workers, counted when Prometheus scrapes: webhook deliveries and
    e-mail due, and documents to render (a depth that only grows means the workers are down or too few)."""

    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        with session_scope(self.engine) as session:
            due, pending = webhooks.OUTBOX.due_count(session, utcnow()), docstore.pending_count(session)
            mail_due = mail.OUTBOX.due_count(session, utcnow())
        yield GaugeMetricFamily("cpq_webhook_deliveries_due", "Webhook deliveries due and not yet sent", value=due)
        yield GaugeMetricFamily("cpq_mail_messages_due", "E-mail messages due and not yet sent", value=mail_due)
        yield GaugeMetricFamily("cpq_documents_pending", "Documents waiting to be rendered", value=pending)


def init_app(app: Flask) -> None:
    """Register first, so the request id and the clock start before anything can refuse."""

    @app.before_request
    def _start():
        g.started = time.perf_counter()
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = request_id()
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        REQUEST_SECONDS.labels(request.endpoint or "unmatched", request.method,
                               str(response.status_code)).observe(seconds)
        access_log.info("%s %s %s %.1f ms", request.method, _loggable_path(), response.status_code, seconds * 1000)
        return response

    @app.get("/healthz")
    @requires(PUBLIC)
    def healthz():
        """Alive: the process answers and reaches its database."""
        _database_answers()
        return {"status": "ok"}

    @app.get("/readyz")
    @requires(PUBLIC)
    def readyz():
        """Ready for traffic: the database at the newest migration, the rate-limit store answering."""
        _database_answers()
        if not migrated_to_head(app_engine()):
            raise ApiError(503, "not_ready", "the database is not migrated to the newest revision; run `cpq db upgrade`")
        if not current_app.extensions["cpq_rate_limits"].limiter.storage.check():
            raise ApiError(503, "not_ready", "the rate-limit store (CPQ_RATE_LIMIT_STORAGE) does not answer")
        return {"status": "ready"}

    @app.get("/metrics")
    @requires("metrics:read")
    def metrics():
        """Prometheus metrics of every worker process, and the outbox's queue depth."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            workers = CollectorRegistry()
            MultiProcessCollector(workers)
        else:
            workers = REGISTRY
        queues = CollectorRegistry()
        queues.register(QueueDepths(app_engine()))
        return Response(generate_latest(workers) + generate_latest(queues), content_type=CONTENT_TYPE_LATEST)


def _loggable_path() -> str:
    """The path and query, with a share or signing link's token (a credential) left out."""
    path = request.full_path.rstrip("?")
    token = (request.view_args or {}).get("token")
    return path.replace(token, "<token>") if isinstance(token, str) and token else path


def _database_answers() -> None:
    try:
        with app_engine().connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any driver error means the same thing here: no database
        current_app.logger.warning("database check failed: %s", exc)
        raise ApiError(503, "unavailable", "the database does not answer") from None
