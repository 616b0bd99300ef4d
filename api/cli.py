"""The `cpq` command line: the database, model files, and the configurator in a terminal.

MODEL is a product code in the database or a path to a model file (anything with a `.` or
`/`, which product codes never contain); a file needs no database. Every failure a user can
cause prints one clear message and exits non-zero, never a traceback.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api import cli_output as out
from api import schemas
from api.bom_csv import flat_bom_csv
from catalog import store as catalog
from core.validation import DocumentValidationError
from catalog.loader import load_model_file
from catalog.model import ProductModel
from configurator.analysis import analyse
from configurator.encode import EncodingError
from configurator.engine import IncompleteConfiguration, InvalidConfiguration, get_configurator
from configurator.results import SelectionError
from core.db import create_engine, session_scope, upgrade_database
from core.errors import DomainError
from core.settings import Settings
from rules.store import load_demo_rule_sets
from billing.tax import load_demo_tax_rates
from sales.accounts import load_demo_accounts
from sales.terms import load_demo_templates


class CpqGroup(click.Group):
    """Turns the errors a user can cause into a message and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DocumentValidationError as exc:
            for error in exc.errors:
                click.echo(str(error), err=True)
            ctx.exit(1)
        except SelectionError as exc:
            raise click.ClickException(f"{_cli_field(exc.field)}: {exc.reason}") from None
        except InvalidConfiguration as exc:
            raise click.ClickException("\n".join(
                out.conflicts_text(exc.conflicts, "the selections violate the product rules:"))) from None
        except (DomainError, IncompleteConfiguration, EncodingError) as exc:
            raise click.ClickException(str(exc)) from None
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise click.ClickException(f"database error: {reason}\n"
                                       "(is the database migrated? run: cpq db upgrade)") from None


def _cli_field(field: str) -> str:
    """`selections.cpu` -> `--set cpu`, `minimize` -> `--minimize`: as the user typed it."""
    prefix = "selections."
    if field.startswith(prefix):
        return f"--set {field[len(prefix):]}"
    return "--minimize" if field == "minimize" else field


@contextmanager
def database() -> Iterator[Session]:
    engine = create_engine(Settings.from_env().database_url)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def resolve_model(ref: str, version: int | None) -> ProductModel:
    if "." in ref or "/" in ref:
        model = load_model_file(ref)
        if version is not None and version != model.version:
            raise click.UsageError(f"{ref} holds version {model.version}, not {version}")
        return model
    with database() as session:
        return catalog.get_model(session, ref, version)


def parse_sets(_ctx, _param, items: tuple[str, ...]) -> dict[str, str]:
    selections: dict[str, str] = {}
    for item in items:
        attr, sep, value = item.partition("=")
        if not sep or not attr.strip():
            raise click.BadParameter(f"{item!r} is not ATTR=VALUE")
        selections[attr.strip()] = value.strip()
    return selections


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


model_argument = click.argument("model", metavar="MODEL")
set_option = click.option("--set", "selections", multiple=True, callback=parse_sets,
                          metavar="ATTR=VALUE", help="A selection; repeat for more.")
version_option = click.option("--version", type=click.IntRange(min=1),
                              help="Model version (default: the latest).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (as the API does).")


@click.group(cls=CpqGroup)
def cli():
    """Configure-price-quote: product models, configuration, bills of materials, pricing."""


# ---- database -----------------------------------------------------------------------------

@cli.group()
def db():
    """The database named by $DATABASE_URL (default: var/cpq.db)."""


@db.command("upgrade")
def db_upgrade():
    """Create or migrate the schema to the latest revision."""
    url = Settings.from_env().database_url
    upgrade_database(url)
    click.echo(f"database is up to date: {make_url(url).render_as_string(hide_password=True)}")


# ---- models -------------------------------------------------------------------------------

@cli.group()
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


# ---- configurator -------------------------------------------------------------------------

@cli.command()
@model_argument
@set_option
@version_option
@json_option
@click.option("--explain", is_flag=True, help="Say why each excluded value is excluded.")
def configure(model, selections, version, as_json, explain):
    """Validate selections and show each attribute's remaining values.

    Exits 1 when the selections violate the rules.
    """
    model = resolve_model(model, version)
    result = get_configurator(model).configure(selections, explain=explain)
    if as_json:
        emit_json(schemas.ConfigureResponse().dump(schemas.Configured(model, result)))
    else:
        click.echo(out.configure_text(model, result, explain))
    if not result.valid:
        raise SystemExit(1)


@cli.command()
@model_argument
@set_option
@version_option
@json_option
@click.option("--minimize", metavar="PROPERTY", help="Prefer values with the lowest PROPERTY, e.g. cost.")
def complete(model, selections, version, as_json, minimize):
    """Fill in every unselected attribute (defaults first). Exits 1 if impossible."""
    model = resolve_model(model, version)
    completion = get_configurator(model).complete(selections, minimize=minimize)
    if as_json:
        emit_json(schemas.CompletionSchema().dump(completion))
    else:
        click.echo(out.completion_text(model, completion, minimize))
    if not completion.valid:
        raise SystemExit(1)


@cli.command()
@model_argument
@click.argument("attribute")
@click.argument("value")
@set_option
@version_option
@json_option
def explain(model, attribute, value, selections, version, as_json):
    """Why ATTRIBUTE cannot be VALUE given the selections (or that it can)."""
    model = resolve_model(model, version)
    explanation = get_configurator(model).explain(selections, attribute, value)
    if as_json:
        emit_json(schemas.ExplanationSchema().dump(explanation))
    else:
        click.echo(out.explanation_text(explanation))


@cli.command()
@model_argument
@set_option
@version_option
@click.option("--json", "output", flag_value="json", help="Print the BOM as JSON.")
@click.option("--csv", "output", flag_value="csv", help="Print the exploded BOM as CSV.")
def bom(model, selections, version, output):
    """The bill of materials of a complete configuration."""
    model = resolve_model(model, version)
    result = get_configurator(model).bom(selections)
    if output == "json":
        emit_json(schemas.BomSchema().dump(result))
    elif output == "csv":
        click.echo(flat_bom_csv(result), nl=False)
    else:
        click.echo(out.bom_text(result))


from api import cli_integration, cli_pricing, cli_sales  # noqa: E402,F401  (register their commands on `cli`)


def main() -> None:
    cli(prog_name="cpq")


if __name__ == "__main__":
    main()
