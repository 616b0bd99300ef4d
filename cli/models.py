"""`cpq models`: check, load and list product models, and load the demo catalog."""

from __future__ import annotations

import click
from sqlmodel import Session

from api import schemas
from billing.tax import load_demo_tax_rates
from catalog import store as catalog
from catalog.loader import load_model_file
from catalog.model import ProductModel
from cli import output as out
from cli.common import database, emit_json, json_option
from configurator.analysis import analyse
from configurator.encode import EncodingError
from configurator.engine import get_configurator
from core.settings import Settings
from rules.store import load_demo_rule_sets
from sales.accounts import load_demo_accounts
from sales.terms import load_demo_templates


@click.group()
def models():
    """Check, load and list product models."""


@models.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def models_check(file):
    """Validate FILE, compile it, and report satisfiability, defaults and dead values."""
    model = load_model_file(file)
    try:
        report = analyse(model)
    except EncodingError as exc:
        click.echo(f"{file}: rules: {exc}", err=True)
        raise SystemExit(1)
    info, warnings = out.report_text(model, report)
    for line in info:
        click.echo(line)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    if not report.satisfiable:
        raise SystemExit(1)


@models.command("load")
@click.argument("file", type=click.Path(dir_okay=False))
def models_load(file):
    """Load FILE into the database as a new model version (re-loading it is a no-op)."""
    model = load_model_file(file)
    get_configurator(model)  # refuse a model the engine cannot compile before storing it
    with database() as session:
        _report_load(session, model)


@models.command("load-demo")
def models_load_demo():
    """Load the demo catalog ($CPQ_DEMO_DIR, default catalog/demo): product models, price
    books, rule sets, tax rates, terms templates and customer accounts."""
    demo_dir = Settings.from_env().demo_dir
    with database() as session:
        for row in catalog.load_demo_catalog(session, demo_dir):
            click.echo(f"{row.product} version {row.version}: loaded")
        for row in catalog.load_demo_price_books(session, demo_dir) + load_demo_rule_sets(session, demo_dir):
            click.echo(f"{row.kind.replace('_', ' ')} {row.name} version {row.version}: loaded")
        for template in load_demo_templates(session, demo_dir):
            click.echo(f"terms template {template.code}: loaded")
        for row in load_demo_tax_rates(session, demo_dir):
            click.echo(f"tax rates {row.name} version {row.version}: loaded")
        result = load_demo_accounts(session, demo_dir)
        click.echo(f"accounts: {len(result.created)} created, {len(result.updated)} updated")


def _report_load(session: Session, model: ProductModel) -> None:
    known = catalog.find_version(session, model.product, model.version) is not None
    row = catalog.save_model(session, model)
    state = "already loaded, unchanged" if known else "loaded"
    click.echo(f"{row.product} version {row.version}: {state} (sha256 {row.digest[:12]})")


@models.command("list")
@json_option
def models_list(as_json):
    """The products in the database with their versions."""
    with database() as session:
        products = catalog.list_products(session)
    if as_json:
        return emit_json(schemas.ProductSummarySchema(many=True).dump(products))
    if not products:
        click.echo("no products loaded (try: cpq models load-demo)")
    for p in products:
        versions = ", ".join(map(str, p.versions))
        click.echo(f"{p.product:<24} v{p.latest_version:<4} {p.name}  (versions: {versions})")
