"""marshmallow schemas for pricing: the draft to price in, the waterfall and totals out.

Inputs check shape, types and ranges; whether a product, price book or promo code exists
is the domain's call (PricingError / the promo outcomes). Money leaves as decimal strings
in the currency given at the top of the result.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.schemas import Selections, Timestamp, decimal_string
from core.validation import MAX_VERSION
from rules.pricing import LineRequest, PricingRequest
from rules.results import ManualDiscount

MAX_LINES = 10_000
NAME = validate.Length(min=1, max=100)


def _optional_version(description: str):
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_VERSION),
                          load_default=None, metadata={"description": description})


def _code(**kwargs):
    return fields.String(validate=NAME, load_default=None, **kwargs)


class DiscountSchema(Schema):
    percent = fields.Decimal(validate=validate.Range(min=0, max=100), allow_nan=False,
                             metadata={"type": "string", "format": "decimal"})
    amount = fields.Decimal(validate=validate.Range(min=0), allow_nan=False,
                            metadata={"type": "string", "format": "decimal",
                                      "description": "off the line (or one-time quote) total"})

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
    selections = Selections()
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
    date = fields.Date(load_default=None, metadata={"description": "pricing date; today if omitted"})
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


# ---- results ------------------------------------------------------------------------------

class StepSchema(Schema):
    kind = fields.String()
    rule = fields.String(allow_none=True)
    label = fields.String()
    amount = decimal_string()


class OutcomeSchema(Schema):
    rule = fields.String()
    applied = fields.Boolean()
    reason = fields.String()


class PriceElementSchema(Schema):
    kind = fields.String()
    code = fields.String()
    label = fields.String()
    quantity = decimal_string()
    unit_price = decimal_string()
    amount = decimal_string()


class LinePriceSchema(Schema):
    id = fields.String()
    product = fields.String()
    name = fields.String()
    quantity = decimal_string()
    charge = fields.String(metadata={"description": "one_time, monthly, quarterly or annual"})
    term_months = fields.Integer(allow_none=True)
    periods = decimal_string()
    complete = fields.Boolean(metadata={"description": "false: defaults filled in undecided attributes"})
    free_of = fields.String(allow_none=True, metadata={"description": "the line that earned this free item"})
    elements = fields.List(fields.Nested(PriceElementSchema))
    list_unit_price = decimal_string()
    list_total = decimal_string()
    steps = fields.List(fields.Nested(StepSchema))
    discount_total = decimal_string()
    net_total = decimal_string()
    contract_value = decimal_string()
    unit_cost = decimal_string()
    considered = fields.List(fields.Nested(OutcomeSchema))


class TotalsSchema(Schema):
    one_time_list = decimal_string()
    one_time_net = decimal_string()
    recurring = fields.Dict(keys=fields.String(), values=decimal_string())
    list_contract_value = decimal_string()
    contract_value = decimal_string()
    cost = decimal_string()
    discount_percent = decimal_string()
    margin = decimal_string()
    margin_percent = decimal_string()


class ApprovalReasonSchema(Schema):
    rule = fields.String()
    description = fields.String()
    detail = fields.String()


class RequiredApprovalSchema(Schema):
    level = fields.String()
    label = fields.String()
    stage = fields.Integer()
    reasons = fields.List(fields.Nested(ApprovalReasonSchema))


class QuotePriceSchema(Schema):
    currency = fields.String()
    date = fields.Date(attribute="day")
    price_book = fields.String()
    price_book_version = fields.Integer()
    rule_set = fields.String()
    rule_set_version = fields.Integer()
    lines = fields.List(fields.Nested(LinePriceSchema))
    quote_steps = fields.List(fields.Nested(StepSchema))
    quote_considered = fields.List(fields.Nested(OutcomeSchema))
    promotions = fields.List(fields.Nested(OutcomeSchema))
    totals = fields.Nested(TotalsSchema)
    approvals = fields.List(fields.Nested(RequiredApprovalSchema))


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
    active = fields.Boolean()
    source = fields.Dict()


class DocumentQuery(Schema):
    activate = fields.Boolean(load_default=False,
                              metadata={"description": "make the loaded version the active one"})
