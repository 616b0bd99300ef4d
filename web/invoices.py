"""Invoices and credit notes: the list, and one invoice with its lines, tax, totals, documents
and payments; finance issues, credits, voids and records payments from it (the API checks
the permissions again)."""

from __future__ import annotations

from decimal import Decimal

from api import billing_schemas as bs
from api.auth import caller, requires
from api.billing import invoice_view, invoice_views, payment_views, readable_invoice
from api.blueprint import db_session
from billing import credit_notes, payments
from billing.credit_notes import CREDITABLE
from billing.models import INVOICE_STATES
from web.shell import blp, page


@blp.get("/app/invoices")
@requires("invoices:read")
def invoices_page():
    return page("pages/invoices.html", states=INVOICE_STATES)


@blp.get("/app/invoices/<int:invoice_id>")
@requires("invoices:read")
def invoice_page(invoice_id):
    with db_session() as session:
        invoice = readable_invoice(session, invoice_id)
        shown = bs.InvoiceSchema().dump(invoice_view(session, invoice))
        notes = bs.InvoiceSchema(many=True).dump(invoice_views(session, credit_notes.credit_notes_of(session, invoice)))
        paid = None
        if "payments:read" in caller().permissions:        # each with what it paid of this invoice
            views = bs.PaymentSchema(many=True).dump(payment_views(session, payments.payments_of(session, invoice)))
            paid = [p | {"to_invoice": str(sum(Decimal(a["amount"]) for a in p["allocations"]
                                                if a["invoice"] == invoice.id))} for p in views]
    return page("pages/invoice.html", invoice=shown, credit_notes=notes, payments=paid,
                methods=payments.METHODS, creditable=CREDITABLE)
