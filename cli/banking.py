"""`cpq bank`: bank statements in (camt.053 or CSV), payments out; the transfers left to match."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import database
from billing import bank_import


@click.group()
def bank():
    """Bank statements: import them, match what named no invoice."""


@bank.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def bank_import_(file):
    """Record the payments of a statement's credit lines (camt.053 .xml, else CSV with
    id,date,amount,currency,remittance[,payer]); importing it again changes nothing."""
    lines = bank_import.read(file.read_bytes(), "application/xml" if file.suffix.lower() == ".xml" else "text/csv")
    with database() as session:
        report = bank_import.import_lines(session, lines)
    for m in report.matched:
        click.echo(f"{m['bank_ref']}: {m['amount']} {m['currency']} paid {m['invoice']}")
    for u in report.unmatched:
        click.echo(f"{u['bank_ref']}: {u['amount']} {u['currency']} unmatched: {u['note']}")
    click.echo(f"{len(report.matched)} matched, {len(report.unmatched)} unmatched, {report.known} imported before")


@bank.command("match")
@click.argument("transaction_id", type=int)
@click.argument("invoice")
def bank_match(transaction_id, invoice):
    """Pay INVOICE (its number) with the unmatched transfer TRANSACTION_ID."""
    with database() as session:
        txn, paid = bank_import.match(session, transaction_id, invoice)
        click.echo(f"{txn.bank_ref}: {txn.amount} {txn.currency} paid {paid.number}")


@bank.command("unmatched")
def bank_unmatched():
    """The transfers whose remittance named no invoice of ours, oldest first."""
    with database() as session:
        for t in bank_import.unmatched(session):
            click.echo(f"{t.id:>6} {t.booked_on} {t.amount:>12} {t.currency} {t.bank_ref}  {t.payer}  {t.remittance}"
                       f"  ({t.note})")
