"""/api/v1 billing: invoices and credit notes, payments, the receivables ledger, collections
(aging, DSO, dunning) and revenue recognition. Finance acts; reps and the ERP read.

Each view: who is calling, then one domain action (billing/) in one transaction.
"""

from __future__ import annotations

from datetime import date

from flask import Response
from sqlmodel import select

from api import billing_schemas as bs
from api.fx_schemas import reporting_currency
from api.auth import current_user
from api.blueprint import Blueprint, app_settings, db_session
from api.documents import DOCUMENT_RESPONSES, served
from api.errors import ApiError
from api.idempotency import respond
from billing import collections, credit_notes, invoices, ledger, order_billing, payments, reporting, revenue
from billing.models import Invoice, InvoiceEvent, InvoiceLine, Payment, PaymentAllocation
from core import docstore
from core.db import by_id, children, compared, get_row
from core.errors import NotFound
from sales import access, contracts, orders
from sales.accounts import Account, get_account
from sales.order_models import Order

blp = Blueprint("billing", __name__, url_prefix="/api/v1",
                description="Invoices, payments, the ledger, collections and revenue")


def _company() -> dict:
    return dict(app_settings().company)


def _reporting(query: dict) -> str | None:
    """The currency a report is asked for in: ?currency=, else CPQ_REPORTING_CURRENCY."""
    return reporting_currency(query, app_settings().reporting_currency)


def _invoice(session, invoice_id: int, *, lock: bool = False) -> Invoice:
    invoice = get_row(session, Invoice, invoice_id, lock=lock)
    if invoice is None:
        raise NotFound(f"unknown invoice {invoice_id}")
    return invoice


def readable_invoice(session, invoice_id: int) -> Invoice:
    """The invoice, if the caller may see it (a rep: those of their orders)."""
    return access.check_invoice(session, current_user(session), _invoice(session, invoice_id))


def invoice_views(session, page: list[Invoice]) -> list[dict]:
    """Invoices as the API shows them, with what they point to loaded once for the page."""
    session.flush()
    orders_ = by_id(session, Order, (i.order_id for i in page))
    originals = by_id(session, Invoice, (i.original_id for i in page))
    accounts = by_id(session, Account, (i.account_id for i in page))
    lines = children(session, InvoiceLine.invoice_id, [i.id for i in page], InvoiceLine.position, InvoiceLine.id)
    rendered = docstore.facts_of(session, "invoice", [i.id for i in page])
    return [i.model_dump() | {
        "account_code": accounts[i.account_id].code,
        "order_number": orders_[i.order_id].number if i.order_id else None,
        "original_number": originals[i.original_id].number if i.original_id else None,
        "balance_due": payments.balance_due(i), "has_einvoice": (i.id, "cii") in rendered,
        "document_sha256": rendered[i.id, "pdf"].sha256 if (i.id, "pdf") in rendered else None,
        "document_status": rendered[i.id, "pdf"].status if (i.id, "pdf") in rendered else None,
        "lines": lines[i.id]} for i in page]


def invoice_view(session, invoice: Invoice) -> dict:
    return invoice_views(session, [invoice])[0]


def payment_views(session, page: list[Payment]) -> list[dict]:
    """Payments as the API shows them, with their accounts and allocations loaded once."""
    session.flush()
    accounts = by_id(session, Account, (p.account_id for p in page))
    allocations = children(session, PaymentAllocation.payment_id, [p.id for p in page], PaymentAllocation.id)
    return [p.model_dump() | {"account_code": accounts[p.account_id].code, "allocations": allocations[p.id]}
            for p in page]


def payment_view(session, payment: Payment) -> dict:
    return payment_views(session, [payment])[0]


# invoices ------------------------------------------------------------------------------------

@blp.post("/orders/<number>/invoices")
@blp.requires("invoices:write")
@blp.arguments(bs.InvoiceOrderSchema, required=False)
@blp.response(201, bs.InvoiceSchema)
def invoice_order(data, number):
    """A draft invoice for what the order owes now (by its billing: on order, on shipment,
    or the named milestone). Idempotency-Key supported."""
    with db_session() as session:
        order = orders.get_order(session, number, lock=True)      # billing it locks it: once
        return respond(session, 201,
                       lambda: (order_billing.invoice_order(session, order, date.today(), milestone=data["milestone"]), True),
                       lambda i: bs.InvoiceSchema().dump(invoice_view(session, i)))


@blp.get("/invoices")
@blp.requires("invoices:read")
@blp.arguments(bs.InvoiceQuery, location="query")
@blp.response(200, bs.InvoiceSchema(many=True))
def list_invoices(query):
    with db_session() as session:
        visible = access.order_filter(session, current_user(session))
        q = select(Invoice) if visible is None else select(Invoice).where(
            Invoice.order_id.in_(select(Order.id).where(visible)))
        if query["account"]:
            q = q.where(Invoice.account_id == get_account(session, query["account"]).id)
        if query["state"]:
            q = q.where(Invoice.state == query["state"])
        rows = session.exec(q.order_by(Invoice.id.desc()).offset(query["offset"]).limit(query["limit"])).all()
        return invoice_views(session, rows)


@blp.get("/invoices/<int:invoice_id>")
@blp.requires("invoices:read")
@blp.response(200, bs.InvoiceSchema)
def get_invoice(invoice_id):
    with db_session() as session:
        return invoice_view(session, readable_invoice(session, invoice_id))


@blp.get("/invoices/<int:invoice_id>/history")
@blp.requires("invoices:read")
@blp.response(200, bs.InvoiceEventSchema(many=True))
def invoice_history(invoice_id):
    """Every state change of the invoice: who, when, from, to."""
    with db_session() as session:
        invoice = readable_invoice(session, invoice_id)
        return session.exec(select(InvoiceEvent).where(InvoiceEvent.invoice_id == invoice.id)
                            .order_by(InvoiceEvent.id)).all()


@blp.post("/invoices/<int:invoice_id>/issue")
@blp.requires("invoices:write")
@blp.response(200, bs.InvoiceSchema)
def issue(invoice_id):
    """Number, freeze and post the invoice (PDF and EN 16931 XML stored). Issuing an issued
    invoice again returns it unchanged; a void draft is never issued."""
    with db_session() as session:
        invoice = _invoice(session, invoice_id, lock=True)
        if invoice.number is None:
            invoice = invoices.issue(session, invoice, date.today(), company=_company())
        return invoice_view(session, invoice)


@blp.post("/invoices/<int:invoice_id>/credit-notes")
@blp.requires("invoices:write")
@blp.arguments(bs.CreditNoteInSchema)
@blp.response(201, bs.InvoiceSchema)
def credit_note(data, invoice_id):
    """A credit note against an issued invoice: all of it, an amount, or quantities by line
    position. Idempotency-Key supported."""
    with db_session() as session:
        invoice = readable_invoice(session, invoice_id)
        what = data["amount"] if data["amount"] is not None else data["lines"]
        return respond(session, 201,
                       lambda: (credit_notes.credit_note(session, invoice, what, data["reason"], date.today(),
                                                     company=_company()), True),
                       lambda note: bs.InvoiceSchema().dump(invoice_view(session, note)))


@blp.post("/invoices/<int:invoice_id>/void")
@blp.requires("invoices:write")
@blp.arguments(bs.RequiredReasonSchema)
@blp.response(200, bs.InvoiceSchema)
def void(data, invoice_id):
    """Cancel an open, unpaid invoice (by a full credit note, returned)."""
    with db_session() as session:
        return invoice_view(session, credit_notes.void(session, _invoice(session, invoice_id), data["reason"],
                                                   date.today(), company=_company()))


@blp.post("/invoices/<int:invoice_id>/uncollectible")
@blp.requires("invoices:write")
@blp.arguments(bs.RequiredReasonSchema)
@blp.response(200, bs.InvoiceSchema)
def uncollectible(data, invoice_id):
    with db_session() as session:
        return invoice_view(session, payments.mark_uncollectible(session, _invoice(session, invoice_id),
                                                                 data["reason"], date.today()))


def _stored(session, invoice: Invoice, fmt: str, suffix: str) -> Response:
    if docstore.facts(session, "invoice", invoice.id, fmt) is None:
        raise ApiError(404, "not_found", f"invoice {invoice.id} has no {suffix} (drafts have none; "
                                         "KWD and other 3-decimal currencies have no EN 16931 XML)")
    return served(session, "invoice", invoice.id, fmt, f"{invoice.number}.{suffix}")


@blp.get("/invoices/<int:invoice_id>/pdf")
@blp.requires("invoices:read")
@blp.response(200)
@blp.doc(responses=DOCUMENT_RESPONSES)
def invoice_pdf(invoice_id):
    """The issued invoice's PDF (202 while it renders, just after issuing)."""
    with db_session() as session:
        return _stored(session, readable_invoice(session, invoice_id), "pdf", "pdf")


@blp.get("/invoices/<int:invoice_id>/einvoice")
@blp.requires("invoices:read")
@blp.response(200)
@blp.doc(responses=DOCUMENT_RESPONSES)
def invoice_xml(invoice_id):
    """The EN 16931 e-invoice (Factur-X / ZUGFeRD CII XML; 202 while it renders)."""
    with db_session() as session:
        return _stored(session, readable_invoice(session, invoice_id), "cii", "xml")


@blp.post("/billing/run")
@blp.requires("invoices:write")
@blp.arguments(bs.DayQuery, location="query")
@blp.response(200, bs.InvoiceSchema(many=True))
def bill_due(query):
    """Issue the invoices of the recurring periods due (safe to rerun: a period is billed once)."""
    with db_session() as session:
        day = query["today"] or date.today()
        drafts = order_billing.bill_due_periods(session, day)
        return [invoice_view(session, invoices.issue(session, d, day, company=_company())) for d in drafts]


# payments ------------------------------------------------------------------------------------

@blp.post("/payments")
@blp.requires("payments:write")
@blp.arguments(bs.PaymentInSchema)
@blp.creates(bs.PaymentSchema, found="the account's payment with this reference, recorded before")
def record_payment(data):
    """Money received: allocated to the given invoices, or oldest due first; the rest is
    account credit. The same reference again returns the first payment."""
    with db_session() as session:
        account = get_account(session, data["account"])
        allocations = None
        if data["allocations"] is not None:
            allocations = [(_invoice(session, a["invoice"]), a["amount"]) for a in data["allocations"]]

        def record():
            known = session.exec(select(Payment.id).where(Payment.account_id == account.id,
                                                          Payment.reference == data["reference"])).first()
            payment = payments.record_payment(session, account, data["amount"], data["currency"], data["method"],
                                              data["reference"], data["received_on"] or date.today(), allocations)
            return payment, known is None

        return respond(session, 201, record, lambda p: bs.PaymentSchema().dump(payment_view(session, p)))


@blp.get("/payments")
@blp.requires("payments:read")
@blp.arguments(bs.PaymentQuery, location="query")
@blp.response(200, bs.PaymentSchema(many=True))
def list_payments(query):
    """Payments received, newest first."""
    with db_session() as session:
        q = select(Payment)
        if query["account"]:
            q = q.where(Payment.account_id == get_account(session, query["account"]).id)
        if query["with_credit"]:
            q = q.where(compared(Payment.unapplied) > 0)
        rows = session.exec(q.order_by(Payment.received_on.desc(), Payment.id.desc())
                            .offset(query["offset"]).limit(query["limit"])).all()
        return payment_views(session, rows)


@blp.get("/payments/<int:payment_id>")
@blp.requires("payments:read")
@blp.response(200, bs.PaymentSchema)
def get_payment(payment_id):
    with db_session() as session:
        return payment_view(session, _payment(session, payment_id))


def _payment(session, payment_id: int) -> Payment:
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"unknown payment {payment_id}")
    return payment


@blp.post("/payments/<int:payment_id>/apply")
@blp.requires("payments:write")
@blp.arguments(bs.ApplyCreditSchema)
@blp.response(200, bs.PaymentSchema)
def apply_credit(data, payment_id):
    """Apply a payment's unapplied credit to an invoice."""
    with db_session() as session:
        payment = _payment(session, payment_id)
        payments.apply_credit(session, payment, _invoice(session, data["invoice"]), data["amount"])
        return payment_view(session, payment)


@blp.post("/payments/<int:payment_id>/refunds")
@blp.requires("payments:write")
@blp.arguments(bs.RefundInSchema)
@blp.response(200, bs.PaymentSchema)
def refund(data, payment_id):
    """Pay back unapplied credit."""
    with db_session() as session:
        payment = payments.refund(session, _payment(session, payment_id), data["amount"], data["reason"],
                                  data["on"] or date.today())
        return payment_view(session, payment)


@blp.get("/accounts/<code>/ledger")
@blp.requires("payments:read")
@blp.arguments(bs.LedgerQuery, location="query")
@blp.response(200, bs.LedgerSchema)
def account_ledger(query, code):
    """The account's receivables ledger; the balance is the sum of its entries (and, in a
    reporting currency, converted at the rate of `today`)."""
    with db_session() as session:
        account = get_account(session, code)
        balance, to = ledger.balance(session, account.id, account.currency), _reporting(query)
        return {"account": account.code, "currency": account.currency, "balance": balance,
                "entries": ledger.entries(session, account.id),
                "reporting": to and reporting.balance_in(session, balance, account.currency,
                                                          query["today"] or date.today(), to)}


# collections ---------------------------------------------------------------------------------

@blp.get("/collections/aging")
@blp.requires("collections:read")
@blp.arguments(bs.AgingQuery, location="query")
@blp.response(200, bs.AgingSchema)
def aging(query):
    """Open receivables by days past due, per account and per currency; in a reporting
    currency also all together, at the rates of `today`."""
    with db_session() as session:
        account = get_account(session, query["account"]) if query["account"] else None
        report, to = collections.aging(session, query["today"] or date.today(), account), _reporting(query)
        return {"today": report.today, "accounts": report.accounts, "totals": report.totals,
                "reporting": to and reporting.aging_in(session, report, to)}


@blp.get("/collections/dso")
@blp.requires("collections:read")
@blp.arguments(bs.DsoQuery, location="query")
@blp.response(200, bs.DsoSchema(many=True))
def dso(query):
    """Days sales outstanding per currency over the last `days` days; in a reporting currency
    one figure over all of them, at the rates of `today`."""
    with db_session() as session:
        today, to = query["today"] or date.today(), _reporting(query)
        figures = collections.dso(session, today, query["days"])
        return [reporting.dso_in(session, figures, today, query["days"], to)] if to else list(figures.values())


@blp.post("/collections/dunning")
@blp.requires("collections:write")
@blp.arguments(bs.DayQuery, location="query")
@blp.response(200, bs.DunningActionSchema(many=True))
def dunning(query):
    """Run dunning: notices with letters and late fees, each once per invoice and level."""
    with db_session() as session:
        return collections.run_dunning(session, query["today"] or date.today()).notices


# revenue -------------------------------------------------------------------------------------

@blp.post("/contracts/<number>/revenue-schedule")
@blp.requires("revenue:write")
@blp.response(200, bs.RevenueLineSchema(many=True))
def revenue_schedule(number):
    """Rebuild the contract's revenue schedule from its orders and deliveries."""
    with db_session() as session:
        return revenue.schedule(session, contracts.get_contract(session, number))


@blp.get("/revenue")
@blp.requires("revenue:read")
@blp.arguments(bs.RevenueQuery, location="query")
@blp.response(200, bs.RevenueRowSchema(many=True))
def revenue_report(query):
    """Recognised and deferred revenue per month, for a contract, an account or everything;
    in a reporting currency one row per month, each at the rate of the month's last day."""
    with db_session() as session:
        scope = (contracts.get_contract(session, query["contract"]) if query["contract"] else
                 get_account(session, query["account"]) if query["account"] else None)
        rows, to = revenue.report(session, scope, query["through"]), _reporting(query)
        return reporting.revenue_in(session, rows, to) if to else rows
