"""`cpq accounts|terms`: customer accounts, and the terms-and-conditions templates of quotes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cli.common import database, emit_json, json_option
from sales.accounts import account_dict, import_accounts, list_accounts, parse_accounts_file
from sales.terms import load_templates_file


@click.group()
def accounts():
    """Customer accounts."""


@accounts.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def accounts_import(file):
    """Create or update accounts (by code) from a CSV, YAML or JSON file; all or nothing."""
    rows = parse_accounts_file(file.read_text(encoding="utf-8"), str(file))
    with database() as session:
        with click.progressbar(length=len(rows), label="importing", file=sys.stderr) as bar:
            result = import_accounts(session, rows, str(file))
            bar.update(len(rows))
    click.echo(f"{len(result.created)} created, {len(result.updated)} updated")


@accounts.command("list")
@click.option("--search")
@json_option
def accounts_list(search, as_json):
    with database() as session:
        data = [account_dict(session, a) for a in list_accounts(session, search, limit=500)]
    if as_json:
        emit_json(json.loads(json.dumps(data, default=str)))
        return
    for a in data:
        click.echo(f"{a['code']:<12} {a['currency']} {a['name']}")


@click.group()
def terms():
    """Terms-and-conditions templates for quotes."""


@terms.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def terms_load(file):
    with database() as session:
        for t in load_templates_file(session, file):
            click.echo(f"{t.code}: {t.title}")
