"""/api/v1/export and /api/v1/import: master data bundles (models, price books, rule sets,
accounts), as `cpq export` and `cpq import` write and read them (sales/transfer.py)."""

from __future__ import annotations

import yaml
from flask import Response

from api import integration_schemas as xs
from api.blueprint import DOCUMENT_BODY, Blueprint, db_session, document_body, json_or
from sales import transfer

blp = Blueprint("transfer", __name__, url_prefix="/api/v1", description="Import and export of master data")


@blp.get("/export")
@blp.requires("data:export")
@blp.arguments(xs.ExportQuery, location="query")
@blp.response(200, xs.BundleSchema)
@blp.doc(responses=json_or("application/yaml", "Bundle"))
def export(query):
    """Every version of every model, price book and rule set (with the active ones) and every
    account; `only` picks sections, `format=yaml` answers in YAML."""
    with db_session() as session:
        bundle = transfer.export_bundle(session, tuple(query["only"]) or transfer.SECTIONS)
    if query["format"] == "yaml":
        return Response(yaml.safe_dump(bundle, sort_keys=False), mimetype="application/yaml")
    return bundle


@blp.post("/import")
@blp.requires("data:import")
@blp.arguments(xs.ImportQuery, location="query")
@blp.response(200, xs.ImportReportSchema)
@blp.doc(requestBody=DOCUMENT_BODY)
def import_(query):
    """Load a bundle (JSON, or YAML by Content-Type): all of it or nothing, every problem
    reported at once (422). `dry_run=true` checks and reports without writing."""
    bundle = document_body("bundle")
    with db_session() as session:
        report = transfer.import_bundle(session, bundle, "request body")
        if query["dry_run"]:
            session.rollback()
        return {"new": report.new, "existing": report.existing, "activated": report.activated,
                "dry_run": query["dry_run"]}
