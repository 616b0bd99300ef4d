"""The task queue (Celery) for work that is slow or talks to the outside world: rendering
documents, delivering webhooks and e-mail, the scheduled jobs. Nothing slow runs inside a request.

The domain asks for work by task name with `enqueue(session, name, *args)`: the task is
sent when the session's transaction commits, never for a transaction that rolls back, so a
worker always finds what the task is about. What must not be lost (a document to render, a
webhook to deliver) is also recorded in the database, and a periodic sweep re-sends it, so a
crash between the commit and the send delays the work but never drops it.

Where tasks go is `CPQ_QUEUE_URL` (Settings.queue_url):
- `redis://…`: production. Any number of `cpq worker` processes on any number of machines,
  and one `cpq scheduler` (Celery beat) for the periodic jobs.
- `filesystem://<folder>`: the embedded default of `make run` (no broker to install): the
  messages are files in that folder, read by one local worker that also runs the schedule.
- empty: in-process (tests, the CLI, benchmarks): each task runs right after the commit, in
  the committing process. Never for a web server: the gunicorn config refuses it.
The tasks themselves are in the `tasks` package (the worker's front end), found by name.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from celery import Celery
from celery.schedules import crontab
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import create_engine
from core.settings import Settings

TASK_MODULES = ("tasks.documents", "tasks.webhooks", "tasks.mail", "tasks.jobs")
_QUEUED = "cpq_queued"                          # session.info key: tasks waiting for the commit
_SAVEPOINTS = "cpq_savepoints"                  # session.info key: {savepoint: tasks queued before it}

#: The periodic jobs (Celery beat): one scheduler for every worker.
SCHEDULE = {
    "render pending documents": {"task": "documents.sweep", "schedule": timedelta(minutes=1)},
    "deliver due webhooks": {"task": "webhooks.deliver", "schedule": timedelta(seconds=5)},
    "send due e-mail": {"task": "mail.deliver", "schedule": timedelta(seconds=10)},
    "daily jobs": {"task": "jobs.daily", "schedule": crontab(hour=2, minute=15)},
}

_context: contextvars.ContextVar[tuple[Engine, Settings] | None] = contextvars.ContextVar("queue_context",
                                                                                          default=None)
_apps: dict[str, Celery] = {}           # by queue URL (tests use several)
_process: list = [None, None]          # the settings `bind` gave this process, and its engine


def celery_app(settings: Settings | None = None) -> Celery:
    """The Celery app of the settings' queue (the tasks are shared by every app)."""
    settings = settings or _process[0] or Settings.from_env()
    if settings.queue_url not in _apps:
        _apps[settings.queue_url] = _configured(settings)
    return _apps[settings.queue_url]


def _configured(settings: Settings) -> Celery:
    app = Celery("cpq", include=list(TASK_MODULES))
    url = settings.queue_url
    config = {"task_serializer": "json", "accept_content": ["json"], "task_ignore_result": True,
              "task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1,
              "beat_schedule": SCHEDULE, "timezone": "UTC", "broker_connection_retry_on_startup": True}
    if not url:
        config |= {"task_always_eager": True, "task_eager_propagates": False, "broker_url": "memory://"}
    elif url.startswith("filesystem://"):
        folder = Path(url.removeprefix("filesystem://") or "var/queue").resolve()
        for sub in ("messages", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        config |= {"broker_url": "filesystem://", "broker_transport_options": {
            "data_folder_in": str(folder / "messages"), "data_folder_out": str(folder / "messages"),
            "processed_folder": str(folder / "processed"), "control_folder": str(folder / "control"),
            "store_processed": False}}
    else:
        config |= {"broker_url": url}
    app.conf.update(config)
    return app


def in_process(settings: Settings) -> bool:
    return not settings.queue_url


@contextmanager
def bound(engine: Engine, settings: Settings) -> Iterator[None]:
    """Tasks run in this block use this database and these settings."""
    token = _context.set((engine, settings))
    try:
        yield
    finally:
        _context.reset(token)


def bind(settings: Settings, engine: Engine | None = None) -> None:
    """The settings (and database) of this process's tasks: a worker's, or the web app's when
    tasks run in-process. Without an engine, each process makes its own on first use, so a
    worker's forked children never share a connection pool."""
    _process[:] = [settings, engine]


def context() -> tuple[Engine, Settings]:
    """The database and settings the running task works with."""
    found = _context.get()
    if found is not None:
        return found
    settings, engine = _process
    if settings is None:
        raise RuntimeError("no database bound for tasks: call core.queue.bind first")
    if engine is None:
        engine = _process[1] = create_engine(settings.database_url)
    return engine, settings


def enqueue(session: Session, name: str, *args, once: bool = False) -> None:
    """Send task `name` with `args` once this session's transaction commits (`once`: unless
    the same task with the same arguments is queued already, e.g. a sweep of an outbox)."""
    queued = session.info.setdefault(_QUEUED, [])
    if not (once and (name, args) in queued):
        queued.append((name, args))


@sa.event.listens_for(Session, "after_transaction_create")
def _mark(session: Session, transaction) -> None:
    """A savepoint remembers how many tasks were queued when it began."""
    if transaction.nested:
        session.info.setdefault(_SAVEPOINTS, {})[transaction] = len(session.info.get(_QUEUED, ()))


@sa.event.listens_for(Session, "after_commit")
def _send(session: Session) -> None:
    """Send the queued tasks once the outermost transaction commits. SQLAlchemy also calls
    this when a savepoint is released, before anything is committed: its tasks then wait for
    the commit (a worker would not see its rows yet, and the commit may still fail)."""
    nested = session.get_nested_transaction()
    if nested is not None:
        session.info.get(_SAVEPOINTS, {}).pop(nested, None)
        return
    session.info.pop(_SAVEPOINTS, None)
    queued = session.info.pop(_QUEUED, [])
    if not queued:
        return
    settings = (_context.get() or (None, _process[0] or Settings.from_env()))[1]
    app = celery_app(settings)
    if app.conf.task_always_eager:                  # in-process: after the commit, on this database
        app.loader.import_default_modules()
        for name, args in queued:
            with bound(session.get_bind(), settings):
                app.tasks[name].apply(args=args)
        return
    with app.producer_or_acquire() as producer:     # one broker connection for the commit's tasks
        for name, args in queued:
            app.send_task(name, args=list(args), producer=producer)


@sa.event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction) -> None:
    """A rolled-back savepoint drops the tasks queued inside it; a rollback of the whole
    transaction drops them all."""
    mark = session.info.get(_SAVEPOINTS, {}).pop(previous_transaction, None)
    if previous_transaction.nested:
        if mark is not None and _QUEUED in session.info:
            del session.info[_QUEUED][mark:]
        return
    session.info.pop(_SAVEPOINTS, None)
    session.info.pop(_QUEUED, None)
