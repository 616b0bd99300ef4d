"""/api/v1: product models, configure/explain/complete/BOM, saved configurations.

Each view parses its input with a schema, makes one domain call and returns the domain
result for the response schema to dump. Errors are raised, not returned (see api/errors.py).
"""

from __future__ import annotations

from dataclasses import replace

from flask import Response

from api import schemas as s
from api.blueprint import Blueprint, db_session
from core.permissions import PUBLIC
from api.idempotency import respond
from api.bom_csv import flat_bom_csv
from catalog import store as catalog
from catalog.model import ProductModel
from configurator import store as configurations
from configurator.engine import get_configurator

blp = Blueprint("configurator", __name__, url_prefix="/api/v1",
                description="Product models, configuration and saved configurations")


def _model(product: str, version: int | None = None) -> ProductModel:
    with db_session() as session:
        return catalog.get_model(session, product, version)


@blp.get("/products")
@blp.requires(PUBLIC)
@blp.response(200, s.ProductSummarySchema(many=True))
def list_products():
    with db_session() as session:
        return catalog.list_products(session)


@blp.get("/products/<product>")
@blp.requires(PUBLIC)
@blp.arguments(s.ModelQuery, location="query")
@blp.response(200, s.ProductModelSchema)
def latest_model(query, product):
    """The latest version, its labels and messages in `lang`."""
    return _model(product).in_language(query["lang"])


@blp.get("/products/<product>/versions/<int:version>")
@blp.requires(PUBLIC)
@blp.arguments(s.ModelQuery, location="query")
@blp.response(200, s.ProductModelSchema)
def model_version(query, product, version):
    return _model(product, version).in_language(query["lang"])


@blp.post("/products/<product>/configure")
@blp.requires(PUBLIC)
@blp.arguments(s.ConfigureRequest, required=False)
@blp.response(200, s.ConfigureResponse)
def configure(args, product):
    """Validate selections and narrow every attribute to the values still possible."""
    model = _model(product, args["version"])
    return s.Configured(model.in_language(args["lang"]),
                        get_configurator(model).configure(args["selections"], explain=args["explain"]))


@blp.post("/products/<product>/explain")
@blp.requires(PUBLIC)
@blp.arguments(s.ExplainRequest)
@blp.response(200, s.ExplanationSchema)
def explain(args, product):
    """Why `attribute` cannot take `value` given the other selections (if it cannot)."""
    model = _model(product, args["version"])
    found = get_configurator(model).explain(args["selections"], args["attribute"], args["value"])
    return replace(found, conflict=s.worded(found.conflict, model.in_language(args["lang"])))


@blp.post("/products/<product>/switch")
@blp.requires(PUBLIC)
@blp.arguments(s.SwitchRequest)
@blp.response(200, s.SwitchSchema)
def switch(args, product):
    """Pick `attribute` = `value` whatever was chosen before: the fewest earlier selections to
    drop so that it holds (exact minimum), with labels, and the selections after the switch."""
    model = _model(product, args["version"])
    return s.Switched(model.in_language(args["lang"]),
                      get_configurator(model).switch(args["selections"], args["attribute"], args["value"]))


@blp.post("/products/<product>/complete")
@blp.requires(PUBLIC)
@blp.arguments(s.CompleteRequest, required=False)
@blp.response(200, s.CompletionSchema)
def complete(args, product):
    """Fill every unselected attribute: defaults first, or the exact minimum of `minimize`."""
    model = _model(product, args["version"])
    return get_configurator(model).complete(args["selections"], minimize=args["minimize"])


@blp.post("/products/<product>/bom")
@blp.requires("bom:read")
@blp.arguments(s.BomRequest)
@blp.response(200, s.BomSchema)
def bom(args, product):
    """The bill of materials of a complete, valid configuration (422 otherwise)."""
    model = _model(product, args["version"])
    return get_configurator(model).bom(args["selections"])


@blp.post("/configurations")
@blp.requires(PUBLIC)
@blp.arguments(s.ConfigurationRequest)
@blp.response(201, s.SavedConfigurationSchema)
def save_configuration(args):
    """Save valid selections, pinned to the model version they were made on.
    Idempotency-Key supported."""
    with db_session() as session:
        model = catalog.get_model(session, args["product"], args["version"])
        return respond(session, 201, lambda: (configurations.save_configuration(session, model, args["selections"]), True),
                       s.SavedConfigurationSchema().dump)


@blp.get("/configurations/<configuration_id>")
@blp.requires(PUBLIC)
@blp.response(200, s.SavedConfigurationSchema)
def get_configuration(configuration_id):
    with db_session() as session:
        return configurations.get_configuration(session, configuration_id)


@blp.get("/configurations/<configuration_id>/bom")
@blp.requires("bom:read")
@blp.arguments(s.BomQuery, location="query")
@blp.response(200, s.BomSchema)
def configuration_bom(query, configuration_id):
    """The BOM of a saved complete configuration; ``?format=csv`` gives the exploded lines."""
    with db_session() as session:
        saved = configurations.get_configuration(session, configuration_id)
        model = catalog.get_model(session, saved.product, saved.model_version)
    result = get_configurator(model).bom(saved.selections)
    if query["format"] == "csv":
        return Response(flat_bom_csv(result), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{configuration_id}-bom.csv"'})
    return result
