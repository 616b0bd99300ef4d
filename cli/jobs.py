"""`cpq jobs|worker|scheduler`: the daily jobs by hand, the task queue's worker and its scheduler."""

from __future__ import annotations

import logging
from datetime import date

import click
from celery.signals import after_setup_logger

from core import docstore, queue
from core.db import create_engine, session_scope
from core.settings import Settings
from core.mail_delivery import deliver_due as deliver_mail
from core.webhook_delivery import deliver_due
from tasks import jobs as daily_jobs
from tasks.documents import render


@click.group()
def jobs():
    """Scheduled work; every job is safe to run any number of times."""


@jobs.command("run")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
def jobs_run(today):
    """Expire quotes, activate/remind/renew/expire contracts, issue due recurring invoices,
    rate closed usage periods, and dun overdue invoices, as of TODAY (the scheduler runs them
    daily). Each step is its own transaction."""
    settings = Settings.from_env()
    engine = create_engine(settings.database_url)

    def report(name, done):
        for line in done:
            click.echo(f"{name}: {line}")
        click.echo(f"{name}: {len(done)} done")

    try:
        with queue.bound(engine, settings):
            daily_jobs.run(engine, today.date() if today else date.today(), dict(settings.company), report,
                           settings.usage_grace_days)
    finally:
        engine.dispose()


@click.command()
@click.option("--once", is_flag=True, help="Without a broker: deliver the due webhooks, render the waiting "
              "documents and send the due e-mail once, then stop.")
@click.option("--beat", is_flag=True, help="Also send the periodic jobs (one worker only: make run's).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Tasks run at once by this worker.")
def worker(once, beat, concurrency):
    """Run the task queue's worker: renders documents, delivers webhooks and e-mail, runs the jobs (any
    number on any number of machines with Redis; stops gracefully on SIGTERM)."""
    settings = Settings.from_env()
    if once:
        engine = create_engine(settings.database_url)
        try:
            with queue.bound(engine, settings):
                _once(engine, settings)
        finally:
            engine.dispose()
        return
    if queue.in_process(settings):
        raise click.ClickException("set CPQ_QUEUE_URL (redis://… or filesystem://var/queue): without a queue, "
                                   "tasks run in the process that asks for them and a worker has nothing to do")
    queue.bind(settings)
    argv = ["worker", "--loglevel=INFO", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
    queue.celery_app(settings).worker_main(argv + (["--beat", "--schedule=var/celerybeat-schedule"] if beat else []))


@after_setup_logger.connect
def _quiet(**_kwargs) -> None:
    """A worker logs what went wrong and what it made, not each task received, run and sent
    (webhook delivery alone runs every 5 seconds)."""
    for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat"):
        logging.getLogger(name).setLevel(logging.WARNING)


@click.command()
def scheduler():
    """Send the periodic jobs to the workers (Celery beat): run exactly one."""
    settings = Settings.from_env()
    if queue.in_process(settings):
        raise click.ClickException("set CPQ_QUEUE_URL: the scheduler sends jobs to the workers through it")
    queue.celery_app(settings).start(["beat", "--loglevel=INFO", "--schedule=var/celerybeat-schedule"])


def _once(engine, settings) -> None:
    run = deliver_due(engine, settings)
    if run.attempted:
        click.echo(f"{run.delivered} delivered, {run.retrying} to retry, {run.failed} failed", err=True)
    with session_scope(engine) as session:
        waiting = docstore.waiting(session)
    for document_id in waiting:
        render(document_id)                            # here, whatever CPQ_QUEUE_URL says
    if waiting:
        click.echo(f"{len(waiting)} documents rendered", err=True)
    sent = deliver_mail(engine, settings)
    if sent.attempted:
        click.echo(f"{sent.delivered} e-mails sent, {sent.retrying} to retry, {sent.failed} failed", err=True)
