"""/api/v1: price a quote draft; list, validate, load and activate price books and rule sets.

Price books and rule sets share one set of routes (`/pricebooks`, `/rulesets`): both are
versioned documents (core/versioned) with a loader each. A document is uploaded as JSON or,
with `Content-Type: application/yaml`, as the YAML file itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from api import pricing_schemas as ps
from api.blueprint import DOCUMENT_BODY, Blueprint, db_session, document_body
from api.idempotency import respond
from catalog import derive
from catalog.pricebook import KIND as PRICE_BOOK
from catalog.pricebook import load_price_book_dict
from core import versioned
from rules.loader import load_rule_set_dict
from rules.model import KIND as RULE_SET
from rules.pricing import price_draft

blp = Blueprint("pricing", __name__, url_prefix="/api/v1",
                description="Pricing: price books, rule sets and quote drafts")

COLLECTION = "<any(pricebooks, rulesets):collection>"


@dataclass(frozen=True)
class Kind:
    kind: str
    load: Callable[[Any, str], Any]


KINDS = {"pricebooks": Kind(PRICE_BOOK, load_price_book_dict), "rulesets": Kind(RULE_SET, load_rule_set_dict)}


@blp.post("/pricing/quote")
@blp.requires("catalog:read")
@blp.arguments(ps.PriceRequestSchema)
@blp.response(200, ps.QuotePriceSchema)
def price_quote(pricing_request):
    """Price a draft: a waterfall per line, quote-level discounts, totals, approvals needed."""
    with db_session() as session:
        return price_draft(session, pricing_request)


@blp.get(f"/{COLLECTION}")
@blp.requires("catalog:read")
@blp.response(200, ps.DocumentSummarySchema(many=True))
def list_documents(collection):
    with db_session() as session:
        return versioned.list_documents(session, KINDS[collection].kind)


@blp.post(f"/{COLLECTION}")
@blp.requires("catalog:write")
@blp.arguments(ps.DocumentQuery, location="query")
@blp.response(201, ps.DocumentVersionSchema)
@blp.doc(requestBody=DOCUMENT_BODY)
def load_document(query, collection):
    """Load a new version (validated first; loading the same content again is harmless)."""
    parsed = _validated(collection)
    with db_session() as session:
        row = versioned.save_document(session, parsed.kind, parsed.name, parsed.version,
                                      parsed.digest, parsed.source, activate=query["activate"])
        return _described(session, row)


@blp.post(f"/{COLLECTION}/validate")
@blp.requires("catalog:write")
@blp.response(200, ps.DocumentSummarySchema)
@blp.doc(requestBody=DOCUMENT_BODY)
def validate_document(collection):
    """Check a document without storing it: 200 when valid, 422 naming every problem."""
    parsed = _validated(collection)
    return versioned.DocumentSummary(parsed.name, (parsed.version,), None)


@blp.get(f"/{COLLECTION}/<key(validate):name>")
@blp.requires("catalog:read")
@blp.response(200, ps.DocumentVersionSchema)
def active_document(collection, name):
    with db_session() as session:
        return _described(session, versioned.get_document(session, KINDS[collection].kind, name))


@blp.get(f"/{COLLECTION}/<name>/versions/<int:version>")
@blp.requires("catalog:read")
@blp.response(200, ps.DocumentVersionSchema)
def document_version(collection, name, version):
    with db_session() as session:
        return _described(session, versioned.get_document(session, KINDS[collection].kind, name, version))


@blp.post(f"/{COLLECTION}/<name>/versions/<int:version>/activate")
@blp.requires("catalog:write")
@blp.response(200, ps.DocumentVersionSchema)
def activate_document(collection, name, version):
    """Make a version the one pricing uses from its next request."""
    kind = KINDS[collection].kind
    with db_session() as session:
        versioned.activate_document(session, kind, name, version)
        return _described(session, versioned.get_document(session, kind, name, version))


@blp.post("/pricebooks/<name>/derive")
@blp.requires("catalog:write")
@blp.arguments(ps.DeriveSchema)
@blp.creates(ps.DocumentVersionSchema, found="the latest version of the name, derived with the same inputs already")
def derive_price_book(data, name):
    """A new version of price book `name` (in the body): this book's prices converted at the
    exchange rate of `on` and rounded by `rounding`; the version records the source version,
    the rate (with its day and source) and the rule. Idempotency-Key supported."""
    with db_session() as session:
        return respond(session, 201, lambda: derive.derive_price_book(
            session, name, data["currency"], data["name"], data["on"] or date.today(), data["rounding"],
            source_version=data["version"], title=data["title"], activate=data["activate"]),
            lambda row: ps.DocumentVersionSchema().dump(_described(session, row)))


@dataclass(frozen=True)
class _Parsed:
    kind: str
    name: str
    version: int
    digest: str
    source: dict


def _validated(collection: str) -> _Parsed:
    kind = KINDS[collection]
    document = kind.load(document_body(kind.kind), "request body")
    return _Parsed(kind.kind, document.name, document.version, document.digest, document.source)


def _described(session, row: versioned.DocumentVersion) -> dict:
    active = versioned.get_document(session, row.kind, row.name)
    return {"kind": row.kind, "name": row.name, "version": row.version, "digest": row.digest,
            "loaded_at": row.loaded_at, "active": active.version == row.version, "source": row.source}
