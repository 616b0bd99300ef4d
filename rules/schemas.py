"""marshmallow schemas of pricing results: how a priced quote reads as plain JSON data.

The API dumps results with them, and a quote stores its pricing dumped the same way, so a
stored price reads exactly as the API showed it (decimals as strings, nothing lost).
"""

from __future__ import annotations

from marshmallow import Schema, fields

from core.serialize import decimal_string


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
