"""`cpq rates import|list|show`: exchange rates, from the ECB's reference-rate files."""

from __future__ import annotations

from datetime import date

import click

from api.fx_schemas import EcbImportSchema, RateSchema, StoredRateSchema
from cli.common import database, emit_json, json_option
from core import ecb, fxrates
from core.validation import read_file

day_option = click.option("--on", "day", type=click.DateTime(formats=["%Y-%m-%d"]),
                          help="The day (YYYY-MM-DD; default: today).")


@click.group()
def rates():
    """Exchange rates: import the ECB's reference rates, list them, look one up."""


@rates.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
def rates_import(file, as_json):
    """Store the rates of an ECB CSV file (eurofxref.csv or eurofxref-hist.csv); rates stored
    already are left alone, so importing a file again changes nothing."""
    text = read_file(file, ecb.KIND)
    with database() as session:
        done = ecb.import_rates(session, text, file)
    if as_json:
        return emit_json(EcbImportSchema().dump(done))
    span = f" from {done.first} to {done.last}" if done.first else ""
    click.echo(f"{done.created} rates stored, {done.unchanged} unchanged{span}")
    if done.skipped:
        click.echo(f"skipped (no current ISO 4217 currency): {', '.join(done.skipped)}")


@rates.command("list")
@day_option
@json_option
def rates_list(day, as_json):
    """Each stored pair's rate on the day: the latest on or before it."""
    on = day.date() if day else date.today()
    with database() as session:
        rows = StoredRateSchema(many=True).dump(fxrates.rates_on(session, on))
    if as_json:
        return emit_json(rows)
    if not rows:
        click.echo(f"no exchange rates on or before {on} (try: cpq rates import eurofxref.csv)")
    for row in rows:
        click.echo(f"1 {row['base']} = {row['rate']} {row['quote']}  ({row['source']}, {row['on']})")


@rates.command("show")
@click.argument("from_", metavar="FROM")
@click.argument("to")
@day_option
@json_option
def rates_show(from_, to, day, as_json):
    """The rate from FROM to TO on the day: stored, inverted or across a common base."""
    with database() as session:
        found = fxrates.rate(session, from_.upper(), to.upper(), day.date() if day else date.today(), "TO")
    if as_json:
        return emit_json(RateSchema().dump(found))
    click.echo(f"1 {found.base} = {found.rate} {found.quote}  ({found.source}, effective {found.on})")
