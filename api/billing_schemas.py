"""marshmallow schemas for invoices, payments, the ledger, collections and revenue."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from api.fx_schemas import ConversionSchema, RateSchema, ReportingQuery
from api.mail_schemas import MailMessageSchema
from api.usage_schemas import Period
from api.schemas import Day, Flag, Timestamp, decimal_in, decimal_string, document_status
from billing.models import INVOICE_STATES
from core.serialize import InCurrency, Money, MoneyMap, UnitAmount
from core.validation import MAX_INTEGER

def _positive(description: str = "", **kwargs):
    return decimal_in(0, above=True, description=description, **kwargs)


class InvoiceLineSchema(Schema):
    position = fields.Integer()
    order_line = fields.String(attribute="order_line_key", allow_none=True)
    product = fields.String()
    description = fields.String()
    quantity = decimal_string()
    unit_price = UnitAmount()
    net_amount = Money()
    tax_category = fields.String()
    tax_rate = decimal_string()
    tax_amount = Money()
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)


class TaxGroupSchema(Schema):
    """One line of an invoice's tax breakdown: a VAT category and rate, its base and tax."""
    category = fields.String(metadata={"description": "VAT category code: S, Z, E or AE"})
    label = fields.String()
    rate = decimal_string()
    base = Money()
    tax = Money()


class InvoiceSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["invoice", "credit_note"]})
    number = fields.String(allow_none=True, metadata={"description": "given when issued"})
    state = fields.String(metadata={"enum": list(INVOICE_STATES)})
    account = fields.String(attribute="account_code")
    order = fields.String(attribute="order_number", allow_none=True)
    original = fields.String(attribute="original_number", allow_none=True,
                             metadata={"description": "the invoice a credit note corrects"})
    currency = fields.String()
    issue_date = fields.Date(allow_none=True)
    due_date = fields.Date(allow_none=True)
    payment_terms = fields.String()
    discount_date = fields.Date(allow_none=True)
    discount_percent = decimal_string(allow_none=True, metadata={"description": "for paying early; null without"})
    payment_reference = fields.String(allow_none=True, metadata={
        "description": "the ISO 11649 creditor reference a payment quotes (an issued invoice's; null on a credit note)"})
    tax_inclusive = Flag()
    reverse_charge = Flag()
    seller = fields.Dict()
    buyer = fields.Dict()
    net_total = Money()
    tax_total = Money()
    gross_total = Money()
    amount_paid = Money()
    balance = Money(attribute="balance_due")
    tax_breakdown = fields.List(InCurrency(TaxGroupSchema))
    reason = fields.String()
    document_sha256 = fields.String(allow_none=True)
    document_status = document_status()
    einvoice = Flag(attribute="has_einvoice", metadata={"description": "an EN 16931 XML is stored"})
    dunning_level = fields.Integer()
    lines = fields.List(InCurrency(InvoiceLineSchema))
    issued_at = Timestamp(allow_none=True)


class InvoiceEventSchema(Schema):
    at = Timestamp()
    actor = fields.String()
    from_state = fields.String()
    to_state = fields.String()


class InvoiceQuery(Schema):
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    state = fields.String(load_default=None, validate=validate.OneOf(INVOICE_STATES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class InvoiceOrderSchema(Schema):
    milestone = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


class CreditNoteInSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    amount = _positive("credit an amount", load_default=None)
    lines = fields.Dict(keys=fields.Integer(validate=validate.Range(min=1, max=MAX_INTEGER)), values=_positive(),
                        load_default=None,
                        metadata={"description": "credit quantities by line position"})

    @validates_schema
    def _one(self, data, **kwargs):
        if data.get("amount") is not None and data.get("lines") is not None:
            raise ValidationError("give an amount or lines, not both", "amount")


class RequiredReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class DayQuery(Schema):
    today = Day(load_default=None, metadata={"description": "default: today"})


class AllocationInSchema(Schema):
    invoice = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_INTEGER))
    amount = _positive(required=True)


class PaymentInSchema(Schema):
    account = fields.String(required=True, validate=validate.Length(min=1, max=40))
    amount = _positive(required=True)
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    method = fields.String(required=True, validate=validate.Length(min=1, max=32))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=100))
    received_on = Day(load_default=None)
    allocations = fields.List(fields.Nested(AllocationInSchema), load_default=None,
                              metadata={"description": "default: oldest due invoices first"})


class PaymentQuery(Schema):
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    with_credit = fields.Boolean(load_default=False, metadata={"description": "only payments with unapplied credit"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class AllocationSchema(Schema):
    invoice = fields.Integer(attribute="invoice_id")
    amount = Money()
    at = Timestamp()


class PaymentSchema(Schema):
    id = fields.Integer()
    account = fields.String(attribute="account_code")
    amount = Money()
    currency = fields.String()
    method = fields.String()
    reference = fields.String()
    received_on = fields.Date()
    unapplied = Money()
    refunded = Money()
    allocations = fields.List(InCurrency(AllocationSchema))


class ApplyCreditSchema(Schema):
    invoice = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_INTEGER))
    amount = _positive(required=True)


class RefundInSchema(Schema):
    amount = _positive(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    on = Day(load_default=None)


class LedgerEntrySchema(Schema):
    on = fields.Date()
    kind = fields.String()
    amount = Money()
    currency = fields.String()
    invoice = fields.Integer(attribute="invoice_id", allow_none=True)
    payment = fields.Integer(attribute="payment_id", allow_none=True)
    memo = fields.String()


class BalanceInSchema(Schema):
    """The balance in the reporting currency."""
    currency = fields.String()
    balance = Money()
    basis = fields.String(metadata={"description": "which day's rate converted it"})
    rate = fields.Nested(RateSchema)


class LedgerSchema(Schema):
    account = fields.String()
    currency = fields.String()
    balance = Money()
    entries = fields.List(fields.Nested(LedgerEntrySchema))
    reporting = fields.Nested(BalanceInSchema, allow_none=True,
                              metadata={"description": "with ?currency=: the balance in that currency"})


class AgedBalanceSchema(Schema):
    currency = fields.String()
    buckets = MoneyMap()
    total = Money()
    credit = Money()
    balance = Money()


class ConvertedBalanceSchema(AgedBalanceSchema):
    from_ = fields.String(attribute="from_currency", data_key="from", metadata={"description": "the account's currency"})
    rate = fields.Nested(RateSchema)


class AgingInSchema(Schema):
    """Every account's aged balance in the reporting currency, and the total of all of them."""
    currency = fields.String()
    basis = fields.String(metadata={"description": "which day's rate converted the amounts"})
    accounts = fields.Dict(keys=fields.String(), values=fields.Nested(ConvertedBalanceSchema))
    totals = fields.Nested(AgedBalanceSchema)
    rates = fields.List(fields.Nested(RateSchema))


class AgingSchema(Schema):
    today = fields.Date()
    accounts = fields.Dict(keys=fields.String(), values=fields.Nested(AgedBalanceSchema))
    totals = fields.Dict(keys=fields.String(), values=fields.Nested(AgedBalanceSchema))
    reporting = fields.Nested(AgingInSchema, allow_none=True,
                              metadata={"description": "with a reporting currency: the same in it"})


class AgingQuery(DayQuery, ReportingQuery):
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))


class LedgerQuery(ReportingQuery):
    today = Day(load_default=None, metadata={"description": "the day of the rate; default: today"})


class DsoQuery(DayQuery, ReportingQuery):
    days = fields.Integer(load_default=90, validate=validate.Range(min=1, max=730))


class DsoSchema(Schema):
    """DSO of one currency; with a reporting currency, one row over every currency, with
    `basis` and the `conversions` it was made of."""
    currency = fields.String()
    receivables = Money()
    credit_sales = Money()
    days = fields.Integer()
    value = decimal_string(allow_none=True, metadata={"description": "days; null without credit sales"})
    basis = fields.String(metadata={"description": "in a reporting currency: which day's rate converted"})
    conversions = fields.List(fields.Nested(ConversionSchema))


class DunningActionSchema(Schema):
    invoice = fields.String(attribute="invoice_number")
    account = fields.String(attribute="account_code")
    level = fields.Integer()
    days_overdue = fields.Integer()
    amount_due = Money()
    currency = fields.String()
    fee = Money()
    fee_invoice = fields.Integer(attribute="fee_invoice_id", allow_none=True)


class RevenueQuery(ReportingQuery):
    through = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
                            metadata={"description": "last month, YYYY-MM"})
    contract = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    account = fields.String(load_default=None, validate=validate.Length(min=1, max=40))

    @validates_schema
    def _one_scope(self, data, **kwargs):
        if data.get("contract") and data.get("account"):
            raise ValidationError("give a contract or an account, not both", "contract")


class RevenueRowSchema(Schema):
    """A month of one currency; with a reporting currency, of every currency, with `basis`
    and the `conversions` it was made of."""
    currency = fields.String()
    period = fields.String()
    recognised = Money()
    cumulative = Money()
    deferred = Money()
    basis = fields.String(metadata={"description": "in a reporting currency: which day's rate converted"})
    conversions = fields.List(fields.Nested(ConversionSchema))


class RevenueLineSchema(Schema):
    obligation = fields.String()
    period = fields.String()
    amount = Money()
    currency = fields.String()
    basis = fields.String()


class BankTransactionSchema(Schema):
    id = fields.Integer()
    bank_ref = fields.String(metadata={"description": "the bank's reference of the line; a payment's reference"})
    booked_on = fields.Date()
    amount = Money()
    currency = fields.String()
    remittance = fields.String()
    payer = fields.String()
    status = fields.String(metadata={"enum": ["matched", "unmatched"]})
    note = fields.String(metadata={"description": "why it is unmatched"})
    invoice = fields.String(allow_none=True, metadata={"description": "the invoice it paid"})


class BankImportSchema(Schema):
    matched = fields.List(fields.Nested(BankTransactionSchema))
    unmatched = fields.List(fields.Nested(BankTransactionSchema))
    known = fields.Integer(metadata={"description": "lines imported before, left as they were"})


class BankTransactionQuery(Schema):
    status = fields.String(load_default="unmatched", validate=validate.OneOf(["matched", "unmatched"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class MatchInSchema(Schema):
    invoice = fields.String(required=True, validate=validate.Length(min=1, max=40),
                            metadata={"description": "the number of the invoice the transfer pays"})


class PortalInviteSchema(Schema):
    email = fields.Email(required=True, metadata={"description": "one of the account's contacts"})
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=90))
    send_email = Flag(load_default=True, metadata={"description": "e-mail the link to the contact (default)"})


class PortalLinkSchema(Schema):
    email = fields.String()
    token = fields.String(metadata={"description": "shown once"})
    url = fields.String(metadata={"description": "the page the contact opens"})
    expires_at = Timestamp()
    mail = fields.Nested(MailMessageSchema, allow_none=True,
                         metadata={"description": "the e-mail with the link, queued in the outbox (null: not e-mailed)"})


class PortalContractSchema(Schema):
    number = fields.String()
    state = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    term_months = fields.Integer()
    auto_renew = fields.Boolean()
    currency = fields.String()
    contract_value = Money()


class PortalTransferSchema(Schema):
    reference = fields.String(metadata={"description": "the RF creditor reference to quote, as printed"})
    iban = fields.String(allow_none=True)
    bic = fields.String(allow_none=True)
    company = fields.String(metadata={"description": "the payee"})


class PortalInvoiceSchema(Schema):
    id = fields.Integer()
    number = fields.String()
    kind = fields.String(metadata={"enum": ["invoice", "credit_note"]})
    state = fields.String()
    issue_date = fields.Date()
    due_date = fields.Date()
    currency = fields.String()
    gross_total = Money()
    amount_paid = Money()
    balance = Money(allow_none=True, metadata={"description": "what is still due (null on a credit note)"})
    payment_reference = fields.String(allow_none=True)
    transfer = fields.Nested(PortalTransferSchema, allow_none=True,
                             metadata={"description": "how to pay what is still due by bank transfer; null once paid"})
    document_status = document_status()
    has_einvoice = fields.Boolean()


class PortalPaymentSchema(Schema):
    reference = fields.String()
    received_on = fields.Date()
    method = fields.String()
    currency = fields.String()
    amount = Money()
    unapplied = Money(metadata={"description": "credit not yet used by an invoice"})


class PortalSubscriptionSchema(Schema):
    product = fields.String()
    state = fields.String()
    quantity = decimal_string()
    unit_price = UnitAmount()
    amount = Money(metadata={"description": "per billing period (`charge`), for the quantity"})
    charge = fields.String(metadata={"enum": ["monthly", "quarterly", "semiannual", "annual"]})
    currency = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    term_months = fields.Integer()
    next_billing_date = fields.Date(allow_none=True, metadata={"description": "null: every period is billed"})


class PortalMeterSchema(Schema):
    name = fields.String()
    unit = fields.String()
    quantity = decimal_string()
    amount = Money(allow_none=True, metadata={"description": "its price so far; null while it has none"})


class PortalUsageSchema(Schema):
    """The open period's usage, priced as it stands."""
    period = Period()
    closes_at = Timestamp()
    currency = fields.String()
    total = Money()
    meters = fields.List(InCurrency(PortalMeterSchema))


class PortalAccountSchema(Schema):
    code = fields.String()
    name = fields.String()
    currency = fields.String()


class PortalSchema(Schema):
    """What a customer sees through their portal link: a projection, field by field."""
    account = fields.Nested(PortalAccountSchema)
    currency = fields.String()
    balance = Money(metadata={"description": "what the account owes; negative: its credit"})
    contracts = fields.List(fields.Nested(PortalContractSchema))
    invoices = fields.List(fields.Nested(PortalInvoiceSchema))
    payments = fields.List(fields.Nested(PortalPaymentSchema))
    subscriptions = fields.List(fields.Nested(PortalSubscriptionSchema))
    usage = fields.Nested(PortalUsageSchema)


class RevokedSchema(Schema):
    revoked = fields.Integer(metadata={"description": "links ended now"})
