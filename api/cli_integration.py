"""`cpq keys|worker|export|import ...`: API keys for systems, the webhook delivery worker,
and master data bundles.

Registered on the `cpq` group by api/cli.py.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import yaml

from api.cli import cli, database, emit_json, json_option
from core import apikeys
from core.db import create_engine
from core.permissions import PERMISSIONS
from core.settings import Settings
from core.users import find_user
from core.validation import parse_yaml, read_file
from core.webhook_delivery import deliver_due
from sales import transfer


@cli.group()
def keys():
    """API keys: how an ERP or CRM calls the API, within scopes, as the user who owns the key."""


@keys.command("create")
@click.option("--owner", "owner_email", required=True, help="The user the key acts as (email).")
@click.option("--name", required=True, help="What the key is for, e.g. 'SAP production'.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(tuple(PERMISSIONS)),
              help="A permission the key has (repeatable); the owner must hold it.")
@click.option("--rate-limit", default=apikeys.DEFAULT_RATE_LIMIT, show_default=True)
def keys_create(owner_email, name, scopes, rate_limit):
    """Create a key and print its secret (shown once; only its hash is kept)."""
    with database() as session:
        key, secret = apikeys.create_key(session, find_user(session, owner_email), name, list(scopes), rate_limit)
        click.echo(f"key {key.id} {key.name!r}: {', '.join(key.scopes)} ({key.rate_limit})")
        click.echo(f"secret: {secret}")


@keys.command("list")
@json_option
def keys_list(as_json):
    with database() as session:
        data = [{"id": k.id, "name": k.name, "display": k.display, "owner_id": k.owner_id, "scopes": list(k.scopes),
                 "rate_limit": k.rate_limit, "revoked": k.revoked_at is not None} for k in apikeys.keys_of(session)]
    if as_json:
        emit_json(data)
        return
    for k in data:
        state = "revoked" if k["revoked"] else k["rate_limit"]
        click.echo(f"{k['id']:>4} {k['display']:<12} {k['name']:<24} {state:<12} {' '.join(k['scopes'])}")


@keys.command("revoke")
@click.argument("key_id", type=int)
@click.option("--by", "admin_email", required=True, help="The owner, or a user holding users:manage (email).")
def keys_revoke(key_id, admin_email):
    """Stop a key at once."""
    with database() as session:
        key = apikeys.revoke_key(session, key_id, find_user(session, admin_email))
        click.echo(f"key {key.id} {key.name!r} revoked")


@cli.command()
@click.option("--once", is_flag=True, help="Send what is due, then stop (for cron or tests).")
@click.option("--interval", default=1.0, show_default=True, help="Seconds to wait when nothing is due.")
def worker(once, interval):
    """Deliver webhooks: signed POSTs, retried with exponential backoff (several may run)."""
    engine = create_engine(Settings.from_env().database_url)
    try:
        while True:
            run = deliver_due(engine)
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


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--only", "sections", multiple=True, type=click.Choice(transfer.SECTIONS),
              help="A section to export (repeatable; default: all).")
def export_command(file, sections):
    """Write models, price books, rule sets and accounts to FILE (.json, else YAML)."""
    with database() as session:
        bundle = transfer.export_bundle(session, tuple(sections) or transfer.SECTIONS)
    text = json.dumps(bundle, indent=2) if file.suffix == ".json" else yaml.safe_dump(bundle, sort_keys=False)
    file.write_text(text, encoding="utf-8")
    click.echo(", ".join(f"{len(bundle[s])} {s}" for s in transfer.SECTIONS if s in bundle) + f" -> {file}")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, then write nothing.")
def import_command(file, dry_run):
    """Load a bundle written by `cpq export` (or the API): all of it, or nothing."""
    bundle = parse_yaml(read_file(file, "bundle"), str(file), "bundle")
    with database() as session:
        with click.progressbar(length=transfer.count(bundle), label="importing",
                               file=sys.stderr) as bar:
            report = transfer.import_bundle(session, bundle, str(file), bar.update)
        if dry_run:
            session.rollback()
    for section in transfer.SECTIONS:
        click.echo(f"{section}: {report.new[section]} new, {report.existing[section]} already there")
    for line in report.activated:
        click.echo(f"activated {line}")
    if dry_run:
        click.echo("dry run: nothing was written")
