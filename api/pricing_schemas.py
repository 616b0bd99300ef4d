"""marshmallow schemas for pricing: the draft to price in, the waterfall and totals out.

Inputs check shape, types and ranges; whether a product, price book or promo code exists
is the domain's call (PricingError / the promo outcomes). Money leaves as decimal strings
in the currency given at the top of the result.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.schemas import Day, Flag, Selections, Timestamp, decimal_in
from rules.schemas import QuotePriceSchema  # noqa: F401  (the pricing API's output)
from core.validation import MAX_INTEGER
from rules.pricing import LineRequest, PricingRequest
from rules.results import ManualDiscount

MAX_LINES = 10_000
NAME = validate.Length(min=1, max=100)


def _optional_version(description: str):
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INTEGER),
                          load_default=None, metadata={"description": description})


def _code(**kwargs):
    return fields.String(validate=NAME, load_default=None, **kwargs)


class DiscountSchema(Schema):
    percent = decimal_in(0, 100)
    amount = decimal_in(0, description="off the line (or one-time quote) total")

    @validates_schema
    def _one(self, data, **kwargs):
        if ("percent" in data) == ("amount" in data):
            raise ValidationError("give percent or amount")

    @post_load
    def _make(self, data, **kwargs):
        return ManualDiscount(data.get("percent"), data.get("amount"))


class CustomerSchema(Schema):
    id = _code(metadata={"description": "customer (account) id, for promo limits"})
    segment = _code()
    tier = _code()


class PriceLineSchema(Schema):
    id = fields.String(validate=validate.Length(min=1, max=64), load_default=None,
                       metadata={"description": "unique line id; default: the position, from 1"})
    product = _code()
    configuration = fields.String(validate=validate.Length(min=1, max=32), load_default=None,
                                  metadata={"description": "a saved configuration's id"})
    selections = Selections(load_default=dict)
    version = _optional_version("model version; latest if omitted")
    quantity = fields.Integer(strict=True, validate=validate.Range(min=1, max=1_000_000), load_default=1)
    term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=1200), load_default=None)
    discount = fields.Nested(DiscountSchema, load_default=None)

    @validates_schema
    def _product_or_configuration(self, data, **kwargs):
        if data.get("product") is None and data.get("configuration") is None:
            raise ValidationError("give a product or a configuration", "product")
        if data.get("configuration") is not None and data.get("selections"):
            raise ValidationError("a saved configuration has its own selections", "selections")


class PriceRequestSchema(Schema):
    price_book = fields.String(required=True, validate=NAME)
    price_book_version = _optional_version("price book version; the active one if omitted")
    rule_set = fields.String(load_default="standard", validate=NAME)
    rule_set_version = _optional_version("rule set version; the active one if omitted")
    date = Day(load_default=None, metadata={"description": "pricing date; today if omitted"})
    customer = fields.Nested(CustomerSchema, load_default=dict)
    channel = _code()
    promo_codes = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                              load_default=list, validate=validate.Length(max=20))
    payment_terms = _code()
    discount = fields.Nested(DiscountSchema, load_default=None,
                             metadata={"description": "header discount"})
    lines = fields.List(fields.Nested(PriceLineSchema), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))

    @validates_schema
    def _unique_ids(self, data, **kwargs):
        ids = [line["id"] for line in data.get("lines", []) if line.get("id") is not None]
        if len(ids) != len(set(ids)):
            raise ValidationError("line ids must be unique", "lines")

    @post_load
    def _make(self, data, **kwargs):
        lines = tuple(LineRequest(product=ln["product"], quantity=ln["quantity"],
                                  selections=ln["selections"], configuration=ln["configuration"],
                                  model_version=ln["version"], id=ln["id"],
                                  term_months=ln["term_months"], discount=ln["discount"])
                      for ln in data["lines"])
        customer = data["customer"]
        return PricingRequest(data["price_book"], lines, data["rule_set"], data["price_book_version"],
                              data["rule_set_version"], data["date"], customer.get("id"),
                              customer.get("segment"), customer.get("tier"), data["channel"],
                              tuple(data["promo_codes"]), data["payment_terms"], data["discount"])


class DocumentSummarySchema(Schema):
    name = fields.String()
    versions = fields.List(fields.Integer())
    active = fields.Integer(allow_none=True)


class DocumentVersionSchema(Schema):
    kind = fields.String()
    name = fields.String()
    version = fields.Integer()
    digest = fields.String()
    loaded_at = Timestamp()
    active = Flag()
    source = fields.Dict()


class DocumentQuery(Schema):
    activate = fields.Boolean(load_default=False,
                              metadata={"description": "make the loaded version the active one"})
