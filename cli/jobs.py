"""`cpq jobs|worker`: the scheduled work, and the worker that delivers webhooks."""

from __future__ import annotations

import time
from datetime import date

import click

from billing import collections, invoices, order_billing
from cli.common import database
from core.db import create_engine
from core.settings import Settings
from core.webhook_delivery import deliver_due
from sales import contracts, workflow


@click.group()
def jobs():
    """Scheduled work; every job is safe to run any number of times."""


@jobs.command("run")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
def jobs_run(today):
    """Expire quotes, activate/remind/renew/expire contracts, issue due recurring invoices,
    and dun overdue invoices, as of TODAY. Each step is its own transaction."""
    day = today.date() if today else date.today()
    company = dict(Settings.from_env().company)
    steps = [
        ("quotes", lambda s: [f"{q.number} revision {q.revision}: expired" for q in workflow.expire_due(s, day)]),
        ("contracts", lambda s: contracts.run_jobs(s, day)),
        ("billing", lambda s: [f"{invoices.issue(s, d, day, company=company).number}: issued"
                               for d in order_billing.bill_due_periods(s, day)]),
        ("dunning", lambda s: _dunning(s, day)),
    ]
    for name, step in steps:
        with database() as session:
            done = step(session)
        for line in done:
            click.echo(f"{name}: {line}")
        click.echo(f"{name}: {len(done)} done")


def _dunning(session, day) -> list[str]:
    run = collections.run_dunning(session, day)
    out = [f"{n.invoice_number}: level {n.level}" + (f", fee {n.fee} {n.currency}" if n.fee else "")
           for n in run.notices]
    return out + [f"{number}: not dunned ({why})" for number, why in run.failed]


@click.command()
@click.option("--once", is_flag=True, help="Send what is due, then stop (for cron or tests).")
@click.option("--interval", default=1.0, show_default=True, help="Seconds to wait when nothing is due.")
def worker(once, interval):
    """Deliver webhooks: signed POSTs, retried with exponential backoff (several may run)."""
    settings = Settings.from_env()
    engine = create_engine(settings.database_url)
    try:
        while True:
            run = deliver_due(engine, settings)
            if run.attempted:
                click.echo(f"{run.delivered} delivered, {run.retrying} to retry, {run.failed} failed", err=True)
            if once:
                return
            if not run.attempted:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
