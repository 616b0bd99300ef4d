"""/api/v1 bank statements: import a statement (camt.053 or CSV), and match by hand the
transfers whose remittance named no invoice of ours (billing/bank_import.py)."""

from __future__ import annotations

from flask import request
from sqlmodel import select

from api import billing_schemas as bs
from api.blueprint import Blueprint, db_session, declared, empty_body
from billing import bank_import
from billing.models import BankTransaction, Invoice
from core.db import by_id
from core.errors import NotFound

blp = Blueprint("banking", __name__, url_prefix="/api/v1", description="Bank statements and their transfers")

STATEMENT_TYPES = ("application/xml", "text/xml", "text/csv")


@blp.post("/bank-statements")
@blp.requires("payments:write")
@blp.response(200, bs.BankImportSchema)
@blp.doc(requestBody={"required": True, "content": {
    "application/xml": {"schema": {"type": "string", "minLength": 1,
                                   "description": "an ISO 20022 camt.053 bank-to-customer statement"}},
    "text/csv": {"schema": {"type": "string", "minLength": 1,
                            "description": "a header with id,date,amount,currency,remittance (and payer)"}}}})
def import_statement():
    """Record the payments of a statement's credit lines: each line whose remittance names an
    invoice (its RF reference or number) pays it; the rest are kept as unmatched. Importing
    the same statement again changes nothing (`known` counts the lines seen before)."""
    declared(STATEMENT_TYPES)
    content = request.get_data()
    if not content.strip():
        raise empty_body("send the statement as camt.053 XML or CSV")
    lines = bank_import.read(content, request.mimetype)
    with db_session() as session:
        report = bank_import.import_lines(session, lines)
        return {"matched": report.matched, "unmatched": report.unmatched, "known": report.known}


@blp.get("/bank-transactions")
@blp.requires("payments:read")
@blp.arguments(bs.BankTransactionQuery, location="query")
@blp.response(200, bs.BankTransactionSchema(many=True))
def list_transactions(query):
    """Imported transfers, oldest first: by default those still to match by hand."""
    with db_session() as session:
        rows = list(session.exec(select(BankTransaction).where(BankTransaction.status == query["status"])
                                 .order_by(BankTransaction.booked_on, BankTransaction.id)
                                 .offset(query["offset"]).limit(query["limit"])))
        invoices = by_id(session, Invoice, (t.invoice_id for t in rows))
        return [bank_import.outcome(t, invoices.get(t.invoice_id)) for t in rows]


@blp.post("/bank-transactions/<int:transaction_id>/match")
@blp.requires("payments:write")
@blp.arguments(bs.MatchInSchema)
@blp.response(200, bs.BankTransactionSchema)
def match(data, transaction_id):
    """Pay an invoice with an unmatched transfer (matching it to the same invoice again is
    harmless); what exceeds the invoice's balance stays on its account as credit."""
    with db_session() as session:
        if session.get(BankTransaction, transaction_id) is None:
            raise NotFound(f"unknown bank transaction {transaction_id}")
        txn, invoice = bank_import.match(session, transaction_id, data["invoice"])
        return bank_import.outcome(txn, invoice)
