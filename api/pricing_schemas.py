"""marshmallow schemas for pricing: the draft to price in, the waterfall and totals out.

Inputs check shape, types and ranges; whether a product, price book or promo code exists
is the domain's call (PricingError / the promo outcomes). Money leaves as decimal strings
in the currency given at the top of the result.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.fx_schemas import CurrencyCode
from api.schemas import Day, Flag, Selections, Timestamp, decimal_in
from catalog.derive import MODES, Rounding
from catalog.pricebook import NAME_RE
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


class RoundingSchema(Schema):
    """How converted list prices are rounded: to a step, to a charm ending, or (neither) to
    the currency's minor unit."""
    step = decimal_in(0, above=True, load_default=None, description="a multiple of this: 0.05, 1, 10")
    charm = decimal_in(0, load_default=None, description="an ending: 0.99 gives x.99, 9 gives ...9, 990 gives ...990")
    mode = fields.String(load_default="nearest", validate=validate.OneOf(list(MODES)),
                         metadata={"description": "nearest (half up), up or down"})

    @validates_schema
    def _one(self, data, **kwargs):
        if data.get("step") is not None and data.get("charm") is not None:
            raise ValidationError("give a step or a charm ending, not both", "charm")

    @post_load
    def _make(self, data, **kwargs):
        return Rounding(**data)


class DeriveSchema(Schema):
    """A price book derived from another in another currency (catalog/derive.py)."""
    currency = CurrencyCode(required=True)
    name = fields.String(required=True, validate=[validate.Length(max=100), validate.Regexp(NAME_RE)],
                         metadata={"description": "the derived book's name"})
    on = Day(load_default=None, metadata={"description": "the day whose exchange rate converts; default: today"})
    version = _optional_version("the source's version; default: its active version")
    title = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    rounding = fields.Nested(RoundingSchema, load_default=Rounding)
    activate = Flag(load_default=False, metadata={"description": "make the derived version the active one"})


class DocumentQuery(Schema):
    activate = fields.Boolean(load_default=False,
                              metadata={"description": "make the loaded version the active one"})
