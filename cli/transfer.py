"""`cpq export|import`: master data bundles (models, price books, rule sets, accounts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml

from cli.common import database
from core.validation import parse_yaml, read_file
from sales import transfer


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--only", "sections", multiple=True, type=click.Choice(transfer.SECTIONS),
              help="A section to export (repeatable; default: all).")
def export(file, sections):
    """Write models, price books, rule sets and accounts to FILE (.json, else YAML)."""
    with database() as session:
        bundle = transfer.export_bundle(session, tuple(sections) or transfer.SECTIONS)
    text = json.dumps(bundle, indent=2) if file.suffix == ".json" else yaml.safe_dump(bundle, sort_keys=False)
    file.write_text(text, encoding="utf-8")
    click.echo(", ".join(f"{len(bundle[s])} {s}" for s in transfer.SECTIONS if s in bundle) + f" -> {file}")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, then write nothing.")
def import_(file, dry_run):
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
