"""Gunicorn settings: ``gunicorn -c python:api.gunicorn_config api.wsgi:app`` (``make run``).

Threaded workers (api/gunicorn_worker.py: gthread that reads request heads in its event loop,
so idle and slow clients hold no thread). Environment: CPQ_BIND (default 127.0.0.1:5000),
WEB_CONCURRENCY (worker processes, default 1), CPQ_THREADS (threads per worker, default 8);
gunicorn's own command-line options and GUNICORN_CMD_ARGS override any of these. The checks
in `on_starting` see the final values: no start without SECRET_KEY, and no several workers
with per-process rate-limit counters (each worker would allow the whole limit). See
docs/deploy.md.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path

from core.settings import Settings

bind = os.environ.get("CPQ_BIND") or "127.0.0.1:5000"
workers = int(os.environ.get("WEB_CONCURRENCY") or 1)
threads = int(os.environ.get("CPQ_THREADS") or 8)
worker_class = "api.gunicorn_worker.HeadReadingWorker"
worker_connections = 1000           # open connections per worker, idle ones included
timeout = 30                        # a request head must arrive within this; silent sockets time out
graceful_timeout = 30               # on stop or reload, requests in flight get this long
keepalive = 5                       # an idle kept-alive connection is closed after this
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Several workers are recycled now and then (leaks in libraries); a lone one is not: while its
# replacement starts (~2 s: imports, models) nothing answers, which made the load test's p99 2.3 s
max_requests = 10000 if workers > 1 else 0
max_requests_jitter = 1000
# No `gunicornc` control socket: every gunicorn of a user shares its one default path, and it
# could add workers past the rate-limit check below. Signals (HUP, TTIN, TERM) still work.
control_socket_disable = True

# One line per request comes from the app (api/ops.py, with its request id): no access log here.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "api.ops.RequestIdFilter"}},
    "formatters": {"line": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["request_id"]}},
    "root": {"level": os.environ.get("CPQ_LOG_LEVEL") or "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
    },
}

# Workers write their metrics to files here and any worker reports all of them (api/ops.py).
# prometheus_client picks its storage when first imported, so this is set before that.
# The folder itself is made only once the checks below have passed.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(Path(tempfile.gettempdir()) / f"cpq-metrics-{os.getpid()}")


def on_starting(server):
    """Refuse to start a server that would be wrong (gunicorn prints the message and exits 1)."""
    settings = Settings.from_env()
    settings.require_secret_key()
    if server.cfg.workers > 1 and settings.rate_limit_storage.startswith("memory://"):
        raise RuntimeError(
            f"{server.cfg.workers} workers with CPQ_RATE_LIMIT_STORAGE={settings.rate_limit_storage}: each worker "
            "would count rate limits and sign-in attempts on its own, letting through that many times the limit. "
            "Set CPQ_RATE_LIMIT_STORAGE=redis://host:6379/0 or run one worker (WEB_CONCURRENCY=1).")
    if not settings.queue_url:
        raise RuntimeError(
            "CPQ_QUEUE_URL is not set: documents would be rendered inside requests. Set it to redis://host:6379/1 "
            "and run `cpq worker`s and one `cpq scheduler`, or to filesystem://var/queue with one `cpq worker "
            "--beat` on this machine (make run does).")
    metrics = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics.mkdir(parents=True, exist_ok=True)
    for stale in metrics.glob("*.db"):            # counts of an earlier run must not add up
        stale.unlink()


def post_worker_init(worker):
    """Compile the latest product models, then freeze what loading the app and compiling made
    (about 230,000 + 93,000 objects: modules, the ORM, schemas, the demo models' clauses) out of
    the garbage collector's sight: a full collection then took 150-300 ms in a serving worker,
    stalling every thread (the GIL) and making most of the load test's p99, and every younger
    collection scanned part of it. A database not yet reachable or migrated only leaves the
    compiling to the first requests."""
    from sqlalchemy.exc import SQLAlchemyError

    from api.context import app_engine
    from configurator.store import compile_latest_models
    from core.db import session_scope

    try:
        with session_scope(app_engine(worker.wsgi)) as session:
            compiled = compile_latest_models(session)
        worker.log.info("compiled the product models of %s", ", ".join(compiled) or "no product")
    except SQLAlchemyError as exc:
        worker.log.warning("product models not compiled before serving: %s", exc)
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
