"""`cpq usage import|show|rate`: usage records from a file, an account's usage so far, and
rating closed periods into draft invoices."""

from __future__ import annotations

from pathlib import Path

import click

from billing.rating import close_due_periods, rate_period, running_usage
from billing.usage import file_rows, ingest
from billing.usage_models import parse_period, period_label, period_of
from cli.common import database
from core.db import utcnow
from core.settings import Settings
from sales.accounts import get_account


def _period(text: str | None):
    try:
        return parse_period(text) if text else None
    except ValueError:
        raise click.BadParameter("expected YYYY-MM", param_hint="--period") from None


@click.group()
def usage():
    """Metered usage: import records, show an account's usage, rate closed periods."""


@usage.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "kind", type=click.Choice(["ndjson", "csv"]),
              help="Default: by the file's extension (.csv, else NDJSON).")
def usage_import(file, kind):
    """Store the usage records of FILE (NDJSON, or CSV with a header line), streamed in
    batches, all or none: every bad line is reported. Records stored before are duplicates."""
    kind = kind or ("csv" if file.suffix.lower() == ".csv" else "ndjson")
    with open(file, encoding="utf-8", newline="") as lines, database() as session:
        result = ingest(session, file_rows(lines, kind), utcnow(),
                        grace_days=Settings.from_env().usage_grace_days, file=str(file))
    click.echo(f"{result.received} received, {result.accepted} stored, {len(result.duplicates)} duplicates")


@usage.command("show")
@click.argument("account")
@click.option("--period", help="YYYY-MM; default: the current period.")
def usage_show(account, period):
    """ACCOUNT's usage of a period per meter, and its price so far."""
    now = utcnow()
    with database() as session:
        found = running_usage(session, get_account(session, account), _period(period) or period_of(now), now,
                              grace_days=Settings.from_env().usage_grace_days)
    click.echo(f"{found.account} {period_label(found.period)}: {found.state} "
               f"(takes records until {found.closes_at:%Y-%m-%d %H:%M} UTC)")
    for m in found.meters:
        price = f"{m.rated.total} {found.currency}" if m.rated else m.problem
        click.echo(f"  {m.meter:<20} {m.quantity.normalize():>16,f} {m.unit:<10} {price}")
    click.echo(f"  total {found.total} {found.currency}")


@usage.command("rate")
@click.option("--period", help="YYYY-MM; default: every period whose grace has ended.")
def usage_rate(period):
    """Rate closed periods: a draft invoice per account with usage (safe to rerun)."""
    day, now, grace = _period(period), utcnow(), Settings.from_env().usage_grace_days
    with database() as session:
        runs = [rate_period(session, day, now, grace_days=grace)] if day else \
            close_due_periods(session, now, grace_days=grace)
    for run in runs:
        click.echo(f"{period_label(run.period)}: {len(run.invoices)} draft invoices, {run.charges} charges")
        for failure in run.failed:
            click.echo(f"{period_label(run.period)}: {failure.account} not rated: {failure.reason}", err=True)
    if not runs:
        click.echo("no period to rate")
