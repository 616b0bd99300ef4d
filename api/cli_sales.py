"""`cpq users|accounts|terms|quotes ...`: people, customers, terms templates and quote jobs.

Registered on the `cpq` group by api/cli.py.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from api.cli import cli, database, emit_json, json_option
from core.users import ROLES, create_user, find_user, list_users, new_token, set_password
from billing import collections, invoices, order_billing
from core.settings import Settings
from sales import accounts, contracts, terms, workflow


@cli.group()
def users():
    """People who own, approve and manage quotes, and their API tokens."""


@users.command("add")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--level", "levels", multiple=True, metavar="LEVEL",
              help="An approval level the user holds (repeatable), e.g. sales_manager.")
@click.option("--team", help="Reps see the quotes of their team.")
@click.option("--password", "ask_password", is_flag=True, help="Prompt for a password to sign in to the web pages.")
def users_add(email, name, role, levels, team, ask_password):
    """Create a user and print their API token (shown once; only its hash is kept)."""
    password = click.prompt("password", hide_input=True, confirmation_prompt=True) if ask_password else None
    with database() as session:
        user, token = create_user(session, email, name, role, tuple(levels), team=team, password=password)
        click.echo(f"{user.email} ({user.role}) id {user.id}")
        click.echo(f"token: {token}")


@users.command("token")
@click.argument("email")
def users_token(email):
    """Replace a user's API token with a new one and print it (the old one stops working)."""
    with database() as session:
        token = new_token(session, email)
        click.echo(f"token: {token}")


@users.command("password")
@click.argument("email")
def users_password(email):
    """Set a user's password (prompted twice, never echoed)."""
    password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    with database() as session:
        set_password(find_user(session, email), password)
    click.echo("password set")


@users.command("list")
@json_option
def users_list(as_json):
    with database() as session:
        data = [{"id": u.id, "email": u.email, "name": u.name, "role": u.role, "team": u.team,
                 "approval_levels": list(u.approval_levels), "active": u.active} for u in list_users(session)]
    if as_json:
        emit_json(data)
    for u in data if not as_json else ():
        levels = f" [{', '.join(u['approval_levels'])}]" if u["approval_levels"] else ""
        click.echo(f"{u['email']:<32} {u['role']:<9} {u['name']}{levels}")


@cli.group("accounts")
def accounts_group():
    """Customer accounts."""


@accounts_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def accounts_import(file):
    """Create or update accounts (by code) from a CSV, YAML or JSON file; all or nothing."""
    rows = accounts.parse_accounts_file(file.read_text(encoding="utf-8"), str(file))
    with database() as session:
        with click.progressbar(length=len(rows), label="importing", file=sys.stderr) as bar:
            result = accounts.import_accounts(session, rows, str(file))
            bar.update(len(rows))
    click.echo(f"{len(result.created)} created, {len(result.updated)} updated")


@accounts_group.command("list")
@click.option("--search")
@json_option
def accounts_list(search, as_json):
    with database() as session:
        data = [accounts.account_dict(session, a) for a in accounts.list_accounts(session, search, limit=500)]
    if as_json:
        emit_json(json.loads(json.dumps(data, default=str)))
        return
    for a in data:
        click.echo(f"{a['code']:<12} {a['currency']} {a['name']}")


@cli.group("terms")
def terms_group():
    """Terms-and-conditions templates for quotes."""


@terms_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def terms_load(file):
    with database() as session:
        for t in terms.load_templates_file(session, file):
            click.echo(f"{t.code}: {t.title}")


@cli.group("jobs")
def jobs_group():
    """Scheduled work; every job is safe to run any number of times."""


@jobs_group.command("run")
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
