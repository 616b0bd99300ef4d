"""marshmallow schemas of pricing results: how a priced quote reads as plain JSON data.

The API dumps results with them, and a quote stores its pricing dumped the same way, so a
stored price reads exactly as the API showed it (decimals as strings, amounts in their
currency's minor units, nothing lost). `CustomerPriceSchema` is what a customer may see of a
price, for every customer-facing output: it lists the fields shown, so costs, margins, rules
and approvals never reach a customer, whatever the internal price grows to hold.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from core.serialize import InCurrency, Money, MoneyMap, UnitAmount, decimal_string


class StepSchema(Schema):
    kind = fields.String()
    rule = fields.String(allow_none=True)
    label = fields.String()
    amount = Money()


class OutcomeSchema(Schema):
    rule = fields.String()
    applied = fields.Boolean()
    reason = fields.String()


class PriceElementSchema(Schema):
    kind = fields.String()
    code = fields.String()
    label = fields.String()
    quantity = decimal_string()
    unit_price = UnitAmount()
    amount = Money()


class LinePriceSchema(Schema):
    id = fields.String()
    product = fields.String()
    name = fields.String()
    quantity = decimal_string()
    charge = fields.String(metadata={"description": "one_time, monthly, quarterly, semiannual or annual"})
    term_months = fields.Integer(allow_none=True)
    periods = decimal_string()
    complete = fields.Boolean(metadata={"description": "false: defaults filled in undecided attributes"})
    free_of = fields.String(allow_none=True, metadata={"description": "the line that earned this free item"})
    elements = fields.List(InCurrency(PriceElementSchema))
    list_unit_price = UnitAmount()
    list_total = Money()
    steps = fields.List(InCurrency(StepSchema))
    discount_total = Money()
    net_total = Money()
    contract_value = Money()
    unit_cost = UnitAmount()
    considered = fields.List(fields.Nested(OutcomeSchema))


class TotalsSchema(Schema):
    one_time_list = Money()
    one_time_net = Money()
    recurring = MoneyMap()
    list_contract_value = Money()
    contract_value = Money()
    cost = Money()
    discount_percent = decimal_string()
    margin = Money()
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
    lines = fields.List(InCurrency(LinePriceSchema))
    quote_steps = fields.List(InCurrency(StepSchema))
    quote_considered = fields.List(fields.Nested(OutcomeSchema))
    promotions = fields.List(fields.Nested(OutcomeSchema))
    totals = InCurrency(TotalsSchema)
    approvals = fields.List(fields.Nested(RequiredApprovalSchema))


# ---- what a customer sees of a price -----------------------------------------------------------
# Each projection lists the fields it shows (Meta.fields), and its nested objects are
# projections too: whatever the internal price grows to hold stays out unless listed here.

class CustomerStepSchema(StepSchema):
    class Meta:
        fields = ("label", "amount")


class CustomerLineSchema(LinePriceSchema):
    steps = fields.List(InCurrency(CustomerStepSchema))

    class Meta:
        fields = ("id", "product", "name", "quantity", "charge", "term_months", "periods", "free_of",
                  "list_unit_price", "list_total", "steps", "discount_total", "net_total", "contract_value")


class CustomerTotalsSchema(TotalsSchema):
    class Meta:
        fields = ("one_time_list", "one_time_net", "recurring", "list_contract_value", "contract_value",
                  "discount_percent")


class CustomerPriceSchema(QuotePriceSchema):
    """A price (a result, or a quote's stored price) as a customer may see it."""
    lines = fields.List(InCurrency(CustomerLineSchema))
    quote_steps = fields.List(InCurrency(CustomerStepSchema))
    totals = InCurrency(CustomerTotalsSchema)

    class Meta:
        fields = ("currency", "price_book", "lines", "quote_steps", "totals")
