"""marshmallow schemas for accounts, quotes, approvals and customer acceptance.

Inputs check shape and types; whether an account, product or template exists, and what a
quote's state allows, is the domain's call (sales/). Money leaves as decimal strings in the
quote's currency.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.order_schemas import FulfilmentSchema
from api.schemas import ChangeSchema, Day, Flag, Selections, Stored, Timestamp, decimal_in, decimal_string, document_status
from core.locales import LANGUAGES
from core.serialize import InCurrency, Money
from core.validation import MAX_INTEGER
from sales.accounts import CONSOLIDATION, LAST_BILLING_DAY
from rules.schemas import ApprovalReasonSchema, CustomerPriceSchema, QuotePriceSchema, RequiredApprovalSchema
from sales.models import KINDS, STATES
from sales.quotes import LineSpec

TEXT = validate.Length(max=200)
CODE = validate.Length(min=1, max=100)


# accounts ----------------------------------------------------------------------------------

class AddressSchema(Schema):
    street = fields.String(validate=TEXT)
    city = fields.String(validate=TEXT)
    postal_code = fields.String(validate=TEXT)
    region = fields.String(validate=TEXT)
    country = fields.String(validate=validate.Length(equal=2), metadata={"description": "ISO 3166 alpha-2"})


class ContactSchema(Schema):
    name = fields.String(required=True, validate=TEXT)
    email = fields.Email(required=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=40))
    title = fields.String(allow_none=True, validate=validate.Length(max=100))
    primary = Flag()


class AccountInSchema(ChangeSchema):
    """An account to create (code, name and currency required) or the fields to change."""
    code = fields.String(validate=validate.Length(min=1, max=40))
    name = fields.String(validate=validate.Length(min=1, max=200))
    currency = fields.String(validate=validate.Length(equal=3))
    tax_id = fields.String(allow_none=True, validate=validate.Length(max=40))
    segment = fields.String(allow_none=True, validate=validate.Length(max=32))
    tier = fields.String(allow_none=True, validate=validate.Length(max=32))
    credit_limit = decimal_in(0, allow_none=True)
    payment_terms = fields.String(validate=validate.Length(min=1, max=32))
    channel = fields.String(allow_none=True, validate=validate.Length(max=32),
                            metadata={"description": "the sales channel, e.g. partner (accounts:pricing)"})
    language = fields.String(validate=validate.OneOf(LANGUAGES),
                             metadata={"description": "of the customer's documents, letters and pages (default en)"})
    price_books = fields.List(fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=50),
                              metadata={"description": "price books it is entitled to by name (accounts:pricing)"})
    billing_address = fields.Nested(AddressSchema)
    shipping_address = fields.Nested(AddressSchema)
    contacts = fields.List(fields.Nested(ContactSchema))
    invoice_consolidation = fields.String(validate=validate.OneOf(CONSOLIDATION), metadata={
        "description": "per_document: an invoice per order or usage period; per_billing_day: everything due, "
                       "on one invoice per currency on the billing day"})
    billing_day = fields.Integer(strict=True, validate=validate.Range(1, LAST_BILLING_DAY),
                                 metadata={"description": "day of the month consolidated invoices are made"})


class AccountOutSchema(Schema):
    code = fields.String()
    name = fields.String()
    currency = fields.String()
    tax_id = fields.String(allow_none=True)
    segment = fields.String(allow_none=True)
    tier = fields.String(allow_none=True)
    credit_limit = Money(allow_none=True)
    payment_terms = fields.String()
    channel = fields.String(allow_none=True)
    language = fields.String()
    price_books = fields.List(fields.String())
    billing_address = fields.Dict()
    shipping_address = fields.Dict()
    contacts = fields.List(fields.Nested(ContactSchema))
    invoice_consolidation = fields.String()
    billing_day = fields.Integer()
    created_at = Timestamp()
    updated_at = Timestamp()


class AccountQuery(Schema):
    search = fields.String(load_default=None, validate=TEXT)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class ImportResultSchema(Schema):
    created = fields.List(fields.String())
    updated = fields.List(fields.String())


# quotes ------------------------------------------------------------------------------------

class LineInSchema(Schema):
    product = fields.String(validate=CODE, load_default=None)
    configuration = fields.String(validate=validate.Length(min=1, max=32), load_default=None,
                                  metadata={"description": "a saved configuration's id"})
    selections = Selections(load_default=dict)
    model_version = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INTEGER), load_default=None)
    quantity = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000), load_default=1,
                              metadata={"description": "at least 1, except 0 on an amendment's line that removes "
                                                       "a subscription"})
    term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=600), load_default=None)
    discount_percent = decimal_in(0, 100, load_default=None)
    discount_amount = decimal_in(0, load_default=None)
    group = fields.String(validate=validate.Length(max=100), load_default=None)
    notes = fields.String(validate=validate.Length(max=1000), load_default="")
    key = fields.String(validate=validate.Length(min=1, max=16), load_default=None,
                        metadata={"description": "an existing line's key, to keep it when replacing lines"})
    subscription = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INTEGER), load_default=None,
                                  metadata={"description": "on an amendment or renewal: the subscription the line "
                                                           "continues (quantity 0 on an amendment removes it)"})
    reprice = Flag(load_default=False, metadata={
        "description": "a line continuing a subscription: priced by the rules, not at the contract's price"})

    @validates_schema
    def _product_or_configuration(self, data, **kwargs):
        if data.get("product") is None and data.get("configuration") is None:
            raise ValidationError("give a product or a configuration", "product")
        if data.get("discount_percent") is not None and data.get("discount_amount") is not None:
            raise ValidationError("give a percent or an amount, not both", "discount_amount")

    @post_load
    def _make(self, data, **kwargs):
        return LineSpec(**data)


class LineChangeSchema(ChangeSchema):
    """Fields of one line to change (only those given)."""
    CONTROLS = ("expected_lock",)
    product = fields.String(validate=CODE)
    selections = Selections()
    model_version = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INTEGER), allow_none=True)
    quantity = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000),
                              metadata={"description": "at least 1, except 0 on an amendment's line that removes "
                                                       "a subscription"})
    term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=600), allow_none=True)
    discount_percent = decimal_in(0, 100, allow_none=True)
    discount_amount = decimal_in(0, allow_none=True)
    group = fields.String(validate=validate.Length(max=100), allow_none=True)
    notes = fields.String(validate=validate.Length(max=1000))
    reprice = Flag()
    expected_lock = fields.Integer(strict=True, load_default=None, data_key="lock_version",
                                   validate=validate.Range(min=0, max=MAX_INTEGER))


class HeaderFields(Schema):
    title = fields.String(validate=TEXT)
    price_book = fields.String(validate=CODE)
    rule_set = fields.String(validate=CODE)
    channel = fields.String(validate=validate.Length(min=1, max=32), allow_none=True)
    payment_terms = fields.String(validate=validate.Length(min=1, max=32))
    promo_codes = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                              validate=validate.Length(max=20))
    discount_percent = decimal_in(0, 100, allow_none=True)
    discount_amount = decimal_in(0, allow_none=True)
    expires_on = Day()
    terms_template = fields.String(validate=validate.Length(min=1, max=64), allow_none=True)
    notes = fields.String(validate=validate.Length(max=10_000))


class QuoteCreateSchema(HeaderFields):
    account = fields.String(required=True, validate=validate.Length(min=1, max=40))
    lines = fields.List(fields.Nested(LineInSchema), load_default=list, validate=validate.Length(max=2000))


class QuoteUpdateSchema(HeaderFields, ChangeSchema):
    """Header fields to change (only those given) and/or every line replaced."""
    CONTROLS = ("reason", "expected_lock")
    lines = fields.List(fields.Nested(LineInSchema), validate=validate.Length(max=2000),
                        metadata={"description": "replaces every line (keep a line's key to keep it)"})
    reason = fields.String(validate=validate.Length(max=2000), load_default="")
    expected_lock = fields.Integer(strict=True, load_default=None, data_key="lock_version",
                                   validate=validate.Range(min=0, max=MAX_INTEGER),
                                   metadata={"description": "the lock_version read; a newer one is a 409"})


class QuoteLineOutSchema(Schema):
    key = fields.String()
    position = fields.Integer()
    group = fields.String(allow_none=True)
    product = fields.String()
    configuration = fields.String(attribute="configuration_id", allow_none=True)
    selections = fields.Dict()
    chosen = fields.List(fields.String(), metadata={
        "description": "the options chosen, as people read them (e.g. 'Xeon Gold 6430', 'DIMM count: 8')"})
    model_version = fields.Integer(allow_none=True)
    quantity = fields.Integer()
    term_months = fields.Integer(allow_none=True)
    discount_percent = decimal_string(allow_none=True)
    discount_amount = Money(allow_none=True)
    notes = fields.String()
    subscription = fields.Integer(attribute="subscription_id", allow_none=True)
    reprice = Flag()


class ApprovalStepSchema(Schema):
    round = fields.Integer(metadata={"description": "each submission is a round; earlier rounds are history"})
    level = fields.String()
    label = fields.String()
    stage = fields.Integer()
    status = fields.String()
    reasons = fields.List(fields.Nested(ApprovalReasonSchema))
    decided_by = fields.String(allow_none=True)
    decided_at = Timestamp(allow_none=True)
    comment = fields.String()


class QuoteOutSchema(Schema):
    number = fields.String()
    revision = fields.Integer()
    latest = Flag()
    state = fields.String(metadata={"enum": list(STATES)})
    account = fields.String(attribute="account_code")
    owner = fields.String(attribute="owner_id")
    title = fields.String()
    currency = fields.String()
    price_book = fields.String()
    price_book_version = fields.Integer(allow_none=True)
    rule_set = fields.String()
    rule_set_version = fields.Integer(allow_none=True)
    channel = fields.String(allow_none=True)
    payment_terms = fields.String()
    promo_codes = fields.List(fields.String())
    discount_percent = decimal_string(allow_none=True)
    discount_amount = Money(allow_none=True)
    expires_on = fields.Date()
    terms_template = fields.String(allow_none=True)
    terms = fields.String()
    notes = fields.String()
    cloned_from = fields.String(allow_none=True)
    kind = fields.String(metadata={"enum": list(KINDS), "description": "a sale, an amendment or a renewal"})
    contract = fields.String(attribute="contract_number", allow_none=True,
                             metadata={"description": "the contract an amendment changes or a renewal renews"})
    effective_date = fields.Date(allow_none=True, metadata={"description": "an amendment's first day"})
    lock_version = fields.Integer()
    priced_on = fields.Date(allow_none=True)
    price = Stored(QuotePriceSchema, attribute="priced", allow_none=True,
                   metadata={"description": "the stored pricing (as POST /pricing/quote)"})
    one_time_net = Money(allow_none=True)
    contract_value = Money(allow_none=True)
    lines = fields.List(InCurrency(QuoteLineOutSchema))
    approvals_required = fields.List(fields.Nested(RequiredApprovalSchema))
    discount_explanations = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "by line id, how the line's discounts stack, e.g. 'volume tier: 8%, then manual discount "
                       "20%: 20% of the remainder = 26.40% line discount'"})
    approval_steps = fields.List(fields.Nested(ApprovalStepSchema))
    fulfilment = fields.List(fields.Nested(FulfilmentSchema), metadata={
        "description": "the order of the accepted revision, with the ERP's status, shipments and order number"})
    document_sha256 = fields.String(allow_none=True)
    document_status = document_status()
    created_at = Timestamp()
    updated_at = Timestamp()
    submitted_at = Timestamp(allow_none=True)
    sent_at = Timestamp(allow_none=True)
    decided_at = Timestamp(allow_none=True)


class QuoteSummarySchema(Schema):
    number = fields.String()
    revision = fields.Integer()
    state = fields.String()
    account = fields.String(attribute="account_code")
    owner = fields.String(attribute="owner_id")
    title = fields.String()
    currency = fields.String()
    one_time_net = Money(allow_none=True)
    contract_value = Money(allow_none=True)
    expires_on = fields.Date()
    updated_at = Timestamp()


class QuoteQuery(Schema):
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    owner = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class EventSchema(Schema):
    at = Timestamp()
    actor = fields.String()
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    reason = fields.String()
    data = fields.Dict()


class CommentSchema(Schema):
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class DecisionInSchema(Schema):
    level = fields.String(required=True, validate=validate.Length(min=1, max=64))
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class SendSchema(Schema):
    link_days = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1, max=365),
                               metadata={"description": "share link lifetime; default: until the quote expires"})


class ShareLinkSchema(Schema):
    token = fields.String()
    url = fields.String()
    expires_at = Timestamp()


class SentSchema(Schema):
    quote = fields.Nested(QuoteOutSchema)
    share_link = fields.Nested(ShareLinkSchema)


class CustomerDecisionInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True)
    document_sha256 = fields.String(load_default=None, validate=validate.Length(equal=64),
                                    metadata={"description": "the hash of the document shown; refused if it differs"})
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class CustomerDecisionSchema(Schema):
    accepted = Flag()
    name = fields.String()
    email = fields.String()
    at = Timestamp()
    document_sha256 = fields.String()
    reason = fields.String()


class SharedQuoteSchema(Schema):
    number = fields.String()
    revision = fields.Integer()
    state = fields.String()
    superseded = Flag()
    expires_on = fields.Date()
    link_expires_at = Timestamp()
    document_sha256 = fields.String(allow_none=True, metadata={"description": "the PDF's, once rendered"})
    document_status = document_status()
    price = fields.Nested(CustomerPriceSchema, metadata={"description": "what the customer sees of the price"})
    decision = fields.Nested(CustomerDecisionSchema, allow_none=True)


class TermsTemplateSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$"))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    body = fields.String(required=True, validate=validate.Length(min=1, max=100_000))

