"""`cpq configure|complete|explain|bom`: the configurator in a terminal.

MODEL is a product code in the database or a path to a model file (anything with a `.` or
`/`, which product codes never contain); a file needs no database. Text output is for
people; `--json` prints what the API returns.
"""

from __future__ import annotations

import click

from api import schemas
from api.bom_csv import flat_bom_csv
from catalog import store as catalog
from catalog.loader import load_model_file
from catalog.model import ProductModel
from cli import output as out
from cli.common import database, emit_json, json_option
from configurator.engine import get_configurator


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


model_argument = click.argument("model", metavar="MODEL")
set_option = click.option("--set", "selections", multiple=True, callback=parse_sets,
                          metavar="ATTR=VALUE", help="A selection; repeat for more.")
version_option = click.option("--version", type=click.IntRange(min=1),
                              help="Model version (default: the latest).")


@click.command()
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


@click.command()
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


@click.command()
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


@click.command()
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
